"""HTTP plumbing: the threaded server, routing, fault injection, and ``GoogleEmulator``."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

from . import control, gcalendar, gmail, oauth, pages
from .keys import SigningKey
from .state import EmulatorState, Fault
from .web import Context, Request, Response, api_error, html_response, json_response, oauth_error

DEFAULT_CLIENT_ID = "galaxyco-dev-client"
DEFAULT_CLIENT_SECRET = "galaxyco-dev-secret"
MAX_BODY_BYTES = 64 * 1024 * 1024  # Gmail's own limit is 35 MB of base64

logger = logging.getLogger(__name__)

Handler = Callable[[Context, Request], Response]


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    pattern: re.Pattern[str]
    handler: Handler
    endpoint: str | None = None  # name used by stats() and add_fault()
    fault_style: str = "api"  # shape of an injected error: "api", "oauth" or "html"


def _route(
    methods: str, pattern: str, handler: Handler, endpoint: str | None = None, style: str = "api"
) -> Route:
    return Route(tuple(methods.split()), re.compile(pattern), handler, endpoint, style)


ROUTES = (
    _route("GET", r"/", control.index),
    # OAuth / OpenID Connect, on Google's real paths.
    _route("GET", r"/o/oauth2/v2/auth", oauth.authorize, "authorize", "html"),
    _route("POST", r"/o/oauth2/v2/auth", oauth.authorize_decision, "authorize.decision", "html"),
    _route("POST", r"/token", oauth.token, "token", "oauth"),
    _route("GET", r"/oauth2/v1/certs", oauth.certs_x509, "certs"),
    _route("GET", r"/oauth2/v3/certs", oauth.certs_jwks, "certs"),
    _route("GET POST", r"/oauth2/v[23]/userinfo", oauth.userinfo, "userinfo"),
    _route("POST", r"/revoke", oauth.revoke, "revoke", "oauth"),
    _route("GET", r"/\.well-known/openid-configuration", oauth.openid_configuration),
    # Google APIs, as google-api-python-client builds them with api_endpoint=<emulator>/.
    _route("POST", r"/gmail/v1/users/(?P<user_id>[^/]+)/messages/send", gmail.send, "gmail.send"),
    # With api_endpoint=<emulator>/ the client drops Calendar's servicePath ("calendar/v3/"),
    # so serve both spellings.
    _route(
        "POST",
        r"/(?:calendar/v3/)?calendars/(?P<calendar_id>[^/]+)/events",
        gcalendar.insert,
        "calendar.insert",
    ),
    # Pages and the control API.
    _route("GET", r"/_emulator/avatar/(?P<sub>[0-9]+)\.svg", oauth.avatar),
    _route("GET", r"/_emulator/inbox", control.inbox),
    _route("GET", r"/_emulator/inbox\.json", control.inbox_json),
    _route("GET", r"/_emulator/calendar/events\.json", control.events_json),
    _route("GET", r"/_emulator/calendar/event", control.event_page),
    _route("POST", r"/_emulator/control/reset", control.reset),
    _route("POST", r"/_emulator/control/accounts/(?P<email>[^/]+)/expire", control.expire_account),
    _route("POST", r"/_emulator/control/accounts/(?P<email>[^/]+)/revoke", control.revoke_account),
    _route("GET", r"/_emulator/control/accounts", control.accounts),
    _route("POST", r"/_emulator/control/faults", control.add_fault),
    _route("POST", r"/_emulator/control/consent", control.set_consent),
    _route("GET POST", r"/_emulator/control/settings", control.settings),
    _route("GET", r"/_emulator/control/stats", control.stats),
)

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


class Router:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def handle(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        allowed: set[str] = set()
        for route in ROUTES:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            method = "GET" if req.method == "HEAD" else req.method
            if method not in route.methods:
                allowed.update(route.methods)
                continue
            req.params = {name: unquote(value) for name, value in match.groupdict().items()}
            return self._call(route, req)
        if allowed:
            return api_error(
                405, "Method Not Allowed", "methodNotAllowed", headers={"Allow": ", ".join(sorted(allowed))}
            )
        return api_error(404, f"Not Found: {req.path}", "notFound")

    def _endpoint_names(self, route: Route, req: Request) -> tuple[str, ...]:
        if route.endpoint is None:
            return ()
        if route.endpoint == "token":
            grant_type = req.form_value("grant_type")
            if grant_type in ("authorization_code", "refresh_token"):
                return (f"token.{grant_type}", "token")
        return (route.endpoint,)

    def _call(self, route: Route, req: Request) -> Response:
        names = self._endpoint_names(route, req)
        if names:
            self.ctx.state.record(names)
            fault = self.ctx.state.take_fault(names)
            if fault is not None:
                # Wait on the stop event rather than sleeping, so stop() cuts hangs short.
                if fault.hang_seconds and self.ctx.stopping.wait(fault.hang_seconds):
                    return api_error(503, "The emulator is shutting down.", "backendError")
                if fault.status is not None:
                    return fault_response(route.fault_style, fault)
        return route.handler(self.ctx, req)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for handlers that are hanging

    def __init__(self, address: tuple[str, int], router: Router, *, verbose: bool) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.router = router
        self.verbose = verbose
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), which can stall.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Break idle keep-alive connections so their threads end."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Mostly clients hanging up, or sockets closed by stop(); not worth a traceback.
        if self.verbose:
            super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    server: _Server

    def version_string(self) -> str:
        return "GoogleEmulator/1.0"

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 <= length <= MAX_BODY_BYTES:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise ValueError("body too large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._write(api_error(400, "Malformed request body.", "badRequest"))
            return
        target = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=target.path,  # still percent-encoded; the router unquotes each path parameter
            query=parse_qs(target.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
        )
        try:
            response = self.server.router.handle(request)
        except Exception:
            logger.exception("Google emulator failed on %s %s", self.command, self.path)
            response = json_response({"error": "internal emulator error"}, 500)
        self._write(response)

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class GoogleEmulator:
    """A local stand-in for Google's OAuth, Gmail and Calendar endpoints.

    >>> with GoogleEmulator() as emu:          # doctest: +SKIP
    ...     requests.get(emu.url + "/oauth2/v1/certs")
    """

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
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.client_id = client_id
        self.client_secret = client_secret
        self.verbose = verbose
        self.keys = SigningKey()
        self.state = EmulatorState(
            access_token_lifetime=access_token_lifetime,
            gmail_quota_units_per_minute=gmail_quota_units_per_minute,
        )
        self._port = port
        self._stopping = threading.Event()
        self._ctx = Context(
            state=self.state,
            keys=self.keys,
            client_id=client_id,
            client_secret=client_secret,
            issuer_override=issuer.rstrip("/") if issuer else None,
            stopping=self._stopping,
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port once started (the requested one before)."""
        return self._port

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("GoogleEmulator is not running; call start() first")
        return self._ctx.base_url

    @property
    def issuer(self) -> str:
        """The ``iss`` of issued id_tokens: the ``issuer`` argument, else ``url``."""
        return self._ctx.issuer_override or self.url

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("GoogleEmulator is already running")
        self._stopping.clear()
        server = _Server((self.host, self._port), Router(self._ctx), verbose=self.verbose)
        self._port = int(server.server_address[1])
        self._ctx.base_url = f"http://{_url_host(self.host)}:{self._port}"
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="google-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket. Safe to call twice."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping in an injected hang
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self._ctx.base_url if self.running else "stopped"
        return f"<GoogleEmulator {where}>"
