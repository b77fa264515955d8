import pytest

from workflows.engine import MAX_BACKOFF_SECONDS, backoff_seconds
from workflows.rendering import render_params


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 12])
def test_backoff_grows_exponentially_with_jitter_and_a_ceiling(settings, attempt):
    settings.WORKFLOW_RETRY_BASE_SECONDS = 2.0
    ceiling = min(MAX_BACKOFF_SECONDS, 2.0 * 2 ** (attempt - 1))
    delays = {backoff_seconds(attempt=attempt, retry_after=None) for _ in range(50)}
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(delays) > 1  # jittered


def test_backoff_honours_retry_after(settings):
    settings.WORKFLOW_RETRY_BASE_SECONDS = 2.0
    assert backoff_seconds(attempt=1, retry_after=30) == 30


def test_placeholders_escape_html_only_in_html_params():
    rendered = render_params(
        {"subject": "Hi {{ input.name }}", "html": "<b>{{ input.name }}</b>", "to": ["{{ input.email }}"]},
        run_input={"name": "<Ada & Co>", "email": "ada@example.com"},
        html_params=frozenset({"html"}),
    )
    assert rendered == {
        "subject": "Hi <Ada & Co>",
        "html": "<b>&lt;Ada &amp; Co&gt;</b>",
        "to": ["ada@example.com"],
    }


def test_a_missing_input_value_renders_empty():
    assert render_params({"subject": "Hi {{ input.name }}"}, run_input={}, html_params=frozenset()) == {
        "subject": "Hi "
    }


def test_filled_in_addresses_must_be_real_addresses():
    from galaxyco.errors import PermanentError
    from workflows.actions.gmail_send_email import GmailSendEmail

    action = GmailSendEmail()
    params = action.validate_params({"to": ["{{ input.email }}"], "subject": "Hi", "text": "Hello"})
    sneaky = "ada@example.com, victim@example.org (x {{ z }})"
    with pytest.raises(PermanentError, match="to"):
        action.prepare(params=params, run_input={"email": sneaky})
    assert action.prepare(params=params, run_input={"email": "ada@example.com"})["to"] == ["ada@example.com"]


@pytest.mark.parametrize("separator", ["\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028"])
def test_filled_in_headers_must_stay_on_one_line(separator):
    from galaxyco.errors import PermanentError
    from workflows.actions.gmail_send_email import GmailSendEmail

    action = GmailSendEmail()
    params = action.validate_params(
        {"to": ["a@example.com"], "subject": "Hi {{ input.name }}", "text": "Hello"}
    )
    with pytest.raises(PermanentError) as caught:
        action.prepare(params=params, run_input={"name": f"Ada{separator}Bcc: victim@example.org"})
    assert caught.value.code == "invalid_params"


def test_input_text_is_never_read_as_a_template():
    from workflows.actions.gmail_send_email import GmailSendEmail

    action = GmailSendEmail()
    params = action.validate_params(
        {"to": ["a@example.com"], "subject": "Hi", "text": "Code: {{ input.code }}"}
    )
    prepared = action.prepare(params=params, run_input={"code": "{% debug %} {{ 1 }}"})
    assert prepared["text"] == "Code: {% debug %} {{ 1 }}"


@pytest.mark.parametrize(
    "source",
    [
        '{{ input.n|center:"2000000000" }}',
        '{{ input.n|divisibleby:"0" }}',
        "{{ settings.SECRET_KEY }}",
        "{{ input }}",
    ],
)
def test_placeholders_are_plain_input_names_only(source):
    from rest_framework import serializers

    from workflows.rendering import validate_placeholders

    with pytest.raises(serializers.ValidationError):
        validate_placeholders(source)
    assert validate_placeholders("Hi {{ input.name }} and {{input.user.first_name}}")


def test_the_input_schema_lists_what_the_placeholders_read():
    from workflows.inputs import input_schema
    from workflows.services import StepSpec

    text = "Hi {{ input.name }}, {{input.user.email}} and {{ input.name }}; not {{ settings.X }} or {{ input.n|upper }}"
    schema = input_schema([StepSpec(action="gmail.send_email", params={"text": text})])
    assert [spec.name for spec in schema] == ["name", "user.email"]
