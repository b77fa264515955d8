"""The workflow pages: list, builder (create, edit, delete), Run now, run history and run page."""

import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from galaxyco.errors import ReauthRequired
from integrations.models import IntegrationType
from integrations.tests.factories import IntegrationFactory
from workflows import services
from workflows.models import RunStatus, RunTrigger, StepRun, StepStatus, Workflow, WorkflowRun, WorkflowStep
from workflows.services import StepSpec


def gmail_step(**params: Any) -> dict[str, Any]:
    return {
        "action": "gmail.send_email",
        "integration": None,
        "params": {"to": ["ada@example.com"], "subject": "Hi {{ input.name }}", "text": "Hello", **params},
    }


def definition(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Welcome",
        "description": "Greets people",
        "is_active": True,
        "steps": [gmail_step()],
        **overrides,
    }


def make_workflow(workspace, *, name: str = "Welcome", steps: list[StepSpec] | None = None) -> Workflow:
    return services.create_workflow(
        workspace=workspace,
        created_by=None,
        name=name,
        steps=steps
        or [
            StepSpec(
                action="gmail.send_email",
                params={"to": ["ada@example.com"], "subject": "Hi", "text": "Hello"},
            )
        ],
    )


def post_definition(client: Client, url: str, value: Any):
    raw = value if isinstance(value, str) else json.dumps(value)
    return client.post(url, {"definition": raw})


# --- List


def test_list_shows_the_workspace_workflows_with_steps_and_last_run(
    page_client, workspace, other_workspace, member
):
    welcome = make_workflow(workspace, name="Welcome")
    make_workflow(other_workspace, name="Globex secret")
    run, _ = services.start_run(
        workspace=workspace, workflow_id=welcome.pk, run_input={}, trigger="ui", requested_by=member
    )
    WorkflowRun.objects.unscoped().filter(pk=run.pk).update(status=RunStatus.FAILED)

    response = page_client.get(f"/w/{workspace.slug}/workflows/")

    content = response.content.decode()
    assert response.status_code == 200
    assert "Welcome" in content
    assert "Globex secret" not in content
    assert f"/w/{workspace.slug}/workflows/new/" in content
    assert f"/w/{workspace.slug}/workflows/{welcome.pk}/" in content
    assert f"/w/{workspace.slug}/runs/?workflow={welcome.pk}" in content
    assert 'class="badge failed"' in content
    assert f'/w/{workspace.slug}/workflows/" aria-current="page">Workflows</a>' in content  # the header


def test_list_with_no_workflows_invites_to_create_one(page_client, workspace):
    content = page_client.get(f"/w/{workspace.slug}/workflows/").content.decode()
    assert "No workflows yet" in content


# --- Builder: create


def test_the_builder_page_has_the_hooks_and_assets(page_client, workspace, member):
    IntegrationFactory(workspace=workspace, email="sales@gmail.test", connected_by=member)
    response = page_client.get(f"/w/{workspace.slug}/workflows/new/")
    content = response.content.decode()
    assert response.status_code == 200
    for hook in (
        'id="workflow-name"',
        'data-testid="add-step"',
        'data-testid="save-workflow"',
        'name="definition"',
    ):
        assert hook in content
    assert 'id="workflow-definition"' in content
    assert "/static/js/builder.js" in content
    assert "{{ input.name }}" in content  # the placeholder hint
    assert "sales@gmail.test" in content  # offered to the "Add a step" template
    assert "gmail.send_email" in content and "calendar.create_event" in content
    assert 'data-testid="run-now"' not in content  # nothing to run before it is saved


