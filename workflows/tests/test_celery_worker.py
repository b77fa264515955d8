"""Real Celery workers: on a Redis broker, and on the embedded broker `make run` uses (files),
where a worker stopped while a run waits for its retry finishes the run once it starts again."""

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from devtools.celery_broker import use_broker, worker_command
from devtools.google_endpoints import emulator_settings
from galaxyco.celery import app as celery_app
from integrations.tests.google_grants import connect
from workflows.models import StepRun, WorkflowRun
from workflows.tests.helpers import WELCOME, create_workflow, execute_url

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The test database, as the worker process must reach it."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def broker(redis_url):
    """Redis (the root conftest's `redis_url`), emptied before and after the test."""
    client = redis.Redis.from_url(redis_url)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(
            f"Redis is not reachable at {redis_url}: start it, or run `make test E2E=0` to leave this out."
        )
    client.flushdb()
    yield redis_url
    client.flushdb()
    client.close()


@contextlib.contextmanager
def running_worker(
    *, google, log: Path, broker_env: dict[str, str], concurrency: int = 2
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process on the test database; stopped with SIGTERM (a warm shutdown) on exit."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(log.parent)),
        "DJANGO_SETTINGS_MODULE": "galaxyco.test_settings",
        "DATABASE_URL": database_url(),
        "TOKEN_ENCRYPTION_KEYS": ",".join(settings.TOKEN_ENCRYPTION_KEYS),
        "WORKFLOW_RETRY_BASE_SECONDS": "0.01",
        **broker_env,
        **emulator_settings(google.url),
    }
    with log.open("w") as output:
        process = subprocess.Popen(
            worker_command(concurrency=concurrency),
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while "ready." not in log.read_text():
            assert process.poll() is None, f"the worker exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"the worker did not start:\n{log.read_text()}"
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def worker(broker, google, tmp_path):
    log = tmp_path / "worker.log"
    with running_worker(google=google, log=log, broker_env={"CELERY_BROKER_URL": broker}):
        yield log


@contextlib.contextmanager
def tasks_sent_to(**conf: object) -> Iterator[None]:
    """This process enqueues to a broker (and waits on a result backend) instead of running
    tasks itself."""
    names = ("task_always_eager", "broker_url", "broker_transport_options", "result_backend")
    previous = {name: celery_app.conf[name] for name in names}
    use_broker(task_always_eager=False, **conf)
    try:
        yield
    finally:
        use_broker(**previous)


@pytest.fixture
def tasks_go_to_the_broker(broker):
    with tasks_sent_to(broker_url=broker, result_backend=broker):
        yield


@pytest.fixture
def embedded_broker(tmp_path) -> Iterator[dict[str, str]]:
    """The broker `make run` uses: messages and results as files, here in a folder of the test's."""
    folder = tmp_path / "celery"
    for name in ("queue", "control", "results"):
        (folder / name).mkdir(parents=True)
    with tasks_sent_to(
        broker_url="filesystem://",
        broker_transport_options={
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
            "polling_interval": 0.05,
        },
        result_backend=f"file://{folder / 'results'}",
    ):
        yield {"CELERY_BROKER_URL": "filesystem://", "CELERY_FILESYSTEM_DIR": str(folder)}


def wait_for(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_worker_executes_the_run(google, workspace, member, key_client, worker, tasks_go_to_the_broker):
    connect(google, workspace=workspace, user=member, email="sender@gmail.test")
    workflow_id = create_workflow(key_client, workspace, WELCOME)

    queued = key_client.post(
        execute_url(workspace, workflow_id, wait=False),
        {"input": {"name": "Ada", "email": "ada@example.com"}},
        format="json",
    )
    assert queued.status_code == 202
    assert queued["Location"] == queued.json()["run"]["url"]
    assert queued.json()["run"]["status"] in ("queued", "running")

    waited = key_client.post(
        execute_url(workspace, workflow_id),
        {"input": {"name": "Grace", "email": "grace@example.com"}},
        format="json",
    )
    assert waited.status_code == 200, waited.json()
    assert waited.json()["success"] is True

    first = key_client.get(queued["Location"]).json()
    for _ in range(100):
        if first["status"] == "succeeded":
            break
        time.sleep(0.1)
        first = key_client.get(queued["Location"]).json()
    assert first["status"] == "succeeded"
    assert sorted(m["to"][0] for m in google.state.messages()) == ["ada@example.com", "grace@example.com"]
    assert "workflows.tasks.execute_run" in worker.read_text()


@pytest.fixture
def unreachable_broker():
    names = ("task_always_eager", "broker_url", "task_publish_retry", "broker_connection_timeout")
    previous = {name: celery_app.conf[name] for name in names}
    use_broker(
        task_always_eager=False,
        broker_url="redis://127.0.0.1:1/0",
        task_publish_retry=False,
        broker_connection_timeout=1,
    )
    yield
    use_broker(**previous)


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_is_down_fails_the_run_with_a_message_not_a_500(
    workspace, key_client, unreachable_broker
):
    """A run sent to the worker (`?wait=0`; with a wait it runs in the request, broker or not)."""
    workflow_id = create_workflow(key_client, workspace, WELCOME)
    response = key_client.post(
        execute_url(workspace, workflow_id, wait=False),
        {"input": {"name": "Ada", "email": "ada@example.com"}},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "queue_unavailable"
    assert body["run"]["steps"][0]["status"] == "skipped"


def test_a_run_waiting_to_retry_when_the_worker_stops_finishes_after_it_starts_again(
    google, workspace, member, key_client, embedded_broker, tmp_path
):
    connect(google, workspace=workspace, user=member, email="sender@gmail.test")
    workflow_id = create_workflow(key_client, workspace, WELCOME)
    google.state.add_fault("gmail.send", status=429, count=1, retry_after=5)  # a countdown retry

    with running_worker(google=google, log=tmp_path / "first.log", broker_env=embedded_broker):
        queued = key_client.post(
            execute_url(workspace, workflow_id, wait=False),
            {"input": {"name": "Ada", "email": "ada@example.com"}},
            format="json",
        )
        assert queued.status_code == 202
        run_id = queued.json()["run"]["id"]
        wait_for(
            lambda: StepRun.objects.unscoped().filter(run_id=run_id, status="retrying", attempts=1).exists(),
            timeout=30,
            what="the first attempt to be refused and its retry scheduled",
        )
    # The worker stopped (SIGTERM) during the wait: the retry is back with the broker, not lost.
    assert WorkflowRun.objects.unscoped().get(pk=run_id).status == "running"
    assert google.state.messages() == []

    with running_worker(google=google, log=tmp_path / "second.log", broker_env=embedded_broker):
        wait_for(
            lambda: WorkflowRun.objects.unscoped().get(pk=run_id).is_finished,
            timeout=60,
            what="the run to finish",
        )
    run = key_client.get(queued["Location"]).json()
    assert run["status"] == "succeeded", run
    assert run["steps"][0]["attempts"] == 2
    assert [m["to"][0] for m in google.state.messages()] == ["ada@example.com"]


def test_the_execute_api_on_the_embedded_broker(
    google, workspace, member, key_client, embedded_broker, tmp_path
):
    """`?wait=0` answers 202 at once; without it, a fast run answers 200 with its outcome, told by
    the task's result rather than by reading the run over and over."""
    connect(google, workspace=workspace, user=member, email="sender@gmail.test")
    workflow_id = create_workflow(key_client, workspace, WELCOME)
    with running_worker(google=google, log=tmp_path / "worker.log", broker_env=embedded_broker):
        queued = key_client.post(
            execute_url(workspace, workflow_id, wait=False),
            {"input": {"name": "Ada", "email": "ada@example.com"}},
            format="json",
        )
        assert queued.status_code == 202
        assert queued["Location"] == queued.json()["run"]["url"]
        assert queued.json()["run"]["status"] in ("queued", "running")

        started = time.monotonic()
        waited = key_client.post(
            execute_url(workspace, workflow_id),
            {"input": {"name": "Grace", "email": "grace@example.com"}},
            format="json",
        )
        elapsed = time.monotonic() - started
        assert waited.status_code == 200, waited.json()
        assert waited.json()["success"] is True
        assert elapsed < 10, elapsed
        wait_for(
            lambda: WorkflowRun.objects.unscoped().get(pk=queued.json()["run"]["id"]).is_finished,
            timeout=30,
            what="the first run to finish",
        )
    assert sorted(m["to"][0] for m in google.state.messages()) == ["ada@example.com", "grace@example.com"]
