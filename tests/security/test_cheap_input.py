"""Cheap hostile input answers 400, 404 or 413 in the API's error shape, never 500, on SQLite and
PostgreSQL: NUL and lone surrogates, numbers JSON cannot hold, deep nesting, large bodies, ids past
the database's 64-bit range, and the same refusals in the pages' JSON boxes."""

import json

import pytest
from django.conf import settings
from django.test import Client

from workflows.models import WorkflowRun
from workflows.tests.helpers import WELCOME, create_workflow, execute_url, workflows_url

pytestmark = pytest.mark.django_db

TOO_BIG_ID = 2**63
HUGE_ID = 10**30


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert body["success"] is False
    assert set(body["error"]) >= {"code", "message", "request_id"}
    assert body["error"]["message"]
    return body["error"]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture
def workflow_id(key_client, workspace) -> int:
    return create_workflow(key_client, workspace, WELCOME)


def post_raw(client, url: str, text: str):
    return client.post(url, data=text.encode("utf-8"), content_type="application/json")


# Each is the text of a JSON body for execute, as a client could send it.
REFUSED_RUN_INPUT = {
    "nul in a value": r'{"input": {"name": "Ada\u0000"}}',
    "nul in a key": r'{"input": {"na\u0000me": "Ada"}}',
    "nul in a nested value": r'{"input": {"a": [{"b": "\u0000"}]}}',
    "lone high surrogate": r'{"input": {"name": "\ud800"}}',
    "lone low surrogate in a key": r'{"input": {"\udc00": "x"}}',
    "number too large for a float": '{"input": {"n": 1e999}}',
    "negative number too large": '{"input": {"n": -1e999}}',
    "NaN": '{"input": {"n": NaN}}',
    "Infinity": '{"input": {"n": Infinity}}',
    "nested 65 levels": '{"input": {"a": ' + nested(63) + "}}",
    "nested 1,000 levels": '{"input": {"a": ' + nested(1000) + "}}",
    "nested 100,000 levels": '{"input": {"a": ' + nested(100_000) + "}}",
    "nested objects 5,000 levels": '{"input": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}",
}


@pytest.mark.parametrize("body", REFUSED_RUN_INPUT.values(), ids=REFUSED_RUN_INPUT.keys())
def test_hostile_run_input_is_refused_with_400(key_client, workspace, workflow_id, body):
    response = post_raw(key_client, execute_url(workspace, workflow_id, wait=False), body)

    error = assert_error_shape(response, 400)
    assert error["code"] == "malformed_request"
    assert not WorkflowRun.objects.unscoped().exists()
    # Nothing stored, so the run list still reads.
    assert key_client.get(f"/api/workspaces/{workspace.pk}/runs/").status_code == 200


def test_unusual_but_valid_input_is_accepted(key_client, workspace, workflow_id):
    run_input = {
        "name": "Zoë 🚀 \u2028",
        "email": "ada@example.com",
        "n": 1e308,
        "big": 2**70,
        "deep": json.loads(nested(60)),
    }
    response = key_client.post(
        execute_url(workspace, workflow_id, wait=False), {"input": run_input}, format="json"
    )

    assert response.status_code == 202, response.json()
    stored = WorkflowRun.objects.unscoped().get().input
    assert float(stored.pop("n")) == 1e308  # PostgreSQL's jsonb gives it back as an integer
    assert stored == {key: value for key, value in run_input.items() if key != "n"}


@pytest.mark.parametrize("body", REFUSED_RUN_INPUT.values(), ids=REFUSED_RUN_INPUT.keys())
def test_hostile_workflow_params_are_refused_with_400(key_client, workspace, body):
    hostile = body[len('{"input": ') : -1]  # the same value, as a step's params
    definition = '{"name": "W", "steps": [{"action": "gmail.send_email", "params": ' + hostile + "}]}"

    response = post_raw(key_client, workflows_url(workspace), definition)

    error = assert_error_shape(response, 400)
    assert error["code"] == "malformed_request"


def test_a_body_over_the_upload_limit_answers_413(key_client, workspace, workflow_id):
    padding = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = post_raw(
        key_client, execute_url(workspace, workflow_id, wait=False), json.dumps({"input": {"pad": padding}})
    )

    error = assert_error_shape(response, 413)
    assert error["code"] == "request_too_large"
    assert not WorkflowRun.objects.unscoped().exists()


def test_a_large_workflow_body_answers_413_for_a_session_too(session_client, workspace):
    padding = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = post_raw(
        session_client, workflows_url(workspace), json.dumps({**WELCOME, "description": padding})
    )

    assert_error_shape(response, 413)


