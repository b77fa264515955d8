"""A teammate runs a workflow on the workspace's shared default Gmail account, in a real browser:
the owner connects Gmail (shared and the default, as the connect form proposes to an owner),
adds a teammate, and the teammate builds and runs a workflow that sends from that mailbox."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from integrations.models import Integration
from tests.e2e.conftest import Screenshots
from tests.e2e.test_gmail_workflow import FOUNDER, RECIPIENT, connect_gmail, create_workflow, run_now, sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TEAMMATE = "teammate@galaxyco.test"


def test_a_teammate_runs_a_workflow_on_the_shared_default_account(
    new_page: Callable[[], Page], shots: Screenshots, live_server, google
):
    teammate = new_page()
    sign_up(teammate, shots, TEAMMATE)  # an account first, so the owner can add them

    owner = new_page()
    workspace = sign_up(owner, shots, "owner@galaxyco.test")
    connect_gmail(owner, shots, google, workspace, FOUNDER)
    card = owner.get_by_test_id("integration-card-gmail")
    expect(card.get_by_test_id("is-default")).to_be_visible()
    expect(card.get_by_test_id("sharing")).to_have_text("Shared with the workspace")
    expect(card.get_by_test_id("default-gmail")).to_have_text(f"Workspace default: {FOUNDER}.")
    shots.step(owner, "shared-default")
    integration = Integration.objects.unscoped().get(workspace__slug=workspace.slug)
    assert (integration.shared, integration.is_default) == (True, True)

    owner.get_by_role("navigation").get_by_role("link", name="Members").click()
    owner.locator("input[name=email]").fill(TEAMMATE)
    owner.locator("select[name=role]").last.select_option("member")
    owner.get_by_role("button", name="Add member").click()
    expect(owner.locator(f'tr[data-member="{TEAMMATE}"]')).to_be_visible()

    teammate.goto(workspace.url())
    workflow_id = create_workflow(teammate, shots, workspace, f"Workspace default ({FOUNDER})")
    expect(teammate.get_by_test_id("step-account")).to_have_text(
        f"Sends from the workspace default ({FOUNDER})."
    )
    expect(teammate.get_by_test_id("step-account-warning")).to_have_count(0)
    assert run_now(teammate, shots, workspace, "teammate-run") == "succeeded"

    [message] = google.state.messages(to=RECIPIENT)
    assert message["from"] == FOUNDER
    assert workflow_id > 0
