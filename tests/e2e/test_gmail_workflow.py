"""The product's main path in a real browser: sign up, connect Gmail through (emulated) Google,
build a workflow, run it, and read the email in the emulator's inbox. Plus reconnecting after
Google revoked the grant, and another workspace's member finding nothing of it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests
from playwright.sync_api import Page, expect

from integrations.models import Integration, IntegrationStatus, OAuthToken
from tests.e2e.conftest import BrowserWatch, Screenshots
from workflows.models import WorkflowRun

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "Plover-Quartz-Harbour-47"
FOUNDER = "founder@gmail.test"
RECIPIENT = "ada@example.com"


@dataclass
class Workspace:
    slug: str
    name: str

    def url(self, path: str = "") -> str:
        return f"/w/{self.slug}/{path}"


def sign_up(page: Page, shots: Screenshots, email: str) -> Workspace:
    """Sign up through allauth's page; signing up lands in the new personal workspace."""
    page.goto("/accounts/signup/")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password1]").fill(PASSWORD)
    page.locator("input[name=password2]").fill(PASSWORD)
    shots.step(page, "signup")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/w/[\w-]+/$"))
    slug = page.url.rstrip("/").rsplit("/", 1)[1]
    name = f"{email.split('@')[0]}'s workspace"
    expect(page.locator("main h1")).to_have_text(name)
    shots.step(page, "workspace-home")
    return Workspace(slug=slug, name=name)


def consent(page: Page, shots: Screenshots, google, email: str, name: str) -> None:
    """On the emulator's consent page: say who we are and Allow."""
    page.wait_for_url(f"{google.url}/o/oauth2/v2/auth?**")
    page.locator("#email").fill(email)
    page.locator("#name").fill(name)
    shots.step(page, "google-consent")
    page.locator("button[name=decision][value=allow]").click()


def connect_gmail(page: Page, shots: Screenshots, google, workspace: Workspace, email: str) -> None:
    page.get_by_role("navigation").get_by_role("link", name="Integrations").click()
    page.wait_for_url(f"**{workspace.url('integrations/')}")
    card = page.get_by_test_id("integration-card-gmail")
    expect(card).to_contain_text("Not connected.")
    shots.step(page, "integrations")
    card.get_by_role("button", name="Connect Gmail").click()
    consent(page, shots, google, email, "Founder Person")
    page.wait_for_url(f"**{workspace.url('integrations/')}")
    expect(card).to_contain_text(f"Connected as {email}")
    expect(card.locator("strong")).to_have_text(email)
    shots.step(page, "integrations-connected")


def create_workflow(page: Page, shots: Screenshots, workspace: Workspace, sender: str) -> int:
    """Build a one-step "send an email from Gmail" workflow in the builder; returns its id."""
    page.get_by_role("navigation").get_by_role("link", name="Workflows").click()
    page.wait_for_url(f"**{workspace.url('workflows/')}")
    page.get_by_test_id("new-workflow").click()
    page.wait_for_url(f"**{workspace.url('workflows/new/')}")
    page.locator("#workflow-name").fill("Welcome email")
    page.get_by_test_id("add-step").click()
    step = page.locator("#steps .step")
    expect(step).to_have_count(1)
    step.locator("select[name=action]").select_option("gmail.send_email")
    step.locator("select[name=integration]").select_option(label=sender)
    params = step.locator('fieldset[data-action="gmail.send_email"]')
    expect(params).to_be_visible()
    params.locator("[name=to]").fill(RECIPIENT)
    params.locator("[name=subject]").fill("Welcome {{ input.name }}")
    params.locator("[name=text]").fill("Hello {{ input.name }}!")
    params.locator("[name=html]").fill("<p>Hello <b>{{ input.name }}</b></p>")
    # Frame the step, from its header down: what the README shows of the builder.
    params.locator("[name=html]").blur()
    step.evaluate("el => el.scrollIntoView({block: 'start'})")
    shots.step(page, "workflow-builder")
    shots.readme(page, "workflow-builder")
    page.get_by_test_id("save-workflow").click()
    page.wait_for_url(re.compile(rf"{re.escape(workspace.url('workflows/'))}\d+/$"))
    expect(page.get_by_test_id("run-now")).to_be_visible()
    shots.step(page, "workflow-saved")
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def run_now(page: Page, shots: Screenshots, workspace: Workspace, name: str = "step") -> str:
    """On the workflow page: Run now with the input `name` set to Ada; returns the run page's status."""
    page.get_by_test_id("run-input-name").fill("Ada")
    page.get_by_test_id("run-now").click()
    page.wait_for_url(re.compile(rf"{re.escape(workspace.url('runs/'))}\d+/$"))
    shots.step(page, name)
    return page.get_by_test_id("run-status").inner_text()


def open_inbox(page: Page, shots: Screenshots, google) -> None:
    page.goto(f"{google.url}/_emulator/inbox")
    expect(page.get_by_role("heading", name="Emulator inbox")).to_be_visible()
    shots.step(page, "emulator-inbox")


def assert_the_welcome_email_arrived(page: Page) -> None:
    message = page.locator(".message")
    expect(message).to_have_count(1)
    expect(message.locator("h2")).to_have_text("Welcome Ada")
    expect(message.locator("dl.meta")).to_contain_text(f"To{RECIPIENT}")
    expect(message.locator("dl.meta")).to_contain_text(f"From{FOUNDER}")
    expect(message.locator("pre").first).to_have_text(re.compile(r"^\s*Hello Ada!\s*$"))


