"""The OpenAPI schema at /api/schema/ says what the API does, and query parameters are checked as declared."""

import pytest

from galaxyco.schema import ERROR_STATUSES
from workflows.tests.helpers import create_workflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(anon_client):
    response = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def response_schema(operation, status):
    return operation["responses"][status]["content"]["application/json"]["schema"]


def component(schema, ref):
    return schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[-1]]


def test_every_operation_documents_each_client_error_with_the_error_shape(schema):
    error = schema["components"]["schemas"]["ErrorResponse"]
    assert set(error["properties"]) == {"success", "error"}
    detail = component(schema, error["properties"]["error"])
    assert set(detail["properties"]) == {"code", "message", "request_id", "fields"}
    assert set(detail["required"]) == {"code", "message", "request_id"}
    for name, operation in operations(schema):
        for status in ERROR_STATUSES:
            assert response_schema(operation, status) == {"$ref": "#/components/schemas/ErrorResponse"}, name


def test_execute_documents_the_body_it_answers(schema):
    execute = schema["paths"]["/api/workspaces/{workspace_id}/workflows/{workflow_id}/execute/"]["post"]
    for status in ("200", "202"):
        body = component(schema, response_schema(execute, status))
        assert set(body["properties"]) == {"success", "run", "error"}
        assert set(body["required"]) == {"success", "run"}
    parameters = {parameter["name"]: parameter for parameter in execute["parameters"]}
    assert parameters["Idempotency-Key"]["schema"]["maxLength"] == 255
    assert parameters["wait"]["schema"] == {"type": "integer", "minimum": 0, "maximum": 1, "default": 1}


def test_disconnect_documents_the_body_it_answers(schema):
    path = "/api/workspaces/{workspace_id}/integrations/{integration_id}/disconnect/"
    body = component(schema, response_schema(schema["paths"][path]["post"], "200"))
    assert set(body["properties"]) == {"success", "revoked_at_google", "revocation", "message", "integration"}
    [revocation] = body["properties"]["revocation"]["allOf"]
    assert component(schema, revocation)["enum"] == ["revoked", "kept", "unreachable", "not_applicable"]


def test_filters_ids_and_pages_are_bounded_in_the_schema(schema):
    runs = {
        p["name"]: p["schema"]
        for p in schema["paths"]["/api/workspaces/{workspace_id}/runs/"]["get"]["parameters"]
    }
    assert runs["status"]["enum"] == ["queued", "running", "succeeded", "failed", "canceled"]
    assert runs["workflow"] == {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}
    assert runs["page"] == runs["workflow"]
    assert runs["workspace_id"]["maximum"] == 2**63 - 1
    integrations = schema["paths"]["/api/workspaces/{workspace_id}/integrations/"]["get"]["parameters"]
    filters = {p["name"]: p["schema"] for p in integrations}
    assert filters["type"]["enum"] == ["gmail", "calendar", "sidemail"]
    assert filters["status"]["enum"] == ["active", "reauth_required", "disconnected", "error"]


def test_workflow_limits_are_in_the_schema(schema):
    workflow = schema["components"]["schemas"]["Workflow"]["properties"]
    assert workflow["name"]["maxLength"] == 120
    assert (workflow["steps"]["minItems"], workflow["steps"]["maxItems"]) == (1, 20)


@pytest.mark.parametrize(
    "query",
    [
        "status=queued&status=failed",
        "workflow=1&workflow=2",
        "page=1&page=2",
        "status=",
        "status=nonsense",
        "status=%00",
        "workflow=abc",
        "workflow=null",
        "workflow=0",
        f"workflow={2**63}",
        "page=last",
        "page=0",
    ],
)
def test_run_filters_refuse_what_the_schema_does_not_allow(workspace, key_client, query):
    response = key_client.get(f"/api/workspaces/{workspace.pk}/runs/?{query}")
    assert response.status_code == 400, response.json()


@pytest.mark.parametrize("query", ["type=gmail&type=calendar", "type=%00", "status=", "status=on", "page=x"])
def test_integration_filters_refuse_what_the_schema_does_not_allow(workspace, key_client, query):
    response = key_client.get(f"/api/workspaces/{workspace.pk}/integrations/?{query}")
    assert response.status_code == 400, response.json()


def test_filters_still_filter(workspace, key_client):
    response = key_client.get(f"/api/workspaces/{workspace.pk}/runs/?status=succeeded&workflow=1&page=1")
    assert response.status_code == 200
    assert response.json()["results"] == []
    assert key_client.get(f"/api/workspaces/{workspace.pk}/integrations/?type=gmail").status_code == 200


@pytest.mark.parametrize("wait", ["2", "-1", "yes", "0&wait=1"])
def test_execute_refuses_a_wait_the_schema_does_not_allow(workspace, key_client, wait):
    workflow_id = create_workflow(key_client, workspace)
    response = key_client.post(
        f"/api/workspaces/{workspace.pk}/workflows/{workflow_id}/execute/?wait={wait}",
        {"input": {}},
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["fields"].keys() == {"wait"}


def test_the_schema_generates_valid_and_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi: 3")
