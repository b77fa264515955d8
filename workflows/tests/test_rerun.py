"""Re-run: a failed (or canceled) run runs again as a new run, `retry_of` the old one, with the old
run's input and snapshotted steps; steps that had succeeded are carried over, not run again."""

from html import unescape
from typing import Any

import pytest
from django.test import Client

from galaxyco.errors import NotFound
from integrations.tests.google_grants import connect
from workflows import services
from workflows.models import RunStatus, RunTrigger, StepRun, StepStatus, WorkflowRun, WorkflowStep
from workflows.tests.helpers import create_workflow, execute

pytestmark = pytest.mark.django_db(transaction=True)

ADA = {"name": "Ada", "email": "ada@example.com"}
MAIL_THEN_EVENT: dict[str, Any] = {
    "name": "Welcome and kick-off",
    "steps": [
        {
            "action": "gmail.send_email",
            "params": {"to": ["{{ input.email }}"], "subject": "Welcome {{ input.name }}", "text": "Hello"},
        },
        {
            "action": "calendar.create_event",
            "params": {
                "summary": "Kick-off with {{ input.name }}",
                "description": "Welcome mail: {{ steps.gmail_send_email.message_id }}",
                "start": "2026-12-01T09:30:00",
                "end": "2026-12-01T10:00:00",
            },
        },
    ],
}


@pytest.fixture
def accounts(google, workspace, member):
    connect(google, workspace=workspace, user=member, email="sender@gmail.test")
    connect(google, workspace=workspace, user=member, email="sender@gmail.test", integration_type="calendar")


def retry_url(workspace, run_id: int, query: str = "") -> str:
    return f"/api/workspaces/{workspace.pk}/runs/{run_id}/retry/{query}"


def failed_run(google, key_client, workspace) -> tuple[int, dict]:
    """Run the workflow with Calendar refusing the event (400): the email goes, the run fails."""
    workflow_id = create_workflow(key_client, workspace, MAIL_THEN_EVENT)
    google.state.add_fault("calendar.insert", status=400)
    body = execute(key_client, workspace, workflow_id, ADA).json()
    assert body["run"]["status"] == "failed", body
    assert [s["status"] for s in body["run"]["steps"]] == ["succeeded", "failed"]
    return workflow_id, body["run"]


def test_a_failed_run_is_re_run_and_only_its_failed_step_runs_again(google, accounts, workspace, key_client):
    _, old = failed_run(google, key_client, workspace)
    [mail] = google.state.messages()

    response = key_client.post(retry_url(workspace, old["id"]))

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["success"] is True
    run = body["run"]
    assert run["id"] != old["id"]
    assert run["retry_of"] == old["id"]
    assert run["trigger"] == "api"
    assert run["input"] == ADA
    sent, event = run["steps"]
    assert (sent["status"], sent["carried_over"], sent["attempts"]) == ("succeeded", True, 0)
    assert sent["output"] == old["steps"][0]["output"]
    assert (event["status"], event["carried_over"], event["attempts"]) == ("succeeded", False, 1)
    assert len(google.state.messages()) == 1  # the email was not sent again
    [created] = google.state.events()
    # The later step read the carried-over step's output.
    assert created["description"] == f"Welcome mail: {mail['id']}"
    assert key_client.get(f"/api/workspaces/{workspace.pk}/runs/{old['id']}/").json()["retry_of"] is None


def test_a_re_run_answers_like_execute_wait_0_and_idempotency_key(
    google, accounts, workspace, key_client, monkeypatch
):
    _, old = failed_run(google, key_client, workspace)
    enqueued: list[int] = []
    monkeypatch.setattr("workflows.tasks.enqueue_run", lambda *, run_id: enqueued.append(run_id))

    first = key_client.post(retry_url(workspace, old["id"], "?wait=0"), HTTP_IDEMPOTENCY_KEY="again-1")
    assert first.status_code == 202
    assert first.headers["Location"] == first.json()["run"]["url"]
    assert first.json()["run"]["status"] == "queued"
    assert first.json()["success"] is False
    again = key_client.post(retry_url(workspace, old["id"], "?wait=0"), HTTP_IDEMPOTENCY_KEY="again-1")
    assert again.json()["run"]["id"] == first.json()["run"]["id"]
    assert enqueued == [first.json()["run"]["id"]]
    assert WorkflowRun.objects.unscoped().filter(retry_of_id=old["id"]).count() == 1
    other_request = key_client.post(
        f"/api/workspaces/{workspace.pk}/workflows/{old['workflow']}/execute/",
        {"input": ADA},
        format="json",
        HTTP_IDEMPOTENCY_KEY="again-1",
    )
    assert other_request.status_code == 409
    assert other_request.json()["error"]["code"] == "idempotency_key_reused"


def test_a_re_run_uses_the_old_runs_steps_not_the_edited_workflow(google, accounts, workspace, key_client):
    workflow_id, old = failed_run(google, key_client, workspace)
    WorkflowStep.objects.unscoped().filter(workflow_id=workflow_id, position=1).update(
        params={**MAIL_THEN_EVENT["steps"][1]["params"], "summary": "Edited since"}
    )

    key_client.post(retry_url(workspace, old["id"]))

    [created] = google.state.events()
    assert created["summary"] == "Kick-off with Ada"


