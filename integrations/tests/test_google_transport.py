"""Google calls go over kept-alive connections, and still never send a request twice: a pooled
connection the server has closed is replaced before anything is written on it, and a request
that found no answer on a kept-alive connection is an unknown outcome, not sent again."""

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from galaxyco.errors import SendOutcomeUnknown
from integrations.google import clients
from integrations.tests.google_grants import connect
from workflows.tests.test_at_most_once import raw_email

pytestmark = pytest.mark.django_db

BODY = b'{"id": "m1", "threadId": "t1"}'
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)
COOKIE = b"Set-Cookie: session=from-the-last-call; Path=/\r\n"


class ScriptedGmail:
    """A server that answers Gmail sends as told, one word per request, on HTTP/1.1 connections
    kept alive: "answer", "answer with a cookie" (a Set-Cookie header), "answer then close" (the
    connection), "hang up" (read it, close, no answer). Counts connections and requests, and
    keeps each request's head."""

    def __init__(self, script: list[str]) -> None:
        self.script = list(script)
        self.connections = 0
        self.requests = 0
        self.heads: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> "ScriptedGmail":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        # A kept-alive connection outlives its test in the client's pool: closed once idle, as
        # servers do, without an error in the thread.
        with conn, contextlib.suppress(TimeoutError):
            conn.settimeout(5)
            buffered = b""
            while True:
                while b"\r\n\r\n" not in buffered:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffered += data
                head, _, rest = buffered.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                while len(rest) < length:
                    rest += conn.recv(65536)
                buffered = rest[length:]
                self.requests += 1
                self.heads.append(head)
                word = self.script.pop(0)
                if word == "hang up":
                    return
                if word == "answer with a cookie":
                    status_line, _, rest_of_answer = ANSWER.partition(b"\r\n")
                    conn.sendall(status_line + b"\r\n" + COOKIE + rest_of_answer)
                    continue
                conn.sendall(ANSWER)
                if word == "answer then close":
                    return


@pytest.fixture
def gmail(google, workspace, member):
    return connect(google, workspace=workspace, user=member, email="sender@gmail.test")


@pytest.fixture
def scripted(settings) -> Iterator[Callable[[list[str]], ScriptedGmail]]:
    servers: list[ScriptedGmail] = []

    def start(script: list[str]) -> ScriptedGmail:
        server = ScriptedGmail(script).__enter__()
        servers.append(server)
        settings.GOOGLE_API_BASE_URL = server.url
        return server

    yield start
    for server in servers:
        server.__exit__()


def test_sends_reuse_one_kept_alive_connection(gmail, scripted):
    server = scripted(["answer", "answer", "answer"])
    for _ in range(3):
        assert (
            clients.send_gmail_message(integration=gmail, raw=raw_email(), on_call=lambda: None)["id"] == "m1"
        )
    assert (server.connections, server.requests) == (1, 3)


def test_a_kept_alive_connection_the_server_closed_is_replaced_before_the_send(gmail, scripted):
    server = scripted(["answer then close", "answer"])
    clients.send_gmail_message(integration=gmail, raw=raw_email(), on_call=lambda: None)
    time.sleep(0.1)  # the server's close has reached us

    sent = clients.send_gmail_message(integration=gmail, raw=raw_email(), on_call=lambda: None)

    assert sent["id"] == "m1"  # not an unknown outcome: nothing had been written on the closed one
    assert (server.connections, server.requests) == (2, 2)


def test_no_answer_on_a_kept_alive_connection_is_unknown_and_never_resent(gmail, scripted):
    server = scripted(["answer", "hang up"])
    clients.send_gmail_message(integration=gmail, raw=raw_email(), on_call=lambda: None)

    with pytest.raises(SendOutcomeUnknown):
        clients.send_gmail_message(integration=gmail, raw=raw_email(), on_call=lambda: None)
    time.sleep(0.1)
    assert server.requests == 2  # the second was read once, and not sent again


def header(head: bytes, name: bytes) -> list[bytes]:
    return [
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")[1:]
        if line.split(b":", 1)[0].strip().lower() == name
    ]


def test_a_cookie_one_call_was_given_is_not_sent_with_the_next(gmail, scripted):
    server = scripted(["answer with a cookie", "answer"])

    clients.send_gmail_message(integration=gmail, raw=raw_email(), on_call=lambda: None)
    clients.send_gmail_message(integration=gmail, raw=raw_email(), on_call=lambda: None)

    assert server.requests == 2
    assert header(server.heads[1], b"cookie") == []


def test_a_netrc_entry_for_the_host_never_replaces_the_accounts_token(gmail, scripted, tmp_path, monkeypatch):
    server = scripted(["answer"])
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password elses\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))

    clients.send_gmail_message(integration=gmail, raw=raw_email(), on_call=lambda: None)

    [authorization] = header(server.heads[0], b"authorization")
    assert authorization.startswith(b"Bearer ")


def test_a_proxy_the_environment_names_carries_the_calls(gmail, scripted, settings, monkeypatch):
    server = scripted(["answer"])
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url)
    settings.GOOGLE_API_BASE_URL = "http://gmail.proxied.test"

    clients.send_gmail_message(integration=gmail, raw=raw_email(), on_call=lambda: None)

    assert server.heads[0].startswith(b"POST http://gmail.proxied.test/gmail/v1/users/me/messages/send")


def test_a_host_no_proxy_names_is_called_directly(gmail, scripted, monkeypatch):
    server = scripted(["answer"])
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "localhost, 127.0.0.1")
    monkeypatch.delenv("no_proxy", raising=False)

    clients.send_gmail_message(integration=gmail, raw=raw_email(), on_call=lambda: None)

    assert server.heads[0].startswith(b"POST /gmail/v1/users/me/messages/send")


def test_the_proxys_credentials_go_to_the_proxy(gmail, scripted, settings, monkeypatch):
    server = scripted(["answer"])
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", server.url.replace("http://", "http://user:s%40cret@"))
    settings.GOOGLE_API_BASE_URL = "http://gmail.proxied.test"

    clients.send_gmail_message(integration=gmail, raw=raw_email(), on_call=lambda: None)

    assert header(server.heads[0], b"proxy-authorization") == [b"Basic dXNlcjpzQGNyZXQ="]
