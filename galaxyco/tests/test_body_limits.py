"""Request body limits per endpoint (galaxyco/body_limits.py): the execute API and its preview take
attachments in the run's input (26 MB), a webhook trigger 256 KB, everything else 2.5 MB, saving a
workflow through the API included (its step params are copied into every run); past its limit a
request answers 413 in the error shape before its body is read."""

import base64
import hashlib
import json
import os

import pytest
from django.conf import settings
from django.test import Client

from integrations.tests.google_grants import connect
from workflows.models import Workflow, WorkflowRun
from workflows.tests.helpers import create_workflow, execute_url, parsed, workflows_url

pytestmark = pytest.mark.django_db(transaction=True)

MB = 1024 * 1024
SEND_INPUT_FILE = {
    "name": "Send the file",
    "steps": [
        {
            "action": "gmail.send_email",
            "integration": None,
            "params": {
                "to": ["{{ input.email }}"],
                "subject": "Your file",
                "text": "Attached.",
                "attachments": [
                    {
                        "filename": "data.bin",
                        "content_type": "application/octet-stream",
                        "content_base64": "{{ input.file }}",
                    }
                ],
            },
        }
    ],
}


def post_json(client, url: str, body: object):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def assert_too_large(response, *, says: str) -> None:
    assert response.status_code == 413, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "request_too_large" and error["request_id"]
    assert says in error["message"]
    assert response.json()["success"] is False


def test_a_10_mb_attachment_goes_through_the_execute_api_byte_identical(
    google, workspace, member, key_client
):
    connect(google, workspace=workspace, user=member, email="sender@gmail.test")
    workflow_id = create_workflow(key_client, workspace, SEND_INPUT_FILE)
    content = os.urandom(10 * MB)
    run_input = {"email": "ada@example.com", "file": base64.b64encode(content).decode()}

    response = post_json(key_client, execute_url(workspace, workflow_id), {"input": run_input})

    assert response.status_code == 200, response.content[:300]
    assert response.json()["run"]["status"] == "succeeded"
    [stored] = google.state.messages(to="ada@example.com")
    [attachment] = list(parsed(stored).iter_attachments())
    received = attachment.get_payload(decode=True)
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(content).hexdigest()


def with_stored_file(size: int) -> dict[str, object]:
    """SEND_INPUT_FILE with a file of ``size`` bytes written into the step instead of the input."""
    definition = json.loads(json.dumps(SEND_INPUT_FILE))
    definition["steps"][0]["params"]["attachments"][0]["content_base64"] = base64.b64encode(
        os.urandom(size)
    ).decode()
    return definition


def test_a_workflow_with_a_small_stored_attachment_is_saved_through_the_api(workspace, key_client):
    response = post_json(key_client, workflows_url(workspace), with_stored_file(MB))
    assert response.status_code == 201, response.content[:300]


def test_a_workflow_storing_a_large_attachment_answers_413_on_create_and_update(workspace, key_client):
    definition = with_stored_file(3 * MB)

    created = post_json(key_client, workflows_url(workspace), definition)
    assert_too_large(created, says="2.5 MB")
    assert not Workflow.objects.unscoped().exists()

    workflow_id = create_workflow(key_client, workspace, SEND_INPUT_FILE)
    detail = f"{workflows_url(workspace)}{workflow_id}/"
    for method in (key_client.put, key_client.patch):
        response = method(detail, data=json.dumps(definition), content_type="application/json")
        assert_too_large(response, says="2.5 MB")
    [step] = Workflow.objects.unscoped().get().steps.all()
    assert step.params["attachments"][0]["content_base64"] == "{{ input.file }}"


def test_27_mb_to_the_execute_api_answers_413_before_any_run(workspace, key_client):
    workflow_id = create_workflow(key_client, workspace, SEND_INPUT_FILE)
    body = {"input": {"email": "ada@example.com", "file": "A" * (27 * MB)}}

    response = post_json(key_client, execute_url(workspace, workflow_id), body)

    assert_too_large(response, says="26 MB")
    assert not WorkflowRun.objects.unscoped().exists()


def test_other_endpoints_keep_the_small_limit(workspace, key_client, session_client, member):
    three_mb = "x" * (3 * MB)
    assert settings.REQUEST_BODY_LIMIT < 3 * MB

    endpoint = post_json(key_client, f"/api/workspaces/{workspace.pk}/webhooks/", {"url": three_mb})
    assert_too_large(endpoint, says="2.5 MB")
    workflow_id = create_workflow(key_client, workspace, SEND_INPUT_FILE)
    trigger = post_json(key_client, f"{workflows_url(workspace)}{workflow_id}/triggers/", {"type": three_mb})
    assert_too_large(trigger, says="2.5 MB")

    page = Client()
    page.force_login(member)
    builder = page.post(f"/w/{workspace.slug}/workflows/{workflow_id}/", {"definition": three_mb})
    assert builder.status_code == 413
    assert Workflow.objects.unscoped().get().name == "Send the file"


def test_a_webhook_trigger_keeps_its_256_kb_contract(workspace, key_client):
    workflow_id = create_workflow(key_client, workspace, SEND_INPUT_FILE)
    hook = post_json(
        key_client, f"{workflows_url(workspace)}{workflow_id}/triggers/", {"type": "webhook"}
    ).json()
    path = hook["url"].split("://", 1)[1].split("/", 1)[1]

    response = post_json(Client(), f"/{path}", {"email": "ada@example.com", "file": "x" * (300 * 1024)})

    assert_too_large(response, says="256 KB")