def test_only_a_failed_or_canceled_run_can_be_re_run(google, accounts, workspace, key_client):
    workflow_id, old = failed_run(google, key_client, workspace)
    retried = key_client.post(retry_url(workspace, old["id"])).json()["run"]

    succeeded = key_client.post(retry_url(workspace, retried["id"]))
    assert succeeded.status_code == 409
    assert succeeded.json()["error"]["code"] == "run_not_rerunnable"
    assert "only a failed or canceled run can be re-run" in succeeded.json()["error"]["message"]

    twice = key_client.post(retry_url(workspace, old["id"]))
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "already_rerun"
    assert f"already re-run as run #{retried['id']}" in twice.json()["error"]["message"]

    canceled = WorkflowRun.objects.create(
        workspace=workspace, workflow_id=workflow_id, trigger=RunTrigger.API, input=ADA
    )
    for position, step in enumerate(MAIL_THEN_EVENT["steps"]):
        StepRun.objects.create(
            workspace=workspace,
            run=canceled,
            position=position,
            key=["gmail_send_email", "calendar_create_event"][position],
            action=step["action"],
            params=step["params"],
            status=StepStatus.SKIPPED,
        )
    WorkflowRun.objects.unscoped().filter(pk=canceled.pk).update(status=RunStatus.CANCELED)
    again = key_client.post(retry_url(workspace, canceled.pk)).json()
    assert again["run"]["status"] == "succeeded"
    assert [s["carried_over"] for s in again["run"]["steps"]] == [False, False]
    assert len(google.state.messages()) == 2


def test_another_workspace_cannot_re_run_it(
    google, accounts, workspace, other_workspace, key_client, other_key_client
):
    _, old = failed_run(google, key_client, workspace)
    assert other_key_client.post(retry_url(workspace, old["id"])).status_code == 404
    with pytest.raises(NotFound):
        services.rerun(workspace=other_workspace, run_id=old["id"], trigger=RunTrigger.API)
    assert not WorkflowRun.objects.unscoped().filter(retry_of_id=old["id"]).exists()


def test_the_run_page_re_runs_and_shows_the_step_carried_over(
    google, accounts, workspace, member, key_client
):
    _, old = failed_run(google, key_client, workspace)
    client = Client()
    client.force_login(member)
    page = client.get(f"/w/{workspace.slug}/runs/{old['id']}/").content.decode()
    assert 'data-testid="rerun"' in page
    assert 'data-testid="cancel-run"' not in page

    response = client.post(f"/w/{workspace.slug}/runs/{old['id']}/retry/")

    new = WorkflowRun.objects.unscoped().get(retry_of_id=old["id"])
    assert response.status_code == 302
    assert response["Location"] == f"/w/{workspace.slug}/runs/{new.pk}/"
    assert (new.trigger, new.requested_by, new.status) == (RunTrigger.UI, member, RunStatus.SUCCEEDED)
    page = unescape(client.get(response["Location"]).content.decode())
    assert f"Carried over from run #{old['id']}: not run again." in page
    assert page.count('data-testid="carried-over"') == 1
    assert f'<a href="/w/{workspace.slug}/runs/{old["id"]}/">Run #{old["id"]}</a>' in page
    assert 'data-testid="rerun"' not in page  # it succeeded
    old_page = client.get(f"/w/{workspace.slug}/runs/{old['id']}/").content.decode()
    assert f'<a href="/w/{workspace.slug}/runs/{new.pk}/">Run #{new.pk}</a>' in old_page

    refused = client.post(f"/w/{workspace.slug}/runs/{new.pk}/retry/", follow=True)
    assert "only a failed or canceled run can be re-run" in unescape(refused.content.decode())
    assert WorkflowRun.objects.unscoped().count() == 2


def unknown_outcome_run(google, key_client, workspace, settings) -> dict:
    """Gmail takes the email and never answers; the account cannot read its Sent mail, so the
    step ends outcome_unknown and the run fails."""
    settings.GOOGLE_HTTP_TIMEOUT = 0.4
    workflow_id = create_workflow(key_client, workspace, MAIL_THEN_EVENT)
    google.state.add_fault("gmail.send", hang_seconds=1.5, hang_after=True)
    run = execute(key_client, workspace, workflow_id, ADA).json()["run"]
    assert [s["status"] for s in run["steps"]] == ["outcome_unknown", "skipped"], run
    assert len(google.state.messages()) == 1  # it did go out
    return run


def test_a_run_whose_email_may_have_gone_out_is_not_re_run(google, accounts, workspace, key_client, settings):
    old = unknown_outcome_run(google, key_client, workspace, settings)

    response = key_client.post(retry_url(workspace, old["id"]))

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "outcome_unknown"
    assert "Check the Sent folder" in error["message"]
    assert "Send again on step 1" in error["message"]
    assert not WorkflowRun.objects.unscoped().filter(retry_of_id=old["id"]).exists()
    assert len(google.state.messages()) == 1


def test_the_run_page_offers_send_again_instead_of_re_run_for_an_unknown_outcome(
    google, accounts, workspace, member, key_client, settings
):
    old = unknown_outcome_run(google, key_client, workspace, settings)
    client = Client()
    client.force_login(member)

    page = unescape(client.get(f"/w/{workspace.slug}/runs/{old['id']}/").content.decode())

    assert 'data-testid="rerun"' not in page
    assert 'data-testid="send-again"' in page
    assert 'data-testid="rerun-refused"' in page
    assert "use Send again on step 1" in page
    refused = client.post(f"/w/{workspace.slug}/runs/{old['id']}/retry/", follow=True)
    assert "Check the Sent folder" in unescape(refused.content.decode())
    assert not WorkflowRun.objects.unscoped().filter(retry_of_id=old["id"]).exists()
