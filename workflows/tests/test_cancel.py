"""Cancel: a queued run, or one waiting to retry a step, becomes canceled and its remaining steps
are skipped; a run with a step under way, or a finished one, answers 409. The engine leaves a
canceled run alone, and a cancel cannot race a claim."""

from datetime import timedelta
from html import unescape

import pytest
from django.test import Client
from django.utils import timezone

from galaxyco import context
from galaxyco.errors import Conflict
from workflows import engine, services
from workflows.models import RunStatus, RunTrigger, StepRun, StepStatus, WorkflowRun
from workflows.tests.helpers import WELCOME, create_workflow

pytestmark = pytest.mark.django_db  # on_commit never fires here: a run stays queued

ADA = {"name": "Ada", "email": "ada@example.com"}


@pytest.fixture
def queued(workspace, member, key_client) -> WorkflowRun:
    workflow_id = create_workflow(key_client, workspace, WELCOME)
    run, _ = services.start_run(
        workspace=workspace,
        workflow_id=workflow_id,
        run_input=ADA,
        trigger=RunTrigger.UI,
        requested_by=member,
    )
    return run


def cancel_url(workspace, run_id: int) -> str:
    return f"/api/workspaces/{workspace.pk}/runs/{run_id}/cancel/"


def statuses(run: WorkflowRun) -> tuple[str, list[str]]:
    run.refresh_from_db()
    return run.status, list(run.step_runs.values_list("status", flat=True))


def test_a_queued_run_is_canceled_and_the_engine_leaves_it_alone(workspace, queued):
    services.cancel_run(workspace=workspace, run_id=queued.pk)

    assert statuses(queued) == ("canceled", ["skipped"])
    assert queued.finished_at is not None
    assert engine.advance(run_id=queued.pk).finished
    assert statuses(queued) == ("canceled", ["skipped"])


def test_a_run_waiting_to_retry_is_canceled(workspace, queued):
    WorkflowRun.objects.unscoped().filter(pk=queued.pk).update(status=RunStatus.RUNNING)
    queued.step_runs.update(
        status=StepStatus.RETRYING, attempts=1, next_attempt_at=timezone.now() + timedelta(seconds=30)
    )

    services.cancel_run(workspace=workspace, run_id=queued.pk)

    assert statuses(queued) == ("canceled", ["skipped"])
    assert queued.step_runs.get().next_attempt_at is None


def test_a_run_with_a_step_under_way_or_finished_is_not_canceled(workspace, queued):
    step = queued.step_runs.get()
    assert engine._claim(step)  # an executor has taken the step: it may be calling Google now
    with pytest.raises(Conflict, match="running a step right now"):
        services.cancel_run(workspace=workspace, run_id=queued.pk)
    assert statuses(queued) == ("queued", ["running"])

    WorkflowRun.objects.unscoped().filter(pk=queued.pk).update(status=RunStatus.SUCCEEDED)
    with pytest.raises(Conflict, match="has already finished"):
        services.cancel_run(workspace=workspace, run_id=queued.pk)


def test_a_run_looking_up_whether_its_email_went_out_is_not_canceled(workspace, queued):
    """The send's outcome is unknown and the step waits to look it up in the Sent mail: skipping it
    would hide an email that may have gone out."""
    WorkflowRun.objects.unscoped().filter(pk=queued.pk).update(status=RunStatus.RUNNING)
    queued.step_runs.update(
        status=StepStatus.RETRYING,
        attempts=1,
        provider_call_started_at=timezone.now(),
        next_attempt_at=timezone.now() + timedelta(seconds=30),
    )

    with pytest.raises(Conflict, match="whether an email it sent went out") as refused:
        services.cancel_run(workspace=workspace, run_id=queued.pk)

    assert refused.value.code == "run_in_progress"
    assert statuses(queued) == ("running", ["retrying"])


def test_a_cancel_first_leaves_the_engine_nothing_to_claim(workspace, queued):
    step = queued.step_runs.get()  # as an executor read it, before the cancel
    services.cancel_run(workspace=workspace, run_id=queued.pk)
    assert not engine._claim(step)
    assert statuses(queued) == ("canceled", ["skipped"])


def test_a_run_canceled_while_the_engine_starts_it_stays_canceled(workspace, queued, monkeypatch):
    """The engine read the run as queued; the cancel lands before it marks the run running."""
    bind = context.bind

    def cancel_then_bind(**fields):
        if StepRun.objects.unscoped().filter(run=queued, status=StepStatus.PENDING).exists():
            services.cancel_run(workspace=workspace, run_id=queued.pk)
        bind(**fields)

    monkeypatch.setattr(engine.context, "bind", cancel_then_bind)

    assert engine.advance(run_id=queued.pk).finished
    assert statuses(queued) == ("canceled", ["skipped"])


def test_the_api_cancels_and_answers_409_once_finished(workspace, queued, key_client, other_key_client):
    assert other_key_client.post(cancel_url(workspace, queued.pk)).status_code == 404

    response = key_client.post(cancel_url(workspace, queued.pk))

    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert [s["status"] for s in response.json()["steps"]] == ["skipped"]
    again = key_client.post(cancel_url(workspace, queued.pk))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "run_finished"
    assert (
        again.json()["error"]["message"]
        == f"Run #{queued.pk} has already finished (canceled): there is nothing left to cancel."
    )
    listed = key_client.get(f"/api/workspaces/{workspace.pk}/runs/?status=canceled").json()["results"]
    assert [r["id"] for r in listed] == [queued.pk]


def test_the_run_page_cancels(workspace, member, queued):
    client = Client()
    client.force_login(member)
    page = client.get(f"/w/{workspace.slug}/runs/{queued.pk}/").content.decode()
    assert 'data-testid="cancel-run"' in page
    assert 'data-testid="rerun"' not in page

    response = client.post(f"/w/{workspace.slug}/runs/{queued.pk}/cancel/", follow=True)

    page = unescape(response.content.decode())
    assert f"Run #{queued.pk} was canceled." in page
    assert 'data-testid="cancel-run"' not in page
    assert 'data-testid="rerun"' in page  # a canceled run can be re-run
    assert statuses(queued) == ("canceled", ["skipped"])
    refused = unescape(
        client.post(f"/w/{workspace.slug}/runs/{queued.pk}/cancel/", follow=True).content.decode()
    )
    assert "there is nothing left to cancel" in refused
