"""Gmail and Calendar calls through google-api-python-client, with failures classified.

The service objects are built once per process and API base URL (from the static discovery
documents in the wheel, so no network is needed); they only build requests. Each call sends its
request with that integration's credentials through its thread's urllib3 pools, whose
connections are kept alive: a send reuses the connection (and TLS session) of the last one
instead of opening its own.

A send Gmail cannot deduplicate is classified by where it failed: before the request left
(connection refused, DNS, a connect timeout; a 429 or 5xx answer) it was not sent and may be
retried; after it (a read timeout, a connection dropped before the answer, a kept-alive
connection that turned out closed) its outcome is unknown: `SendOutcomeUnknown`, never retried
blindly. Nothing resends a request on its own: the pools make no retries.
"""

import json
import logging
import os
import threading
from collections.abc import Callable
from functools import lru_cache
from io import BytesIO
from typing import Any
from urllib.parse import urljoin, urlparse

import httplib2
import requests
import urllib3
from django.conf import settings
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import Resource, build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseUpload
from requests.utils import (
    DEFAULT_CA_BUNDLE_PATH,
    get_auth_from_url,
    get_environ_proxies,
    prepend_scheme_if_needed,
    select_proxy,
)
from urllib3 import HTTPHeaderDict, Retry, Timeout
from urllib3.exceptions import ConnectTimeoutError, HTTPError, MaxRetryError, NewConnectionError
from urllib3.util import make_headers

from galaxyco.errors import PermanentError, ReauthRequired
from integrations.google import errors as google_errors
from integrations.google.credentials import credentials_for, record_rejected, refresh_credentials
from integrations.google.errors import HistoryExpired
from integrations.health import record_use
from integrations.models import Integration

logger = logging.getLogger(__name__)


# Scopes that let the app read the mailbox's Sent mail (to settle a send whose outcome is unknown).
READ_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/gmail.readonly",
        "https://www.googleapis.com/auth/gmail.modify",
        "https://mail.google.com/",
    }
)


class NotConnected(ConnectionError):
    """The connection to Google could not be made (refused, unreachable, DNS, a connect
    timeout): no byte of the request left."""


# Each thread keeps its own urllib3 pools (one manager per proxy and CA bundle); a pool keeps a
# few connections alive per host. Nothing but connections is carried from one call to the next:
# the calls of one thread are made for many workspaces' accounts. urllib3 keeps no cookies and
# reads no netrc, so one call's Set-Cookie is never sent with another account's call and the
# account's Bearer token is the only credential sent.
_pools = threading.local()
# No retries: a request is never sent again on its own, whatever failed.
_NO_RETRIES = Retry(0, read=False, redirect=False)
# The headers a requests session sent with every call (googleapiclient's own replace them).
_DEFAULT_HEADERS = HTTPHeaderDict(requests.utils.default_headers())


class NoAnswer(OSError):
    """The connection was made and the request may have left, but no answer came (a read
    timeout, a reset, a TLS error): the outcome of a send is unknown."""


# The environment variables deployments set to choose a proxy (urllib's getproxies, which a
# requests session used, reads any `*_proxy` name in any case).
_PROXY_VARIABLES = tuple(
    name
    for scheme in ("http", "https", "all", "no")
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY")
)


def _proxy_for(url: str) -> str | None:
    """The proxy the environment names for `url`, chosen by requests' own functions as a
    requests session chose it; remembered per scheme and host while those variables stay as
    they are, since getproxies() scans the whole environment on every call."""
    parsed = urlparse(url)
    environment = tuple(os.environ.get(name) for name in _PROXY_VARIABLES)
    return _chosen_proxy(f"{parsed.scheme}://{parsed.netloc}/", environment)


@lru_cache(maxsize=256)
def _chosen_proxy(origin: str, _environment: tuple[str | None, ...]) -> str | None:
    proxy = select_proxy(origin, get_environ_proxies(origin))
    return prepend_scheme_if_needed(proxy, "http") if proxy else None


def _manager(proxy: str | None, ca_bundle: str) -> urllib3.PoolManager:
    managers: dict[tuple[str | None, str], urllib3.PoolManager] | None = getattr(_pools, "managers", None)
    if managers is None:
        managers = _pools.managers = {}
    manager = managers.get((proxy, ca_bundle))
    if manager is None:
        # As a requests adapter's pools: 4 hosts, 4 connections each, verified against the bundle.
        options: dict[str, Any] = {"num_pools": 4, "maxsize": 4, "block": False, "cert_reqs": "CERT_REQUIRED"}
        options["ca_cert_dir" if os.path.isdir(ca_bundle) else "ca_certs"] = ca_bundle
        if proxy is None:
            manager = urllib3.PoolManager(**options)
        else:
            username, password = get_auth_from_url(proxy)
            headers = make_headers(proxy_basic_auth=f"{username}:{password}") if username else None
            manager = urllib3.ProxyManager(proxy, proxy_headers=headers, **options)
        managers[(proxy, ca_bundle)] = manager
    return manager


