"""The workspace home shows the workspace's state: accounts (with Reconnect when needed),
workflows, the latest runs with failures first, and a first-time checklist that ticks itself off."""

from datetime import UTC, datetime
from html import unescape

import pytest
from django.test import Client

from galaxyco.errors import ReauthRequired
from integrations.models import IntegrationStatus, IntegrationType
from integrations.tests.factories import IntegrationFactory
from workflows import services
from workflows.models import RunStatus, WorkflowRun
from workflows.tests.helpers import make_workflow
from workspaces.selectors import home_overview

pytestmark = pytest.mark.django_db


def make_run(workspace, workflow, *, status: str, minute: int, error: str = "") -> WorkflowRun:
    run, _ = services.start_run(workspace=workspace, workflow_id=workflow.pk, run_input={}, trigger="api")
    WorkflowRun.objects.unscoped().filter(pk=run.pk).update(
        status=status, error_message=error, created_at=datetime(2026, 11, 26, 14, minute, tzinfo=UTC)
    )
    return run


def home(client: Client, workspace) -> str:
    response = client.get(f"/w/{workspace.slug}/")
    assert response.status_code == 200
    return unescape(response.content.decode())


def done(content: str, step: str) -> bool:
    return f'data-testid="step-{step}" data-done="true"' in content


def test_a_new_workspace_shows_the_checklist_with_nothing_done(page_client, workspace):
    content = home(page_client, workspace)
    assert 'data-testid="first-steps"' in content
    for step in ("connect-gmail", "create-workflow", "run-workflow"):
        assert f'data-testid="step-{step}" data-done="false"' in content
    assert "No Google account is connected yet." in content
    assert "No workflows yet." in content
    assert "No runs yet." in content


def test_the_checklist_ticks_itself_off_and_goes_away(page_client, workspace):
    IntegrationFactory(workspace=workspace, type=IntegrationType.GMAIL, status=IntegrationStatus.ACTIVE)
    content = home(page_client, workspace)
    assert done(content, "connect-gmail")
    assert not done(content, "create-workflow")

    workflow = make_workflow(workspace)
    content = home(page_client, workspace)
    assert done(content, "create-workflow")
    assert not done(content, "run-workflow")

    make_run(workspace, workflow, status=RunStatus.FAILED, minute=1)
    content = home(page_client, workspace)
    assert done(content, "run-workflow")  # it was run: a failed run counts as having tried
    assert 'data-testid="first-steps"' in content  # shown until a run succeeds
    assert "No run has succeeded yet" in content

    make_run(workspace, workflow, status=RunStatus.SUCCEEDED, minute=2)
    assert 'data-testid="first-steps"' not in home(page_client, workspace)


def test_a_calendar_account_or_a_broken_gmail_does_not_tick_connect_gmail(page_client, workspace):
    IntegrationFactory(workspace=workspace, type=IntegrationType.CALENDAR)
    IntegrationFactory(
        workspace=workspace, type=IntegrationType.GMAIL, status=IntegrationStatus.REAUTH_REQUIRED
    )
    assert not done(home(page_client, workspace), "connect-gmail")


def test_accounts_show_their_status_and_reconnect_when_needed(page_client, workspace, other_workspace):
    fine = IntegrationFactory(workspace=workspace, email="fine@gmail.test")
    lost = IntegrationFactory(
        workspace=workspace, email="lost@gmail.test", status=IntegrationStatus.REAUTH_REQUIRED
    )
    IntegrationFactory(workspace=workspace, email="gone@gmail.test", status=IntegrationStatus.DISCONNECTED)
    IntegrationFactory(workspace=other_workspace, email="globex@gmail.test")

    content = home(page_client, workspace)

    fine_row = content.split(f'data-testid="home-integration-{fine.pk}"')[1].split("</li>")[0]
    lost_row = content.split(f'data-testid="home-integration-{lost.pk}"')[1].split("</li>")[0]
    assert "Connected" in fine_row and "Reconnect</button>" not in fine_row
    assert "Reconnect needed" in lost_row
    assert f'action="/w/{workspace.slug}/integrations/google/gmail/connect/"' in lost_row
    assert 'name="login_hint" value="lost@gmail.test"' in lost_row
    assert "Reconnect</button>" in lost_row
    assert "gone@gmail.test" not in content
    assert "globex@gmail.test" not in content


def test_latest_runs_show_failures_first_then_newest(page_client, workspace, other_workspace):
    workflow = make_workflow(workspace)
    old_ok = make_run(workspace, workflow, status=RunStatus.SUCCEEDED, minute=1)
    failed = make_run(workspace, workflow, status=RunStatus.FAILED, minute=2, error=ReauthRequired.message)
    new_ok = make_run(workspace, workflow, status=RunStatus.SUCCEEDED, minute=3)
    foreign = make_run(
        other_workspace, make_workflow(other_workspace, "Globex"), status=RunStatus.FAILED, minute=4
    )

    content = home(page_client, workspace)

    table = content.split('data-testid="home-runs"')[1]
    order = [int(part.split('"')[0]) for part in table.split('<tr data-run="')[1:]]
    assert order == [failed.pk, new_ok.pk, old_ok.pk]
    assert foreign.pk not in order
    assert ReauthRequired.message[:60] in table
    assert "26 Nov 2026, 14:02 UTC" in table


def test_workflows_are_listed_with_their_last_run(page_client, workspace):
    workflow = make_workflow(workspace, "Weekly digest")
    run = make_run(workspace, workflow, status=RunStatus.FAILED, minute=5)
    content = home(page_client, workspace)
    row = content.split(f'data-testid="home-workflow-{workflow.pk}"')[1].split("</li>")[0]
    assert "Weekly digest" in row
    assert f'href="/w/{workspace.slug}/runs/{run.pk}/"' in row


def test_the_overview_reads_in_a_few_queries(workspace, django_assert_max_num_queries):
    workflow = make_workflow(workspace)
    for minute in range(12):
        make_run(workspace, workflow, status=RunStatus.SUCCEEDED, minute=minute)
        IntegrationFactory(workspace=workspace)
    with django_assert_max_num_queries(10):
        overview = home_overview(workspace=workspace)
        assert len(overview.recent_runs) == 8
        assert [run.workflow.name for run in overview.recent_runs]


# --- The integration card says each thing once


def test_a_connected_card_says_connected_as_once(page_client, workspace):
    IntegrationFactory(workspace=workspace, email="ada@gmail.test")
    content = unescape(page_client.get(f"/w/{workspace.slug}/integrations/").content.decode())
    card = content.split('data-testid="integration-card-gmail"')[1].split("</section>")[0]
    assert card.count("Connected as") == 1
    assert card.count(">Connected<") == 0


def test_a_needs_reconnect_card_shows_its_error_once(page_client, workspace):
    error = ReauthRequired()
    IntegrationFactory(
        workspace=workspace,
        email="lost@gmail.test",
        status=IntegrationStatus.REAUTH_REQUIRED,
        last_error_code=error.code,
        last_error_message=error.message,
    )
    content = unescape(page_client.get(f"/w/{workspace.slug}/integrations/").content.decode())
    card = content.split('data-testid="integration-card-gmail"')[1].split("</section>")[0]
    assert card.count("expired or was revoked") == 1
    assert "Last error" not in card
