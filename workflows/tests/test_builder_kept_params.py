"""Params the builder does not draw (a list of objects, such as a Gmail step's attachments): shown
read-only, and kept from the stored step when the builder saves it."""

import json
from typing import Any

import pytest

from workflows import services
from workflows.models import Workflow
from workflows.services import StepSpec

pytestmark = pytest.mark.django_db

ATTACHMENTS = [
    {"from_trigger": True, "filename": "invoice.pdf"},
    {"filename": "terms.txt", "content_type": "text/plain", "content_base64": "VGVybXM="},
]


def stored_workflow(workspace) -> Workflow:
    return services.create_workflow(
        workspace=workspace,
        created_by=None,
        name="Invoices",
        steps=[
            StepSpec(
                action="gmail.send_email",
                key="notify",
                params={"to": ["ada@example.com"], "text": "Hello", "attachments": ATTACHMENTS},
            )
        ],
    )


def as_the_builder_posts(*, key: str, name: str = "Invoices", **params: Any) -> dict[str, str]:
    """What the builder's script posts: the drawn fields only, so no attachments."""
    step = {
        "key": key,
        "action": "gmail.send_email",
        "integration": None,
        "params": {"to": ["ada@example.com"], "text": "Hello", **params},
    }
    return {"definition": json.dumps({"name": name, "description": "", "is_active": True, "steps": [step]})}


def test_the_builder_shows_attachments_read_only_and_a_save_keeps_them(page_client, workspace):
    workflow = stored_workflow(workspace)
    url = f"/w/{workspace.slug}/workflows/{workflow.pk}/"
    page = page_client.get(url).content.decode()
    assert 'data-param="attachments"' not in page
    assert 'data-testid="kept-param"' in page and "invoice.pdf" in page and "terms.txt" in page

    response = page_client.post(url, as_the_builder_posts(key="notify", text="Hello again"))

    assert response.status_code == 302
    step = Workflow.objects.unscoped().get(pk=workflow.pk).steps.get()
    assert step.params["text"] == "Hello again"
    assert step.params["attachments"] == ATTACHMENTS


def test_a_failed_save_shows_the_kept_attachments_again(page_client, workspace):
    workflow = stored_workflow(workspace)
    url = f"/w/{workspace.slug}/workflows/{workflow.pk}/"
    refused = page_client.post(url, as_the_builder_posts(key="notify", name=""))
    assert refused.status_code == 400
    assert "invoice.pdf" in refused.content.decode()
    assert Workflow.objects.unscoped().get(pk=workflow.pk).steps.get().params["attachments"] == ATTACHMENTS


def test_a_step_whose_key_changed_in_the_builder_keeps_no_attachments(page_client, workspace):
    """Kept by key: a renamed step is another step, as it is for later steps reading its output."""
    workflow = stored_workflow(workspace)
    url = f"/w/{workspace.slug}/workflows/{workflow.pk}/"
    assert page_client.post(url, as_the_builder_posts(key="renamed")).status_code == 302
    assert Workflow.objects.unscoped().get(pk=workflow.pk).steps.get().params["attachments"] == []
