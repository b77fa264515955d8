"""Executes N one-step Gmail workflows through the API against the Google emulator and prints
runs per second and database queries per run: in process (tasks in the web process) and
through a Celery worker on Redis.

    .venv/bin/python bench/execute.py                       # both modes, SQLite, 500 runs
    .venv/bin/python bench/execute.py --mode inprocess --runs 1000 --profile
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/galaxyco_bench .venv/bin/python bench/execute.py

The emulator runs in its own process (as Google would be on its own machine), on loopback.
Each workflow sends from one of --mailboxes connected accounts, so Gmail's per-mailbox pace
(2.5 sends a second) is not what is measured unless you ask for it with a small --mailboxes.
"""

import argparse
import cProfile
import os
import pstats
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def configure_environment(database_url: str | None, emulator_url: str, broker_url: str) -> None:
    from cryptography.fernet import Fernet

    from devtools.google_endpoints import emulator_settings

    workdir = Path(tempfile.mkdtemp(prefix="galaxyco-bench-"))
    os.environ.update(
        {
            "READ_DOT_ENV": "false",
            "DEBUG": "false",
            "HTTPS": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
            "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "DATABASE_URL": database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
            "LOG_LEVEL": "WARNING",
            "BENCH_BROKER_URL": broker_url,
            "CELERY_BROKER_URL": broker_url,  # required with DEBUG off; the in-process mode runs eagerly
            **emulator_settings(emulator_url),
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "galaxyco.settings")


def recreate_postgres_database(database_url: str) -> None:
    """The bench's own PostgreSQL database, empty for every run (its tokens' key is per run)."""
    from urllib.parse import urlparse

    import psycopg

    parts = urlparse(database_url)
    name = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def start_emulator(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.google_emulator", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    import urllib.request

    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except OSError:
            time.sleep(0.1)
    raise SystemExit("The emulator did not start.")


def setup_workspace(*, workflows: int, mailboxes: int, emulator_url: str):
    from django.core.management import call_command

    from workflows.services import StepSpec, create_workflow
    from workspaces.services import create_api_key, provision_workspace_user

    call_command("migrate", verbosity=0)
    user, workspace = provision_workspace_user(
        email="bench@galaxyco.local", password=secrets.token_urlsafe(12), workspace_name="Bench"
    )
    integrations = [
        connect_mailbox(emulator_url, workspace=workspace, user=user, email=f"mailbox{i}@gmail.test")
        for i in range(mailboxes)
    ]
    ids = []
    for index in range(workflows):
        step = StepSpec(
            action="gmail.send_email",
            integration=integrations[index % mailboxes],
            params={
                "to": ["{{ input.email }}"],
                "subject": "Hi {{ input.name }}",
                "text": "Hello {{ input.name }}",
            },
        )
        ids.append(
            create_workflow(workspace=workspace, created_by=user, name=f"Bench {index}", steps=[step]).pk
        )
    _, key = create_api_key(workspace=workspace, name="bench")
    return workspace, ids, key


def connect_mailbox(emulator_url: str, *, workspace, user, email: str):
    """A Gmail integration with a live grant at the emulator, saved through the app's service."""
    from datetime import timedelta

    from django.utils import timezone

    from devtools.google_emulator import EmulatorClient
    from integrations.google.scopes import scopes_for
    from integrations.services import GoogleGrant, connect_google_integration

    grant = EmulatorClient(emulator_url).issue_grant(email=email, scopes=scopes_for("gmail"))
    return connect_google_integration(
        workspace=workspace,
        user=user,
        integration_type="gmail",
        grant=GoogleGrant(
            account_id=grant["account_id"],
            email=email,
            display_name=email.split("@")[0].title(),
            access_token=grant["access_token"],
            refresh_token=grant["refresh_token"],
            expires_at=timezone.now() + timedelta(seconds=grant["expires_in"]),
            granted_scopes=grant["scope"].split(),
        ),
    )


def add_earlier_runs(*, workspace, count: int) -> None:
    from workflows.models import RunStatus, StepRun, Workflow, WorkflowRun

    workflow = Workflow.objects.for_workspace(workspace).first()
    runs = WorkflowRun.objects.bulk_create(
        WorkflowRun(workspace=workspace, workflow=workflow, status=RunStatus.SUCCEEDED, trigger="api")
        for _ in range(count)
    )
    StepRun.objects.bulk_create(
        StepRun(workspace=workspace, run=run, position=0, action="gmail.send_email", status="succeeded")
        for run in runs
    )


TRANSACTION_CONTROL = {"BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"}


def execute_all(client, workspace, workflow_ids: list[int], *, wait: bool) -> tuple[float, list[int]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    suffix = "" if wait else "?wait=0"
    queries: list[int] = []
    started = time.perf_counter()
    for index, workflow_id in enumerate(workflow_ids):
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as captured:
            response = client.post(
                f"/api/workspaces/{workspace.pk}/workflows/{workflow_id}/execute/{suffix}",
                {"input": {"name": f"Person {index}", "email": f"person{index}@example.com"}},
                content_type="application/json",
            )
        if response.status_code not in (200, 202) or (wait and not response.json()["success"]):
            raise SystemExit(
                f"Run {index} did not succeed: {response.status_code} {response.content[:300]!r}"
            )
        # Transaction control (BEGIN, COMMIT) is logged too, but is not a query.
        queries.append(sum(1 for q in captured.captured_queries if q["sql"] not in TRANSACTION_CONTROL))
    return time.perf_counter() - started, queries


def latest_run_id(workspace) -> int:
    from workflows.models import WorkflowRun

    return (
        WorkflowRun.objects.for_workspace(workspace).order_by("-id").values_list("id", flat=True).first() or 0
    )


def wait_until_finished(workspace, *, after_id: int, expected: int, timeout: float) -> float:
    from workflows.models import RunStatus, WorkflowRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = WorkflowRun.objects.for_workspace(workspace).filter(id__gt=after_id)
        done = runs.filter(status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED]).count()
        if done >= expected:
            failed = runs.filter(status=RunStatus.FAILED).count()
            if failed:
                raise SystemExit(f"{failed} runs failed through the worker.")
            return time.perf_counter()
        time.sleep(0.05)
    raise SystemExit("The worker did not finish the runs in time.")


def start_worker(concurrency: int) -> subprocess.Popen[bytes]:
    from devtools.celery_broker import worker_command

    env = {**os.environ, "CELERY_BROKER_URL": os.environ["BENCH_BROKER_URL"], "DATABASE_CONN_MAX_AGE": "600"}
    return subprocess.Popen(worker_command(concurrency=concurrency, loglevel="WARNING"), cwd=ROOT, env=env)


# Where a run's time goes: (label, file suffix, function), cumulative time per run.
BREAKDOWN = [
    ("whole request (middleware, DRF, view)", "django/core/handlers/base.py", "get_response"),
    ("  start_run: create the run, then execute it", "workflows/services.py", "start_run"),
    ("    engine.advance (the run itself)", "workflows/engine.py", "advance"),
    ("      prepare params (render + validate)", "workflows/actions/base.py", "prepare"),
    ("      build the MIME message", "workflows/actions/gmail_send_email.py", "build_message"),
    ("      Gmail call (request building + HTTP)", "integrations/google/clients.py", "_execute_once"),
    ("        HTTP round trip to the emulator", "httplib2/__init__.py", "_conn_request"),
    ("      pacing slot (one UPDATE)", "integrations/health.py", "reserve_send_slot"),
    ("  wait_for_run (read the run back)", "workflows/services.py", "wait_for_run"),
    ("  serialize the response", "rest_framework/serializers.py", "data"),
]


def print_breakdown(stats: pstats.Stats, *, runs: int) -> None:
    table = stats.stats  # type: ignore[attr-defined]

    def per_run(suffix: str, name: str) -> float:
        seconds = sum(v[3] for (file, _, func), v in table.items() if file.endswith(suffix) and func == name)
        return 1000 * seconds / runs

    print("\nProfile, ms per run (cProfile slows Python code more than waiting: compare parts, not totals):")
    for label, suffix, name in BREAKDOWN:
        print(f"  {label:<48} {per_run(suffix, name):6.2f}")
    engine = per_run("workflows/engine.py", "advance")
    parts = sum(per_run(suffix, name) for _, suffix, name in BREAKDOWN[3:6]) + per_run(*BREAKDOWN[7][1:])
    print(f"  {'      rest of the engine: ORM loads and saves':<48} {engine - parts:6.2f}")


def report(label: str, runs: int, seconds: float, queries: list[int]) -> None:
    per_run = sorted(queries)
    print(
        f"{label:<38} {runs:>5} runs in {seconds:6.2f} s = {runs / seconds:7.1f} runs/s; "
        f"queries per run: median {per_run[len(per_run) // 2]}, max {per_run[-1]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--mailboxes", type=int, default=250)
    parser.add_argument("--mode", choices=["inprocess", "worker", "both"], default="both")
    parser.add_argument("--worker-concurrency", type=int, default=4)
    parser.add_argument("--emulator-port", type=int, default=18081)
    parser.add_argument(
        "--profile", action="store_true", help="print the top of a cProfile of the in-process run"
    )
    args = parser.parse_args()

    emulator_url = f"http://127.0.0.1:{args.emulator_port}"
    broker_url = os.environ.get("CELERY_BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
    database_url = os.environ.get("DATABASE_URL")
    if database_url and database_url.startswith("postgres"):
        recreate_postgres_database(database_url)
    configure_environment(database_url, emulator_url, broker_url)
    emulator = start_emulator(args.emulator_port)
    try:
        import django

        django.setup()
        from django.test import Client

        workspace, workflow_ids, key = setup_workspace(
            workflows=args.runs, mailboxes=min(args.mailboxes, args.runs), emulator_url=emulator_url
        )
        client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
        print(
            f"{args.runs} one-step Gmail workflows over {min(args.mailboxes, args.runs)} mailboxes; "
            f"database {os.environ['DATABASE_URL'].split(':')[0]}; emulator in its own process"
        )

        if args.mode in ("inprocess", "both"):
            from devtools.celery_broker import use_broker

            use_broker(task_always_eager=True)  # the run executes inside the request, as in the tests
            execute_all(client, workspace, workflow_ids[:1], wait=True)  # warm-up: 1 earlier run
            profiler = cProfile.Profile() if args.profile else None
            if profiler:
                profiler.enable()
            seconds, queries = execute_all(client, workspace, workflow_ids, wait=True)
            if profiler:
                profiler.disable()
            report("in process, 1 earlier run", args.runs, seconds, queries)
            add_earlier_runs(workspace=workspace, count=1000)
            seconds, queries = execute_all(client, workspace, workflow_ids[: min(200, args.runs)], wait=True)
            report("in process, 1,000+ earlier runs", min(200, args.runs), seconds, queries)
            if profiler:
                print_breakdown(pstats.Stats(profiler), runs=args.runs)

        if args.mode in ("worker", "both"):
            from devtools.celery_broker import use_broker

            use_broker(task_always_eager=False, broker_url=broker_url)
            worker = start_worker(args.worker_concurrency)
            try:
                time.sleep(3)  # the worker connects to Redis
                after_id = latest_run_id(workspace)
                started = time.perf_counter()
                enqueue_seconds, queries = execute_all(client, workspace, workflow_ids, wait=False)
                finished = wait_until_finished(workspace, after_id=after_id, expected=args.runs, timeout=600)
                report(
                    f"through a worker ({args.worker_concurrency} threads)",
                    args.runs,
                    finished - started,
                    queries,
                )
                print(
                    f"{'':<38} (the API enqueued them at {args.runs / enqueue_seconds:.1f} runs/s; "
                    "queries counted on the API side only)"
                )
            finally:
                worker.terminate()
                worker.wait(timeout=30)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


if __name__ == "__main__":
    main()
