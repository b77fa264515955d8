import json

import httplib2
import pytest
from googleapiclient.errors import HttpError

from galaxyco.errors import PermanentError, ReauthRequired, RetryableError
from integrations.google.errors import from_http_error


def google_error(status: int, *, errors=(), details=(), message="", headers=None) -> HttpError:
    body = {"error": {"code": status, "message": message, "errors": list(errors), "details": list(details)}}
    return HttpError(httplib2.Response({"status": status, **(headers or {})}), json.dumps(body).encode())


@pytest.mark.parametrize(
    "error",
    [
        google_error(429, headers={"retry-after": "9"}),
        google_error(403, errors=[{"reason": "userRateLimitExceeded"}]),
        google_error(
            403, details=[{"reason": "RATE_LIMIT_EXCEEDED"}], errors=[{"reason": "rateLimitExceeded"}]
        ),
        google_error(
            403,
            details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED"}],
        ),
        google_error(500),
        google_error(503),
    ],
)
def test_rate_limits_and_outages_are_retryable(error):
    assert isinstance(from_http_error(error, service_label="Gmail"), RetryableError)


def test_retry_after_is_kept():
    assert (
        from_http_error(google_error(429, headers={"retry-after": "9"}), service_label="Gmail").retry_after
        == 9
    )


def test_a_missing_permission_asks_to_reconnect():
    classified = from_http_error(
        google_error(403, errors=[{"reason": "insufficientPermissions"}]), service_label="Gmail"
    )
    assert isinstance(classified, PermanentError)
    assert classified.code == "insufficient_permissions"


def test_other_refusals_pass_on_googles_reason():
    classified = from_http_error(
        google_error(400, errors=[{"reason": "invalidArgument"}], message="Invalid To header"),
        service_label="Gmail",
    )
    assert isinstance(classified, PermanentError)
    assert classified.code == "provider_rejected"
    assert classified.message == "Gmail rejected the request: Invalid To header"
    daily = from_http_error(
        google_error(403, errors=[{"reason": "dailyLimitExceeded"}], message="Daily limit"),
        service_label="Gmail",
    )
    assert daily.code == "provider_rejected"


def test_401_means_reconnect():
    assert isinstance(from_http_error(google_error(401), service_label="Gmail"), ReauthRequired)