def test_creating_through_the_builder_saves_the_workflow_and_its_steps(page_client, workspace, member):
    gmail = IntegrationFactory(workspace=workspace, connected_by=member)
    calendar = IntegrationFactory(workspace=workspace, connected_by=member, type=IntegrationType.CALENDAR)
    value = definition(
        steps=[
            {
                "action": "gmail.send_email",
                "integration": gmail.pk,
                "params": {"to": ["ada@example.com", "{{ input.email }}"], "subject": "Hi", "text": "Hello"},
            },
            {
                "action": "calendar.create_event",
                "integration": calendar.pk,
                "params": {
                    "summary": "Intro call",
                    "start": "2026-12-01T09:30:00",
                    "end": "2026-12-01T10:00:00",
                    "attendees": ["ada@example.com"],
                },
            },
        ]
    )

    response = post_definition(page_client, f"/w/{workspace.slug}/workflows/new/", value)

    workflow = Workflow.objects.unscoped().get(workspace=workspace)
    assert response.status_code == 302
    assert response["Location"] == f"/w/{workspace.slug}/workflows/{workflow.pk}/"
    assert (workflow.name, workflow.description, workflow.is_active, workflow.created_by) == (
        "Welcome",
        "Greets people",
        True,
        member,
    )
    steps = list(WorkflowStep.objects.unscoped().filter(workflow=workflow).order_by("position"))
    assert [(s.position, s.action, s.integration_id) for s in steps] == [
        (0, "gmail.send_email", gmail.pk),
        (1, "calendar.create_event", calendar.pk),
    ]
    assert steps[0].params["to"] == ["ada@example.com", "{{ input.email }}"]
    assert steps[1].params["summary"] == "Intro call"
    page = page_client.get(response["Location"])
    assert "was created" in page.content.decode()


def test_the_requesters_account_is_an_empty_integration(page_client, workspace):
    response = post_definition(page_client, f"/w/{workspace.slug}/workflows/new/", definition())
    assert response.status_code == 302
    assert WorkflowStep.objects.unscoped().get(workspace=workspace).integration is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ("", "could not be read"),
        (definition(steps=[{"action": "slack.post", "params": {}}]), "is not a valid choice"),
        (
            definition(steps=[{"action": "gmail.send_email", "params": {"subject": "Hi", "text": "Hello"}}]),
            "required",
        ),
        (definition(steps=[gmail_step(subject="Hi\nBcc: victim@example.com")]), "single line"),
        (definition(steps=[gmail_step(to=["not-an-address"])]), "valid email address"),
        (definition(steps=[]), "Add at least one step."),
        (definition(name=""), "may not be blank"),
    ],
    ids=[
        "bad-json",
        "not-object",
        "empty",
        "unknown-action",
        "missing-to",
        "subject-line-break",
        "bad-to",
        "no-steps",
        "no-name",
    ],
)
def test_an_invalid_definition_is_shown_with_400_and_nothing_is_saved(page_client, workspace, value, message):
    response = post_definition(page_client, f"/w/{workspace.slug}/workflows/new/", value)

    content = response.content.decode()
    assert response.status_code == 400
    assert message in content
    assert "The workflow was not saved" in content
    assert not Workflow.objects.unscoped().exists()
    assert not WorkflowStep.objects.unscoped().exists()


def test_an_error_is_shown_next_to_its_step_and_field_and_what_was_typed_is_kept(page_client, workspace):
    value = definition(
        name="Keep me",
        steps=[gmail_step(), gmail_step(to=["bad-address"], subject="Line\nbreak", from_name="Ada Lovelace")],
    )
    response = post_definition(page_client, f"/w/{workspace.slug}/workflows/new/", value)

    content = response.content.decode()
    assert response.status_code == 400
    assert 'value="Keep me"' in content
    assert 'value="Ada Lovelace"' in content
    assert 'value="bad-address"' in content
    second_step = content.split('<div class="step" data-index="1"')[1].split('<template id="step-template">')[
        0
    ]
    to_field = second_step.split('data-field="to"')[1].split('data-field="cc"')[0]
    assert "“bad-address” is not a valid email address." in to_field
    subject_field = second_step.split('data-field="subject"')[1].split('data-field="text"')[0]
    assert "single line" in subject_field
    first_step = content.split('<div class="step" data-index="0"')[1].split(
        '<div class="step" data-index="1"'
    )[0]
    assert "errorlist" not in first_step


