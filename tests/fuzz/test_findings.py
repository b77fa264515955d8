"""What the fuzzer found, kept as plain tests so each stays fixed whatever the fuzzer generates next."""

import pytest

from workflows.tests.helpers import create_workflow, workflows_url

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("step", [{}, {"action": "gmail.send_email"}, {"params": {}}])
def test_patching_in_an_incomplete_step_is_refused_not_a_server_error(workspace, key_client, step):
    workflow_id = create_workflow(key_client, workspace)
    response = key_client.patch(f"{workflows_url(workspace)}{workflow_id}/", {"steps": [step]}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"]["steps"]


def test_patching_without_steps_keeps_them(workspace, key_client):
    workflow_id = create_workflow(key_client, workspace)
    response = key_client.patch(
        f"{workflows_url(workspace)}{workflow_id}/", {"name": "Renamed"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert len(response.json()["steps"]) == 1
