"""What bench/status.py and bench/scale.py share: the environment, their own PostgreSQL database
(dropped and created again each run), the app served by gunicorn, and wrk.

The API's per-credential rate limit is turned off (API_RATE_LIMIT empty): a benchmark sends far
more than 600 requests a minute with one key, and measures the endpoint, not the limiter.
"""

import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
TIMES = "\N{MULTIPLICATION SIGN}"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/galaxyco_scale_bench"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def configure_environment(*, database_url: str, extra: dict[str, str] | None = None) -> None:
    from cryptography.fernet import Fernet

    workdir = Path(tempfile.mkdtemp(prefix="galaxyco-bench-"))
    os.environ.update(
        {
            "READ_DOT_ENV": "false",
            "DEBUG": "false",
            "HTTPS": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
            "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "WARNING",
            "API_RATE_LIMIT": "",
            "CELERY_BROKER_URL": f"filesystem://{workdir}",
            **(extra or {}),
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "galaxyco.settings")


def recreate_database(database_url: str) -> None:
    import psycopg

    parts = urlparse(database_url)
    name = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def database_url_named(database_url: str, name: str) -> str:
    return urlparse(database_url)._replace(path=f"/{name}").geturl()


@contextmanager
def using_database(name: str) -> Iterator[None]:
    """Point this process's default connection at another database of the same server."""
    from django.db import connection

    previous = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = name
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"] = previous


def setup_django(*, migrate: bool) -> None:
    import django
    from django.core.management import call_command

    django.setup()
    if migrate:
        call_command("migrate", verbosity=0)
        call_command("createcachetable", verbosity=0)


def analyze() -> None:
    """Statistics for the planner: autovacuum may be off, and a freshly seeded table has none."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def analyze_after_warm_up(database_url: str) -> None:
    """What autovacuum would have done by now: statistics for the tables the warm-up's runs grew.

    Autovacuum is off on the bench's PostgreSQL. A server's connections keep a run's statements
    prepared (galaxyco.db.prepared), with plans made while the run tables were as seeded, empty:
    without new statistics those plans read the tables whole (a sequential scan per run) for the
    rest of the window, each run slower than the last. With autovacuum, a table that grew by 50
    rows and a tenth is analyzed within a minute, and its plans are made again. One transaction,
    so one commit in the database's counts."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        conn.execute("ANALYZE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(
    *, urlconf: str | None = None, workers: int = 2, database_url: str | None = None
) -> Iterator[str]:
    """The app under gunicorn (sync workers) on a free loopback port; yields its base URL.
    `urlconf` (a module under bench/) replaces ROOT_URLCONF for a benchmark's extra views."""
    port = free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(BENCH)])
    if database_url:
        env["DATABASE_URL"] = database_url
    if urlconf:
        env["BENCH_ROOT_URLCONF"] = urlconf
        env["DJANGO_SETTINGS_MODULE"] = "bench_settings"
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "galaxyco.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("gunicorn did not answer /healthz")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def wrk(url: str, *, headers: dict[str, str], connections: int, seconds: int) -> float:
    """Requests per second from wrk (one thread per 8 connections); fails on any non-2xx answer."""
    command = ["wrk", f"-c{connections}", f"-t{max(1, connections // 8)}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in output or "Socket errors" in output:
        raise RuntimeError(f"wrk saw failed requests for {url}:\n{output}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if found is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{output}")
    return float(found.group(1))
