"""A workflow whose Gmail step has attachments (set through the API) opened in the builder and
saved there keeps them: the builder shows them, read-only, and does not draw them as text."""

from __future__ import annotations

import base64

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.login import log_in
from workflows.models import Workflow
from workflows.tests.helpers import create_workflow
from workspaces.tests.factories import MembershipFactory, UserFactory, WorkspaceFactory, api_client_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "owner@acme.test"
ATTACHMENTS = [
    {"from_trigger": True, "filename": "invoice.pdf"},
    {
        "filename": "terms.txt",
        "content_type": "text/plain",
        "content_base64": base64.b64encode(b"Terms, v2\n").decode(),
    },
]


def test_saving_in_the_builder_keeps_attachments_set_through_the_api(page: Page):
    owner = UserFactory(email=EMAIL)
    workspace = WorkspaceFactory(name="Acme", slug="acme")
    MembershipFactory(workspace=workspace, user=owner)
    workflow_id = create_workflow(
        api_client_for(owner),
        workspace,
        {
            "name": "Invoices",
            "steps": [
                {
                    "action": "gmail.send_email",
                    "integration": None,
                    "params": {"to": ["books@example.com"], "text": "Attached.", "attachments": ATTACHMENTS},
                }
            ],
        },
    )
    log_in(page, email=EMAIL)

    page.goto(f"/w/acme/workflows/{workflow_id}/")
    kept = page.get_by_test_id("kept-param")
    expect(kept).to_contain_text("invoice.pdf")
    expect(kept).to_contain_text("terms.txt")
    assert page.locator('[data-param="attachments"]').count() == 0
    page.locator("#workflow-name").fill("Invoices, v2")
    page.get_by_test_id("save-workflow").click()
    expect(page.locator(".message.success")).to_be_visible()

    workflow = Workflow.objects.unscoped().get(pk=workflow_id)
    assert workflow.name == "Invoices, v2"
    assert workflow.steps.get().params["attachments"] == ATTACHMENTS
