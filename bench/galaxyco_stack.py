"""GalaxyCo as the benchmarks run it: its own PostgreSQL database, seeded with one workspace, many
connected Gmail accounts and one one-step workflow per account; served by gunicorn (the
Procfile's web command) and, when runs go through the queue, a Celery worker on a private Redis.

Execution modes:
- `inprocess`: gunicorn alone, Celery eager in each of its workers (bench/gunicorn_inprocess.py):
  whatever the app hands to a task runs inside the request too, no broker;
- `worker`: gunicorn and a Celery worker (`--pool threads`) on a private Redis, as deployed: the
  app decides what runs in the request (since the execute API runs a run with a wait in its
  request, the worker only takes runs handed off, e.g. to wait for a send slot; before that,
  every run went through it).
"""

import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import served
from cryptography.fernet import Fernet
from sink import google_settings

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the app's packages, for this process as the app
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/galaxyco_bench")
MODES = ("inprocess", "worker")


@dataclass(frozen=True)
class Seeded:
    workspace_id: int
    workflow_ids: list[int]
    api_key: str

    def execute_paths(self) -> list[str]:
        return [f"/api/workspaces/{self.workspace_id}/workflows/{wf}/execute/" for wf in self.workflow_ids]


@dataclass(frozen=True)
class ServerOptions:
    workers: int = 2
    worker_class: str = "sync"
    threads: int = 1
    celery_concurrency: int = 8


def app_environment(*, sink_url: str, broker_url: str, cache_url: str | None = None) -> dict[str, str]:
    """The app's settings for a bench, through the environment as in production (with
    `cache_url`, the abuse limits count in Redis as a deployment's would). The API rate limit is
    off: the bench sends far more than 600 requests a minute with one key."""
    return {
        "READ_DOT_ENV": "false",
        "DEBUG": "false",
        "HTTPS": "false",
        "SECRET_KEY": os.environ.get("BENCH_SECRET_KEY") or secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        "TOKEN_ENCRYPTION_KEYS": os.environ.get("BENCH_TOKEN_KEY") or Fernet.generate_key().decode(),
        "DATABASE_URL": DATABASE_URL,
        "DATABASE_CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
        "API_RATE_LIMIT": "",
        "CELERY_BROKER_URL": broker_url,
        **({"CACHE_URL": cache_url} if cache_url else {}),
        **google_settings(sink_url),
    }


def configure(*, sink_url: str, broker_url: str, cache_url: str | None = None) -> None:
    """This process as the app: the same settings the servers get (keys fixed for the children)."""
    environment = app_environment(sink_url=sink_url, broker_url=broker_url, cache_url=cache_url)
    os.environ.update(environment)
    os.environ["BENCH_SECRET_KEY"] = environment["SECRET_KEY"]
    os.environ["BENCH_TOKEN_KEY"] = environment["TOKEN_ENCRYPTION_KEYS"]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "galaxyco.settings")
    import django

    django.setup()


def recreate_database() -> None:
    served.recreate_database(DATABASE_URL)


def seed(*, mailboxes: int, workspace_name: str = "Bench") -> Seeded:
    """Migrations, then one workspace with `mailboxes` Gmail accounts (tokens valid for an hour,
    so no refresh in a bench) and one one-step Gmail workflow per account, then ANALYZE."""
    from django.core.management import call_command
    from django.db import connection

    from workspaces.services import create_api_key, provision_workspace_user

    call_command("migrate", verbosity=0)
    user, workspace = provision_workspace_user(
        email="bench@galaxyco.local", password=secrets.token_urlsafe(12), workspace_name=workspace_name
    )
    workflow_ids = gmail_workflows(
        workspace=workspace, user=user, mailboxes=mailboxes, label=workspace_name.lower(), name="Bench"
    )
    _, key = create_api_key(workspace=workspace, name="bench")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return Seeded(workspace.pk, workflow_ids, key)


