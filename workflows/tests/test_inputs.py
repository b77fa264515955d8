"""Inputs: the placeholders a workflow reads are its input schema; a run's input is checked against
it before the run is created; malformed placeholders are refused when the workflow is saved; Run
now shows a field per input and a preview of what would be sent."""

import json
from typing import Any

import pytest
from rest_framework import serializers

from galaxyco.errors import AppError, InvalidInput
from workflows import inputs, rendering, services
from workflows.actions.gmail_send_email import GmailSendEmail
from workflows.models import WorkflowRun
from workflows.services import StepSpec
from workflows.tests.helpers import WELCOME, create_workflow, execute, parsed, workflows_url

# --- The grammar (rendering unit tests)


@pytest.mark.parametrize(
    ("source", "quoted", "advice"),
    [
        ("Hi {{ input.email ", "“{{ input.email”", "is not closed"),
        ("{{ input.a {{ input.b }}", "“{{ input.a”", "is not closed"),
        ("Hi {{ input.name|upper }}", "“{{ input.name|upper }}”", "filter |upper"),
        ("{{ user.name }}", "“{{ user.name }}”", "starts with input or steps"),
        ("{{ input.first-name }}", "“{{ input.first-name }}”", "not a valid input name"),
        ("{{ input }}", "“{{ input }}”", "not a valid input name"),
        ("{{ input._secret }}", "“{{ input._secret }}”", "not a valid input name"),
        ("{{ steps.Cal.link }}", "“{{ steps.Cal.link }}”", "not a valid step reference"),
        ("{{ steps.cal }}", "“{{ steps.cal }}”", "not a valid step reference"),
    ],
)
def test_a_malformed_placeholder_is_refused_quoting_its_text(source, quoted, advice):
    with pytest.raises(serializers.ValidationError) as refused:
        rendering.validate_placeholders(source)
    [message] = refused.value.detail
    assert quoted in message
    assert advice in message


def test_well_formed_placeholders_are_parsed_in_order():
    found = rendering.parse("{{input.name}} {{ input.user.city }} {{ steps.cal.html_link }}")
    assert [(p.root, p.path) for p in found] == [
        ("input", ("name",)),
        ("input", ("user", "city")),
        ("steps", ("cal", "html_link")),
    ]


def test_an_address_list_takes_several_addresses_from_one_input():
    rendered = rendering.render_params(
        {"to": ["{{ input.to }}", "boss@example.com"], "text": "To {{ input.to }}"},
        run_input={"to": "ada@example.com, bob@example.com"},
        html_params=frozenset(),
        address_list_params=frozenset({"to"}),
    )
    assert rendered["to"] == ["ada@example.com", "bob@example.com", "boss@example.com"]
    listed = rendering.render_params(
        {"to": ["{{ input.to }}"], "text": "To {{ input.to }}"},
        run_input={"to": ["ada@example.com", "bob@example.com"]},
        html_params=frozenset(),
        address_list_params=frozenset({"to"}),
    )
    assert listed == {
        "to": ["ada@example.com", "bob@example.com"],
        "text": "To ada@example.com, bob@example.com",
    }


# --- The input schema and the input check


def step(action: str = "gmail.send_email", **params: Any) -> StepSpec:
    return StepSpec(action=action, params=params)


def test_the_input_schema_is_what_the_placeholders_read_with_address_fields_marked():
    steps = [
        step(
            to=["{{ input.email }}"],
            subject="Hi {{ input.name }}",
            text="{{ input.email }} {{ input.user.city }}",
        ),
        step(
            "calendar.create_event",
            summary="{{ steps.gmail_send_email.message_id }}",
            start="{{ input.start }}",
            end="2026-12-01T10:00:00",
            attendees=["{{ input.guests }}"],
        ),
    ]
    schema = inputs.input_schema(steps)
    assert [(s.name, s.kind) for s in schema] == [
        ("email", "address"),
        ("name", "text"),
        ("user.city", "text"),
        ("start", "text"),
        ("guests", "address"),
    ]  # step outputs are not inputs