def test_connect_gmail_and_run_a_workflow(page: Page, shots: Screenshots, live_server, google):
    workspace = sign_up(page, shots, "owner@galaxyco.test")

    connect_gmail(page, shots, google, workspace, FOUNDER)
    shots.readme(page, "integrations-connected")
    integration = Integration.objects.unscoped().get(workspace__slug=workspace.slug)
    assert (integration.type, integration.email) == ("gmail", FOUNDER)
    assert integration.status == IntegrationStatus.ACTIVE
    assert OAuthToken.objects.unscoped().filter(integration=integration).exists()

    page.get_by_role("navigation").get_by_role("link", name="Settings").click()
    page.wait_for_url(f"**{workspace.url('settings/')}")
    page.locator("input[name=name]").fill("CI")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_test_id("new-api-key").inner_text().strip()
    workspace_id = page.get_by_test_id("workspace-id").inner_text().strip()
    shots.step(page, "api-key")
    response = requests.get(
        f"{live_server.url}/api/workspaces/{workspace_id}/integrations/status/",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["gmail"]["connected"] is True

    create_workflow(page, shots, workspace, FOUNDER)
    assert run_now(page, shots, workspace, "run-succeeded") == "succeeded"
    expect(page.locator("tr.step-run")).to_have_attribute("data-status", "succeeded")
    shots.readme(page, "run-succeeded")

    open_inbox(page, shots, google)
    assert_the_welcome_email_arrived(page)
    shots.readme(page, "emulator-inbox")


def test_a_revoked_grant_asks_to_reconnect_then_runs_again(page: Page, shots: Screenshots, google):
    workspace = sign_up(page, shots, "owner@galaxyco.test")
    connect_gmail(page, shots, google, workspace, FOUNDER)
    workflow_id = create_workflow(page, shots, workspace, FOUNDER)

    assert google.state.revoke_account(FOUNDER) == 1
    assert run_now(page, shots, workspace, "run-failed") == "failed"
    expect(page.get_by_test_id("run-error")).to_contain_text("Reconnect")
    assert google.state.messages() == []

    page.get_by_role("link", name="Go to Integrations").click()
    page.wait_for_url(f"**{workspace.url('integrations/')}")
    card = page.get_by_test_id("integration-card-gmail")
    expect(card).to_contain_text("Reconnect needed")
    shots.step(page, "reconnect-needed")
    card.get_by_role("button", name="Reconnect").click()
    consent(page, shots, google, FOUNDER, "Founder Person")
    page.wait_for_url(f"**{workspace.url('integrations/')}")
    expect(card).to_contain_text(f"Connected as {FOUNDER}")
    shots.step(page, "reconnected")
    assert (
        Integration.objects.unscoped().get(workspace__slug=workspace.slug).status == IntegrationStatus.ACTIVE
    )

    page.goto(workspace.url(f"workflows/{workflow_id}/"))
    assert run_now(page, shots, workspace, "run-succeeded") == "succeeded"
    [message] = google.state.messages()
    assert message["subject"] == "Welcome Ada"


def test_another_workspace_cannot_see_or_run_it(
    new_page: Callable[[], Page], browser_watch: BrowserWatch, shots: Screenshots, live_server, google
):
    alice = new_page()
    a = sign_up(alice, shots, "alice@galaxyco.test")
    connect_gmail(alice, shots, google, a, FOUNDER)
    workflow_id = create_workflow(alice, shots, a, FOUNDER)
    assert run_now(alice, shots, a, "run-succeeded") == "succeeded"
    run_id = int(alice.url.rstrip("/").rsplit("/", 1)[1])

    bob = new_page()
    b = sign_up(bob, shots, "bob@galaxyco.test")
    for name, path in [
        ("workflow", a.url(f"workflows/{workflow_id}/")),
        ("run", a.url(f"runs/{run_id}/")),
        ("integrations", a.url("integrations/")),
    ]:
        browser_watch.expect_not_found(live_server.url + path)
        response = bob.goto(path)
        assert response is not None and response.status == 404, path
        expect(bob.get_by_role("heading", name="Page not found")).to_be_visible()
        expect(bob.locator("main")).not_to_contain_text("Welcome email")
        expect(bob.locator("main")).not_to_contain_text(FOUNDER)
        shots.step(bob, f"b-opens-a-{name}")

    # Run now, as Bob's browser would send it: his session cookie and a valid CSRF token (read
    # from the cookie his own pages set), so CSRF passes and only the workspace check answers.
    csrf = next(c["value"] for c in bob.context.cookies() if c["name"] == "csrftoken")
    posted = bob.request.post(
        a.url(f"workflows/{workflow_id}/run/"),
        form={"input": json.dumps({"name": "Mallory"})},
        headers={"X-CSRFToken": csrf, "Referer": live_server.url + b.url()},
    )
    assert posted.status == 404, posted.text()
    assert WorkflowRun.objects.unscoped().filter(workflow_id=workflow_id).count() == 1
    assert len(google.state.messages()) == 1

    bob.goto(b.url())
    switcher = bob.get_by_test_id("workspace-switcher")
    switcher.locator("summary").click()
    expect(switcher).to_have_attribute("open", "")
    expect(switcher.get_by_role("link")).to_have_text([b.name])
    expect(switcher).not_to_contain_text(a.name)
    shots.step(bob, "b-workspace-switcher")
