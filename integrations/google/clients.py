"""Gmail and Calendar calls through google-api-python-client, with failures classified.

The service objects are built once per process and API base URL (from the static discovery
documents in the wheel, so no network is needed); each call executes with its own
authorized HTTP object carrying that integration's credentials.
"""

import json
import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import urljoin

import google_auth_httplib2
import httplib2
from django.conf import settings
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import Resource, build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError

from galaxyco.errors import PermanentError, ReauthRequired, RetryableError
from integrations.google.credentials import credentials_for, refresh_credentials
from integrations.models import Integration
from integrations.services import record_use

logger = logging.getLogger(__name__)

# Google's reasons for a 403 that mean "slow down", not "forbidden".
_RATE_LIMIT_REASONS = {"ratelimitexceeded", "userratelimitexceeded", "quotaexceeded", "rate_limit_exceeded"}
# 403 reasons that mean the account lacks a permission the person can grant by reconnecting.
_PERMISSION_REASONS = {"insufficientpermissions", "access_token_scope_insufficient", "forbidden"}


@lru_cache(maxsize=8)
def _service(api: str, version: str, api_base_url: str) -> Resource:
    document = json.loads(get_static_doc(api, version))
    options = None
    if api_base_url:
        # An endpoint replaces Google's root URL *and* the API's service path (Calendar's
        # "calendar/v3/"; Gmail's is empty, its paths carry "gmail/v1/"): put the service path
        # back, so every API keeps Google's own paths under the base URL.
        endpoint = urljoin(api_base_url.rstrip("/") + "/", document["servicePath"])
        options = {"api_endpoint": endpoint}
    return build_from_document(document, http=httplib2.Http(), client_options=options)


@lru_cache(maxsize=8)
def _gmail_messages(api_base_url: str) -> Resource:
    # Resource objects build their methods when created: build each once, not per call.
    return _service("gmail", "v1", api_base_url).users().messages()


@lru_cache(maxsize=8)
def _gmail_users(api_base_url: str) -> Resource:
    return _service("gmail", "v1", api_base_url).users()


@lru_cache(maxsize=8)
def _calendar_events(api_base_url: str) -> Resource:
    return _service("calendar", "v3", api_base_url).events()


def _authorized_http(credentials: Credentials) -> google_auth_httplib2.AuthorizedHttp:
    # A 401 comes back to `execute`, which refreshes once (one worker refreshes, the others wait).
    return google_auth_httplib2.AuthorizedHttp(
        credentials, http=httplib2.Http(timeout=settings.GOOGLE_HTTP_TIMEOUT), refresh_status_codes=()
    )


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


def _retry_after(error: HttpError) -> float | None:
    try:
        return float(error.resp.get("retry-after", ""))
    except (TypeError, ValueError):
        return None


def _classify(error: HttpError, *, service_label: str) -> Exception:
    status = int(error.resp.status)
    reasons, google_message = _error_details(error)
    if status == 429 or (status == 403 and reasons & _RATE_LIMIT_REASONS):
        return RetryableError(
            f"{service_label} is rate-limiting this account. We will try again shortly.",
            code="rate_limited",
            retry_after=_retry_after(error),
        )
    if status >= 500:
        return RetryableError(f"{service_label} is unavailable right now. We will try again shortly.")
    if status == 401:
        return ReauthRequired()
    if status == 403 and (reasons & _PERMISSION_REASONS or not reasons):
        return PermanentError(
            f"{service_label} refused: this connection lacks the permission it needs. "
            "Reconnect it on the Integrations page and allow every permission GalaxyCo asks for.",
            code="insufficient_permissions",
        )
    detail = f": {google_message}" if google_message else "."
    return PermanentError(f"{service_label} rejected the request{detail}", code="provider_rejected")


