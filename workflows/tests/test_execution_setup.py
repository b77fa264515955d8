"""How runs are executed: a broker is required in production, the sweep for lost runs is
scheduled out of the box, and `?wait=0` leaves the run to a worker."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django_celery_beat.models import PeriodicTask

from integrations.tests.google_grants import connect
from workflows import tasks
from workflows.models import WorkflowRun
from workflows.tests.helpers import WELCOME, create_workflow, execute_url
from workflows.tests.test_celery_worker import embedded_broker  # noqa: F401  (a fixture)
from workflows.tests.test_resume import lost_run

ROOT = Path(__file__).resolve().parents[2]


def start_django(**environment: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "galaxyco.settings",
        "READ_DOT_ENV": "false",
        "DEBUG": "false",
        "SECRET_KEY": "x" * 50,
        "ALLOWED_HOSTS": "example.com",
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        **environment,
    }
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_without_a_broker_stops_at_start_up_with_a_clear_message():
    started = start_django()
    assert started.returncode != 0
    assert (
        "GalaxyCo cannot start with DEBUG off: set CELERY_BROKER_URL in the environment "
        "(see README, Configuration)." in started.stderr
    )


def test_production_with_a_broker_starts():
    started = start_django(CELERY_BROKER_URL="redis://127.0.0.1:6379/0")
    assert started.returncode == 0, started.stderr


@pytest.mark.django_db
def test_the_sweep_for_lost_runs_is_scheduled_out_of_the_box():
    task = PeriodicTask.objects.get(task="workflows.tasks.resume_stalled_runs")
    assert task.enabled
    assert task.interval is not None
    assert timedelta(minutes=1) <= task.interval.schedule.run_every <= timedelta(minutes=5)


@pytest.mark.django_db
def test_the_scheduled_sweep_finishes_a_lost_run(google, workspace, member):
    connect(google, workspace=workspace, user=member)
    run = lost_run(workspace, member, age=timedelta(minutes=10))
    assert WorkflowRun.objects.unscoped().get(pk=run.pk).status == "queued"

    assert tasks.resume_stalled_runs.apply().get() == 1

    assert WorkflowRun.objects.unscoped().get(pk=run.pk).status == "succeeded"
    assert len(google.state.messages()) == 1


@pytest.mark.django_db(transaction=True)
def test_wait_0_answers_202_at_once_and_leaves_the_run_to_a_worker(workspace, key_client, embedded_broker):  # noqa: F811
    workflow_id = create_workflow(key_client, workspace, WELCOME)
    response = key_client.post(
        execute_url(workspace, workflow_id, wait=False),
        {"input": {"name": "Ada", "email": "ada@example.com"}},
        format="json",
    )
    assert response.status_code == 202
    assert response["Location"] == response.json()["run"]["url"]
    assert response.json()["run"]["status"] == "queued"
    queue = Path(embedded_broker["CELERY_FILESYSTEM_DIR"]) / "queue"
    assert len(list(queue.iterdir())) == 1  # the run's task, waiting in the embedded broker
