import copy
import email
from email.policy import default as default_policy
from typing import Any

from workflows import services
from workflows.models import WorkflowRun
from workflows.services import StepSpec

WELCOME: dict[str, Any] = {
    "name": "Welcome",
    "description": "Greets a new customer",
    "steps": [
        {
            "action": "gmail.send_email",
            "integration": None,
            "params": {
                "to": ["{{ input.email }}"],
                "subject": "Hi {{ input.name }}",
                "text": "Hello {{ input.name }}, welcome aboard.",
                "html": "<p>Hello <b>{{ input.name }}</b>, welcome aboard.</p>",
            },
        }
    ],
}


def workflows_url(workspace) -> str:
    return f"/api/workspaces/{workspace.pk}/workflows/"


def execute_url(workspace, workflow_id: int, *, wait: bool = True) -> str:
    return f"/api/workspaces/{workspace.pk}/workflows/{workflow_id}/execute/" + ("" if wait else "?wait=0")


def create_workflow(client, workspace, definition: dict[str, Any] | None = None) -> int:
    response = client.post(workflows_url(workspace), definition or WELCOME, format="json")
    assert response.status_code == 201, response.json()
    return int(response.json()["id"])


def execute(client, workspace, workflow_id: int, run_input: dict[str, Any], **headers: str):
    return client.post(execute_url(workspace, workflow_id), {"input": run_input}, format="json", **headers)


def parsed(message: dict[str, Any]) -> email.message.EmailMessage:
    """The raw RFC 822 message the emulator received, parsed back."""
    import base64

    raw = base64.urlsafe_b64decode(message["raw"] + "=" * (-len(message["raw"]) % 4))
    return email.message_from_bytes(raw, policy=default_policy)


def welcome_with_account(integration) -> dict[str, Any]:
    """WELCOME with its step naming ``integration`` as the account it sends from."""
    definition = copy.deepcopy(WELCOME)
    definition["steps"][0]["integration"] = integration.pk
    return definition


def run_workflow(*, workspace, member, name: str, steps: list[StepSpec], capture) -> WorkflowRun:
    """A workflow of ``steps`` made by ``member`` and run once as the API starts it, its task
    executed when start_run commits (``capture``: django_capture_on_commit_callbacks); the run
    as it ended."""
    workflow = services.create_workflow(workspace=workspace, created_by=member, name=name, steps=steps)
    with capture(execute=True):
        run, _ = services.start_run(
            workspace=workspace, workflow_id=workflow.pk, run_input={}, trigger="api", requested_by=member
        )
    run.refresh_from_db()
    return run


def make_workflow(workspace, name: str = "Welcome"):
    """A one-step workflow (send a Gmail message) made through the service, by nobody."""
    return services.create_workflow(
        workspace=workspace,
        created_by=None,
        name=name,
        steps=[
            StepSpec(
                action="gmail.send_email",
                params={"to": ["ada@example.com"], "subject": "Hi", "text": "Hello"},
            )
        ],
    )
