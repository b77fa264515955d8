"""A real Celery worker on a Redis broker executes a run enqueued by the API."""

import os
import subprocess
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from devtools.celery_broker import use_broker, worker_command
from devtools.google_endpoints import emulator_settings
from galaxyco.celery import app as celery_app
from integrations.tests.google_grants import connect
from workflows.tests.helpers import WELCOME, create_workflow, execute_url

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
BROKER_URL = os.environ.get("CELERY_TEST_BROKER_URL", "redis://127.0.0.1:6379/15")


def database_url() -> str:
    """The test database, as the worker process must reach it."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def broker():
    client = redis.Redis.from_url(BROKER_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(
            f"Redis is not reachable at {BROKER_URL}: start it, or run `make test E2E=0` to leave this out."
        )
    client.flushdb()
    yield BROKER_URL
    client.flushdb()


@pytest.fixture
def worker(broker, google, tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "DJANGO_SETTINGS_MODULE": "galaxyco.test_settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker,
        "TOKEN_ENCRYPTION_KEYS": ",".join(settings.TOKEN_ENCRYPTION_KEYS),
        "WORKFLOW_RETRY_BASE_SECONDS": "0.01",
        **emulator_settings(google.url),
    }
    log = tmp_path / "worker.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            worker_command(concurrency=2),
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
        yield log
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def tasks_go_to_the_broker(broker):
    """This process enqueues to Redis instead of running tasks itself."""
    previous = {
        "task_always_eager": celery_app.conf.task_always_eager,
        "broker_url": celery_app.conf.broker_url,
    }
    use_broker(task_always_eager=False, broker_url=broker)
    yield
    use_broker(**previous)


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
    workflow_id = create_workflow(key_client, workspace, WELCOME)
    response = key_client.post(execute_url(workspace, workflow_id), {"input": {}}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "queue_unavailable"
    assert body["run"]["steps"][0]["status"] == "skipped"
