"""Idempotency keys: a key too long to store is refused rather than cut (cut keys collide), and a
run that failed before it started (the task queue was down) does not use up its key."""

import pytest

from workflows import tasks
from workflows.models import WorkflowRun
from workflows.tests.helpers import WELCOME, create_workflow, execute_url

pytestmark = pytest.mark.django_db(transaction=True)
ADA = {"name": "Ada", "email": "ada@example.com"}


@pytest.fixture
def workflow_id(key_client, workspace) -> int:
    return create_workflow(key_client, workspace, WELCOME)


class Broker:
    """Stands in for the task queue: takes tasks without running them, or is down."""

    def __init__(self, *, down: bool = False) -> None:
        self.down = down
        self.handed: list[int] = []

    def apply_async(self, args: tuple[int], **options: object) -> None:
        if self.down:
            raise ConnectionError("the broker is unreachable")
        self.handed.append(args[0])

    def delay(self, run_id: int) -> None:
        self.apply_async((run_id,))


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    """The ids of the runs the task queue was handed."""
    broker = Broker()
    monkeypatch.setattr(tasks, "execute_run", broker)
    return broker.handed


def execute(client, workspace, workflow_id: int, key: str, run_input: dict | None = None):
    return client.post(
        execute_url(workspace, workflow_id, wait=False),
        {"input": run_input or ADA},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


@pytest.mark.parametrize(
    "key",
    ["k" * 256, "k" * 10_000, "nul\x00key", "line\nbreak", "tab\tkey", "caf\u00e9"],
    ids=["256 chars", "10,000 chars", "nul", "line break", "tab", "non-ascii"],
)
def test_an_unusable_key_is_refused_with_400(key_client, workspace, workflow_id, enqueued, key):
    response = execute(key_client, workspace, workflow_id, key)

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "invalid_idempotency_key"
    assert "Idempotency-Key" in error["message"]
    assert not WorkflowRun.objects.unscoped().exists()
    assert enqueued == []


def test_keys_that_differ_only_after_255_characters_do_not_collide(
    key_client, workspace, workflow_id, enqueued
):
    prefix = "k" * 255
    first = execute(
        key_client, workspace, workflow_id, prefix + "a", {"name": "Ada", "email": "ada@example.com"}
    )
    second = execute(key_client, workspace, workflow_id, prefix + "b", {"name": "Grace"})

    # Refused, not cut to the same 255 characters (which answered the first run, or 409).
    assert first.status_code == 400
    assert second.status_code == 400


def test_a_255_character_key_is_kept_whole(key_client, workspace, workflow_id, enqueued):
    key = "k" * 254 + "z"
    first = execute(key_client, workspace, workflow_id, key)
    again = execute(key_client, workspace, workflow_id, key)

    assert first.status_code == 202
    assert again.json()["run"]["id"] == first.json()["run"]["id"]
    assert WorkflowRun.objects.unscoped().get().idempotency_key == key
    assert len(enqueued) == 1


def test_a_run_the_queue_could_not_take_does_not_use_up_its_key(
    key_client, workspace, workflow_id, monkeypatch
):
    monkeypatch.setattr(tasks, "execute_run", Broker(down=True))
    failed = execute(
        key_client, workspace, workflow_id, "order-1234", {"name": "Ada", "email": "ada@example.com"}
    )
    assert failed.status_code == 200
    assert failed.json()["error"]["code"] == "queue_unavailable"

    broker = Broker()
    monkeypatch.setattr(tasks, "execute_run", broker)
    retried = execute(
        key_client, workspace, workflow_id, "order-1234", {"name": "Ada", "email": "ada@example.com"}
    )

    assert retried.status_code == 202, retried.json()
    run = retried.json()["run"]
    assert run["id"] != failed.json()["run"]["id"]
    assert run["status"] == "queued"
    assert broker.handed == [run["id"]]
    # The key now belongs to the run that started: asking again answers it, not a third run.
    again = execute(
        key_client, workspace, workflow_id, "order-1234", {"name": "Ada", "email": "ada@example.com"}
    )
    assert again.json()["run"]["id"] == run["id"]
    assert broker.handed == [run["id"]]
    assert WorkflowRun.objects.unscoped().count() == 2


def test_a_run_that_started_and_failed_keeps_its_key(key_client, workspace, workflow_id):
    # No Google account is connected: the run starts, then fails on its step.
    first = key_client.post(
        execute_url(workspace, workflow_id), {"input": ADA}, format="json", HTTP_IDEMPOTENCY_KEY="order-9"
    )
    assert first.json()["run"]["status"] == "failed"
    assert first.json()["error"]["code"] != "queue_unavailable"

    again = key_client.post(
        execute_url(workspace, workflow_id), {"input": ADA}, format="json", HTTP_IDEMPOTENCY_KEY="order-9"
    )

    assert again.json()["run"]["id"] == first.json()["run"]["id"]
    assert WorkflowRun.objects.unscoped().count() == 1
