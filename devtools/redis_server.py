"""A private redis-server on a free loopback port, for the tests that need a real Redis."""

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis

INSTALL_HINT = (
    "redis-server is not installed: run `sudo apt-get install -y redis-server`, set "
    "CELERY_TEST_BROKER_URL to a Redis of yours, or run `make test E2E=0` to leave the worker test out."
)


class RedisServerMissing(Exception):
    pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def private_redis_server(*, executable: str = "redis-server", timeout: float = 10) -> Iterator[str]:
    """Starts redis-server (nothing saved to disk), yields its URL, and stops it on exit."""
    path = shutil.which(executable)
    if path is None:
        raise RedisServerMissing(INSTALL_HINT)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="redis-") as folder:
        log = Path(folder) / "redis.log"
        command = [path, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
        command += ["--dir", folder, "--logfile", str(log)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            client = redis.Redis(host="127.0.0.1", port=port)
            deadline = time.monotonic() + timeout
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    log_text = log.read_text() if log.exists() else ""
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"redis-server did not start on port {port}:\n{log_text}"
                        ) from None
                    time.sleep(0.05)
            client.close()
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(timeout=10)
