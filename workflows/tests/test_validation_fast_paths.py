"""The checks on the execute path skip DRF's per-instance field building (a bound params serializer
per thread, a direct read of the usual execute body and of a query without parameters). Each is
compared here with DRF doing the whole work, over generated inputs: same data, same errors."""

import threading
from typing import Any

import pytest
from django.test import RequestFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.request import Request

from galaxyco.api import error_messages
from galaxyco.errors import ErrorCode, PermanentError
from galaxyco.query import QueryParameters
from workflows import rendering
from workflows.actions.base import RENDERED, Action
from workflows.actions.registry import ACTIONS
from workflows.serializers import ExecuteParameters, ExecuteSerializer
from workflows.tests.helpers import create_workflow, execute_url


def drf_validate_params(action: Action, params: Any) -> dict[str, Any]:
    serializer = action.params_serializer(data=params)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def drf_prepare(
    action: Action, *, params: dict[str, Any], run_input: dict[str, Any], step_outputs: dict[str, Any]
) -> dict[str, Any]:
    """Action.prepare as it was, with a new serializer for each check."""
    missing = rendering.check_step_outputs(params=params, step_outputs=step_outputs)
    if missing:
        raise PermanentError(
            f"This step reads an earlier step's output that is not there: {' '.join(missing)}",
            code=ErrorCode.INVALID_PARAMS,
        )
    rendered = rendering.render_params(
        params,
        run_input=run_input,
        html_params=action.html_params,
        address_list_params=action.address_params,
        step_outputs=step_outputs,
    )
    serializer = action.params_serializer(data=rendered, context={RENDERED: True})
    if not serializer.is_valid():
        fields = "; ".join(
            f"{name}: {' '.join(error_messages(errors))}" for name, errors in serializer.errors.items()
        )
        raise PermanentError(
            f"After filling in the run's input, this step's settings are not valid ({fields}).",
            code=ErrorCode.INVALID_PARAMS,
        )
    return dict(serializer.validated_data)


