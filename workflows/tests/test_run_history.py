"""Run history and the run page: an error column, filters by status, workflow and day that refuse
values naming nothing, a way in from each workflow, the header showing where you are, and a
banner that says what became of a run instead of "has started"."""

from datetime import UTC, datetime
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from galaxyco.errors import ReauthRequired
from workflows import services
from workflows.models import RunStatus, StepRun, WorkflowRun
from workflows.tests.helpers import make_workflow

pytestmark = pytest.mark.django_db


def make_run(workspace, workflow, member, **fields) -> WorkflowRun:
    run, _ = services.start_run(
        workspace=workspace, workflow_id=workflow.pk, run_input={}, trigger="ui", requested_by=member
    )
    if fields:
        WorkflowRun.objects.unscoped().filter(pk=run.pk).update(**fields)
        run.refresh_from_db()
    return run


def rows(response) -> int:
    return response.content.decode().count("<tr data-run=")


def test_failed_runs_show_their_error_in_the_list(page_client, workspace, member):
    workflow = make_workflow(workspace)
    make_run(workspace, workflow, member, status=RunStatus.SUCCEEDED)
    error = ReauthRequired()
    make_run(
        workspace,
        workflow,
        member,
        status=RunStatus.FAILED,
        error_code=error.code,
        error_message=error.message,
    )

    content = unescape(page_client.get(f"/w/{workspace.slug}/runs/").content.decode())

    assert "<th>Error</th>" in content
    assert content.count('data-testid="run-error-cell"') == 2
    assert error.message[:60] in content


def test_filters_by_status_workflow_and_day(page_client, workspace, member):
    welcome, digest = make_workflow(workspace, "Welcome"), make_workflow(workspace, "Digest")
    make_run(workspace, welcome, member, created_at=datetime(2026, 11, 1, 23, 59, tzinfo=UTC))
    make_run(
        workspace,
        welcome,
        member,
        status=RunStatus.FAILED,
        created_at=datetime(2026, 11, 2, 0, 0, tzinfo=UTC),
    )
    make_run(workspace, digest, member, created_at=datetime(2026, 11, 3, 12, 0, tzinfo=UTC))
    base = f"/w/{workspace.slug}/runs/"

    assert rows(page_client.get(base)) == 3
    assert rows(page_client.get(base, {"status": "failed"})) == 1
    assert rows(page_client.get(base, {"workflow": welcome.pk})) == 2
    assert rows(page_client.get(base, {"since": "2026-11-02"})) == 2
    assert rows(page_client.get(base, {"until": "2026-11-01"})) == 1
    assert rows(page_client.get(base, {"since": "2026-11-02", "until": "2026-11-02"})) == 1
    both = page_client.get(base, {"workflow": welcome.pk, "since": "2026-11-02"})
    assert rows(both) == 1
    content = both.content.decode()
    assert 'name="since" value="2026-11-02"' in content
    assert f'<option value="{welcome.pk}" selected>' in content


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"status": "bogus"}, 'Status: "bogus" is not a valid choice.'),
        ({"workflow": "abc"}, "Workflow: A valid integer is required."),
        ({"workflow": str(2**63)}, "Workflow: Ensure this value is less than or equal to"),
        ({"since": "2026-13-01"}, "From: Date has wrong format."),
        ({"since": "2026-11-05", "until": "2026-11-01"}, "To: Choose a day on or after the “since” day."),
        ({"page": "abc"}, "Page: A valid integer is required."),
    ],
)
def test_bad_filter_values_show_a_message_and_no_runs(page_client, workspace, member, query, message):
    make_run(workspace, make_workflow(workspace), member)

    response = page_client.get(f"/w/{workspace.slug}/runs/", query)

    assert response.status_code == 400
    content = unescape(response.content.decode())
    assert message in content.split('data-testid="filter-errors"')[1]
    assert rows(response) == 0
    assert "Correct the filters above to see runs." in content


def test_the_api_filters_runs_by_day_too(key_client, workspace, member):
    workflow = make_workflow(workspace)
    make_run(workspace, workflow, member, created_at=datetime(2026, 11, 1, 8, 0, tzinfo=UTC))
    make_run(workspace, workflow, member, created_at=datetime(2026, 11, 4, 8, 0, tzinfo=UTC))
    url = f"/api/workspaces/{workspace.pk}/runs/"

    assert key_client.get(url, {"since": "2026-11-02"}).json()["count"] == 1
    assert key_client.get(url, {"until": "2026-11-02"}).json()["count"] == 1
    refused = key_client.get(url, {"since": "yesterday"})
    assert refused.status_code == 400
    assert "since" in refused.json()["error"]["fields"]


def test_a_day_runs_from_midnight_to_midnight_utc_both_ends_included(key_client, workspace, member):
    workflow = make_workflow(workspace)
    edges = [
        datetime(2026, 11, 1, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 11, 2, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 11, 3, 0, 0, tzinfo=UTC),
    ]
    runs = [make_run(workspace, workflow, member, created_at=moment) for moment in edges]
    url = f"/api/workspaces/{workspace.pk}/runs/"

    def ids(**days: str) -> list[int]:
        return [run["id"] for run in key_client.get(url, days).json()["results"]]

    assert ids(since="2026-11-02", until="2026-11-02") == [runs[2].pk, runs[1].pk]
    assert ids(until="9999-12-31") == [run.pk for run in reversed(runs)]


