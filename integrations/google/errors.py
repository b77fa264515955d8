"""Google's failures as the app's errors (galaxyco.errors), in one place: an API answer (status,
reasons, Retry-After), a token endpoint answer, a call that timed out, a connection that
cannot be used. Clients, credentials and the OAuth client raise what these return.

`invalid_grant` from the token endpoint means the grant is gone (revoked, password changed,
unused for months): ReauthRequired. 429, 5xx and timeouts are transient: RetryableError.
"""

import json

import requests
from googleapiclient.errors import HttpError

from galaxyco.errors import (
    ErrorCode,
    IntegrationNotConnected,
    PermanentError,
    ProviderError,
    ReauthRequired,
    RetryableError,
    SendOutcomeUnknown,
)
from galaxyco.http import parse_retry_after
from integrations.models import Integration

# Google's reasons for a 403 that mean "slow down", not "forbidden".
_RATE_LIMIT_REASONS = {"ratelimitexceeded", "userratelimitexceeded", "quotaexceeded", "rate_limit_exceeded"}
# 403 reasons that mean the account lacks a permission the person can grant by reconnecting.
_PERMISSION_REASONS = {"insufficientpermissions", "access_token_scope_insufficient", "forbidden"}


def _error_details(error: HttpError) -> tuple[set[str], str]:
    """Every reason Google gave (from `errors` and `details`, lower-cased) and its message."""
    try:
        body = json.loads(error.content)["error"]
    except (ValueError, TypeError, KeyError):
        return set(), ""
    if not isinstance(body, dict):
        return set(), ""
    entries = [*(body.get("errors") or []), *(body.get("details") or [])]
    reasons = {str(entry.get("reason", "")).lower() for entry in entries if isinstance(entry, dict)}
    return reasons - {""}, str(body.get("message", ""))


def from_http_error(error: HttpError, *, service_label: str) -> ProviderError:
    """A Gmail or Calendar API answer that was not a success."""
    status = int(error.resp.status)
    reasons, google_message = _error_details(error)
    if status == 429 or (status == 403 and reasons & _RATE_LIMIT_REASONS):
        return RetryableError(
            f"{service_label} is rate-limiting this account. We will try again shortly.",
            code=ErrorCode.RATE_LIMITED,
            retry_after=parse_retry_after(error.resp.get("retry-after")),
        )
    if status >= 500:
        return RetryableError(f"{service_label} is unavailable right now. We will try again shortly.")
    if status == 401:
        return ReauthRequired()
    if status == 403 and (reasons & _PERMISSION_REASONS or not reasons):
        return PermanentError(
            f"{service_label} refused: this connection lacks the permission it needs. "
            "Reconnect it on the Integrations page and allow every permission GalaxyCo asks for.",
            code=ErrorCode.INSUFFICIENT_PERMISSIONS,
        )
    detail = f": {google_message}" if google_message else "."
    return PermanentError(f"{service_label} rejected the request{detail}", code=ErrorCode.PROVIDER_REJECTED)


def unreachable(*, service_label: str) -> RetryableError:
    """No byte of the request left (connection refused, DNS): safe to try again."""
    return RetryableError(
        f"{service_label} could not be reached. We will try again shortly.",
        code=ErrorCode.PROVIDER_UNREACHABLE,
    )


def outcome_unknown(*, service_label: str) -> SendOutcomeUnknown:
    """The request went out and no answer came back: it may or may not have been done."""
    return SendOutcomeUnknown(
        f"{service_label} did not answer after the request was sent, so it may or may not have been done."
    )


class HistoryExpired(PermanentError):
    """Gmail answered 404: from history.list, it no longer has history from that id (list the
    mailbox's messages instead); from messages.get, the message was deleted."""

    code = ErrorCode.HISTORY_EXPIRED


def timed_out(*, service_label: str) -> RetryableError:
    return RetryableError(
        f"{service_label} did not answer in time. We will try again shortly.", code=ErrorCode.PROVIDER_TIMEOUT
    )


def token_error_code(response: requests.Response) -> str:
    """The `error` Google's token or revoke endpoint answered (`invalid_grant`, ...), or ""."""
    try:
        data = response.json()
    except ValueError:
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, str) else ""


def from_token_response(response: requests.Response) -> ProviderError:
    """A token endpoint answer that was not a success."""
    if response.status_code == 429 or response.status_code >= 500:
        return RetryableError(retry_after=parse_retry_after(response.headers.get("Retry-After")))
    if token_error_code(response) == "invalid_grant":
        return ReauthRequired()
    return PermanentError(
        "Google refused to renew access for this connection. Reconnect it on the Integrations page.",
        code=ErrorCode.TOKEN_REFRESH_FAILED,
    )


def token_service_unreachable(exc: requests.RequestException) -> RetryableError:
    return RetryableError(f"Google's token service could not be reached ({type(exc).__name__}).")


def refresh_abandoned() -> RetryableError:
    """Another worker was renewing the token and gave up: Google failed it just now."""
    return RetryableError("Google's token service did not renew access just now. We will try again shortly.")


def reauth_required(integration: Integration) -> ReauthRequired:
    return ReauthRequired(
        f"The {integration.get_type_display()} connection for {integration.email} expired or was "
        "revoked. Reconnect it on the Integrations page."
    )


def disconnected(integration: Integration) -> IntegrationNotConnected:
    return IntegrationNotConnected(
        f"{integration.get_type_display()} ({integration.email}) was disconnected. "
        "Connect it again on the Integrations page."
    )