class _PooledHttp:
    """What googleapiclient calls to send a request (httplib2's `request` signature), sent with
    the credentials' token through the thread's urllib3 pools, without redirects or retries.

    It keeps what a requests session did (the environment's proxies and CA bundle, the same
    headers, timeouts, pool sizes) without what it cost per call: a requests session scanned
    the environment for proxies on every request and prepared each request twice over."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    def request(
        self,
        uri: str,
        method: str = "GET",
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        **_: Any,
    ) -> tuple[httplib2.Response, bytes]:
        sent = _DEFAULT_HEADERS.copy()
        sent.update(headers or {})
        self.credentials.apply(sent)
        # The CA bundle a requests session used: the environment's, else requests' own (certifi's).
        ca_bundle = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or DEFAULT_CA_BUNDLE_PATH
        )
        timeout = settings.GOOGLE_HTTP_TIMEOUT
        try:
            answer = _manager(_proxy_for(uri), ca_bundle).urlopen(
                method,
                uri,
                body=body,
                headers=sent,
                redirect=False,
                retries=_NO_RETRIES,
                timeout=Timeout(connect=timeout, read=timeout),
            )
        except MaxRetryError as error:
            # NewConnectionError covers refusals, unreachable hosts and DNS (NameResolutionError).
            # A kept-alive connection the server had closed is found out before use (urllib3
            # checks it and opens a new one); any failure on a connection that was made counts
            # as sent.
            if isinstance(error.reason, NewConnectionError | ConnectTimeoutError):
                raise NotConnected(str(error)) from error
            raise NoAnswer(str(error)) from error
        except HTTPError as error:  # read timeouts, resets, TLS errors: after the connection was made
            raise NoAnswer(str(error)) from error
        return httplib2.Response({**answer.headers, "status": answer.status}), answer.data


def can_read_sent_mail(integration: Integration) -> bool:
    return bool(READ_SCOPES & set(integration.scopes or []))


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
        # Upload URLs are built from the document's rootUrl (Google's https host), not from the
        # endpoint: point it at the base URL too, so uploads go there, over plain HTTP if it says so.
        document["rootUrl"] = api_base_url.rstrip("/") + "/"
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


def _authorized_http(credentials: Credentials) -> _PooledHttp:
    # A 401 comes back to `execute`, which refreshes once (one worker refreshes, the others wait).
    return _PooledHttp(credentials)


def _execute_once(
    request_for: Callable[[], Any],
    credentials: Credentials,
    service_label: str,
    on_call: Callable[[], None] | None,
) -> dict[str, Any]:
    """`on_call`: for a call Google cannot deduplicate; it runs just before the request goes out,
    and a failure after that point raises SendOutcomeUnknown instead of RetryableError."""
    request = request_for()
    if on_call is not None:
        on_call()
    try:
        response: dict[str, Any] = request.execute(http=_authorized_http(credentials))
    except NotConnected as error:
        raise google_errors.unreachable(service_label=service_label) from error
    except OSError as error:  # NoAnswer: a timeout or a dropped connection
        if on_call is not None:
            raise google_errors.outcome_unknown(service_label=service_label) from error
        raise google_errors.timed_out(service_label=service_label) from error
    return response


def execute(
    *,
    integration: Integration,
    service_label: str,
    request_for: Callable[[], Any],
    on_call: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run one API request with the integration's credentials; refresh once if Google answers 401."""
    credentials = credentials_for(integration=integration)
    try:
        try:
            response = _execute_once(request_for, credentials, service_label, on_call)
        except HttpError as error:
            if int(error.resp.status) != 401:
                raise
            credentials = refresh_credentials(integration=integration, rejected_token=credentials.token)
            response = _execute_once(request_for, credentials, service_label, on_call)
    except HttpError as error:
        failure = google_errors.from_http_error(error, service_label=service_label)
        if isinstance(failure, ReauthRequired):
            record_rejected(integration=integration, rejected_token=credentials.token, error=failure)
        raise failure from error
    record_use(integration=integration)
    return response


