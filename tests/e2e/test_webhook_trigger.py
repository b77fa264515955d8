"""The builder's Triggers section in a browser: add a signed webhook trigger, copy its URL, and a
signed call to that URL (from outside the browser, as another service would) starts a run."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import requests
from playwright.sync_api import Page, expect
from standardwebhooks.webhooks import Webhook

from tests.e2e.login import log_in
from workflows import services
from workflows.models import WorkflowRun
from workflows.tests.helpers import WELCOME
from workspaces.tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "owner@acme.test"


def test_a_signed_webhook_trigger_is_added_copied_and_called(clipboard_page: Page, live_server, settings):
    settings.SITE_URL = live_server.url
    page = clipboard_page
    owner = UserFactory(email=EMAIL)
    workspace = WorkspaceFactory(name="Acme", slug="acme")
    MembershipFactory(workspace=workspace, user=owner)
    workflow = services.create_workflow(
        workspace=workspace,
        created_by=owner,
        name=WELCOME["name"],
        steps=[services.StepSpec(action=s["action"], params=s["params"]) for s in WELCOME["steps"]],
    )
    log_in(page, email=EMAIL)

    page.goto(f"/w/acme/workflows/{workflow.pk}/")
    expect(page.get_by_test_id("no-triggers")).to_be_visible()
    page.locator("#triggers input[name=signing]").check()
    page.get_by_test_id("add-webhook-trigger").click()
    page.wait_for_url(f"**/w/acme/workflows/{workflow.pk}/#triggers")

    url = page.get_by_test_id("trigger-url").inner_text().strip()
    assert url.startswith(f"{live_server.url}/hooks/")
    page.get_by_role("button", name="Copy URL").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == url
    page.locator("#triggers summary").click()
    secret = page.get_by_test_id("trigger-signing-secret").inner_text().strip()
    assert secret.startswith("whsec_")

    body = json.dumps({"name": "Ada", "email": "ada@example.com"})
    assert (
        requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10).status_code
        == 401
    )
    now = datetime.now(tz=UTC)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": "msg_e2e",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id="msg_e2e", timestamp=now, data=body),
    }
    accepted = requests.post(url, data=body, headers=headers, timeout=10)
    assert accepted.status_code == 202
    run = WorkflowRun.objects.unscoped().get()
    assert accepted.json()["run"]["id"] == run.pk
    assert run.trigger == "webhook"

    page.reload()
    expect(page.get_by_text("Last run started:")).not_to_contain_text("never")
