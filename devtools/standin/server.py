"""A WSGI app served by Werkzeug on a thread, with its own listening socket and start/stop."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self, cast

from werkzeug.routing import Map
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


class SavesState(Protocol):
    def save(self) -> None: ...


class ServedContext(Protocol):
    """The part of a stand-in's handler context the server looks after."""

    base_url: str

    @property
    def state(self) -> SavesState: ...

    @property
    def stopping(self) -> threading.Event: ...


def documented_endpoints(url_map: Map) -> list[tuple[str, str, str]]:
    """(methods, path, summary) of every rule whose endpoint has a ``doc``, in table order."""
    listed = []
    for rule in url_map.iter_rules():
        doc = getattr(rule.endpoint, "doc", "")
        if doc:
            methods = ", ".join(sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}))
            listed.append((methods, rule.rule, doc))
    return listed


class TrackedApp:
    """A WSGI app that knows its open connections, so stopping can break keep-alive ones."""

    def __init__(self, *, verbose: bool) -> None:
        self.verbose = verbose
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise NotImplementedError

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Break open keep-alive connections, so a stopped server answers nothing more."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, quiet unless verbose, and known to the app while connected."""

    @property
    def _app(self) -> TrackedApp:
        return cast(TrackedApp, self.server.app)

    def setup(self) -> None:
        super().setup()
        self._app.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._app.track(self.connection, False)

    def log(self, type: str, message: str, *args: Any) -> None:
        if self._app.verbose:
            super().log(type, message, *args)


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class BackgroundServer:
    """Serves ``app`` on a daemon thread; a context manager. The state is saved on start and stop."""

    thread_name = "standin"

    def __init__(self, *, host: str, port: int, app: TrackedApp, context: ServedContext) -> None:
        self.host = host
        self._port = port
        self._served_app = app
        self._served_context = context
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port once started (the requested one before)."""
        return self._port

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        return self._served_context.base_url

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._served_context.stopping.clear()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # Bound here rather than by make_server, which answers a busy port with sys.exit.
        with socket.create_server((self.host, self._port), family=family, backlog=128) as listener:
            server = make_server(
                self.host,
                self._port,
                self._served_app,
                threaded=True,
                request_handler=_RequestHandler,
                fd=listener.fileno(),  # werkzeug serves a duplicate of it
            )
        self._port = int(server.server_address[1])
        self._served_context.base_url = f"http://{_url_host(self.host)}:{self._port}"
        self._served_context.state.save()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and save the state. Safe to call twice."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._served_context.stopping.set()  # wakes handlers waiting in an injected hang
        server.shutdown()
        server.server_close()
        self._served_app.close_connections()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None
        self._served_context.state.save()

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
        where = self._served_context.base_url if self.running else "stopped"
        return f"<{type(self).__name__} {where}>"
