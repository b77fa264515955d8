from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from galaxyco.http import parse_retry_after
from integrations.google import errors as google_errors
from integrations.sidemail.api_client import _error_from

NOW = datetime(2026, 11, 26, 4, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9", 9.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (format_datetime(NOW + timedelta(minutes=2), usegmt=True), 120.0),
        ("Thu, 26 Nov 2026 04:31:00 GMT", 60.0),
        (format_datetime(NOW - timedelta(minutes=2), usegmt=True), 0.0),
        ("-5", 0.0),
        ("soon", None),
        ("", None),
        ("   ", None),
        (None, None),
    ],
    ids=[
        "seconds",
        "zero",
        "fraction",
        "http-date",
        "http-date-literal",
        "date-passed",
        "negative",
        "garbage",
        "empty",
        "blank",
        "absent",
    ],
)
def test_retry_after_is_read_in_seconds_and_as_an_http_date(value, expected):
    assert parse_retry_after(value, now=NOW) == expected


def _response(headers: dict[str, str]) -> requests.Response:
    response = requests.Response()
    response.status_code = 429
    response.headers.update(headers)
    response._content = b"{}"
    return response


def test_every_provider_reads_retry_after_the_same_way():
    in_two_minutes = format_datetime(datetime.now(UTC) + timedelta(minutes=2), usegmt=True)
    google = google_errors.from_token_response(_response({"Retry-After": in_two_minutes}))
    sidemail = _error_from(_response({"Retry-After": in_two_minutes}))
    assert google.retry_after is not None and 100 < google.retry_after <= 120
    assert sidemail.retry_after is not None and 100 < sidemail.retry_after <= 120