def outcome(check: Any, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """What a check answered: its value, or its error with every message and code."""
    try:
        return ("valid", check(*args, **kwargs))
    except serializers.ValidationError as error:
        return ("invalid", error.detail)
    except PermanentError as error:
        return ("failed", str(error), error.code)


placeholder = st.sampled_from(
    [
        "{{ input.email }}",
        "{{ input.name }}",
        "{{ input.list }}",
        "{{ input.missing }}",
        "{{ steps.earlier.message_id }}",
        "{{ steps.earlier.nothing }}",
        "{{ input.name|upper }}",
        "{{ bad }}",
        "{{ input.",
    ]
)
fragment = st.sampled_from(
    [
        "ada@example.com",
        "bob@",
        "Ada <ada@example.com>",
        "x@bücher.de",
        "=?utf-8?q?hi?=",
        "Hi",
        " ",
        "",
        "\n",
        "\r",
        "\x00",
        "\x07",
        "\t",
        "2026-12-01T09:30:00",
        "2026-12-01",
        "Europe/Paris",
        "Mars/Base",
        "none",
        "all",
        "<a@b>",
        "report.pdf",
        "a/b",
        "application/pdf",
        "aGVsbG8=",
        "not base64!",
        "x" * 70,
        "y" * 1000,
    ]
)
text = st.lists(fragment | placeholder | st.text(max_size=5), max_size=4).map("".join)
scalar = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | text
attachment = st.dictionaries(
    st.sampled_from(["filename", "content_type", "content_base64", "from_trigger", "extra"]),
    scalar,
    max_size=5,
)
value = (
    scalar
    | st.lists(text | scalar, max_size=4)
    | st.lists(attachment, max_size=3)
    | st.dictionaries(st.text(max_size=4), scalar | st.lists(scalar, max_size=2), max_size=3)
)
param_names = sorted(
    {name for action in ACTIONS.values() for name in action.params_serializer._declared_fields} | {"unknown"}
)
params_strategy = st.dictionaries(st.sampled_from(param_names), value, max_size=8)
# Likely to be valid, for each action: placeholders among plain values.
good_text = st.lists(
    st.sampled_from(["Hi ", "Ada", "ü", "{{ input.name }}", "{{ steps.earlier.message_id }}"])
    | st.text(st.characters(whitelist_categories=("L", "N", "Zs")), min_size=1, max_size=5),
    min_size=1,
    max_size=4,
).map("".join)
good_address = st.sampled_from(["ada@example.com", "Bob@Example.org", "x@bücher.de", "{{ input.email }}"])
good_addresses = st.lists(good_address | st.just("{{ input.list }}"), min_size=1, max_size=3)
good_attachment = st.fixed_dictionaries(
    {
        "filename": st.sampled_from(["a.pdf", "notes.txt"]),
        "content_type": st.sampled_from(["application/pdf", "Text/Plain"]),
        "content_base64": st.sampled_from(["aGVsbG8=", "", "{{ input.file }}"]),
    }
) | st.just({"from_trigger": True, "filename": "a.pdf"})
valid_ish = {
    "gmail.send_email": st.fixed_dictionaries(
        {"to": good_addresses, "subject": good_text, "text": good_text},
        optional={
            "cc": good_addresses,
            "bcc": good_addresses,
            "html": good_text,
            "reply_to": good_address,
            "from_name": good_text,
            "attachments": st.lists(good_attachment, max_size=2),
            "reply_to_message_id": st.sampled_from(["", "18c2f0a1b2"]),
        },
    ),
    "calendar.create_event": st.fixed_dictionaries(
        {
            "summary": good_text,
            "start": st.sampled_from(["2026-12-01T09:30:00", "{{ input.start }}"]),
            "end": st.sampled_from(["2026-12-01T10:30:00", "2026-12-01T10:30:00+02:00"]),
        },
        optional={
            "description": good_text,
            "time_zone": st.sampled_from(["UTC", "Europe/Paris"]),
            "attendees": good_addresses,
            "send_updates": st.sampled_from(["all", "externalOnly", "none"]),
            "calendar_id": st.sampled_from(["primary", "team@group.calendar.google.com"]),
        },
    ),
    "sidemail.send_email": st.fixed_dictionaries(
        {"to": good_addresses, "subject": good_text, "text": good_text},
        optional={"html": good_text, "from_name": good_text, "reply_to": good_address},
    )
    | st.fixed_dictionaries(
        {
            "to": good_addresses,
            "template_name": st.sampled_from(["welcome", "{{ input.name }}"]),
            "template_props": st.dictionaries(st.text(max_size=4), good_text | st.integers(), max_size=3),
        }
    ),
}
good_input = {
    "email": good_address.filter(lambda address: "{" not in address),
    "name": good_text.filter(lambda name: "{" not in name),
    "list": st.lists(st.sampled_from(["ada@example.com", "a@b.co, d@e.fr"]), min_size=1, max_size=3),
    "start": st.sampled_from(["2026-12-01T09:00:00", "2026-12-01T11:00:00"]),
    "file": st.just("aGVsbG8="),
}
run_inputs = st.fixed_dictionaries(good_input) | st.fixed_dictionaries(
    {},
    optional={
        "email": st.sampled_from(["bob@", "a@b.c\nBcc: x@y.z"]) | good_input["email"] | scalar,
        "name": good_text | scalar,
        "list": st.lists(st.sampled_from(["ada@example.com", "x", "a@b.c, d@e.f"]), max_size=3) | text,
        "start": st.sampled_from(["2026-12-01T09:00:00", "tomorrow"]),
        "file": st.sampled_from(["aGVsbG8=", "not base64"]),
    },
)
step_outputs = st.just({"earlier": {"message_id": "m1"}}) | st.sampled_from(
    [{}, {"earlier": {"message_id": ["x"]}}]
)
action_params = st.sampled_from(sorted(ACTIONS)).flatmap(
    lambda action_type: st.tuples(st.just(action_type), valid_ish[action_type] | params_strategy)
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(action_params=action_params)
def test_saving_params_answers_as_a_new_serializer_does(action_params):
    action_type, params = action_params
    action = ACTIONS[action_type]
    assert outcome(action.validate_params, params) == outcome(drf_validate_params, action, params)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(action_params=action_params, run_input=run_inputs, outputs=step_outputs)
def test_preparing_params_answers_as_a_new_serializer_does(action_params, run_input, outputs):
    action_type, params = action_params
    action = ACTIONS[action_type]
    assert outcome(action.prepare, params=params, run_input=run_input, step_outputs=outputs) == outcome(
        drf_prepare, action, params=params, run_input=run_input, step_outputs=outputs
    )


def test_a_default_list_is_new_for_each_check():
    action = ACTIONS["gmail.send_email"]
    params = {"to": ["ada@example.com"], "text": "Hi"}
    first = action.prepare(params=params, run_input={})
    first["cc"].append("eve@example.com")
    assert action.prepare(params=params, run_input={})["cc"] == []


def test_threads_checking_at_once_each_get_their_own_answer():
    action = ACTIONS["gmail.send_email"]
    params = {"to": ["{{ input.email }}"], "subject": "{{ input.name }}", "text": "Hi"}
    # Every third input is refused: valid and invalid checks interleave across the threads.
    inputs = {
        index: [
            {"email": f"p{index}.{n}@example.com" if n % 3 else "bad@", "name": f"P{index} {n}"}
            for n in range(200)
        ]
        for index in range(4)
    }
    barrier = threading.Barrier(4)
    answers: dict[int, list[tuple[Any, ...]]] = {}

    def check(index: int) -> None:
        barrier.wait()
        answers[index] = [
            outcome(action.prepare, params=params, run_input=run_input) for run_input in inputs[index]
        ]

    threads = [threading.Thread(target=check, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, run_inputs_of_thread in inputs.items():
        assert answers[index] == [
            outcome(drf_prepare, action, params=params, run_input=run_input, step_outputs={})
            for run_input in run_inputs_of_thread
        ]


def drf_execute_input(data: Any) -> dict[str, Any]:
    serializer = ExecuteSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["input"]


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=500, deadline=None)
@given(
    body=json_value
    | st.dictionaries(st.sampled_from(["input", "other"]), json_value, max_size=2)
    | st.builds(lambda run_input: {"input": run_input}, json_value)
)
def test_the_execute_body_is_read_as_the_serializer_reads_it(body):
    assert outcome(ExecuteSerializer.read_input, body) == outcome(drf_execute_input, body)


@pytest.mark.parametrize(
    "query", ["", "?wait=0", "?wait=1", "?wait=2", "?wait=x", "?wait=", "?wait=0&wait=1", "?other=1"]
)
def test_the_wait_parameter_is_read_as_the_serializer_reads_it(query):
    request = Request(RequestFactory().post(f"/execute/{query}"))
    assert outcome(ExecuteParameters.read, request) == outcome(
        QueryParameters.read.__func__, ExecuteParameters, request
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ('{"input": ["a"]}', {"input": ['Expected a dictionary of items but got type "list".']}),
        ('{"input": null}', {"input": ["This field may not be null."]}),
        ('["a"]', {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ("null", {"non_field_errors": ["No data provided"]}),
    ],
)
def test_an_execute_body_that_is_not_an_input_object_is_refused(workspace, key_client, body, fields):
    workflow_id = create_workflow(key_client, workspace)
    response = key_client.post(execute_url(workspace, workflow_id), body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert response.json()["error"]["fields"] == fields