def test_each_workflow_links_to_its_runs(page_client, workspace):
    welcome, digest = make_workflow(workspace, "Welcome"), make_workflow(workspace, "Digest")
    content = page_client.get(f"/w/{workspace.slug}/workflows/").content.decode()
    for workflow in (welcome, digest):
        assert f'href="/w/{workspace.slug}/runs/?workflow={workflow.pk}"' in content
    builder = page_client.get(f"/w/{workspace.slug}/workflows/{welcome.pk}/").content.decode()
    assert f'href="/w/{workspace.slug}/runs/?workflow={welcome.pk}"' in builder


@pytest.mark.parametrize(
    ("path", "current"),
    [
        ("", "Home"),
        ("runs/", "Runs"),
        ("workflows/", "Workflows"),
        ("workflows/new/", "Workflows"),
        ("integrations/", "Integrations"),
        ("members/", "Members"),
        ("settings/", "Settings"),
    ],
)
def test_the_header_shows_where_you_are_and_includes_runs(page_client, workspace, path, current):
    content = page_client.get(f"/w/{workspace.slug}/{path}").content.decode()
    nav = content.split('<nav class="mainnav"')[1].split("</nav>")[0]
    assert f'href="/w/{workspace.slug}/runs/"' in nav
    assert nav.count('aria-current="page"') == 1
    assert f'aria-current="page">{current}</a>' in nav


def test_times_in_the_run_history_name_their_zone(page_client, workspace, member):
    make_run(
        workspace, make_workflow(workspace), member, created_at=datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
    )
    content = page_client.get(f"/w/{workspace.slug}/runs/").content.decode()
    assert "26 Nov 2026, 14:05 UTC" in content


# --- The run page's banner


def test_run_now_says_nothing_about_having_started(page_client, workspace):
    workflow = make_workflow(workspace)
    response = page_client.post(
        f"/w/{workspace.slug}/workflows/{workflow.pk}/run/", {"input": "{}"}, follow=True
    )
    content = unescape(response.content.decode())
    run = WorkflowRun.objects.unscoped().get(workflow=workflow)
    assert "has started" not in content
    # Runs start after the request's transaction commits, which a test transaction never does.
    assert f"Run #{run.pk} is queued." in content


@pytest.mark.parametrize(
    ("fields", "text", "level"),
    [
        ({"status": RunStatus.SUCCEEDED}, "Run #{pk} succeeded.", "success"),
        (
            {
                "status": RunStatus.FAILED,
                "error_code": "provider_rejected",
                "error_message": "Google said no.",
            },
            'Run #{pk} failed: <span data-testid="run-error">Google said no.</span>',
            "error",
        ),
        ({"status": RunStatus.RUNNING}, "Run #{pk} is running.", "info"),
        ({"status": RunStatus.CANCELED}, "Run #{pk} was canceled.", "warning"),
    ],
)
def test_the_run_page_says_what_happened(page_client, workspace, member, fields, text, level):
    run = make_run(workspace, make_workflow(workspace), member, **fields)
    content = page_client.get(f"/w/{workspace.slug}/runs/{run.pk}/").content.decode()
    banner = content.split('data-testid="run-outcome">')[1].split("</div>")[0]
    assert text.format(pk=run.pk) in banner
    assert f'<div class="message {level}"' in content
    assert content.count('data-testid="run-outcome"') == 1


def add_runs(workspace, workflow, count: int) -> None:
    runs = WorkflowRun.objects.bulk_create(
        WorkflowRun(workspace=workspace, workflow=workflow, status=RunStatus.SUCCEEDED, trigger="api")
        for _ in range(count)
    )
    StepRun.objects.bulk_create(
        StepRun(
            workspace=workspace, run=run, position=position, action="gmail.send_email", status="succeeded"
        )
        for run in runs
        for position in range(2)
    )


def test_the_run_list_and_history_page_cost_the_same_queries_for_1_or_many_runs(
    page_client, key_client, workspace
):
    api = f"/api/workspaces/{workspace.pk}/runs/"
    page = f"/w/{workspace.slug}/runs/"

    def queries() -> list[int]:
        counts = []
        for client, url in ((key_client, api), (key_client, api + "?page=2"), (page_client, page)):
            with CaptureQueriesContext(connection) as captured:
                assert client.get(url).status_code == 200
            counts.append(len(captured))
        return counts

    first, second = make_workflow(workspace), make_workflow(workspace, name="Second")
    add_runs(workspace, first, 51)
    queries()  # the key's last_used_at is written once a minute, not per call
    few = queries()
    add_runs(workspace, second, 150)
    many = queries()
    assert many == few
    assert len(key_client.get(api).json()["results"][0]["steps"]) == 2
