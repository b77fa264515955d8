"""Load: wrk for closed-loop throughput (N connections, each sends its next request when the last
answered) and a small open-loop generator for latency at a fixed rate (requests leave on
schedule whatever the server does, so a slow server is not given time to catch up)."""

import asyncio
import collections
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

LUA = """
local paths = {%(paths)s}
local headers = {%(headers)s}
local threads = 0
function setup(thread)
  thread:set("first", threads * 7919)
  threads = threads + 1
end
function init(args)
  n = first or 0
end
function request()
  n = n + 1
  local body = string.format('{"input": {"name": "Person %%d", "email": "person%%d@example.com"}}', n, n)
  return wrk.format("POST", paths[(n %% #paths) + 1], headers, body)
end
"""


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    errors: int  # non-2xx answers, timeouts and socket errors
    p50_ms: float
    p99_ms: float
    # What the errors were (an HTTP status, a socket error or timeout) and how many of each.
    failures: tuple[tuple[str, int], ...] = ()

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def describe(self) -> str:
        kinds = ", ".join(f"{count} {kind}" for kind, count in self.failures)
        errors = f", {self.errors} errors" + (f": {kinds}" if kinds else "") if self.errors else ""
        return (
            f"{self.per_second:7.1f} runs/s  p50 {self.p50_ms:6.1f} ms  p99 {self.p99_ms:6.1f} ms  "
            f"({self.requests} in {self.seconds:.1f} s{errors})"
        )


def lua_script(paths: list[str], headers: dict[str, str]) -> str:
    return LUA % {
        "paths": ", ".join(json.dumps(path) for path in paths),
        "headers": ", ".join(
            f"[{json.dumps(name)}] = {json.dumps(value)}" for name, value in headers.items()
        ),
    }


def wrk(
    base_url: str, *, paths: list[str], headers: dict[str, str], connections: int, seconds: float
) -> LoadResult:
    """POSTs a JSON input to `paths` in turn from `connections` connections for `seconds`."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (make bench does it).")
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as folder:
        script = Path(folder) / "execute.lua"
        script.write_text(lua_script(paths, {"Content-Type": "application/json", **headers}))
        threads = min(2, connections)
        command = [
            "wrk",
            "--latency",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
        ]
        output = subprocess.run(
            [*command, "-s", str(script), base_url], check=True, capture_output=True, text=True
        ).stdout
    return parse_wrk(output)


DURATION = re.compile(r"([\d.]+)(us|ms|s|m)\b")
SCALE_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * SCALE_MS[match[2]]


def parse_wrk(output: str) -> LoadResult:
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    if done is None or len(percentiles) != 2:
        raise ValueError(f"Unexpected wrk output:\n{output}")
    failures = collections.Counter(
        {"non-2xx": sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))}
    )
    if socket_errors := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        for kind, count in zip(("connect", "read", "write", "timeout"), socket_errors.groups(), strict=True):
            failures[kind] += int(count)
    errors = sum(failures.values())
    return LoadResult(
        requests=int(done[1]),
        seconds=_ms(done[2] + done[3]) / 1000,
        errors=errors,
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        failures=tuple((kind, count) for kind, count in failures.items() if count),
    )


async def _post(
    pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]], host: str, port: int, request: bytes
) -> int:
    # The server closes a keep-alive connection left idle too long (gunicorn: 2 s), which a pool
    # grown during a slow spell keeps at its bottom: such a connection is dropped, and a request
    # that a reused connection closes on without a byte of answer was not taken, so it goes once
    # more on a new connection, as HTTP clients do.
    while pool:
        reader, writer = pool.pop()
        if not reader.at_eof() and not writer.is_closing():
            if (status_line := await _send(reader, writer, request)) is not None:
                return await _answer(pool, reader, writer, status_line)
            break
        writer.close()
    reader, writer = await asyncio.open_connection(host, port)
    if (status_line := await _send(reader, writer, request)) is None:
        raise ConnectionError("closed without an answer")
    return await _answer(pool, reader, writer, status_line)


async def _send(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bytes | None:
    """The answer's status line, or None if the connection closed without one."""
    try:
        writer.write(request)
        await writer.drain()
        status_line = await reader.readline()
    except ConnectionError:
        status_line = b""
    if not status_line:
        writer.close()
        return None
    return status_line


async def _answer(
    pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    status_line: bytes,
) -> int:
    status = int(status_line.split()[1])
    length, keep_alive = 0, True
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection" and value.strip().lower() == "close":
            keep_alive = False
    await reader.readexactly(length)
    if keep_alive:
        pool.append((reader, writer))
    else:
        writer.close()
    return status


async def _fixed_rate(
    base_url: str, *, paths: list[str], headers: dict[str, str], rate: float, seconds: float
) -> LoadResult:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    latencies: list[float] = []
    failures: collections.Counter[str] = collections.Counter()

    async def one(index: int, due: float) -> None:
        body = json.dumps({"input": {"name": f"Person {index}", "email": f"person{index}@example.com"}})
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = (
            f"POST {paths[index % len(paths)]} HTTP/1.1\r\nHost: {host}:{port}\r\n{head}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        ).encode()
        try:
            status = await asyncio.wait_for(_post(pool, host, port, request), timeout=10)
        except (OSError, TimeoutError, ValueError, IndexError, asyncio.IncompleteReadError) as error:
            failures[type(error).__name__] += 1
        else:
            if not 200 <= status < 300:
                failures[f"HTTP {status}"] += 1
        latencies.append(time.monotonic() - due)  # from when it was due: no coordinated omission

    loop_start = time.monotonic()
    count = int(rate * seconds)
    tasks = []
    for index in range(count):
        due = loop_start + index / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        tasks.append(asyncio.create_task(one(index, due)))
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - loop_start
    for _, writer in pool:
        writer.close()
    ordered = sorted(latencies)
    errors = sum(failures.values())
    return LoadResult(
        requests=count - errors,  # answered with a 2xx: per_second is what the server got done
        seconds=elapsed,
        errors=errors,
        p50_ms=1000 * ordered[len(ordered) // 2],
        p99_ms=1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        failures=tuple(sorted(failures.items())),
    )


def fixed_rate(
    base_url: str, *, paths: list[str], headers: dict[str, str], rate: float, seconds: float
) -> LoadResult:
    """POSTs at `rate` requests a second for `seconds`, open loop; latency counts from when each
    request was due."""
    return asyncio.run(_fixed_rate(base_url, paths=paths, headers=headers, rate=rate, seconds=seconds))