@pytest.mark.parametrize(
    "query",
    [
        "status=%00",
        "status=ok%00",
        "workflow=%00",
        f"workflow={TOO_BIG_ID}",
        f"workflow={HUGE_ID}",
        "workflow=-1",
        "workflow=abc",
        "status=exploded",
    ],
)
def test_bad_run_filters_answer_400(key_client, workspace, workflow_id, query):
    response = key_client.get(f"/api/workspaces/{workspace.pk}/runs/?{query}")

    error = assert_error_shape(response, 400)
    assert error["code"] in ("invalid", "malformed_request")


def test_good_run_filters_still_filter(key_client, workspace, workflow_id):
    response = key_client.get(f"/api/workspaces/{workspace.pk}/runs/?workflow={workflow_id}&status=failed")

    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize("query", ["type=%00", "status=%00", "type=gmail%00x"])
def test_nul_in_any_api_query_parameter_answers_400(key_client, workspace, query):
    response = key_client.get(f"/api/workspaces/{workspace.pk}/integrations/?{query}")

    error = assert_error_shape(response, 400)
    assert error["code"] == "malformed_request"


def test_nul_in_a_page_query_parameter_answers_400(member, workspace):
    client = Client()
    client.force_login(member)

    response = client.get(f"/w/{workspace.slug}/runs/?status=%00")

    assert response.status_code == 400


@pytest.mark.parametrize("big_id", [TOO_BIG_ID, HUGE_ID])
@pytest.mark.parametrize(
    "path",
    [
        "/api/workspaces/{big}/",
        "/api/workspaces/{big}/runs/",
        "/api/workspaces/{ws}/workflows/{big}/",
        "/api/workspaces/{ws}/runs/{big}/",
        "/api/workspaces/{ws}/integrations/{big}/",
    ],
)
def test_ids_past_the_64_bit_range_in_api_paths_answer_404(key_client, workspace, path, big_id):
    response = key_client.get(path.format(ws=workspace.pk, big=big_id))

    error = assert_error_shape(response, 404)
    assert error["code"] == "not_found"


@pytest.mark.parametrize(
    "path",
    ["/api/workspaces/{ws}/workflows/{big}/execute/", "/api/workspaces/{ws}/integrations/{big}/disconnect/"],
)
def test_ids_past_the_64_bit_range_in_api_writes_answer_404(key_client, workspace, path):
    response = key_client.post(path.format(ws=workspace.pk, big=TOO_BIG_ID), {"input": {}}, format="json")

    assert_error_shape(response, 404)


@pytest.mark.parametrize(
    "path", ["/w/{slug}/workflows/{big}/", "/w/{slug}/runs/{big}/", "/w/{slug}/runs/?workflow={big}"]
)
def test_ids_past_the_64_bit_range_in_pages_do_not_fail(member, workspace, path):
    client = Client()
    client.force_login(member)

    response = client.get(path.format(slug=workspace.slug, big=TOO_BIG_ID))

    # 404 for a path id; the run history's filter refuses it with a message (400).
    assert response.status_code in (400, 404)


# --- The pages' JSON boxes refuse the same input with a form error.

REFUSED_PAGE_INPUT = {
    "nul": r'{"name": "Ada\u0000"}',
    "nul in a key": r'{"\u0000": 1}',
    "lone surrogate": r'{"name": "\ud800"}',
    "1e999": '{"n": 1e999}',
    "NaN": '{"n": NaN}',
    "nested 1,000 levels": '{"a": ' + nested(1000) + "}",
    "nested 100,000 levels": '{"a": ' + nested(100_000) + "}",
}


@pytest.mark.parametrize("text", REFUSED_PAGE_INPUT.values(), ids=REFUSED_PAGE_INPUT.keys())
def test_the_run_now_box_refuses_hostile_input_with_a_form_error(
    page_client, key_client, workspace, workflow_id, text
):
    response = page_client.post(f"/w/{workspace.slug}/workflows/{workflow_id}/run/", {"input": text})

    assert response.status_code == 400
    assert "The input" in response.content.decode()
    assert not WorkflowRun.objects.unscoped().exists()


@pytest.mark.parametrize("text", REFUSED_PAGE_INPUT.values(), ids=REFUSED_PAGE_INPUT.keys())
def test_the_builder_refuses_hostile_params_with_a_form_error(page_client, workspace, text):
    definition = json.dumps({**WELCOME, "description": "x"}).replace('"x"', text)

    response = page_client.post(f"/w/{workspace.slug}/workflows/new/", {"definition": definition})

    assert response.status_code == 400
    assert "The workflow could not be read" in response.content.decode()
