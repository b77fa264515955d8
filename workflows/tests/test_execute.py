"""Executing workflows over real HTTP against the Google emulator (tasks run in process)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import OAuthToken
from integrations.tests.google_grants import connect
from workflows.models import StepRun, WorkflowRun
from workflows.tests.helpers import WELCOME, create_workflow, execute, parsed

pytestmark = pytest.mark.django_db(transaction=True)

ADA = {"name": "Ada <Lovelace>", "email": "ada@example.com"}


@pytest.fixture
def gmail(google, workspace, member):
    return connect(google, workspace=workspace, user=member, email="sender@gmail.test")


def test_a_gmail_workflow_runs_and_the_email_arrives(google, gmail, workspace, key_client):
    workflow_id = create_workflow(key_client, workspace)
    response = execute(key_client, workspace, workflow_id, ADA)

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    run = body["run"]
    assert run["status"] == "succeeded"
    assert run["trigger"] == "api"
    [step] = run["steps"]
    assert step["action"] == "gmail.send_email"
    assert step["status"] == "succeeded"
    assert step["attempts"] == 1
    assert step["error"] is None

    [delivered] = google.state.messages(to="ada@example.com")
    assert step["output"]["message_id"] == delivered["id"]
    assert step["output"]["thread_id"] == delivered["threadId"]
    message = parsed(delivered)
    assert message["From"] == "sender@gmail.test"
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Hi Ada <Lovelace>"  # headers and text are not escaped
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert text.get_content().strip() == "Hello Ada <Lovelace>, welcome aboard."
    assert html.get_content().strip() == "<p>Hello <b>Ada &lt;Lovelace&gt;</b>, welcome aboard.</p>"
    gmail.refresh_from_db()
    assert gmail.last_used_at is not None


def test_a_token_about_to_expire_is_refreshed_once_then_the_email_is_sent(
    google, gmail, workspace, key_client
):
    OAuthToken.objects.unscoped().filter(integration=gmail).update(
        expires_at=timezone.now() + timedelta(minutes=2)
    )
    workflow_id = create_workflow(key_client, workspace)
    assert execute(key_client, workspace, workflow_id, ADA).json()["success"] is True
    assert google.state.stats()["token.refresh_token"] == 1
    assert len(google.state.messages()) == 1


def test_a_token_google_expired_early_is_refreshed_once_then_the_email_is_sent(
    google, gmail, workspace, key_client
):
    google.state.expire_account("sender@gmail.test")  # our copy still looks valid: Gmail answers 401
    workflow_id = create_workflow(key_client, workspace)
    assert execute(key_client, workspace, workflow_id, ADA).json()["success"] is True
    assert google.state.stats()["token.refresh_token"] == 1
    assert len(google.state.messages()) == 1


def test_a_revoked_grant_fails_the_run_and_asks_for_reconnection(google, gmail, workspace, key_client):
    google.state.revoke_account("sender@gmail.test")
    OAuthToken.objects.unscoped().filter(integration=gmail).update(expires_at=timezone.now())
    workflow_id = create_workflow(key_client, workspace)
    response = execute(key_client, workspace, workflow_id, ADA)

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "reauth_required"
    assert "Reconnect it on the Integrations page" in body["error"]["message"]
    assert body["run"]["steps"][0]["attempts"] == 1
    status = key_client.get(f"/api/workspaces/{workspace.pk}/integrations/status/").json()["gmail"]
    assert status["connected"] is False
    assert status["status"] == "reauth_required"
    assert google.state.messages() == []


@pytest.mark.parametrize(
    ("fault", "attempts"),
    [
        ({"status": 500, "count": 2}, 3),
        ({"status": 429, "count": 1, "retry_after": 1}, 2),
        ({"status": 503, "count": 4}, 5),
    ],
)
def test_transient_gmail_failures_are_retried_until_the_email_is_sent(
    google, gmail, workspace, key_client, fault, attempts
):
    google.state.add_fault("gmail.send", **fault)
    workflow_id = create_workflow(key_client, workspace)
    body = execute(key_client, workspace, workflow_id, ADA).json()
    assert body["success"] is True
    assert body["run"]["steps"][0]["attempts"] == attempts
    assert len(google.state.messages()) == 1


def test_a_gmail_send_that_times_out_is_not_sent_again_blindly(
    google, gmail, workspace, key_client, settings
):
    """The request went out and Gmail delivered it late: sending again would be a second email.
    Without a read scope to look it up, the person is asked to check the Sent folder."""
    settings.GOOGLE_HTTP_TIMEOUT = 1
    google.state.add_fault("gmail.send", hang_seconds=2, hang_after=True)
    workflow_id = create_workflow(key_client, workspace)
    body = execute(key_client, workspace, workflow_id, ADA).json()
    assert body["success"] is False
    assert body["error"]["code"] == "outcome_unknown"
    assert body["run"]["steps"][0]["status"] == "outcome_unknown"
    assert body["run"]["steps"][0]["attempts"] == 1
    assert len(google.state.messages()) == 1


def test_retry_after_is_honoured(google, gmail, workspace, key_client):
    google.state.add_fault("gmail.send", status=429, count=1, retry_after=1)
    workflow_id = create_workflow(key_client, workspace)
    body = execute(key_client, workspace, workflow_id, ADA).json()
    step = StepRun.objects.unscoped().get(run_id=body["run"]["id"])
    assert step.finished_at and step.started_at
    assert (step.finished_at - step.started_at).total_seconds() >= 1.0


def test_gmail_giving_up_after_five_attempts_fails_the_run(google, gmail, workspace, key_client):
    google.state.add_fault("gmail.send", status=500, count=5)
    workflow_id = create_workflow(key_client, workspace)
    body = execute(key_client, workspace, workflow_id, ADA).json()
    assert body["success"] is False
    assert body["run"]["steps"][0]["attempts"] == 5
    assert "gave up after 5 attempts" in body["error"]["message"]
    assert google.state.messages() == []


def test_a_400_from_gmail_fails_at_once(google, gmail, workspace, key_client):
    google.state.add_fault("gmail.send", status=400, count=1)
    workflow_id = create_workflow(key_client, workspace)
    body = execute(key_client, workspace, workflow_id, ADA).json()
    assert body["success"] is False
    assert body["error"]["code"] == "provider_rejected"
    assert body["run"]["steps"][0]["attempts"] == 1
    assert google.state.stats()["gmail.send"] == 1


def test_no_connected_account_fails_with_a_clear_message(google, workspace, key_client):
    workflow_id = create_workflow(key_client, workspace)
    body = execute(key_client, workspace, workflow_id, ADA).json()
    assert body["success"] is False
    assert body["error"]["code"] == "integration_not_connected"
    assert "on the Integrations page" in body["error"]["message"]


def test_input_that_makes_an_address_invalid_is_refused_before_a_run(google, gmail, workspace, key_client):
    workflow_id = create_workflow(key_client, workspace)
    response = execute(key_client, workspace, workflow_id, {"name": "Ada", "email": "not an address"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["fields"] == {"input": {"email": ["“not an address” is not a valid email address."]}}
    assert not WorkflowRun.objects.unscoped().exists()


def test_the_same_idempotency_key_gives_one_run_and_one_email(google, gmail, workspace, key_client):
    workflow_id = create_workflow(key_client, workspace)
    first = execute(key_client, workspace, workflow_id, ADA, HTTP_IDEMPOTENCY_KEY="signup-42")
    second = execute(key_client, workspace, workflow_id, ADA, HTTP_IDEMPOTENCY_KEY="signup-42")
    assert first.status_code == second.status_code == 200
    assert first.json()["run"]["id"] == second.json()["run"]["id"]
    assert WorkflowRun.objects.unscoped().count() == 1
    assert len(google.state.messages()) == 1
    other = execute(
        key_client, workspace, workflow_id, {**ADA, "name": "Grace"}, HTTP_IDEMPOTENCY_KEY="signup-42"
    )
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_a_calendar_workflow_creates_the_event(google, workspace, member, key_client):
    connect(google, workspace=workspace, user=member, email="planner@gmail.test", integration_type="calendar")
    definition = {
        "name": "Kick-off",
        "steps": [
            {
                "action": "calendar.create_event",
                "params": {
                    "summary": "Kick-off with {{ input.name }}",
                    "start": "2026-12-01T09:30:00",
                    "end": "2026-12-01T10:00:00",
                    "time_zone": "Europe/Paris",
                    "attendees": ["{{ input.email }}"],
                    "send_updates": "all",
                },
            }
        ],
    }
    workflow_id = create_workflow(key_client, workspace, definition)
    body = execute(key_client, workspace, workflow_id, ADA).json()
    assert body["success"] is True, body
    [event] = google.state.events()
    assert event["summary"] == "Kick-off with Ada <Lovelace>"
    assert event["start"] == {"dateTime": "2026-12-01T09:30:00", "timeZone": "Europe/Paris"}
    assert [a["email"] for a in event["attendees"]] == ["ada@example.com"]
    output = body["run"]["steps"][0]["output"]
    assert output["event_id"] == event["id"]
    assert output["html_link"] == event["htmlLink"]


def test_a_step_that_succeeded_is_never_run_again(google, gmail, workspace, key_client):
    from workflows import engine

    two_steps = {**WELCOME, "steps": [WELCOME["steps"][0], WELCOME["steps"][0]]}
    workflow_id = create_workflow(key_client, workspace, two_steps)
    run = execute(key_client, workspace, workflow_id, ADA).json()["run"]
    assert [s["status"] for s in run["steps"]] == ["succeeded", "succeeded"]
    assert len(google.state.messages()) == 2

    # As if a worker died after the first step: the run is picked up again.
    WorkflowRun.objects.unscoped().filter(pk=run["id"]).update(status="running", finished_at=None)
    StepRun.objects.unscoped().filter(run_id=run["id"], position=1).update(status="pending")
    assert engine.advance(run_id=run["id"]).finished

    assert len(google.state.messages()) == 3  # only the second step ran again
    first, second = StepRun.objects.unscoped().filter(run_id=run["id"]).order_by("position")
    assert (first.attempts, second.attempts) == (1, 2)
    assert WorkflowRun.objects.unscoped().get(pk=run["id"]).status == "succeeded"


def test_a_persons_run_never_borrows_another_members_mailbox(google, workspace, member):
    from rest_framework.test import APIClient

    from workspaces.tests.factories import MembershipFactory

    connect(google, workspace=workspace, user=member, email="private@gmail.test", share=False)
    colleague = MembershipFactory(workspace=workspace).user
    client = APIClient()
    client.force_login(colleague)
    workflow_id = create_workflow(client, workspace)
    body = execute(client, workspace, workflow_id, ADA).json()
    assert body["success"] is False
    assert body["error"]["code"] == "integration_not_connected"
    assert google.state.messages() == []


def test_an_api_run_with_several_accounts_and_no_owner_asks_to_choose(google, workspace, member, key_client):
    connect(google, workspace=workspace, user=member, email="first@gmail.test", share=False)
    connect(google, workspace=workspace, user=member, email="second@gmail.test", share=False)
    workflow_id = create_workflow(key_client, workspace)
    body = execute(key_client, workspace, workflow_id, ADA).json()
    assert body["error"]["code"] == "integration_not_connected"
    assert "Choose the account in the workflow's step" in body["error"]["message"]


def test_an_api_run_uses_the_workflow_creators_account(
    google, gmail, workspace, member, session_client, key_client
):
    connect(google, workspace=workspace, user=member, email="second@gmail.test")  # member now has two
    workflow_id = create_workflow(session_client, workspace)  # created by member
    body = execute(key_client, workspace, workflow_id, ADA).json()
    assert body["success"] is True
    assert body["run"]["steps"][0]["output"]["from"] in {"sender@gmail.test", "second@gmail.test"}


def test_a_retry_after_of_hours_fails_the_run_instead_of_parking_it(google, gmail, workspace, key_client):
    google.state.add_fault("gmail.send", status=429, count=1, retry_after=7200)
    workflow_id = create_workflow(key_client, workspace)
    body = execute(key_client, workspace, workflow_id, ADA).json()
    assert body["success"] is False
    assert "wait 120 minutes" in body["error"]["message"]
    assert body["run"]["steps"][0]["attempts"] == 1
