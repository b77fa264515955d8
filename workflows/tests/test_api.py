import copy

import pytest

from integrations.tests.factories import IntegrationFactory
from workflows.models import Workflow, WorkflowRun, WorkflowStep
from workflows.tests.helpers import WELCOME, create_workflow, workflows_url


def with_params(**params):
    definition = copy.deepcopy(WELCOME)
    definition["steps"][0]["params"].update(params)
    return definition


@pytest.mark.django_db
def test_create_read_update_delete(workspace, admin_key_client):
    key_client = admin_key_client  # deleting a workflow takes an admin
    workflow_id = create_workflow(key_client, workspace)
    detail = key_client.get(f"{workflows_url(workspace)}{workflow_id}/").json()
    assert detail["name"] == "Welcome"
    assert detail["steps"][0]["params"]["subject"] == "Hi {{ input.name }}"
    assert detail["steps"][0]["position"] == 0

    changed = copy.deepcopy(WELCOME) | {"name": "Welcome v2"}
    changed["steps"].append(copy.deepcopy(WELCOME["steps"][0]))
    response = key_client.put(f"{workflows_url(workspace)}{workflow_id}/", changed, format="json")
    assert response.status_code == 200
    assert [s["position"] for s in response.json()["steps"]] == [0, 1]
    assert WorkflowStep.objects.unscoped().filter(workflow_id=workflow_id).count() == 2

    patched = key_client.patch(
        f"{workflows_url(workspace)}{workflow_id}/", {"is_active": False}, format="json"
    )
    assert patched.json()["is_active"] is False
    assert len(patched.json()["steps"]) == 2

    listing = key_client.get(workflows_url(workspace)).json()
    assert [w["id"] for w in listing["results"]] == [workflow_id]
    assert key_client.delete(f"{workflows_url(workspace)}{workflow_id}/").status_code == 204
    assert not Workflow.objects.unscoped().exists()


