"""What the execute API answers for a run it did not follow to its end in the request."""

import time

import pytest

from integrations.tests.google_grants import connect
from workflows import engine, services
from workflows.models import WorkflowRun
from workflows.tests.helpers import WELCOME, create_workflow, execute

pytestmark = pytest.mark.django_db

ADA = {"name": "Ada", "email": "ada@example.com"}


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