@pytest.mark.parametrize(
    ("run_input", "errors"),
    [
        ({"email": "ada@example.com", "name": "Ada"}, {}),
        ({"email": "ada@example.com, bob@example.com", "name": 42}, {}),
        ({"email": ["ada@example.com", "bob@example.com"], "name": 1.5}, {}),
        ({"email": "ada@example.com"}, {"name": ["A value is required: the steps read {{ input.name }}."]}),
        (
            {"email": "ada@example.com", "name": "  "},
            {"name": ["A value is required: the steps read {{ input.name }}."]},
        ),
        (
            {"email": "ada@example.com", "name": None},
            {"name": ["A value is required: the steps read {{ input.name }}."]},
        ),
        ({"email": "bob@", "name": "Ada"}, {"email": ["“bob@” is not a valid email address."]}),
        (
            {"email": "ada@example.com, bob@", "name": "Ada"},
            {"email": ["“bob@” is not a valid email address."]},
        ),
        (
            {"email": ["ada@example.com", 7], "name": "Ada"},
            {"email": ["“7” is not an email address: send text such as ada@example.com."]},
        ),
        (
            {"email": "ada@example.com", "name": {"first": "Ada"}},
            {
                "name": [
                    "Send text or a number, not an object. To use one of its fields, write a placeholder such as {{ input.name.<field> }} in the step."
                ]
            },
        ),
        (
            {"email": "ada@example.com", "name": ["Ada"]},
            {
                "name": [
                    "Send text or a number, not a list (a list is accepted only where a step expects addresses)."
                ]
            },
        ),
        ({"email": "ada@example.com", "name": True}, {"name": ["Send text or a number, not true."]}),
    ],
)
def test_the_run_input_is_checked_against_the_schema(run_input, errors):
    schema = inputs.input_schema([step(to=["{{ input.email }}"], subject="Hi {{ input.name }}", text="x")])
    assert inputs.check_run_input(schema=schema, run_input=run_input) == errors


# --- Service and API


@pytest.mark.django_db
def test_execute_with_inputs_missing_answers_400_naming_each_and_creates_no_run(workspace, key_client):
    workflow_id = create_workflow(key_client, workspace)

    response = execute(key_client, workspace, workflow_id, {"nickname": "Ada"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["fields"] == {
        "input": {
            "email": ["A value is required: the steps read {{ input.email }}."],
            "name": ["A value is required: the steps read {{ input.name }}."],
        }
    }
    assert error["message"] == "Missing input: email, name."
    assert not WorkflowRun.objects.unscoped().exists()


@pytest.mark.django_db
def test_execute_refuses_an_object_naming_the_input(workspace, key_client):
    workflow_id = create_workflow(key_client, workspace)

    response = execute(
        key_client, workspace, workflow_id, {"email": "ada@example.com", "name": {"first": "Ada"}}
    )

    assert response.status_code == 400
    assert "name: Send text or a number, not an object." in response.json()["error"]["message"]
    assert not WorkflowRun.objects.unscoped().exists()


@pytest.mark.django_db
def test_the_service_refuses_a_missing_input_before_creating_a_run(workspace):
    workflow = services.create_workflow(
        workspace=workspace,
        created_by=None,
        name="Welcome",
        steps=[step(to=["ada@example.com"], subject="Thanks for joining {{ input.name }}.", text="Hi")],
    )
    with pytest.raises(InvalidInput) as refused:
        services.start_run(workspace=workspace, workflow_id=workflow.pk, run_input={}, trigger="api")
    assert refused.value.details == {
        "fields": {"input": {"name": ["A value is required: the steps read {{ input.name }}."]}}
    }
    assert not WorkflowRun.objects.unscoped().exists()


@pytest.mark.django_db(transaction=True)
def test_a_comma_separated_input_sends_to_each_address(google, workspace, member, key_client):
    from integrations.tests.google_grants import connect

    connect(google, workspace=workspace, user=member, email="sender@gmail.test")
    workflow_id = create_workflow(key_client, workspace)

    response = execute(
        key_client, workspace, workflow_id, {"name": "Ada", "email": "ada@example.com, bob@example.com"}
    )

    assert response.json()["success"] is True, response.json()
    [message] = google.state.messages()
    assert parsed(message)["To"] == "ada@example.com, bob@example.com"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("Hi {{ input.email ", "“{{ input.email”"),
        ("Hi {{ input.name|upper }}", "“{{ input.name|upper }}”"),
        ("Hi {{ account.name }}", "“{{ account.name }}”"),
        ("Hi {{ input.first name }}", "“{{ input.first name }}”"),
    ],
)
def test_saving_a_malformed_placeholder_answers_400_naming_the_field_and_the_text(
    workspace, key_client, text, quoted
):
    body = {
        **WELCOME,
        "steps": [{**WELCOME["steps"][0], "params": {**WELCOME["steps"][0]["params"], "text": text}}],
    }

    response = key_client.post(workflows_url(workspace), body, format="json")

    assert response.status_code == 400
    [message] = response.json()["error"]["fields"]["steps"]["0"]["params"]["text"]
    assert quoted in message


