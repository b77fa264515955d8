"""A failed run is re-run from its page, in a real browser: the email step had gone out, Calendar
refused the event; once the fault is gone, Re-run carries the email step over (Gmail receives no
second email) and runs only the event step, which still reads the email's id."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Screenshots
from tests.e2e.test_gmail_workflow import FOUNDER, RECIPIENT, Workspace, connect_gmail, consent, sign_up
from workflows import services
from workflows.models import WorkflowRun
from workflows.services import StepSpec
from workspaces.models import Workspace as WorkspaceRow

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OWNER = "owner@galaxyco.test"
TEAM_MAILBOX = "team@gmail.test"


def connect_account(page: Page, shots: Screenshots, google, kind: str, email: str, *, share: bool) -> None:
    """On the Integrations page: connect another account of `kind`, shared or not."""
    card = page.get_by_test_id(f"integration-card-{kind}")
    card.get_by_test_id(f"share-{kind}").set_checked(share)
    card.get_by_role("button", name=re.compile(r"^Connect")).click()
    consent(page, shots, google, email, email.split("@")[0].title())
    expect(card).to_contain_text(email)


def welcome_and_kick_off(workspace: Workspace) -> int:
    workflow = services.create_workflow(
        workspace=WorkspaceRow.objects.get(slug=workspace.slug),
        created_by=get_user_model().objects.get(email=OWNER),
        name="Welcome and kick-off",
        steps=[
            StepSpec(
                action="gmail.send_email",
                params={"to": [RECIPIENT], "subject": "Welcome {{ input.name }}", "text": "Hello!"},
            ),
            StepSpec(
                action="calendar.create_event",
                params={
                    "summary": "Kick-off with {{ input.name }}",
                    "description": "Welcome mail: {{ steps.gmail_send_email.message_id }}",
                    "start": "2026-12-01T09:30:00",
                    "end": "2026-12-01T10:00:00",
                },
            ),
        ],
    )
    return workflow.pk


def test_a_failed_run_is_re_run_and_only_its_failed_step_runs_again(
    page: Page, shots: Screenshots, live_server, google
):
    workspace = sign_up(page, shots, OWNER)
    connect_gmail(page, shots, google, workspace, FOUNDER)  # shared, and the workspace default
    connect_account(page, shots, google, "gmail", TEAM_MAILBOX, share=True)
    connect_account(page, shots, google, "calendar", FOUNDER, share=True)
    gmail = page.get_by_test_id("integration-card-gmail")
    expect(gmail.get_by_test_id("is-default")).to_have_count(1)
    expect(gmail.get_by_test_id("sharing")).to_have_text(["Shared with the workspace"] * 2)
    page.evaluate("window.scrollTo(0, 0)")
    shots.step(page, "integrations-default-and-shared")
    shots.readme(page, "integrations-default-shared")

    workflow_id = welcome_and_kick_off(workspace)
    google.state.add_fault("calendar.insert", status=400)  # Calendar refuses the event, once
    page.goto(workspace.url(f"workflows/{workflow_id}/"))
    page.get_by_test_id("run-input-name").fill("Ada")
    page.get_by_test_id("run-now").click()
    page.wait_for_url(re.compile(rf"{re.escape(workspace.url('runs/'))}\d+/$"))
    failed_url = page.url
    expect(page.get_by_test_id("run-status")).to_have_text("failed")
    steps = page.locator("tr.step-run")
    expect(steps.nth(0)).to_have_attribute("data-status", "succeeded")
    expect(steps.nth(1)).to_have_attribute("data-status", "failed")
    shots.step(page, "run-failed")
    [mail] = google.state.messages(to=RECIPIENT)
    assert google.state.events() == []

    page.get_by_test_id("rerun").click()
    page.wait_for_url(re.compile(rf"{re.escape(workspace.url('runs/'))}\d+/$"))
    assert page.url != failed_url
    expect(page.get_by_test_id("run-status")).to_have_text("succeeded")
    expect(page.get_by_test_id("retry-of")).to_have_text(f"Run #{failed_url.rstrip('/').rsplit('/', 1)[1]}")
    expect(steps.nth(0)).to_have_attribute("data-status", "succeeded")
    expect(steps.nth(0).get_by_test_id("carried-over")).to_be_visible()
    expect(steps.nth(1)).to_have_attribute("data-status", "succeeded")
    expect(steps.nth(1).get_by_test_id("carried-over")).to_have_count(0)
    shots.step(page, "re-run")
    shots.readme(page, "run-rerun")

    assert len(google.state.messages()) == 1  # the email step was not run again
    [event] = google.state.events()
    assert event["description"] == f"Welcome mail: {mail['id']}"
    rerun = WorkflowRun.objects.unscoped().get(pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))
    assert rerun.retry_of_id is not None
    assert [s.attempts for s in rerun.step_runs.order_by("position")] == [0, 1]

    page.get_by_role("navigation").get_by_role("link", name="Home").click()
    expect(page.get_by_test_id("home-runs").locator("tbody tr")).to_have_count(2)
    shots.step(page, "home")
    shots.readme(page, "home")