def test_another_workspaces_integration_is_refused(page_client, workspace, other_workspace):
    foreign = IntegrationFactory(workspace=other_workspace, email="spy@globex.test")
    value = definition(steps=[{**gmail_step(), "integration": foreign.pk}])

    response = post_definition(page_client, f"/w/{workspace.slug}/workflows/new/", value)

    content = response.content.decode()
    assert response.status_code == 400
    assert "No integration with this id exists in this workspace." in content
    assert "spy@globex.test" not in content
    assert not Workflow.objects.unscoped().exists()


def test_an_integration_of_the_wrong_type_is_refused(page_client, workspace):
    calendar = IntegrationFactory(workspace=workspace, type=IntegrationType.CALENDAR)
    value = definition(steps=[{**gmail_step(), "integration": calendar.pk}])
    response = post_definition(page_client, f"/w/{workspace.slug}/workflows/new/", value)
    assert response.status_code == 400
    assert "This step needs a gmail integration." in response.content.decode()
    assert not Workflow.objects.unscoped().exists()


# --- Builder: edit and delete


def test_the_edit_page_is_prefilled_and_has_run_now(page_client, workspace):
    workflow = make_workflow(workspace, name="Newsletter")
    response = page_client.get(f"/w/{workspace.slug}/workflows/{workflow.pk}/")
    content = response.content.decode()
    assert response.status_code == 200
    assert 'value="Newsletter"' in content
    assert 'value="ada@example.com"' in content
    assert 'data-testid="run-input"' in content
    assert 'data-testid="run-now"' in content
    assert f"/w/{workspace.slug}/workflows/{workflow.pk}/delete/" in content
    embedded = content.split('id="workflow-definition" type="application/json">')[1].split("</script>")[0]
    assert json.loads(embedded)["steps"][0]["params"]["to"] == ["ada@example.com"]


def test_editing_replaces_the_steps(page_client, workspace):
    workflow = make_workflow(workspace)
    value = definition(
        name="Renamed",
        is_active=False,
        steps=[
            {
                "action": "calendar.create_event",
                "integration": None,
                "params": {"summary": "Call", "start": "2026-12-01T09:30:00", "end": "2026-12-01T10:00:00"},
            },
            gmail_step(to=["grace@example.com"]),
        ],
    )

    response = post_definition(page_client, f"/w/{workspace.slug}/workflows/{workflow.pk}/", value)

    assert response.status_code == 302
    assert response["Location"] == f"/w/{workspace.slug}/workflows/{workflow.pk}/"
    workflow.refresh_from_db()
    assert (workflow.name, workflow.is_active) == ("Renamed", False)
    steps = list(WorkflowStep.objects.unscoped().filter(workflow=workflow).order_by("position"))
    assert [s.action for s in steps] == ["calendar.create_event", "gmail.send_email"]
    assert steps[1].params["to"] == ["grace@example.com"]


def test_an_invalid_edit_changes_nothing(page_client, workspace):
    workflow = make_workflow(workspace, name="Original")
    response = post_definition(
        page_client, f"/w/{workspace.slug}/workflows/{workflow.pk}/", definition(name="Changed", steps=[])
    )
    assert response.status_code == 400
    workflow.refresh_from_db()
    assert workflow.name == "Original"
    assert WorkflowStep.objects.unscoped().filter(workflow=workflow).count() == 1


def test_delete_removes_the_workflow(page_client, workspace):
    workflow = make_workflow(workspace, name="Old one")
    response = page_client.post(f"/w/{workspace.slug}/workflows/{workflow.pk}/delete/")
    assert response.status_code == 302
    assert response["Location"] == f"/w/{workspace.slug}/workflows/"
    assert not Workflow.objects.unscoped().filter(pk=workflow.pk).exists()
    assert "“Old one”" in page_client.get(response["Location"]).content.decode()


# --- Run now


