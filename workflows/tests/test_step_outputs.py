"""Step outputs: each step has a key, and later steps read `{{ steps.<key>.<field> }}`."""

import importlib
import json
from typing import Any

import pytest
from django.test import Client

from galaxyco.errors import InvalidInput
from integrations.tests.google_grants import connect
from workflows import inputs, rendering, services
from workflows.actions.calendar_create_event import CalendarCreateEvent
from workflows.actions.gmail_send_email import GmailSendEmail
from workflows.models import StepRun, WorkflowStep
from workflows.services import StepSpec
from workflows.tests.helpers import parsed, workflows_url

EVENT = {
    "action": "calendar.create_event",
    "params": {
        "summary": "Kick-off with {{ input.name }}",
        "start": "2026-12-01T09:30:00",
        "end": "2026-12-01T10:00:00",
        "time_zone": "Europe/Paris",
    },
}


def email(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "action": "gmail.send_email",
        "params": {"to": ["{{ input.email }}"], "subject": "Our kick-off", "text": text},
        **extra,
    }


def definition(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"name": "Kick-off", "steps": list(steps)}


# --- Keys


def test_keys_default_from_the_action_and_stay_unique():
    assert inputs.assign_step_keys(
        actions=["gmail.send_email", "gmail.send_email", "calendar.create_event", "gmail.send_email"],
        keys=["", None, "", "gmail_send_email_2"],
    ) == ["gmail_send_email", "gmail_send_email_3", "calendar_create_event", "gmail_send_email_2"]


@pytest.mark.django_db
def test_the_api_gives_each_step_a_key_from_its_action(workspace, key_client):
    body = definition(EVENT, email("Hi"), email("Hi again"))

    response = key_client.post(workflows_url(workspace), body, format="json")

    assert response.status_code == 201, response.json()
    assert [s["key"] for s in response.json()["steps"]] == [
        "calendar_create_event",
        "gmail_send_email",
        "gmail_send_email_2",
    ]


@pytest.mark.django_db
def test_a_key_given_is_kept_and_two_equal_keys_are_refused(workspace, key_client):
    kept = key_client.post(workflows_url(workspace), definition({**EVENT, "key": "kickoff"}), format="json")
    assert kept.json()["steps"][0]["key"] == "kickoff"

    twice = key_client.post(
        workflows_url(workspace), definition(email("a", key="mail"), email("b", key="mail")), format="json"
    )
    assert twice.status_code == 400
    assert twice.json()["error"]["fields"]["steps"]["1"]["key"] == [
        "Step 1 already has the key “mail”: each step's key must be unique in the workflow."
    ]
    bad = key_client.post(workflows_url(workspace), definition(email("a", key="Mail Step")), format="json")
    assert bad.status_code == 400
    assert "lowercase letter" in bad.json()["error"]["fields"]["steps"]["0"]["key"][0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("steps", "index", "expected"),
    [
        (
            [EVENT, email("{{ steps.calendar.html_link }}")],
            "1",
            "“{{ steps.calendar.html_link }}” names no step: there is no step with the key “calendar”.",
        ),
        (
            [email("{{ steps.calendar_create_event.html_link }}"), EVENT],
            "0",
            "“{{ steps.calendar_create_event.html_link }}” reads a later step",
        ),
        (
            [email("{{ steps.gmail_send_email.message_id }}")],
            "0",
            "“{{ steps.gmail_send_email.message_id }}” reads this step itself",
        ),
        (
            [EVENT, email("{{ steps.calendar_create_event.link }}")],
            "1",
            "the step “calendar_create_event” gives no “link”. It gives event_id, html_link, status.",
        ),
    ],
)
def test_a_reference_to_an_unknown_or_later_step_is_refused_when_saved(
    workspace, key_client, steps, index, expected
):
    response = key_client.post(workflows_url(workspace), definition(*steps), format="json")

    assert response.status_code == 400
    [message] = response.json()["error"]["fields"]["steps"][index]["params"]["text"]
    assert expected in message


@pytest.mark.django_db
def test_the_service_refuses_a_reference_to_a_later_step_too(workspace):
    with pytest.raises(InvalidInput) as refused:
        services.create_workflow(
            workspace=workspace,
            created_by=None,
            name="Backwards",
            steps=[
                StepSpec(
                    action="gmail.send_email",
                    params={"to": ["a@example.com"], "text": "{{ steps.calendar_create_event.html_link }}"},
                ),
                StepSpec(action="calendar.create_event", params=EVENT["params"]),
            ],
        )
    assert "reads a later step" in refused.value.message


def test_step_outputs_are_not_inputs():
    steps = [StepSpec(action="gmail.send_email", params={"to": ["a@example.com"], "text": "{{ steps.x.y }}"})]
    assert inputs.input_schema(steps) == []


def test_the_migration_fills_keys_like_the_default():
    migration = importlib.import_module("workflows.migrations.0006_step_keys")
    actions = ["gmail.send_email", "calendar.create_event", "gmail.send_email"]
    assert migration.keys_in_order(actions) == inputs.assign_step_keys(actions=actions, keys=["", "", ""])


