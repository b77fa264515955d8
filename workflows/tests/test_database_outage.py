"""A database that drops its connections: a run's task retries instead of dying, and the API
answers 503 with the error shape instead of 500."""

from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError, connection

from integrations.tests.google_grants import connect
from workflows import engine, tasks
from workflows.models import StepRun, WorkflowRun
from workflows.services import StepSpec, create_workflow, start_run
from workflows.tests.helpers import WELCOME, execute_url
from workflows.tests.helpers import create_workflow as create_workflow_via_api

pytestmark = pytest.mark.django_db


def queued_run(workspace, member, monkeypatch) -> WorkflowRun:
    workflow = create_workflow(
        workspace=workspace,
        created_by=member,
        name="Outage",
        steps=[
            StepSpec(
                action="gmail.send_email", params={"to": ["a@example.com"], "subject": "Hi", "text": "Hello"}
            )
        ],
    )
    with monkeypatch.context() as patch:
        patch.setattr("workflows.tasks.enqueue_run", lambda *, run_id: None)
        run, _ = start_run(
            workspace=workspace, workflow_id=workflow.pk, run_input={}, trigger="api", requested_by=member
        )
    return run


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_a_task_that_loses_the_database_retries_and_finishes_the_run(
    google, workspace, member, monkeypatch, error
):
    connect(google, workspace=workspace, user=member)
    run = queued_run(workspace, member, monkeypatch)
    real_advance = engine.advance
    calls: list[int] = []

    def advance_after_an_outage(*, run_id: int) -> engine.Progress:
        calls.append(run_id)
        if len(calls) == 1:
            raise error("server closed the connection unexpectedly")
        return real_advance(run_id=run_id)

    monkeypatch.setattr(engine, "advance", advance_after_an_outage)
    retried: list[float] = []
    real_retry = tasks.execute_run.retry

    def retry(*args, **kwargs):
        retried.append(kwargs["countdown"])
        return real_retry(*args, **kwargs)

    monkeypatch.setattr(tasks.execute_run, "retry", retry)

    tasks.execute_run.apply(args=[run.pk], throw=False)  # as a worker runs it: a retry is not an error

    assert len(retried) == 1 and 0.5 <= retried[0] <= 1.0  # backed off, then ran again
    assert WorkflowRun.objects.unscoped().get(pk=run.pk).status == "succeeded"
    assert StepRun.objects.unscoped().get(run=run).attempts == 1
    assert len(google.state.messages()) == 1


def test_a_database_error_inside_a_step_is_left_to_the_task_not_recorded_as_a_failed_step(
    google, workspace, member, monkeypatch
):
    connect(google, workspace=workspace, user=member)
    run = queued_run(workspace, member, monkeypatch)
    monkeypatch.setattr(
        "workflows.actions.gmail_send_email.GmailSendEmail.run",
        mock.Mock(side_effect=OperationalError("terminating connection due to administrator command")),
    )
    with pytest.raises(OperationalError):
        engine.advance(run_id=run.pk)
    step = StepRun.objects.unscoped().get(run=run)
    # Failed before its send claimed the attempt: the retried task takes it at once, no lookup.
    assert (step.status, step.attempts, step.provider_call_started_at) == ("pending", 0, None)
    assert WorkflowRun.objects.unscoped().get(pk=run.pk).status == "running"


def test_a_step_that_succeeded_is_recorded_once_the_database_answers_again(
    google, workspace, member, monkeypatch
):
    connect(google, workspace=workspace, user=member)
    run = queued_run(workspace, member, monkeypatch)
    real_finish = engine._finish_step
    refused: list[str] = []

    def finish_after_an_outage(**kwargs) -> None:
        if kwargs["status"] == "succeeded" and len(refused) < 2:
            refused.append(kwargs["status"])
            raise OperationalError("server closed the connection unexpectedly")
        real_finish(**kwargs)

    monkeypatch.setattr(engine, "_finish_step", finish_after_an_outage)
    monkeypatch.setattr(engine, "_sleep", lambda seconds: None)

    assert engine.advance(run_id=run.pk).finished
    step = StepRun.objects.unscoped().get(run=run)
    assert (step.status, step.attempts) == ("succeeded", 1)
    assert len(refused) == 2
    assert len(google.state.messages()) == 1  # recorded, not claimed and sent again


def test_the_api_answers_503_while_the_database_is_down(key_client, workspace):
    workflow_id = create_workflow_via_api(key_client, workspace, WELCOME)
    down = OperationalError("could not connect to server: Connection refused")
    with mock.patch.object(connection, "cursor", side_effect=down):
        response = key_client.post(execute_url(workspace, workflow_id), {"input": {}}, format="json")
    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "database_unavailable"
    assert "try again" in body["error"]["message"]
    assert "connect" not in body["error"]["message"]  # never the database's own words
