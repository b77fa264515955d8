"""What the execute API answers for a run that exists but could not be followed to its end in the
request: it is never an error that would invite the client to start a second run."""

import time

import pytest
from django.db import OperationalError

from integrations.tests.google_grants import connect
from workflows import engine, services
from workflows.models import WorkflowRun
from workflows.tests.helpers import WELCOME, create_workflow, execute

pytestmark = pytest.mark.django_db

ADA = {"name": "Ada", "email": "ada@example.com"}


def database_drops_once_the_run_exists(monkeypatch) -> None:
    """The first `advance` (the request executing its run) loses the database; the run's task,
    handed to the broker, finds it again."""
    real_advance = engine.advance
    calls: list[int] = []

    def advance(*, run_id: int, **kwargs) -> engine.Progress:
        calls.append(run_id)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_advance(run_id=run_id)

    monkeypatch.setattr(engine, "advance", advance)


def test_a_database_drop_after_the_run_exists_answers_202_with_the_run_not_503(
    google, workspace, member, key_client, monkeypatch
):
    connect(google, workspace=workspace, user=member, email="sender@gmail.test")
    workflow_id = create_workflow(key_client, workspace, WELCOME)
    database_drops_once_the_run_exists(monkeypatch)
    # ... and stays down for the request's reads.
    monkeypatch.setattr(services, "get_run", lambda **kwargs: (_ for _ in ()).throw(OperationalError("down")))

    response = execute(key_client, workspace, workflow_id, ADA)

    assert response.status_code == 202
    run = WorkflowRun.objects.unscoped().get()
    url = f"/api/workspaces/{workspace.pk}/runs/{run.pk}/"
    assert response.json() == {"success": False, "run": {"id": run.pk, "url": url}}
    assert response.headers["Location"] == url
    assert run.status == "succeeded"  # the broker's task went on with it
    assert len(google.state.messages()) == 1


def test_a_database_drop_the_run_outlives_answers_with_the_run_as_the_database_has_it(
    google, workspace, member, key_client, monkeypatch
):
    connect(google, workspace=workspace, user=member, email="sender@gmail.test")
    workflow_id = create_workflow(key_client, workspace, WELCOME)
    database_drops_once_the_run_exists(monkeypatch)

    response = execute(key_client, workspace, workflow_id, ADA)

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["run"]["id"] == WorkflowRun.objects.unscoped().get().pk
    assert body["run"]["steps"][0]["status"] == "succeeded"
    assert len(google.state.messages()) == 1


def test_a_repeat_of_the_key_while_the_first_request_runs_it_returns_as_soon_as_it_finishes(
    google, workspace, member, key_client, monkeypatch, settings
):
    settings.WORKFLOW_EXECUTE_WAIT_SECONDS = 10
    connect(google, workspace=workspace, user=member, email="sender@gmail.test")
    workflow_id = create_workflow(key_client, workspace, WELCOME)
    with monkeypatch.context() as patch:
        # The first request is still executing its run in place (no task was sent to a broker).
        patch.setattr(services, "run_now_and_wait", lambda *, workspace, run, timeout: run)
        first = execute(key_client, workspace, workflow_id, ADA, HTTP_IDEMPOTENCY_KEY="signup-7")
    assert first.status_code == 202
    run_id = first.json()["run"]["id"]
    real_get_run = services.get_run
    reads: list[int] = []

    def get_run(**kwargs) -> WorkflowRun | None:
        reads.append(1)
        if len(reads) == 2:  # the first request finishes the run while the repeat waits
            engine.advance(run_id=run_id)
        return real_get_run(**kwargs)

    monkeypatch.setattr(services, "get_run", get_run)
    started = time.monotonic()
    second = execute(key_client, workspace, workflow_id, ADA, HTTP_IDEMPOTENCY_KEY="signup-7")
    waited = time.monotonic() - started

    assert second.status_code == 200
    assert second.json()["run"]["id"] == run_id
    assert second.json()["run"]["status"] == "succeeded"
    assert waited < 3.0, waited  # a slice of the wait, not all of it
    assert len(google.state.messages()) == 1
