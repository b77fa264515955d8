"""Placeholders read keys of plain data: they never reach attributes or call methods."""

import copy

import pytest

from workflows.actions.gmail_send_email import GmailSendEmail
from workflows.rendering import render_params, validate_placeholders

RUN_INPUT = {
    "name": "Ada",
    "count": 3,
    "ratio": 1.5,
    "vip": True,
    "note": None,
    "tags": ["a", "b", "c"],
    "user": {"first": "Ada", "roles": ["admin"], "profile": {"city": "London"}},
}


def render(source: str, run_input: dict | None = None, *, html: bool = False) -> str:
    params = render_params(
        {"value": source},
        run_input=RUN_INPUT if run_input is None else run_input,
        html_params=frozenset({"value"}) if html else frozenset(),
    )
    return params["value"]


@pytest.mark.parametrize(
    "source",
    [
        "{{ input.items }}",
        "{{ input.keys }}",
        "{{ input.values }}",
        "{{ input.copy }}",
        "{{ input.clear }}",
        "{{ input.popitem }}",
        "{{ input.user.items }}",
        "{{ input.user.clear }}",
        "{{ input.user.popitem }}",
        "{{ input.user.roles.pop }}",
        "{{ input.user.roles.clear }}",
        "{{ input.user.roles.copy }}",
        "{{ input.tags.pop }}",
        "{{ input.tags.reverse }}",
        "{{ input.tags.sort }}",
        "{{ input.tags.count }}",
        "{{ input.name.upper }}",
        "{{ input.name.lower }}",
        "{{ input.name.strip }}",
        "{{ input.count.real }}",
        "{{ input.count.bit_length }}",
        "{{ input.ratio.hex }}",
        "{{ input.vip.numerator }}",
        "{{ input.note.missing }}",
        "{{ input.__class__ }}",
        "{{ input.user.__class__ }}",
        "{{ input.name.__class__ }}",
        "{{ input.__dict__ }}",
    ],
)
def test_a_method_or_attribute_name_is_only_ever_a_missing_key(source):
    run_input = copy.deepcopy(RUN_INPUT)

    assert render(source, run_input) == ""
    assert render(source, run_input, html=True) == ""
    assert run_input == RUN_INPUT  # nothing was called: the input is unchanged


def test_clearing_the_input_in_one_placeholder_does_not_empty_the_next():
    run_input = copy.deepcopy(RUN_INPUT)
    rendered = render_params(
        {
            "subject": "{{ input.clear }}{{ input.user.clear }}{{ input.tags.pop }}",
            "text": "{{ input.name }} {{ input.user.first }} {{ input.tags }}",
        },
        run_input=run_input,
        html_params=frozenset(),
    )
    assert rendered == {"subject": "", "text": "Ada Ada a, b, c"}  # a list is joined, never Python text
    assert run_input == RUN_INPUT


def test_a_key_named_like_a_method_is_read_as_a_key():
    run_input = {"items": "three items", "user": {"keys": "house keys", "pop": "music"}}
    assert render("{{ input.items }}, {{ input.user.keys }}, {{ input.user.pop }}", run_input) == (
        "three items, house keys, music"
    )


def test_the_whole_input_cannot_be_dumped_through_an_action():
    action = GmailSendEmail()
    params = action.validate_params(
        {"to": ["ada@example.com"], "subject": "Hi", "text": "Hi {{ input.items }}{{ input.values }}"}
    )
    run_input = {"secret": "s3cr3t", "other": {"token": "t0ken"}}
    prepared = action.prepare(params=params, run_input=run_input)
    assert prepared["text"] == "Hi "
    assert run_input == {"secret": "s3cr3t", "other": {"token": "t0ken"}}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ input.name }}", "Ada"),
        ("{{ input.user.first }} from {{ input.user.profile.city }}", "Ada from London"),
        ("{{ input.count }}", "3"),
        ("{{ input.ratio }}", "1.5"),
        ("{{ input.vip }}", "True"),
        ("{{ input.nope }}", ""),
        ("{{ input.user.nope.deeper }}", ""),
        ("{{input.name}}", "Ada"),
    ],
)
def test_keys_of_plain_data_are_read(source, expected):
    assert render(source) == expected


def test_html_params_escape_every_value_and_text_params_escape_none():
    run_input = {"name": "<b>Ada & Co</b>", "user": {"quote": "\"'"}}
    source = "<p>{{ input.name }} {{ input.user.quote }}</p>"
    assert render(source, run_input, html=True) == "<p>&lt;b&gt;Ada &amp; Co&lt;/b&gt; &quot;&#x27;</p>"
    assert render(source, run_input) == "<p><b>Ada & Co</b> \"'</p>"


def test_lists_are_not_indexed_because_the_grammar_has_no_index():
    from rest_framework import serializers

    with pytest.raises(serializers.ValidationError):
        validate_placeholders("{{ input.tags.0 }}")
    assert render("{{ input.tags.0 }}") == ""


@pytest.mark.parametrize("source", ["{{ input.__class__ }}", "{{ input._private }}", "{{ input.user._x }}"])
def test_names_starting_with_an_underscore_are_refused_when_saved(source):
    from rest_framework import serializers

    with pytest.raises(serializers.ValidationError):
        validate_placeholders(source)