def test_run_now_creates_a_ui_run_and_redirects_to_it(page_client, workspace, member):
    workflow = make_workflow(workspace)

    response = page_client.post(
        f"/w/{workspace.slug}/workflows/{workflow.pk}/run/", {"input": '{"name": "Ada"}'}
    )

    run = WorkflowRun.objects.unscoped().get(workflow=workflow)
    assert response.status_code == 302
    assert response["Location"] == f"/w/{workspace.slug}/runs/{run.pk}/"
    assert (run.trigger, run.input, run.requested_by, run.status) == (
        RunTrigger.UI,
        {"name": "Ada"},
        member,
        RunStatus.QUEUED,
    )
    assert StepRun.objects.unscoped().filter(run=run).count() == 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{name: Ada", "not valid JSON"),
        ('["Ada"]', "must be a JSON object"),
        ('"Ada"', "must be a JSON object"),
    ],
)
def test_invalid_run_input_shows_a_message_and_starts_nothing(page_client, workspace, raw, message):
    workflow = make_workflow(workspace)
    response = page_client.post(f"/w/{workspace.slug}/workflows/{workflow.pk}/run/", {"input": raw})
    content = response.content.decode()
    assert response.status_code == 400
    assert message in content
    assert 'data-testid="run-input-error"' in content
    assert not WorkflowRun.objects.unscoped().exists()


def test_a_paused_workflow_does_not_run(page_client, workspace):
    workflow = make_workflow(workspace)
    Workflow.objects.unscoped().filter(pk=workflow.pk).update(is_active=False)
    response = page_client.post(f"/w/{workspace.slug}/workflows/{workflow.pk}/run/", {"input": "{}"})
    assert response.status_code == 409
    assert "This workflow is paused" in response.content.decode()
    assert not WorkflowRun.objects.unscoped().exists()


# --- Runs


def test_the_run_page_shows_status_input_and_steps(page_client, workspace, member):
    workflow = make_workflow(workspace)
    run, _ = services.start_run(
        workspace=workspace,
        workflow_id=workflow.pk,
        run_input={"name": "Ada"},
        trigger="ui",
        requested_by=member,
    )
    WorkflowRun.objects.unscoped().filter(pk=run.pk).update(
        status=RunStatus.SUCCEEDED, started_at=timezone.now(), finished_at=timezone.now()
    )
    StepRun.objects.unscoped().filter(run=run).update(
        status=StepStatus.SUCCEEDED, attempts=1, output={"message_id": "m-1"}
    )

    response = page_client.get(f"/w/{workspace.slug}/runs/{run.pk}/")

    content = response.content.decode()
    assert response.status_code == 200
    assert '<span class="badge big succeeded" data-testid="run-status">succeeded</span>' in content
    assert content.count('class="step-run"') == 1
    assert "&quot;message_id&quot;: &quot;m-1&quot;" in content
    assert "&quot;name&quot;: &quot;Ada&quot;" in content
    assert 'data-testid="run-error"' not in content
    assert "js/run.js" not in content  # finished: nothing to follow


def test_a_queued_run_page_follows_the_run(page_client, workspace, member):
    workflow = make_workflow(workspace)
    run, _ = services.start_run(
        workspace=workspace, workflow_id=workflow.pk, run_input={}, trigger="ui", requested_by=member
    )
    content = page_client.get(f"/w/{workspace.slug}/runs/{run.pk}/").content.decode()
    assert 'data-testid="run-status">queued<' in content
    assert "/static/js/run.js" in content
    assert f'data-api-url="/api/workspaces/{workspace.pk}/runs/{run.pk}/"' in content
    assert 'data-signature="queued|pending:0"' in content


def test_a_run_that_needs_reconnecting_links_to_integrations(page_client, workspace, member):
    workflow = make_workflow(workspace)
    run, _ = services.start_run(
        workspace=workspace, workflow_id=workflow.pk, run_input={}, trigger="ui", requested_by=member
    )
    error = ReauthRequired()
    WorkflowRun.objects.unscoped().filter(pk=run.pk).update(
        status=RunStatus.FAILED, error_code=error.code, error_message=error.message
    )
    content = page_client.get(f"/w/{workspace.slug}/runs/{run.pk}/").content.decode()
    assert error.message in content.split('data-testid="run-error">')[1]
    assert f'href="/w/{workspace.slug}/integrations/"' in content
    assert "Go to Integrations" in content