def gmail_workflows(*, workspace: Any, user: Any, mailboxes: int, label: str, name: str) -> list[int]:
    """`mailboxes` shared Gmail accounts in the workspace (`{label}{index}@gmail.test`, grants
    valid for an hour, so no refresh in a bench: the sink answers Google) and the ids of a
    one-step workflow (`{name} {index}`) sending from each to the run's input address."""
    from django.utils import timezone

    from integrations.google.scopes import scopes_for
    from integrations.services import GoogleGrant, connect_google_integration
    from workflows.services import StepSpec, create_workflow

    workflow_ids = []
    for index in range(mailboxes):
        integration = connect_google_integration(
            workspace=workspace,
            user=user,
            integration_type="gmail",
            share=True,  # an API key's run may use shared accounts only
            grant=GoogleGrant(
                account_id=f"{label}-{index}",
                email=f"{label}{index}@gmail.test",
                display_name=f"Mailbox {index}",
                access_token=f"bench-access-{secrets.token_hex(8)}",
                refresh_token=f"bench-refresh-{secrets.token_hex(8)}",
                expires_at=timezone.now() + timedelta(hours=1),
                granted_scopes=scopes_for("gmail"),
            ),
        )
        step = StepSpec(
            action="gmail.send_email",
            integration=integration,
            params={
                "to": ["{{ input.email }}"],
                "subject": "Hi {{ input.name }}",
                "text": "Hello {{ input.name }}",
            },
        )
        workflow = create_workflow(workspace=workspace, created_by=user, name=f"{name} {index}", steps=[step])
        workflow_ids.append(workflow.pk)
    return workflow_ids


def seeded_stack(
    stack: contextlib.ExitStack, *, sink_url: str, modes: list[str], mailboxes: int
) -> tuple[str, Seeded]:
    """A private Redis on `stack`: the app's cache, and its broker when a mode needs the Celery
    worker (otherwise a broker URL nothing listens on); and this process as the app on a fresh,
    seeded database pointed at the sink; returns the broker URL and what was seeded."""
    redis_url = stack.enter_context(private_redis())
    broker_url = redis_url if "worker" in modes else "redis://127.0.0.1:1/0"
    recreate_database()
    configure(sink_url=sink_url, broker_url=broker_url, cache_url=redis_url)
    return broker_url, seed(mailboxes=mailboxes)


def wait_until_up(url: str, *, process: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start ({url}).") from None
            time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    from devtools.redis_server import private_redis_server

    with private_redis_server() as url:
        yield url


@contextlib.contextmanager
def running_app(
    *, mode: str, port: int, options: ServerOptions, broker_url: str
) -> Iterator[tuple[str, list[int]]]:
    """gunicorn (and a Celery worker in `worker` mode) with this process's app settings; yields
    the base URL and the pids whose CPU is the app's."""
    environment = {
        **os.environ,
        "CELERY_BROKER_URL": broker_url,
        "PYTHONWARNINGS": "ignore:No directory at",  # whitenoise: no collectstatic for a bench
    }
    command = [
        sys.executable, "-m", "gunicorn", "galaxyco.wsgi", "--bind", f"127.0.0.1:{port}",
        "--workers", str(options.workers), "--worker-class", options.worker_class,
        "--threads", str(options.threads), "--timeout", "60", "--backlog", "2048", "--log-level", "warning",
    ]  # fmt: skip
    if mode == "inprocess":
        command += ["--config", str(BENCH / "gunicorn_inprocess.py")]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        if mode == "worker":
            from devtools.celery_broker import worker_command

            worker = worker_command(concurrency=options.celery_concurrency, loglevel="WARNING")
            processes.append(subprocess.Popen(worker, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL))
        processes.append(subprocess.Popen(command, cwd=ROOT, env=environment))
        base_url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base_url}/healthz", process=processes[-1], what="gunicorn")
        if mode == "worker":
            time.sleep(2)  # the worker connects to Redis
        yield base_url, [process.pid for process in processes]
    finally:
        for process in reversed(processes):
            stop(process)


def temporary_folder() -> str:
    return tempfile.mkdtemp(prefix="galaxyco-bench-")
