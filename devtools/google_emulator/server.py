"""The route table, fault injection, the WSGI app on Werkzeug, and ``GoogleEmulator``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import BaseConverter, Map, Rule

from devtools.standin.server import BackgroundServer, TrackedApp, documented_endpoints

from . import control, gcalendar, gmail, gmail_read, oauth, pages
from .keys import SigningKey
from .state import EmulatorState, Fault
from .web import Context, Request, Response, api_error, html_response, json_response, oauth_error

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

DEFAULT_CLIENT_ID = "galaxyco-dev-client"
DEFAULT_CLIENT_SECRET = "galaxyco-dev-secret"

logger = logging.getLogger(__name__)

Handler = Callable[..., Response]  # (ctx, request, **path values) -> Response


@dataclass(frozen=True)
class Endpoint:
    handler: Handler
    name: str | None = None  # the name stats() counts and add_fault() targets
    fault_style: str = "api"  # shape of an injected error: "api", "oauth" or "html"
    writes: bool = False  # may change what a state file keeps: saved after each call
    doc: str = ""  # one line for the control API listing on the index page


def _rule(
    methods: str,
    path: str,
    handler: Handler,
    name: str | None = None,
    *,
    style: str = "api",
    writes: bool = False,
    doc: str = "",
) -> Rule:
    return Rule(path, methods=methods.split(), endpoint=Endpoint(handler, name, style, writes, doc))


def index(ctx: Context, req: Request) -> Response:
    markup = pages.index_page(
        base_url=ctx.base_url,
        issuer=ctx.issuer,
        client_id=ctx.client_id,
        messages=len(ctx.state.messages()),
        events=len(ctx.state.events()),
        control_api=control_endpoints(),
    )
    return html_response(markup)


class MessageIdConverter(BaseConverter):
    """A Gmail message id: any path segment but ``send``, so GET …/messages/send is a 405
    (messages.send is POST only), not a lookup of a message called "send"."""

    regex = r"(?!send$)[^/]+"


# Every URL the emulator answers. Google's endpoints sit on Google's own paths (the OAuth
# ones on one host here, as if accounts.google.com, oauth2.googleapis.com and
# www.googleapis.com were one), so only the host differs from production.
URL_MAP = Map(
    converters={"message_id": MessageIdConverter},
    rules=[
        # OAuth / OpenID Connect.
        _rule("GET", "/o/oauth2/v2/auth", oauth.authorize, "authorize", style="html", writes=True),
        _rule(
            "POST",
            "/o/oauth2/v2/auth",
            oauth.authorize_decision,
            "authorize.decision",
            style="html",
            writes=True,
        ),
        _rule("POST", "/token", oauth.token, "token", style="oauth", writes=True),
        _rule("GET", "/oauth2/v1/certs", oauth.certs_x509, "certs"),
        _rule("GET", "/oauth2/v3/certs", oauth.certs_jwks, "certs"),
        _rule("GET POST", "/oauth2/v2/userinfo", oauth.userinfo, "userinfo"),
        _rule("GET POST", "/oauth2/v3/userinfo", oauth.userinfo, "userinfo"),
        _rule("POST", "/revoke", oauth.revoke, "revoke", style="oauth", writes=True),
        _rule("GET", "/.well-known/openid-configuration", oauth.openid_configuration),
        # Gmail and Calendar, with each API's service path (gmail/v1/, calendar/v3/).
        _rule("POST", "/gmail/v1/users/<user_id>/messages/send", gmail.send, "gmail.send", writes=True),
        _rule(
            "POST",
            "/upload/gmail/v1/users/<user_id>/messages/send",
            gmail.upload_send,
            "gmail.send",
            writes=True,
        ),
        _rule("GET", "/gmail/v1/users/<user_id>/profile", gmail_read.profile, "gmail.profile"),
        _rule("GET", "/gmail/v1/users/<user_id>/history", gmail_read.history, "gmail.history"),
        _rule("GET", "/gmail/v1/users/<user_id>/messages", gmail_read.list_messages, "gmail.list"),
        _rule(
            "GET",
            "/gmail/v1/users/<user_id>/messages/<message_id:message_id>",
            gmail_read.get_message,
            "gmail.get",
        ),
        _rule(
            "GET",
            "/gmail/v1/users/<user_id>/messages/<message_id:message_id>/attachments/<attachment_id>",
            gmail_read.get_attachment,
            "gmail.attachment",
        ),
        _rule("GET", "/gmail/v1/users/<user_id>/threads/<thread_id>", gmail_read.get_thread, "gmail.thread"),
        _rule(
            "POST",
            "/calendar/v3/calendars/<calendar_id>/events",
            gcalendar.insert,
            "calendar.insert",
            writes=True,
        ),
        _rule("GET", "/calendar/v3/calendars/<calendar_id>/events/<event_id>", gcalendar.get, "calendar.get"),
        # Pages for people.
        _rule("GET", "/", index),
        _rule("GET", "/_emulator/inbox", control.inbox),
        _rule("GET", "/_emulator/calendar/event", control.event_page),
        _rule("GET", "/_emulator/avatar/<sub>.svg", oauth.avatar),
        # The control API (README: "Google emulator").
        _rule(
            "GET",
            "/_emulator/inbox.json",
            control.inbox_json,
            doc="delivered messages, oldest first; ?to= filters",
        ),
        _rule("GET", "/_emulator/calendar/events.json", control.events_json, doc="inserted calendar events"),
        _rule("GET", "/_emulator/control/accounts", control.accounts, doc="accounts that have consented"),
        _rule("GET", "/_emulator/control/stats", control.stats, doc="request counts per endpoint name"),
        _rule("GET", "/_emulator/control/settings", control.settings, doc="token lifetime and Gmail quota"),
        _rule(
            "POST",
            "/_emulator/control/settings",
            control.settings,
            writes=True,
            doc="change access_token_lifetime, gmail_quota_units_per_minute and/or rewrite_message_ids",
        ),
        _rule(
            "POST",
            "/_emulator/control/faults",
            control.add_fault,
            doc="make the next count calls of an endpoint fail (status) and/or hang (hang_seconds)",
        ),
        _rule(
            "POST",
            "/_emulator/control/random-faults",
            control.random_faults,
            doc="fail a share of calls at random, seeded (500, 429, hang, deliver_then_hang)",
        ),
        _rule(
            "POST",
            "/_emulator/control/consent",
            control.set_consent,
            doc="answer the next consent screen at once (email, decision, scopes)",
        ),
        _rule(
            "POST",
            "/_emulator/control/accounts/<email>/expire",
            control.expire_account,
            writes=True,
            doc="expire the account's access tokens (refresh still works)",
        ),
        _rule(
            "POST",
            "/_emulator/control/accounts/<email>/revoke",
            control.revoke_account,
            writes=True,
            doc="revoke the account's grants (refresh answers invalid_grant)",
        ),
        _rule(
            "POST",
            "/_emulator/control/mailboxes/<email>/deliver",
            control.deliver,
            writes=True,
            doc="a new incoming message in the mailbox (from, subject, text, html, labels, attachments)",
        ),
        _rule(
            "POST",
            "/_emulator/control/mailboxes/<email>/history/expire",
            control.expire_history,
            writes=True,
            doc="forget the mailbox's history: older startHistoryIds answer 404",
        ),
        _rule("POST", "/_emulator/control/reset", control.reset, writes=True, doc="forget everything"),
    ],
)


def control_endpoints() -> list[tuple[str, str, str]]:
    """(methods, path, summary) of every control API endpoint, in table order."""
    return documented_endpoints(URL_MAP)


_OAUTH_FAULT_ERRORS = {
    400: "invalid_request",
    401: "invalid_client",
    403: "access_denied",
    429: "rate_limit_exceeded",
    503: "temporarily_unavailable",
}
_API_FAULT_REASONS = {400: "badRequest", 401: "authError", 403: "forbidden", 404: "notFound"}


def fault_response(style: str, fault: Fault) -> Response:
    """A Google-shaped error for an injected fault."""
    status = fault.status or 500
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    if style == "oauth":
        error = _OAUTH_FAULT_ERRORS.get(status, "server_error" if status >= 500 else "invalid_request")
        return oauth_error(status, error, f"{phrase} (injected by the Google emulator)", headers)
    if style == "html":
        markup = pages.error_page(
            "server_error" if status >= 500 else phrase, "Injected by the Google emulator.", status
        )
        return html_response(markup, status, headers)
    if status == 429:
        return api_error(
            429, "Rate Limit Exceeded", "rateLimitExceeded", domain="usageLimits", headers=headers
        )
    if status >= 500:
        return api_error(status, "Backend Error", "backendError", headers=headers)
    return api_error(status, phrase, _API_FAULT_REASONS.get(status, "badRequest"), headers=headers)


class EmulatorApp(TrackedApp):
    """The WSGI application: match a route, count it, apply an armed fault, call its handler."""

    def __init__(self, ctx: Context, *, verbose: bool) -> None:
        super().__init__(verbose=verbose)
        self.ctx = ctx

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        return self.dispatch(request)(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        try:
            endpoint, values = URL_MAP.bind_to_environ(request.environ).match()
        except NotFound:
            return api_error(404, f"Not Found: {request.path}", "notFound")
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or ()))
            return api_error(405, "Method Not Allowed", "methodNotAllowed", headers={"Allow": allowed})
        except HTTPException as exc:  # a redirect to the canonical URL
            return exc.get_response(request.environ)
        try:
            return self._call(cast(Endpoint, endpoint), request, values)
        except HTTPException as exc:  # e.g. 413 from reading a body over the limit
            status = exc.code or 400
            return api_error(status, exc.description or HTTPStatus(status).phrase, "badRequest")
        except Exception:
            logger.exception("Google emulator failed on %s %s", request.method, request.path)
            return json_response({"error": "internal emulator error"}, 500)

    def _fault_names(self, endpoint: Endpoint, request: Request) -> tuple[str, ...]:
        if endpoint.name is None:
            return ()
        if endpoint.name == "token":
            grant_type = request.field("grant_type")
            if grant_type in ("authorization_code", "refresh_token"):
                return (f"token.{grant_type}", "token")
        return (endpoint.name,)

    def _call(self, endpoint: Endpoint, request: Request, values: Mapping[str, Any]) -> Response:
        generation = self.ctx.state.generation
        names = self._fault_names(endpoint, request)
        if names:
            self.ctx.state.record(names)
            fault = self.ctx.state.take_fault(names)
            if fault is not None:
                message_id = gmail.message_id_of(request) if endpoint.name == "gmail.send" else None
                self.ctx.state.record_applied_fault(names[0], fault.kind, message_id)
                if fault.hang_after:
                    return self._answer_late(endpoint, request, values, fault.hang_seconds or 0.0)
                # Wait on the stop event rather than sleeping, so stop() cuts hangs short.
                if fault.hang_seconds and self.ctx.stopping.wait(fault.hang_seconds):
                    return api_error(503, "The emulator is shutting down.", "backendError")
                if fault.status is not None:
                    return fault_response(endpoint.fault_style, fault)
            if self.ctx.state.generation != generation:
                # Reset since this call came in (it hung, and the next test began): it must not
                # land in that test's state. Its client gave up long ago.
                return api_error(503, "The emulator was reset during this call.", "backendError")
        return self._handle(endpoint, request, values)

    def _handle(self, endpoint: Endpoint, request: Request, values: Mapping[str, Any]) -> Response:
        response = endpoint.handler(self.ctx, request, **values)
        if endpoint.writes:
            self.ctx.state.save()
        return response

    def _answer_late(
        self, endpoint: Endpoint, request: Request, values: Mapping[str, Any], seconds: float
    ) -> Response:
        """Do the call (an email is delivered), then hold the answer back: the client that gave
        up waiting cannot tell whether it was done."""
        response = self._handle(endpoint, request, values)
        if self.ctx.stopping.wait(seconds):
            return api_error(503, "The emulator is shutting down.", "backendError")
        return response


class GoogleEmulator(BackgroundServer):
    """A local stand-in for Google's OAuth, Gmail and Calendar endpoints.

    >>> with GoogleEmulator() as emu:          # doctest: +SKIP
    ...     requests.get(emu.url + "/oauth2/v1/certs")

    With ``state_file`` the accounts, grants, tokens, mail and events survive a restart.
    """

    thread_name = "google-emulator"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        issuer: str | None = None,
        access_token_lifetime: int = 3600,
        gmail_quota_units_per_minute: int = 15000,
        *,
        rewrite_message_ids: bool = False,
        state_file: Path | str | None = None,
        verbose: bool = False,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.state = EmulatorState(
            access_token_lifetime=access_token_lifetime,
            gmail_quota_units_per_minute=gmail_quota_units_per_minute,
            rewrite_message_ids=rewrite_message_ids,
            path=Path(state_file) if state_file is not None else None,
        )
        self.keys = SigningKey(self.state.signing_key_pem)
        self.state.signing_key_pem = self.keys.private_pem
        self._ctx = Context(
            state=self.state,
            keys=self.keys,
            client_id=client_id,
            client_secret=client_secret,
            issuer_override=issuer.rstrip("/") if issuer else None,
            stopping=threading.Event(),
        )
        super().__init__(host=host, port=port, app=EmulatorApp(self._ctx, verbose=verbose), context=self._ctx)

    @property
    def issuer(self) -> str:
        """The ``iss`` of issued id_tokens: the ``issuer`` argument, else ``url``."""
        return self._ctx.issuer_override or self.url