def test_the_run_history_lists_filters_and_pages(page_client, workspace, member, other_workspace):
    first = make_workflow(workspace, name="First")
    second = make_workflow(workspace, name="Second")
    foreign = make_workflow(other_workspace, name="Foreign")
    for _ in range(3):
        services.start_run(
            workspace=workspace, workflow_id=first.pk, run_input={}, trigger="ui", requested_by=member
        )
    services.start_run(
        workspace=workspace, workflow_id=second.pk, run_input={}, trigger="ui", requested_by=member
    )
    services.start_run(workspace=other_workspace, workflow_id=foreign.pk, run_input={}, trigger="api")
    WorkflowRun.objects.unscoped().filter(workflow=second).update(status=RunStatus.FAILED)

    everything = page_client.get(f"/w/{workspace.slug}/runs/").content.decode()
    assert everything.count("<tr data-run=") == 4
    assert "Foreign" not in everything
    assert "owner@acme.test" in everything
    by_workflow = page_client.get(f"/w/{workspace.slug}/runs/?workflow={first.pk}").content.decode()
    assert by_workflow.count("<tr data-run=") == 3
    by_status = page_client.get(f"/w/{workspace.slug}/runs/?status=failed").content.decode()
    assert by_status.count("<tr data-run=") == 1
    nonsense = page_client.get(f"/w/{workspace.slug}/runs/?workflow=abc&status=bogus&page=999")
    assert nonsense.status_code == 400  # a message, not every run (workflows/tests/test_run_history.py)
    assert (
        page_client.get(f"/w/{workspace.slug}/runs/?workflow={foreign.pk}")
        .content.decode()
        .count("<tr data-run=")
        == 0
    )


def test_the_run_history_pages_by_fifty(page_client, workspace, member):
    workflow = make_workflow(workspace)
    for _ in range(51):
        services.start_run(
            workspace=workspace, workflow_id=workflow.pk, run_input={}, trigger="ui", requested_by=member
        )
    first_page = page_client.get(f"/w/{workspace.slug}/runs/").content.decode()
    assert first_page.count("<tr data-run=") == 50
    assert "?page=2" in first_page
    newest = WorkflowRun.objects.unscoped().order_by("-created_at", "-id").values_list("pk", flat=True)[0]
    assert first_page.index(f'<tr data-run="{newest}">') == first_page.index("<tr data-run=")  # newest first
    assert page_client.get(f"/w/{workspace.slug}/runs/?page=2").content.decode().count("<tr data-run=") == 1


# --- Another workspace's ids answer 404


@pytest.fixture
def foreign_run(other_workspace, other_member):
    workflow = make_workflow(other_workspace, name="Globex workflow")
    run, _ = services.start_run(
        workspace=other_workspace,
        workflow_id=workflow.pk,
        run_input={},
        trigger="ui",
        requested_by=other_member,
    )
    return run


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "workflows/{workflow}/"),
        ("post", "workflows/{workflow}/"),
        ("post", "workflows/{workflow}/run/"),
        ("post", "workflows/{workflow}/delete/"),
        ("get", "runs/{run}/"),
    ],
)
def test_another_workspaces_workflow_or_run_is_not_found(page_client, workspace, foreign_run, method, path):
    url = f"/w/{workspace.slug}/" + path.format(workflow=foreign_run.workflow_id, run=foreign_run.pk)
    data = {"definition": json.dumps(definition()), "input": "{}"} if method == "post" else {}

    response = getattr(page_client, method)(url, data)

    assert response.status_code == 404
    assert Workflow.objects.unscoped().filter(pk=foreign_run.workflow_id, name="Globex workflow").exists()
    assert WorkflowRun.objects.unscoped().count() == 1
    assert not Workflow.objects.unscoped().filter(workspace=workspace).exists()


def test_pages_of_a_workspace_i_am_not_in_are_not_found(page_client, other_workspace):
    assert page_client.get(f"/w/{other_workspace.slug}/workflows/").status_code == 404
    assert page_client.get(f"/w/{other_workspace.slug}/runs/").status_code == 404