def _execute_once(
    request_for: Callable[[], Any], credentials: Credentials, service_label: str
) -> dict[str, Any]:
    try:
        response: dict[str, Any] = request_for().execute(http=_authorized_http(credentials))
    except (TimeoutError, OSError, httplib2.HttpLib2Error) as error:
        raise RetryableError(
            f"{service_label} did not answer in time. We will try again shortly.", code="provider_timeout"
        ) from error
    return response


def execute(
    *, integration: Integration, service_label: str, request_for: Callable[[], Any]
) -> dict[str, Any]:
    """Run one API request with the integration's credentials; refresh once if Google answers 401."""
    credentials = credentials_for(integration=integration)
    try:
        try:
            response = _execute_once(request_for, credentials, service_label)
        except HttpError as error:
            if int(error.resp.status) != 401:
                raise
            credentials = refresh_credentials(integration=integration, rejected_token=credentials.token)
            response = _execute_once(request_for, credentials, service_label)
    except HttpError as error:
        raise _classify(error, service_label=service_label) from error
    record_use(integration=integration)
    return response


def send_gmail_message(*, integration: Integration, raw: str) -> dict[str, Any]:
    return execute(
        integration=integration,
        service_label="Gmail",
        request_for=lambda: _gmail_messages(settings.GOOGLE_API_BASE_URL).send(
            userId="me", body={"raw": raw}
        ),
    )


def insert_calendar_event(
    *, integration: Integration, calendar_id: str, event: dict[str, Any], send_updates: str
) -> dict[str, Any]:
    return execute(
        integration=integration,
        service_label="Google Calendar",
        request_for=lambda: _calendar_events(settings.GOOGLE_API_BASE_URL).insert(
            calendarId=calendar_id, body=event, sendUpdates=send_updates
        ),
    )


# --- Gmail reads (a trigger watching a mailbox); each needs gmail.readonly.


# Items per page of a history or message listing (Gmail's maximum); every page is read.
GMAIL_PAGE_SIZE = 500


class HistoryExpired(PermanentError):
    """Gmail no longer has history from this id (404): list the mailbox's messages instead."""

    code = "history_expired"


def _gmail_read(integration: Integration, request_for: Callable[[], Any]) -> dict[str, Any]:
    try:
        return execute(integration=integration, service_label="Gmail", request_for=request_for)
    except PermanentError as error:
        cause = error.__cause__
        if isinstance(cause, HttpError) and int(cause.resp.status) == 404:
            raise HistoryExpired("Gmail has no history from this point any more.") from cause
        raise


def gmail_profile(*, integration: Integration) -> dict[str, Any]:
    """users.getProfile: the mailbox's address and current historyId."""
    return _gmail_read(
        integration, lambda: _gmail_users(settings.GOOGLE_API_BASE_URL).getProfile(userId="me")
    )


def gmail_history_page(
    *, integration: Integration, start_history_id: str, page_token: str | None
) -> dict[str, Any]:
    """One page of users.history.list (messages added since `start_history_id`)."""
    return _gmail_read(
        integration,
        lambda: (
            _gmail_users(settings.GOOGLE_API_BASE_URL)
            .history()
            .list(
                userId="me",
                startHistoryId=start_history_id,
                historyTypes="messageAdded",
                maxResults=500,
                pageToken=page_token,
            )
        ),
    )


def gmail_list_page(*, integration: Integration, query: str, page_token: str | None) -> dict[str, Any]:
    """One page of users.messages.list with a Gmail search query."""
    return _gmail_read(
        integration,
        lambda: _gmail_messages(settings.GOOGLE_API_BASE_URL).list(
            userId="me", q=query, maxResults=GMAIL_PAGE_SIZE, pageToken=page_token
        ),
    )


def gmail_get_message(*, integration: Integration, message_id: str) -> dict[str, Any]:
    """users.messages.get, format=full (headers, bodies, attachment names and sizes)."""
    return _gmail_read(
        integration,
        lambda: _gmail_messages(settings.GOOGLE_API_BASE_URL).get(userId="me", id=message_id, format="full"),
    )
