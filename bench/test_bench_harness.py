"""The harness's own pieces: the sink's answers and concurrency, wrk's output read right, CPU read
from /proc, and bench/all.py's summary when scripts are missing or fail."""

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import all as bench_all
import procstat
import pytest
from loadgen import LoadResult, fixed_rate, lua_script, parse_wrk
from served import free_port
from sink import google_settings, running_sink

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def post(url: str, body: bytes = b"{}") -> dict[str, object]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        answer: dict[str, object] = json.load(response)
    return answer


def test_sink_answers_token_gmail_send_and_any_post_and_counts_them():
    with running_sink(port=free_port()) as base_url:
        token = post(f"{base_url}/token", b"grant_type=refresh_token")
        sent = post(f"{base_url}/gmail/v1/users/me/messages/send", b'{"raw": "eA"}')
        uploaded = post(f"{base_url}/upload/gmail/v1/users/me/messages/send?uploadType=multipart")
        other = post(f"{base_url}/anything")
        with urllib.request.urlopen(f"{base_url}/stats", timeout=5) as response:
            stats = json.load(response)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3599
    assert sent["labelIds"] == ["SENT"] and sent["threadId"] == sent["id"]
    assert uploaded["labelIds"] == ["SENT"]
    assert other == {"ok": True}
    assert (stats["token"], stats["gmail_send"], stats["post"]) == (1, 2, 1)


def test_sink_keeps_the_connection_open_between_requests():
    with running_sink(port=free_port()) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            request = (
                b"POST /gmail/v1/users/me/messages/send HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
            )
            answers = b""
            for _ in range(2):
                conn.sendall(request)
                deadline = time.monotonic() + 5
                while answers.count(b"SENT") < _ + 1 and time.monotonic() < deadline:
                    answers += conn.recv(4096)
    assert answers.count(b"HTTP/1.1 200 OK") == 2
    assert b"Connection: keep-alive" in answers


def test_sink_delays_many_answers_at_once():
    async def many(port: int, count: int) -> float:
        async def one() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            answer = await reader.read()
            writer.close()
            return answer

        started = time.monotonic()
        answers = await asyncio.gather(*(one() for _ in range(count)))
        assert all(answer.startswith(b"HTTP/1.1 200") for answer in answers)
        return time.monotonic() - started

    with running_sink(port=free_port(), delay_ms=200) as base_url:
        elapsed = asyncio.run(many(int(base_url.rsplit(":", 1)[1]), 80))
    assert 0.2 <= elapsed < 1.5  # 80 answers of 200 ms each, waited for together


def test_google_settings_point_token_and_api_at_the_sink():
    settings = google_settings("http://127.0.0.1:9/")
    assert settings["GOOGLE_OAUTH_TOKEN_URL"] == "http://127.0.0.1:9/token"
    assert settings["GOOGLE_API_BASE_URL"] == "http://127.0.0.1:9/"


WRK_OUTPUT = """Running 15s test @ http://127.0.0.1:8000
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    70.12ms   10.01ms   1.01s    85.71%
  Latency Distribution
     50%   68.50ms
     75%   72.00ms
     90%   80.00ms
     99%    1.01s
  3300 requests in 15.02s, 4.10MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:    219.71
""".replace("1.01s\n", "1.01s \n")  # wrk pads a duration in seconds with a space


def test_wrk_output_read_into_rate_percentiles_and_errors():
    result = parse_wrk(WRK_OUTPUT)
    assert (result.requests, result.seconds) == (3300, pytest.approx(15.02))
    assert (result.p50_ms, result.p99_ms) == (pytest.approx(68.5), pytest.approx(1010.0))
    assert result.errors == 7
    assert result.failures == (("non-2xx", 4), ("read", 1), ("timeout", 2))
    assert "7 errors: 4 non-2xx, 1 read, 2 timeout" in result.describe()
    assert result.per_second == pytest.approx(219.7, abs=0.1)


def test_open_loop_counts_each_kind_of_failure():
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (request := await reader.readuntil(b"\r\n\r\n")) and (
            length := int(request.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        ):
            path = (await reader.readexactly(length), request.split()[1])[1]
            if path == b"/reset":
                writer.close()
                return
            status = b"200 OK" if path == b"/ok" else b"503 Service Unavailable"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()

    async def load() -> LoadResult:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await asyncio.to_thread(
                fixed_rate,
                f"http://127.0.0.1:{port}",
                paths=["/ok", "/busy", "/reset", "/ok"],
                headers={},
                rate=100,
                seconds=0.4,
            )

    result = asyncio.run(load())
    assert result.requests == 20
    assert result.failures == (("ConnectionError", 10), ("HTTP 503", 10))


def test_lua_script_spreads_requests_over_paths_with_the_headers():
    script = lua_script(["/a/", "/b/"], {"Authorization": "Bearer k"})
    assert 'local paths = {"/a/", "/b/"}' in script
    assert '["Authorization"] = "Bearer k"' in script


def test_cpu_of_a_process_tree_counts_its_children():
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nt=time.process_time()\nwhile time.process_time()-t<0.3: pass"]
    )
    child.wait()
    # The child has been reaped: its CPU is in this process's reaped time.
    assert procstat.tree_cpu(os.getpid()) >= 0.3
    assert procstat.read_stat(os.getpid()).reaped >= 0.3  # type: ignore[union-attr]


def test_all_reports_every_goal_and_the_count_met(tmp_path: Path, monkeypatch, capsys):
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "peer.py").write_text(
        'print("P1 throughput 230 runs/s (baseline 100, goal 220): met")\n'
        'print("P2 cost 7 ms (baseline 12 ms, goal 6 ms): missed")\n'
    )
    (tmp_path / "bench" / "latency.py").write_text("raise SystemExit(3)\n")
    monkeypatch.setattr(bench_all, "ROOT", tmp_path)
    monkeypatch.setattr(sys, "argv", ["all.py"])
    bench_all.main()
    last = capsys.readouterr().out.strip().splitlines()[-7:]
    assert last == [
        "P1 throughput 230 runs/s (baseline 100, goal 220): met",
        "P2 cost 7 ms (baseline 12 ms, goal 6 ms): missed",
        "P3 not measured: bench/latency.py failed (exit 3)",
        "P4 not measured: bench/status.py missing",
        "P5 not measured: bench/scale.py missing",
        "P6 not measured: bench/quota.py missing",
        "bench: 1 of 6 goals met",
    ]


def test_open_loop_does_not_reuse_a_connection_the_server_closed_when_idle():
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Answers, then closes a connection idle for 20 ms, as gunicorn does after its keep-alive.
        with contextlib.suppress(TimeoutError):
            while request := await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=0.02):
                await reader.readexactly(int(request.split(b"Content-Length: ")[1].split(b"\r\n")[0]))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()
        writer.close()

    async def load() -> LoadResult:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await asyncio.to_thread(
                fixed_rate, f"http://127.0.0.1:{port}", paths=["/ok"], headers={}, rate=10, seconds=0.5
            )

    result = asyncio.run(load())
    assert (result.requests, result.errors) == (5, 0)