def send_gmail_message(
    *,
    integration: Integration,
    raw: str,
    thread_id: str | None = None,
    on_call: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """`on_call` runs (and must commit its record) just before the request goes out."""
    body = {"raw": raw, **({"threadId": thread_id} if thread_id else {})}
    return execute(
        integration=integration,
        service_label="Gmail",
        request_for=lambda: _gmail_messages(settings.GOOGLE_API_BASE_URL).send(userId="me", body=body),
        on_call=on_call,
    )


# Above this size a message goes through Gmail's upload endpoint rather than as a JSON `raw` field.
GMAIL_UPLOAD_THRESHOLD = 4 * 1024 * 1024


def send_gmail_upload(
    *,
    integration: Integration,
    message: bytes,
    thread_id: str | None = None,
    on_call: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """messages.send with the message uploaded (message/rfc822, one multipart request).
    `on_call` runs (and must commit its record) just before the request goes out."""
    body = {"threadId": thread_id} if thread_id else None
    return execute(
        integration=integration,
        service_label="Gmail",
        request_for=lambda: _gmail_messages(settings.GOOGLE_API_BASE_URL).send(
            userId="me",
            body=body,
            media_body=MediaIoBaseUpload(BytesIO(message), mimetype="message/rfc822", resumable=False),
        ),
        on_call=on_call,
    )


def gmail_message_headers(*, integration: Integration, message_id: str, names: list[str]) -> dict[str, Any]:
    """users.messages.get, format=metadata: the message's threadId and the named headers."""
    return execute(
        integration=integration,
        service_label="Gmail",
        request_for=lambda: _gmail_messages(settings.GOOGLE_API_BASE_URL).get(
            userId="me", id=message_id, format="metadata", metadataHeaders=names
        ),
    )


def find_sent_message(*, integration: Integration, message_id_header: str) -> dict[str, Any] | None:
    """The message in the mailbox's Sent mail that carries our Message-ID, or None.

    Gmail's search takes `rfc822msgid:` (the Message-ID header, without its angle brackets).
    """
    query = f"rfc822msgid:{message_id_header.strip('<>')} in:sent"
    found = execute(
        integration=integration,
        service_label="Gmail",
        request_for=lambda: _gmail_messages(settings.GOOGLE_API_BASE_URL).list(
            userId="me", q=query, maxResults=1
        ),
    )
    messages = found.get("messages") or []
    return dict(messages[0]) if messages else None


def insert_calendar_event(
    *, integration: Integration, calendar_id: str, event: dict[str, Any], send_updates: str
) -> dict[str, Any]:
    """events.insert. An event with its own `id` is made at most once: Google answers 409 for an
    id the calendar already has (an earlier call went through), and that event is read back."""
    try:
        return execute(
            integration=integration,
            service_label="Google Calendar",
            request_for=lambda: _calendar_events(settings.GOOGLE_API_BASE_URL).insert(
                calendarId=calendar_id, body=event, sendUpdates=send_updates
            ),
        )
    except PermanentError as error:
        cause = error.__cause__
        if not (event.get("id") and isinstance(cause, HttpError) and int(cause.resp.status) == 409):
            raise
    return get_calendar_event(integration=integration, calendar_id=calendar_id, event_id=str(event["id"]))


def get_calendar_event(*, integration: Integration, calendar_id: str, event_id: str) -> dict[str, Any]:
    """events.get."""
    return execute(
        integration=integration,
        service_label="Google Calendar",
        request_for=lambda: _calendar_events(settings.GOOGLE_API_BASE_URL).get(
            calendarId=calendar_id, eventId=event_id
        ),
    )


# --- Gmail reads (a trigger watching a mailbox); each needs gmail.readonly.


# Items per page of a history or message listing (Gmail's maximum); every page is read.
GMAIL_PAGE_SIZE = 500


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


def gmail_list_page(
    *, integration: Integration, query: str, page_token: str | None, page_size: int = GMAIL_PAGE_SIZE
) -> dict[str, Any]:
    """One page of users.messages.list with a Gmail search query (newest first), of at most
    `page_size` messages."""
    return _gmail_read(
        integration,
        lambda: _gmail_messages(settings.GOOGLE_API_BASE_URL).list(
            userId="me", q=query, maxResults=page_size, pageToken=page_token
        ),
    )


def gmail_get_message(*, integration: Integration, message_id: str) -> dict[str, Any]:
    """users.messages.get, format=full (headers, bodies, attachment names and sizes)."""
    return _gmail_read(
        integration,
        lambda: _gmail_messages(settings.GOOGLE_API_BASE_URL).get(userId="me", id=message_id, format="full"),
    )


def gmail_attachment(*, integration: Integration, message_id: str, attachment_id: str) -> str:
    """users.messages.attachments.get: an attachment's bytes as Gmail gives them, base64url text
    (HistoryExpired when the message is gone)."""
    found = _gmail_read(
        integration,
        lambda: (
            _gmail_messages(settings.GOOGLE_API_BASE_URL)
            .attachments()
            .get(userId="me", messageId=message_id, id=attachment_id)
        ),
    )
    return str(found.get("data") or "")
