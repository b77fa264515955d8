"""The route table, fault injection, the WSGI app on Werkzeug, and ``SidemailStandin``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from devtools.standin.server import BackgroundServer, TrackedApp, documented_endpoints

from . import api, control, pages
from .state import ERROR_STATUS, Fault, StandinState
from .web import Context, Request, Response, html_response, json_response, sidemail_error

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger(__name__)

Handler = Callable[..., Response]  # (ctx, request, **path values) -> Response


@dataclass(frozen=True)
class Endpoint:
    handler: Handler
    name: str | None = None  # Sidemail API endpoints: counted, faultable, need the API key
    writes: bool = False  # may change what a state file keeps: saved after each call
    doc: str = ""  # one line for the control API listing on the index page


def _rule(
    methods: str, path: str, handler: Handler, name: str | None = None, *, writes: bool = False, doc: str = ""
) -> Rule:
    return Rule(path, methods=methods.split(), endpoint=Endpoint(handler, name, writes, doc))


def index(ctx: Context, req: Request) -> Response:
    markup = pages.index_page(
        base_url=ctx.base_url,
        emails=len(ctx.state.emails()),
        contacts=len(ctx.state.contacts()),
        control_api=control_endpoints(),
    )
    return html_response(markup)


# Sidemail's endpoints sit on its own paths under /v1, so only the host differs from production.
URL_MAP = Map(
    [
        _rule("POST", "/v1/email/send", api.send_email, "email.send", writes=True),
        _rule("POST", "/v1/contacts", api.upsert_contact, "contacts.upsert", writes=True),
        _rule("GET", "/v1/contacts", api.list_contacts, "contacts.list"),
        _rule("GET", "/v1/contacts/<email>", api.get_contact, "contacts.get"),
        _rule("DELETE", "/v1/contacts/<email>", api.delete_contact, "contacts.delete", writes=True),
        # Pages for people.
        _rule("GET", "/", index),
        _rule("GET", "/_standin/inbox", control.inbox),
        _rule("GET", "/_standin/inbox/<email_id>", control.email_page),
        # The control API (README: "Sidemail stand-in").
        _rule(
            "GET",
            "/_standin/inbox.json",
            control.inbox_json,
            doc="accepted emails, oldest first; ?to= filters",
        ),
        _rule("GET", "/_standin/contacts.json", control.contacts_json, doc="every contact"),
        _rule("GET", "/_standin/control/stats", control.stats, doc="request counts per endpoint name"),
        _rule("GET", "/_standin/control/settings", control.settings, doc="how many keys; the webhook URL"),
        _rule(
            "POST",
            "/_standin/control/settings",
            control.settings,
            writes=True,
            doc="set api_keys (accepted Bearer keys), webhook_url and webhook_secret",
        ),
        _rule(
            "POST",
            "/_standin/control/faults",
            control.add_fault,
            doc="the next count calls of endpoint answer status or error_code, and/or hang hang_seconds",
        ),
        _rule(
            "POST",
            "/_standin/control/webhook",
            control.emit_webhook,
            writes=True,
            doc="POST a webhook event (type) about email_id to the webhook URL with sidemail-secret",
        ),
        _rule("POST", "/_standin/control/reset", control.reset, writes=True, doc="forget everything"),
    ]
)


def control_endpoints() -> list[tuple[str, str, str]]:
    """(methods, path, summary) of every control API endpoint, in table order."""
    return documented_endpoints(URL_MAP)


def fault_response(fault: Fault) -> Response:
    """A Sidemail-shaped error for an injected fault."""
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    if fault.error_code is not None:
        status = fault.status or ERROR_STATUS[fault.error_code]
        message = f"{fault.error_code} (injected by the Sidemail stand-in)"
        return sidemail_error(status, fault.error_code, message, headers)
    status = fault.status or 500
    code = "too-many-requests" if status == 429 else "server-error" if status >= 500 else "parameters-invalid"
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return sidemail_error(status, code, f"{phrase} (injected by the Sidemail stand-in)", headers)


class StandinApp(TrackedApp):
    """The WSGI application: match a route, check the key, count it, apply a fault, call its handler."""

    def __init__(self, ctx: Context, *, verbose: bool) -> None:
        super().__init__(verbose=verbose)
        self.ctx = ctx

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.dispatch(Request(environ))(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        try:
            endpoint, values = URL_MAP.bind_to_environ(request.environ).match()
        except NotFound:
            return sidemail_error(404, "not-found", f"Not Found: {request.path}")
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or ()))
            return sidemail_error(405, "method-not-allowed", "Method Not Allowed", {"Allow": allowed})
        except HTTPException as exc:  # a redirect to the canonical URL
            return exc.get_response(request.environ)
        try:
            return self._call(cast(Endpoint, endpoint), request, values)
        except HTTPException as exc:  # e.g. 413 from reading a body over the limit
            status = exc.code or 400
            return sidemail_error(status, "parameters-invalid", exc.description or HTTPStatus(status).phrase)
        except Exception:
            logger.exception("Sidemail stand-in failed on %s %s", request.method, request.path)
            return json_response({"error": "internal stand-in error"}, 500)

    def _call(self, endpoint: Endpoint, request: Request, values: Mapping[str, Any]) -> Response:
        if endpoint.name is not None:
            generation = self.ctx.state.generation
            self.ctx.state.record(endpoint.name)
            fault = self.ctx.state.take_fault(endpoint.name)
            if fault is not None:
                # Wait on the stop event rather than sleeping, so stop() cuts hangs short.
                if fault.hang_seconds and self.ctx.stopping.wait(fault.hang_seconds):
                    return sidemail_error(503, "server-error", "The stand-in is shutting down.")
                if fault.status is not None or fault.error_code is not None:
                    return fault_response(fault)
            if self.ctx.state.generation != generation:
                # Reset since this call came in (it hung, and the next test began): it must not
                # land in that test's inbox. Its client gave up long ago.
                return sidemail_error(503, "server-error", "The stand-in was reset during this call.")
            if not self.ctx.state.accepts_key(request.bearer_token()):
                return sidemail_error(
                    401,
                    "authentication-failed",
                    "Authorization: Bearer <API key> is missing or not accepted.",
                )
        response = endpoint.handler(self.ctx, request, **values)
        if endpoint.writes:
            self.ctx.state.save()
        return response


class SidemailStandin(BackgroundServer):
    """A local stand-in for Sidemail's API, with an inbox page and a control API.

    >>> with SidemailStandin() as standin:      # doctest: +SKIP
    ...     requests.post(standin.url + "/v1/email/send", json={...}, headers=...)

    ``api_url`` (``url + "/v1"``) is what the app's ``SIDEMAIL_API_URL`` names. With
    ``state_file`` the emails, contacts and settings survive a restart.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: list[str] | None = None,
        *,
        state_file: Path | str | None = None,
        verbose: bool = False,
    ) -> None:
        self.state = StandinState(
            api_keys=api_keys, path=Path(state_file) if state_file is not None else None
        )
        ctx = Context(state=self.state, stopping=threading.Event())
        super().__init__(host=host, port=port, app=StandinApp(ctx, verbose=verbose), context=ctx)

    @property
    def api_url(self) -> str:
        """Sidemail's API base with its version, as ``SIDEMAIL_API_URL`` wants it."""
        return f"{self.url}/v1"
