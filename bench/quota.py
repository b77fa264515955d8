"""P6 quota: a burst of emails to one mailbox through the engine, against Gmail's per-mailbox quota.

    .venv/bin/python bench/quota.py                  # 300 emails
    .venv/bin/python bench/quota.py --emails 60      # a short run while developing

Every run goes the way a deployment runs it: `start_run` creates it and enqueues it on Redis (a
private redis-server on a free loopback port), and a real Celery worker (8 threads, the Procfile's
worker) executes it, so the pacing waits are countdown retries held by the broker and the worker's
threads compete for one mailbox's send moments as separate executors do. The Google emulator
runs in its own process on loopback, as Google would be elsewhere, with its per-mailbox quota as
Google states it (15,000 units a minute, a send costs 100: 2.5 sends a second; a 429 beyond it).
The database is PostgreSQL (`QUOTA_DATABASE_URL`, created afresh), which the worker and this
process share.

Printed last: sends/s from the first enqueue to the last run finished, failed runs, and the 429s
the emulator answered (its send calls less the emails it delivered: no fault is injected).
"""

import argparse
import contextlib
import os
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from galaxyco_stack import stop, wait_until_up
from served import free_port, recreate_database

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from workspaces.models import Workspace

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the app's packages, for this process as the app

DATABASE_URL = os.environ.get("QUOTA_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/galaxyco_quota")
GMAIL_LIMIT = 2.5  # sends a second per mailbox: 15,000 quota units a minute, 100 a send
GOAL = 0.9 * GMAIL_LIMIT
MAILBOX = "burst@gmail.test"


@contextlib.contextmanager
def running(command: list[str], *, environment: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL)
    try:
        yield process
    finally:
        stop(process)


def configure(*, emulator_url: str, broker_url: str) -> dict[str, str]:
    """This process as the app, with the settings the worker gets (DEBUG off, as deployed)."""
    from cryptography.fernet import Fernet

    from devtools.google_endpoints import emulator_settings

    environment = {
        "READ_DOT_ENV": "false",
        "DEBUG": "false",
        "HTTPS": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": DATABASE_URL,
        "LOG_LEVEL": "WARNING",
        "CELERY_BROKER_URL": broker_url,
        **emulator_settings(emulator_url),
    }
    os.environ.update(environment)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "galaxyco.settings")
    import django

    django.setup()
    return {**os.environ}


def seed(*, emulator_url: str) -> "tuple[User, Workspace, int]":
    """One workspace, one mailbox connected through the emulator's real OAuth endpoints, and one
    one-step workflow sending from it to the run's input address."""
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from devtools.google_emulator import EmulatorClient
    from integrations.google.scopes import scopes_for
    from integrations.services import GoogleGrant, connect_google_integration
    from workflows.services import StepSpec, create_workflow
    from workspaces.services import provision_workspace_user

    call_command("migrate", verbosity=0)
    user, workspace = provision_workspace_user(
        email="quota@galaxyco.local", password=secrets.token_urlsafe(12), workspace_name="Quota"
    )
    token = EmulatorClient(emulator_url).issue_grant(email=MAILBOX, scopes=scopes_for("gmail"))
    integration = connect_google_integration(
        workspace=workspace,
        user=user,
        integration_type="gmail",
        share=True,
        grant=GoogleGrant(
            account_id=token["account_id"],
            email=MAILBOX,
            display_name="Burst",
            access_token=token["access_token"],
            refresh_token=token["refresh_token"],
            expires_at=timezone.now() + timedelta(seconds=token["expires_in"]),
            granted_scopes=token["scope"].split(),
        ),
    )
    step = StepSpec(
        action="gmail.send_email",
        integration=integration,
        params={
            "to": ["{{ input.email }}"],
            "subject": "Hello {{ input.name }}",
            "text": "Hi {{ input.name }}",
        },
    )
    workflow = create_workflow(workspace=workspace, created_by=user, name="Burst", steps=[step])
    return user, workspace, workflow.pk


def burst(*, emails: int, user: "User", workspace: "Workspace", workflow_id: int) -> list[int]:
    from workflows.services import start_run

    return [
        start_run(
            workspace=workspace,
            workflow_id=workflow_id,
            run_input={"email": f"person{index}@example.com", "name": f"Person {index}"},
            trigger="api",
            requested_by=user,
        )[0].pk
        for index in range(emails)
    ]


def wait_for_runs(run_ids: list[int], *, timeout: float) -> dict[str, int]:
    from workflows.models import WorkflowRun

    deadline = time.monotonic() + timeout
    while True:
        statuses = Counter(
            WorkflowRun.objects.unscoped().filter(pk__in=run_ids).values_list("status", flat=True)
        )
        unfinished = statuses.get("queued", 0) + statuses.get("running", 0)
        if not unfinished or time.monotonic() > deadline:
            return dict(statuses)
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emails", type=int, default=300)
    parser.add_argument("--threads", type=int, default=8, help="the Celery worker's threads")
    args = parser.parse_args()

    from devtools.celery_broker import worker_command
    from devtools.google_emulator import EmulatorClient
    from devtools.redis_server import private_redis_server

    emulator_port = free_port()
    emulator_url = f"http://127.0.0.1:{emulator_port}"
    emulator_command = [sys.executable, "-m", "devtools.google_emulator", "--port", str(emulator_port)]
    with (
        private_redis_server() as broker_url,
        running(emulator_command, environment={**os.environ}) as emulator,
    ):
        wait_until_up(
            f"{emulator_url}/oauth2/v1/certs", process=emulator, what="the Google emulator", timeout=30
        )
        environment = configure(emulator_url=emulator_url, broker_url=broker_url)
        recreate_database(DATABASE_URL)
        user, workspace, workflow_id = seed(emulator_url=emulator_url)
        google = EmulatorClient(emulator_url)
        with running(worker_command(concurrency=args.threads, loglevel="WARNING"), environment=environment):
            time.sleep(2)  # the worker connects to Redis
            started = time.monotonic()
            run_ids = burst(emails=args.emails, user=user, workspace=workspace, workflow_id=workflow_id)
            statuses = wait_for_runs(run_ids, timeout=args.emails / GMAIL_LIMIT * 2 + 120)
            elapsed = time.monotonic() - started
        delivered = google.inbox()
        sends = google.stats().get("gmail.send", 0)

    from django.db import connections

    connections.close_all()
    recipients = Counter(message["to"][0] for message in delivered)
    failed = len(run_ids) - statuses.get("succeeded", 0)
    refused = sends - len(delivered)
    rate = len(delivered) / elapsed
    print(f"runs: {statuses}; emails delivered: {len(delivered)} to {len(recipients)} people")
    print(f"emails sent more than once: {sum(1 for count in recipients.values() if count > 1)}")
    print(f"first enqueue to last run finished: {elapsed:.1f} s")
    verdict = "met" if rate >= GOAL and failed == 0 else "missed"
    print(
        f"P6 quota {rate:.2f} sends/s over {args.emails} emails to one mailbox, {failed} failed, "
        f"{refused} 429s (baseline {GMAIL_LIMIT} sends/s Gmail limit, goal ≥ {GOAL:.2f}): {verdict}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