@pytest.mark.django_db
def test_a_session_records_who_created_the_workflow(workspace, member, session_client):
    workflow_id = create_workflow(session_client, workspace)
    assert Workflow.objects.unscoped().get(pk=workflow_id).created_by == member


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("definition", "path"),
    [
        ({**WELCOME, "steps": [{"action": "slack.post", "params": {}}]}, ["steps", "0", "action"]),
        (with_params(to=[]), ["steps", "0", "params", "to"]),
        (with_params(to=["not-an-address"]), ["steps", "0", "params", "to"]),
        (with_params(cc=["a@example.com", "bad@"]), ["steps", "0", "params", "cc"]),
        (with_params(subject="Hi\r\nBcc: victim@example.com"), ["steps", "0", "params", "subject"]),
        (with_params(from_name="Ada\nX-Evil: 1"), ["steps", "0", "params", "from_name"]),
        (with_params(text="", html=""), ["steps", "0", "params", "text"]),
        (with_params(text="{% load static %}"), ["steps", "0", "params", "text"]),
        (with_params(text="{{ input.name|no_such_filter }}"), ["steps", "0", "params", "text"]),
        ({**WELCOME, "steps": []}, ["steps"]),
        (
            {
                **WELCOME,
                "steps": [
                    {
                        "action": "calendar.create_event",
                        "params": {
                            "summary": "Demo",
                            "start": "2026-12-01T10:00:00",
                            "end": "2026-12-01T09:00:00",
                        },
                    }
                ],
            },
            ["steps", "0", "params", "end"],
        ),
        (
            {
                **WELCOME,
                "steps": [
                    {
                        "action": "calendar.create_event",
                        "params": {
                            "summary": "Demo",
                            "start": "tomorrow",
                            "end": "2026-12-01T09:00:00",
                            "time_zone": "Mars/Olympus",
                        },
                    }
                ],
            },
            ["steps", "0", "params", "start"],
        ),
        *(
            (
                {
                    **WELCOME,
                    "steps": [
                        {
                            "action": "calendar.create_event",
                            "params": {
                                "summary": "Demo",
                                "start": "2026-12-01T09:00:00",
                                "end": "2026-12-01T10:00:00",
                                "time_zone": zone,
                            },
                        }
                    ],
                },
                ["steps", "0", "params", "time_zone"],
            )
            # A folder of the time zone database, and a name longer than a file name may be.
            for zone in ("America", "Europe" * 60)
        ),
        ({**WELCOME, "name": ""}, ["name"]),
    ],
)
def test_bad_definitions_answer_400_with_field_errors(workspace, key_client, definition, path):
    response = key_client.post(workflows_url(workspace), definition, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "invalid"
    errors = body["error"]["fields"]
    for key in path:
        errors = errors[key]
    assert errors
    assert not Workflow.objects.unscoped().exists()


@pytest.mark.django_db
def test_another_workspaces_integration_is_refused(workspace, other_workspace, key_client):
    foreign = IntegrationFactory(workspace=other_workspace)
    definition = copy.deepcopy(WELCOME)
    definition["steps"][0]["integration"] = foreign.pk
    response = key_client.post(workflows_url(workspace), definition, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["steps"]["0"]["integration"] == [
        "No integration with this id exists in this workspace."
    ]


@pytest.mark.django_db
def test_an_integration_of_the_wrong_type_is_refused(workspace, key_client):
    calendar = IntegrationFactory(workspace=workspace, type="calendar")
    definition = copy.deepcopy(WELCOME)
    definition["steps"][0]["integration"] = calendar.pk
    response = key_client.post(workflows_url(workspace), definition, format="json")
    assert response.status_code == 400
    assert "needs a gmail integration" in response.json()["error"]["fields"]["steps"]["0"]["integration"][0]


@pytest.mark.django_db
def test_a_named_integration_of_this_workspace_is_kept(workspace, member, session_client):
    own = IntegrationFactory(workspace=workspace, connected_by=member)
    definition = copy.deepcopy(WELCOME)
    definition["steps"][0]["integration"] = own.pk
    workflow_id = create_workflow(session_client, workspace, definition)
    assert WorkflowStep.objects.unscoped().get(workflow_id=workflow_id).integration == own


@pytest.mark.django_db
def test_another_workspaces_workflow_and_run_answer_404(
    workspace, other_workspace, other_admin_key_client, key_client
):
    other_key_client = other_admin_key_client  # an admin key: past the role check, to the lookup
    workflow_id = create_workflow(key_client, workspace)
    base = f"/api/workspaces/{other_workspace.pk}/workflows/{workflow_id}/"
    assert other_key_client.get(base).status_code == 404
    assert other_key_client.put(base, WELCOME, format="json").status_code == 404
    assert other_key_client.delete(base).status_code == 404
    assert other_key_client.post(base + "execute/", {"input": {}}, format="json").status_code == 404
    assert Workflow.objects.unscoped().filter(pk=workflow_id).exists()
    assert not WorkflowRun.objects.unscoped().exists()


@pytest.mark.django_db
def test_execute_validates_its_body(workspace, key_client):
    workflow_id = create_workflow(key_client, workspace)
    response = key_client.post(
        f"{workflows_url(workspace)}{workflow_id}/execute/", {"input": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert "input" in response.json()["error"]["fields"]


@pytest.mark.django_db
def test_a_paused_workflow_does_not_run(workspace, key_client):
    workflow_id = create_workflow(key_client, workspace, {**WELCOME, "is_active": False})
    response = key_client.post(
        f"{workflows_url(workspace)}{workflow_id}/execute/", {"input": {}}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "workflow_inactive"


@pytest.mark.django_db(transaction=True)
def test_runs_are_listed_newest_first_and_filtered(workspace, other_workspace, key_client, other_key_client):
    first = create_workflow(key_client, workspace)
    second = create_workflow(key_client, workspace, {**WELCOME, "name": "Other"})
    ada = {"name": "Ada", "email": "ada@example.com"}
    for workflow_id in (first, second, first):
        key_client.post(f"{workflows_url(workspace)}{workflow_id}/execute/", {"input": ada}, format="json")
    runs = key_client.get(f"/api/workspaces/{workspace.pk}/runs/").json()["results"]
    assert [r["workflow"] for r in runs] == [first, second, first]
    assert runs[0]["id"] > runs[1]["id"] > runs[2]["id"]
    filtered = key_client.get(f"/api/workspaces/{workspace.pk}/runs/?workflow={second}&status=failed").json()
    assert [r["workflow"] for r in filtered["results"]] == [second]
    run_id = runs[0]["id"]
    assert key_client.get(f"/api/workspaces/{workspace.pk}/runs/{run_id}/").json()["id"] == run_id
    assert other_key_client.get(f"/api/workspaces/{other_workspace.pk}/runs/{run_id}/").status_code == 404
    assert other_key_client.get(f"/api/workspaces/{other_workspace.pk}/runs/").json()["results"] == []
