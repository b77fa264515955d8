"""A Gmail stand-in for benchmarks: answers in well under a millisecond, or after --delay-ms.

    .venv/bin/python bench/sink.py --port 18090 [--delay-ms 200]

It answers Google's token endpoint (`POST /token`: a fresh access token), Gmail's send
(`POST .../messages/send`, the upload form too: `{"id", "threadId", "labelIds": ["SENT"]}`),
any other POST (`{"ok": true}`, what the n8n workflow's HTTP Request node calls) and
`GET /stats` (requests counted by kind since start). HTTP/1.1 with keep-alive, on asyncio: a
delayed answer is a timer, not a thread, so hundreds can wait at once without using CPU.
It keeps no state but the counters; the app is pointed at it the way it is pointed at the
emulator (`google_settings`).
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TOKEN_PATH = "/token"
STATS_PATH = "/stats"


def google_settings(base_url: str) -> dict[str, str]:
    """The app's Google settings for a sink at `base_url`: the emulator's (the sink answers the
    same paths), so token refreshes and every Gmail call go to the sink."""
    from devtools.google_endpoints import emulator_settings  # the project root is on sys.path by now

    return emulator_settings(base_url)


class Sink:
    def __init__(self, *, delay: float) -> None:
        self.delay = delay
        self.counts: Counter[str] = Counter()
        self.started = time.time()
        self.ids = itertools.count(1)

    def answer(self, method: str, path: str) -> tuple[int, dict[str, object]]:
        path = path.split("?", 1)[0]
        if method == "GET" and path == STATS_PATH:
            return 200, {"since": self.started, **self.counts}
        if method != "POST":
            self.counts["other"] += 1
            return 404, {"error": {"code": 404, "message": "Not found"}}
        if path == TOKEN_PATH:
            self.counts["token"] += 1
            return 200, {"access_token": f"sink-{next(self.ids)}", "expires_in": 3599, "token_type": "Bearer"}
        if path.endswith("/messages/send"):
            self.counts["gmail_send"] += 1
            message_id = f"{next(self.ids):016x}"
            return 200, {"id": message_id, "threadId": message_id, "labelIds": ["SENT"]}
        self.counts["post"] += 1
        return 200, {"ok": True}

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    break
                method, path, keep_alive = request
                if self.delay and path != STATS_PATH:
                    await asyncio.sleep(self.delay)
                status, body = self.answer(method, path)
                writer.write(response_bytes(status, body, keep_alive=keep_alive))
                await writer.drain()
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, bool] | None:
    """One request's method, path and whether the connection stays open; its body is read and
    dropped. None when the client closed the connection between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if error.partial.strip():
            raise
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if headers.get("transfer-encoding") == "chunked":
        await read_chunked(reader)
    elif length := int(headers.get("content-length", "0")):
        await reader.readexactly(length)
    connection = headers.get("connection", "")
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return method, path, keep_alive


async def read_chunked(reader: asyncio.StreamReader) -> None:
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        await reader.readexactly(size + 2)  # the chunk and its CRLF; the last one is empty
        if size == 0:
            return


REASONS = {200: "OK", 404: "Not Found"}


def response_bytes(status: int, body: dict[str, object], *, keep_alive: bool) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 {status} {REASONS[status]}\r\n"
        "Content-Type: application/json; charset=UTF-8\r\n"
        f"Content-Length: {len(payload)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode() + payload


async def serve(*, port: int, delay: float) -> None:
    sink = Sink(delay=delay)
    server = await asyncio.start_server(sink.serve_connection, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def stats(base_url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{base_url}{STATS_PATH}", timeout=5) as response:
        counts: dict[str, float] = json.load(response)
    return counts


@contextlib.contextmanager
def running_sink(*, port: int, delay_ms: float = 0) -> Iterator[str]:
    """The sink in its own process (as Google is on its own machines); yields its base URL."""
    command = [sys.executable, str(Path(__file__)), "--port", str(port), "--delay-ms", str(delay_ms)]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                stats(base_url)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"The sink did not start on port {port}.") from None
                time.sleep(0.05)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=18090)
    parser.add_argument("--delay-ms", type=float, default=0, help="wait this long before each answer")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(port=args.port, delay=args.delay_ms / 1000))


if __name__ == "__main__":
    main()