@pytest.mark.django_db
def test_a_bad_address_is_refused_when_saved_naming_the_value(workspace, key_client):
    body = {
        **WELCOME,
        "steps": [{**WELCOME["steps"][0], "params": {**WELCOME["steps"][0]["params"], "to": ["bob@"]}}],
    }

    response = key_client.post(workflows_url(workspace), body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["steps"]["0"]["params"]["to"] == [
        "“bob@” is not a valid email address."
    ]


@pytest.mark.django_db
def test_the_workflow_json_lists_its_inputs(workspace, key_client):
    workflow_id = create_workflow(key_client, workspace)

    body = key_client.get(f"{workflows_url(workspace)}{workflow_id}/").json()

    assert body["inputs"] == [{"name": "email", "kind": "address"}, {"name": "name", "kind": "text"}]


@pytest.mark.django_db
def test_preview_answers_the_rendered_params_and_sends_nothing(workspace, key_client):
    workflow_id = create_workflow(key_client, workspace)

    response = key_client.post(
        f"{workflows_url(workspace)}{workflow_id}/preview/",
        {"input": {"name": "Ada <Lovelace>", "email": "ada@example.com, bob@example.com"}},
        format="json",
    )

    assert response.status_code == 200, response.json()
    [preview] = response.json()["steps"]
    assert preview["key"] == "gmail_send_email"
    assert preview["error"] is None
    assert preview["params"]["to"] == ["ada@example.com", "bob@example.com"]
    assert preview["params"]["subject"] == "Hi Ada <Lovelace>"
    assert preview["params"]["html"] == "<p>Hello <b>Ada &lt;Lovelace&gt;</b>, welcome aboard.</p>"
    assert not WorkflowRun.objects.unscoped().exists()


@pytest.mark.django_db
def test_preview_with_a_missing_input_answers_400_like_execute(workspace, key_client):
    workflow_id = create_workflow(key_client, workspace)

    response = key_client.post(
        f"{workflows_url(workspace)}{workflow_id}/preview/",
        {"input": {"email": "ada@example.com"}},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["input"] == {
        "name": ["A value is required: the steps read {{ input.name }}."]
    }


def test_an_address_made_invalid_at_run_time_names_the_field_and_the_value():
    action = GmailSendEmail()
    params = action.validate_params({"to": ["{{ input.email }}"], "subject": "Hi", "text": "Hi"})
    with pytest.raises(AppError) as failed:
        action.prepare(params=params, run_input={"email": "bob@"})
    assert "to: “bob@” is not a valid email address." in failed.value.message


# --- Pages


@pytest.fixture
def welcome(workspace):
    return services.create_workflow(
        workspace=workspace,
        created_by=None,
        name="Welcome",
        steps=[
            step(
                to=["{{ input.email }}"],
                subject="Thanks for joining {{ input.name }}.",
                text="Hi {{ input.name }}",
            )
        ],
    )


@pytest.mark.django_db
def test_run_now_shows_a_labelled_field_per_input_and_the_json_box_as_advanced(
    page_client, workspace, welcome
):
    content = page_client.get(f"/w/{workspace.slug}/workflows/{welcome.pk}/").content.decode()

    assert '<label for="id_input.email">email</label>' in content
    assert '<label for="id_input.name">name</label>' in content
    assert 'name="input.email"' in content and 'name="input.name"' in content
    assert "<summary>Advanced: the input as JSON</summary>" in content
    assert '<details class="advanced">' in content  # collapsed


@pytest.mark.django_db
def test_run_now_with_a_missing_input_names_it_and_starts_nothing(page_client, workspace, welcome):
    response = page_client.post(
        f"/w/{workspace.slug}/workflows/{welcome.pk}/run/",
        {"input.email": "ada@example.com", "input.name": ""},
    )

    content = response.content.decode()
    assert response.status_code == 400
    assert "Missing input: name." in content
    name_field = content.split('for="id_input.name"')[1].split("</div>")[0]
    assert "A value is required: the steps read {{ input.name }}." in name_field
    assert 'value="ada@example.com"' in content  # what was typed is kept
    assert not WorkflowRun.objects.unscoped().exists()


@pytest.mark.django_db
def test_run_now_runs_with_the_fields_and_prefills_them_next_time(page_client, workspace, welcome):
    response = page_client.post(
        f"/w/{workspace.slug}/workflows/{welcome.pk}/run/",
        {"input.email": "ada@example.com, bob@example.com", "input.name": "Ada", "input": ""},
    )

    assert response.status_code == 302
    run = WorkflowRun.objects.unscoped().get()
    assert run.input == {"email": "ada@example.com, bob@example.com", "name": "Ada"}
    content = page_client.get(f"/w/{workspace.slug}/workflows/{welcome.pk}/").content.decode()
    assert 'value="ada@example.com, bob@example.com"' in content
    assert 'value="Ada"' in content


@pytest.mark.django_db
def test_the_advanced_json_box_still_works(page_client, workspace, welcome):
    response = page_client.post(
        f"/w/{workspace.slug}/workflows/{welcome.pk}/run/",
        {"input": json.dumps({"email": ["ada@example.com"], "name": 7})},
    )

    assert response.status_code == 302
    assert WorkflowRun.objects.unscoped().get().input == {"email": ["ada@example.com"], "name": 7}


@pytest.mark.django_db
def test_the_preview_button_shows_the_rendered_email_without_sending(page_client, workspace, welcome):
    response = page_client.post(
        f"/w/{workspace.slug}/workflows/{welcome.pk}/preview/",
        {"input.email": "ada@example.com", "input.name": "Ada & Co"},
    )

    content = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="run-preview"' in content
    assert '<pre data-param="subject">Thanks for joining Ada &amp; Co.</pre>' in content
    assert '<pre data-param="to">ada@example.com</pre>' in content
    assert 'formaction="/w/' in content
    assert not WorkflowRun.objects.unscoped().exists()


@pytest.mark.django_db
def test_saving_a_malformed_placeholder_in_the_builder_shows_it_next_to_the_field(page_client, workspace):
    value = {
        "name": "Broken",
        "description": "",
        "is_active": True,
        "steps": [
            {
                "action": "gmail.send_email",
                "integration": None,
                "params": {"to": ["ada@example.com"], "subject": "Hi", "text": "Hi {{ input.email "},
            }
        ],
    }
    response = page_client.post(f"/w/{workspace.slug}/workflows/new/", {"definition": json.dumps(value)})

    content = response.content.decode()
    assert response.status_code == 400
    text_field = content.split('data-field="text"')[1].split('data-field="html"')[0]
    assert "“{{ input.email” is not closed" in text_field