# --- Rendering and the engine


def test_a_step_output_fills_its_placeholder_and_html_is_escaped():
    rendered = rendering.render_params(
        {"text": "Join: {{ steps.cal.html_link }}", "html": "<a>{{ steps.cal.html_link }}</a>"},
        run_input={},
        html_params=frozenset({"html"}),
        step_outputs={"cal": {"html_link": "https://example.com/e?a=1&b=2"}},
    )
    assert rendered == {
        "text": "Join: https://example.com/e?a=1&b=2",
        "html": "<a>https://example.com/e?a=1&amp;b=2</a>",
    }


def test_a_step_output_that_is_not_there_fails_the_step_with_a_clear_message():
    action = GmailSendEmail()
    params = action.validate_params({"to": ["a@example.com"], "text": "{{ steps.cal.html_link }}"})
    with pytest.raises(Exception) as failed:
        action.prepare(params=params, run_input={}, step_outputs={"cal": {"event_id": "e1"}})
    assert "{{ steps.cal.html_link }}: the step “cal” gave no value for it." in str(failed.value)


def test_output_fields_name_what_run_returns():
    assert CalendarCreateEvent.output_fields == {"event_id", "html_link", "status"}
    assert GmailSendEmail.output_fields == {"message_id", "thread_id", "from"}


@pytest.fixture
def session(member):
    client = Client()
    client.force_login(member)
    return client


@pytest.mark.django_db(transaction=True)
def test_a_calendar_event_then_an_email_with_its_link(google, workspace, member, session):
    calendar = connect(
        google, workspace=workspace, user=member, email="planner@gmail.test", integration_type="calendar"
    )
    gmail = connect(
        google, workspace=workspace, user=member, email="planner@gmail.test", integration_type="gmail"
    )
    body = definition(
        {**EVENT, "integration": calendar.pk},
        email(
            "Hi {{ input.name }}, the invitation: {{ steps.calendar_create_event.html_link }}",
            integration=gmail.pk,
        ),
    )
    created = session.post(workflows_url(workspace), json.dumps(body), content_type="application/json")
    assert created.status_code == 201, created.json()

    response = session.post(
        f"{workflows_url(workspace)}{created.json()['id']}/execute/",
        json.dumps({"input": {"name": "Ada", "email": "ada@example.com"}}),
        content_type="application/json",
    )

    run = response.json()["run"]
    assert response.json()["success"] is True, response.json()
    [event] = google.state.events()
    [message] = google.state.messages(to="ada@example.com")
    plain = parsed(message).get_body(preferencelist=("plain",))
    assert plain is not None
    text = plain.get_content()
    assert f"the invitation: {event['htmlLink']}" in text
    assert event["htmlLink"].startswith(google.url)
    assert [s["key"] for s in run["steps"]] == ["calendar_create_event", "gmail_send_email"]
    assert list(StepRun.objects.unscoped().order_by("position").values_list("key", flat=True)) == [
        "calendar_create_event",
        "gmail_send_email",
    ]


@pytest.mark.django_db
def test_preview_shows_a_step_output_as_written(workspace, key_client):
    body = definition(EVENT, email("Link: {{ steps.calendar_create_event.html_link }}"))
    workflow_id = key_client.post(workflows_url(workspace), body, format="json").json()["id"]

    response = key_client.post(
        f"{workflows_url(workspace)}{workflow_id}/preview/",
        {"input": {"name": "Ada", "email": "ada@example.com"}},
        format="json",
    )

    steps = response.json()["steps"]
    assert steps[0]["params"]["summary"] == "Kick-off with Ada"
    assert steps[1]["params"]["text"] == "Link: {{ steps.calendar_create_event.html_link }}"


# --- Page


@pytest.mark.django_db
def test_the_builder_shows_and_keeps_each_step_key(session, workspace):
    value = {"name": "Kick-off", "description": "", "is_active": True, "steps": [{**EVENT, "key": "kickoff"}]}
    response = session.post(f"/w/{workspace.slug}/workflows/new/", {"definition": json.dumps(value)})
    assert response.status_code == 302, response.content.decode()[:2000]
    step = WorkflowStep.objects.unscoped().get()
    assert step.key == "kickoff"

    content = session.get(response["Location"]).content.decode()
    assert 'name="key" value="kickoff"' in content


@pytest.mark.django_db
def test_the_database_refuses_two_steps_with_one_key_but_not_two_without(workspace):
    from django.db import IntegrityError, transaction

    from workflows.models import Workflow

    workflow = Workflow.objects.create(workspace=workspace, name="Rows")
    for position in (0, 1):  # written without a key, as a fixture would: not named, allowed
        WorkflowStep.objects.create(
            workspace=workspace, workflow=workflow, position=position, action="gmail.send_email"
        )
    WorkflowStep.objects.create(
        workspace=workspace, workflow=workflow, position=2, key="mail", action="gmail.send_email"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkflowStep.objects.create(
            workspace=workspace, workflow=workflow, position=3, key="mail", action="gmail.send_email"
        )
