"""Lists read what they show: a run's input and a step's params can hold megabytes of files, so
the pages listing runs or workflows leave them unread, and the API's run list reads the input
and step outputs it shows but never the params copied into each step run. What each shows is
unchanged."""

from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from workflows.models import RunStatus, StepRun, WorkflowRun
from workflows.tests.helpers import make_workflow

pytestmark = pytest.mark.django_db

FILE = "QUJD" * 1000
RUN_INPUT = 'workflows_workflowrun"."input"'
STEP_RUN_PARAMS = 'workflows_steprun"."params"'
STEP_PARAMS = 'workflows_workflowstep"."params"'


@pytest.fixture
def run(workspace) -> WorkflowRun:
    workflow = make_workflow(workspace, name="Send the file")
    run = WorkflowRun.objects.create(
        workspace=workspace,
        workflow=workflow,
        status=RunStatus.SUCCEEDED,
        trigger="api",
        input={"email": "ada@example.com", "file": FILE},
    )
    StepRun.objects.create(
        workspace=workspace,
        run=run,
        position=0,
        action="gmail.send_email",
        status="succeeded",
        params={"attachments": [{"filename": "a.bin", "content_type": "x/y", "content_base64": FILE}]},
        output={"message_id": "m-1"},
    )
    return run


def read(client, url: str) -> tuple[str, str]:
    """The response's text and every statement the request ran."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return unescape(response.content.decode()), "\n".join(query["sql"] for query in captured)


def test_the_run_history_page_reads_no_input_nor_steps(page_client, workspace, run):
    content, sql = read(page_client, f"/w/{workspace.slug}/runs/")
    assert f'data-run="{run.pk}"' in content and "Send the file" in content
    assert "workflows_workflowrun" in sql
    assert RUN_INPUT not in sql
    assert "workflows_steprun" not in sql


def test_the_home_page_reads_no_run_input_steps_or_step_params(page_client, workspace, run):
    content, sql = read(page_client, f"/w/{workspace.slug}/")
    assert f'data-run="{run.pk}"' in content
    assert f'data-testid="home-workflow-{run.workflow_id}"' in content
    assert RUN_INPUT not in sql
    assert "workflows_steprun" not in sql
    assert STEP_PARAMS not in sql


def test_the_workflow_list_page_counts_the_steps_without_reading_them(page_client, workspace, run):
    content, sql = read(page_client, f"/w/{workspace.slug}/workflows/")
    row = content.split(f'data-workflow="{run.workflow_id}"')[1].split("</tr>")[0]
    assert "<td>1</td>" in row
    assert f'href="/w/{workspace.slug}/runs/{run.pk}/"' in row
    assert STEP_PARAMS not in sql


def test_the_api_run_list_and_detail_show_input_and_outputs_without_reading_step_params(
    key_client, workspace, run
):
    for url in (f"/api/workspaces/{workspace.pk}/runs/", f"/api/workspaces/{workspace.pk}/runs/{run.pk}/"):
        with CaptureQueriesContext(connection) as captured:
            response = key_client.get(url)
        body = response.json()
        shown = body["results"][0] if "results" in body else body
        assert shown["input"] == {"email": "ada@example.com", "file": FILE}
        [step] = shown["steps"]
        assert step["output"] == {"message_id": "m-1"} and "params" not in step
        sql = "\n".join(query["sql"] for query in captured)
        assert RUN_INPUT in sql
        assert "workflows_steprun" in sql and STEP_RUN_PARAMS not in sql
