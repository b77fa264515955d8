"""No header or recipient can be injected into an email through RFC 2047 encoded words.

Python 3.11.7's email package (CVE-2024-6923) decodes `=?utf-8?q?…?=` in a header value and
writes a decoded line break out raw: `Welcome =?utf-8?q?Ada=0D=0ABcc:_attacker@…?=` became a
hidden Bcc. A single-line check on the text as typed cannot see that.
"""

import base64
from collections import Counter
from email.header import decode_header, make_header
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from galaxyco.errors import PermanentError
from integrations.google import clients
from integrations.models import Integration
from integrations.tests.google_grants import connect
from workflows.actions.base import StepContext, is_single_line
from workflows.actions.gmail_send_email import ENCODED_WORD, GmailSendEmail, message_bytes
from workflows.tests.helpers import create_workflow, execute, parsed, workflows_url

SENDER = "sender@gmail.test"


def b_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


# Run input values that decode, inside a header, into a line break and a header of their own.
HEADER_PAYLOADS = {
    "q": "=?utf-8?q?Ada=0D=0ABcc:_attacker@evil.example=0D=0AX-Injected:_yes?=",
    "q-uppercase": "=?UTF-8?Q?Ada=0D=0ABcc:_attacker@evil.example=0D=0AX-Injected:_yes?=",
    "b": b_word("Ada\r\nBcc: attacker@evil.example\r\nX-Injected: yes"),
    "split-q": "=?utf-8?q?Ada=0D?= =?utf-8?q?=0ABcc:_attacker@evil.example?=",
    "split-b": b_word("Ada\r") + " " + b_word("\nBcc: attacker@evil.example"),
    "lf-only": "=?utf-8?q?Ada=0ABcc:_attacker@evil.example?=",
    "cr-only": "=?utf-8?q?Ada=0DBcc:_attacker@evil.example?=",
    "folded-line": "=?utf-8?q?Ada=0D=0A=20Bcc:_attacker@evil.example?=",
    "blank-line": "=?utf-8?q?Ada=0D=0A=0D=0AForged_body?=",
    "inside-a-word": "Ada=?utf-8?q?=0D=0ABcc:_attacker@evil.example?=",
    "latin-1": "=?iso-8859-1?q?Ada=0D=0ABcc:_attacker@evil.example?=",
}

# Run input values that pass as an email address but decode into other recipients.
ADDRESS_PAYLOADS = {
    "comma": "=?utf-8?q?x=2C_attacker=40evil.example?=@example.com",
    "angle-brackets": "=?utf-8?q?a=22=3Cattacker=40evil.example=3E?=@example.com",
    "disguised": "=?utf-8?q?attacker?=@evil.example",
}

BASE_PARAMS: dict[str, Any] = {
    "to": ["ops@example.com"],
    "cc": [],
    "bcc": [],
    "subject": "Welcome",
    "text": "Hello",
    "html": "",
    "reply_to": "",
    "from_name": "",
}


def with_value(field: str, value: str) -> dict[str, Any]:
    params = dict(BASE_PARAMS)
    params[field] = [value] if field in ("to", "cc", "bcc") else value
    return params


def step_settings(field: str) -> dict[str, Any]:
    """A step whose `field` is filled in from the run input's `name`."""
    params: dict[str, Any] = {"to": ["ops@example.com"], "subject": "Welcome", "text": "Hello"}
    if field == "subject":
        params["subject"] = "Welcome {{ input.name }}"
    elif field in ("to", "cc", "bcc"):
        params[field] = ["{{ input.name }}"]
    else:
        params[field] = "{{ input.name }}"
    return params


HEADER_CASES = [
    pytest.param(field, payload, id=f"{field}-{name}")
    for field in ("subject", "from_name")
    for name, payload in HEADER_PAYLOADS.items()
]
ADDRESS_CASES = [
    pytest.param(field, payload, id=f"{field}-{name}")
    for field in ("to", "cc", "bcc", "reply_to")
    for name, payload in ADDRESS_PAYLOADS.items()
]
# The cases where Python 3.11.7 writes a header or recipient of the payload's making (a folded
# line stays a continuation, and a display name quotes an encoded word that is inside a word).
WRITTEN_AS_INJECTED = [
    case
    for case in HEADER_CASES + ADDRESS_CASES
    if case.id not in ("subject-folded-line", "from_name-folded-line", "from_name-inside-a-word")
]


# Through the API, against the Google emulator: nothing reaches the mailbox.


@pytest.fixture
def gmail(google, workspace, member):
    return connect(google, workspace=workspace, user=member, email=SENDER)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("field", "payload"), HEADER_CASES + ADDRESS_CASES)
def test_an_encoded_word_in_the_run_input_sends_nothing(google, gmail, workspace, key_client, field, payload):
    definition = {
        "name": "Welcome",
        "steps": [{"action": "gmail.send_email", "integration": None, "params": step_settings(field)}],
    }
    workflow_id = create_workflow(key_client, workspace, definition)

    body = execute(key_client, workspace, workflow_id, {"name": payload}).json()

    assert body["success"] is False
    assert body["error"]["code"] == "invalid_params"
    assert f"({field}: " in body["error"]["message"]
    assert "Encoded-word text" in body["error"]["message"]
    assert google.state.messages() == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("field", ["subject", "from_name"])
def test_an_encoded_word_typed_into_the_step_is_refused_when_saved(google, workspace, key_client, field):
    params: dict[str, Any] = {"to": ["ops@example.com"], "subject": "Welcome", "text": "Hello"}
    params[field] = HEADER_PAYLOADS["q"]
    definition = {"name": "Welcome", "steps": [{"action": "gmail.send_email", "params": params}]}

    response = key_client.post(workflows_url(workspace), definition, format="json")

    assert response.status_code == 400
    [message] = response.json()["error"]["fields"]["steps"]["0"]["params"][field]
    assert "Encoded-word text" in message
    assert google.state.messages() == []


@pytest.mark.django_db(transaction=True)
def test_a_legitimate_email_arrives_with_exactly_the_headers_and_recipients_named(
    google, gmail, workspace, key_client
):
    """The checks refuse encoded words, not text that merely contains `=?` or non-ASCII."""
    subject = "Is 2+2=? Café für {{ input.name }} ?= " + "lange Betreffzeile " * 8
    definition = {
        "name": "Welcome",
        "steps": [
            {
                "action": "gmail.send_email",
                "integration": None,
                "params": {
                    "to": ["{{ input.email }}", "second@example.com"],
                    "cc": ["cc@example.com"],
                    "bcc": ["bcc@example.com"],
                    "reply_to": "replies@example.com",
                    "from_name": "Équipe {{ input.name }}, Inc.",
                    "subject": subject,
                    "text": "Hello",
                },
            }
        ],
    }
    workflow_id = create_workflow(key_client, workspace, definition)

    body = execute(key_client, workspace, workflow_id, {"name": "Zoë", "email": "ada@example.com"}).json()

    assert body["success"] is True, body
    [delivered] = google.state.messages()
    message = parsed(delivered)
    assert Counter(message.keys()) == Counter(
        [
            "Message-ID",  # ours, so a send whose outcome is unknown can be found in the Sent mail
            "X-GalaxyCo-Step",  # the same id, where Gmail replaced the Message-ID
            "X-GalaxyCo-Origin",  # the workspace's mark, so its Gmail triggers skip its own mail
            "From",
            "To",
            "Cc",
            "Bcc",
            "Reply-To",
            "Subject",
            "Content-Type",
            "Content-Transfer-Encoding",
            "MIME-Version",
        ]
    )
    assert [a.addr_spec for a in message["To"].addresses] == ["ada@example.com", "second@example.com"]
    assert [a.addr_spec for a in message["Cc"].addresses] == ["cc@example.com"]
    assert [a.addr_spec for a in message["Bcc"].addresses] == ["bcc@example.com"]
    assert [a.addr_spec for a in message["Reply-To"].addresses] == ["replies@example.com"]
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Équipe Zoë, Inc.", SENDER)
    assert message["Subject"] == subject.replace("{{ input.name }}", "Zoë")


# Filling in the run's input: the header fields refuse encoded words, naming the field.


@pytest.mark.parametrize(("field", "payload"), HEADER_CASES + ADDRESS_CASES)
def test_filling_in_an_encoded_word_fails_the_step_and_names_the_field(field, payload):
    action = GmailSendEmail()
    params = action.validate_params(step_settings(field))

    with pytest.raises(PermanentError) as caught:
        action.prepare(params=params, run_input={"name": payload})

    assert caught.value.code == "invalid_params"
    assert f"({field}: " in str(caught.value)
    assert "Encoded-word text" in str(caught.value)


@pytest.mark.parametrize("field", ["subject", "from_name", "to", "cc", "bcc", "reply_to"])
def test_saving_an_encoded_word_in_a_header_field_is_refused(field):
    value = ADDRESS_PAYLOADS["comma"] if field in ("to", "cc", "bcc", "reply_to") else HEADER_PAYLOADS["b"]
    params: dict[str, Any] = {"to": ["ops@example.com"], "subject": "Welcome", "text": "Hello"}
    params[field] = [value] if field in ("to", "cc", "bcc") else value

    with pytest.raises(serializers.ValidationError) as caught:
        GmailSendEmail().validate_params(params)

    assert field in caught.value.detail


# Building the message: whatever got past the fields, the bytes are read back before sending.


@pytest.fixture
def sent(monkeypatch) -> list[str]:
    raws: list[str] = []

    def send_gmail_message(
        *, integration: Integration, raw: str, thread_id: str | None = None, on_call: Any = None
    ) -> dict[str, str]:
        raws.append(raw)
        return {"id": "m1", "threadId": "t1"}

    monkeypatch.setattr(clients, "send_gmail_message", send_gmail_message)
    return raws


def run_step(params: dict[str, Any]) -> dict[str, Any]:
    return GmailSendEmail().run(
        params=params,
        integration=Integration(email=SENDER),
        step=StepContext(workspace_id=1, run_id=1, position=0),
    )


@pytest.mark.parametrize(("field", "payload"), WRITTEN_AS_INJECTED)
def test_a_message_whose_written_headers_differ_from_the_step_is_never_sent(sent, field, payload):
    with pytest.raises(PermanentError) as caught:
        run_step(with_value(field, payload))

    assert caught.value.code == "invalid_params"
    assert "was not sent" in str(caught.value)
    assert sent == []


def test_a_message_whose_headers_match_the_step_is_sent(sent):
    params = {
        **BASE_PARAMS,
        "cc": ["cc@example.com"],
        "bcc": ["bcc@example.com"],
        "reply_to": "r@example.com",
    }
    assert run_step(params)["message_id"] == "m1"
    [raw] = sent
    message = BytesParser(policy=default_policy).parsebytes(base64.urlsafe_b64decode(raw))
    assert [a.addr_spec for a in message["Bcc"].addresses] == ["bcc@example.com"]
    assert "X-Injected" not in message


header_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=200
).filter(lambda text: is_single_line(text) and not ENCODED_WORD.search(text))


def read_as_rfc_2047(phrase: str) -> str:
    """A display name as RFC 2047 reads it: the white space between two encoded words dropped
    (Python's parser keeps it in a display name)."""
    return str(make_header(decode_header(phrase)))


@settings(max_examples=300, deadline=None)
@given(subject=header_text, from_name=header_text, html=st.booleans())
def test_any_single_line_text_without_encoded_words_is_written_as_built(subject, from_name, html):
    """The read-back check does not refuse honest text: folding, quoting and non-ASCII round-trip."""
    params = {
        **BASE_PARAMS,
        "subject": subject,
        "from_name": from_name,
        "cc": ["cc@example.com"],
        "html": "<p>Hello</p>" if html else "",
    }
    raw = message_bytes(sender=SENDER, params=params, message_id="<m-1@galaxyco.test>", origin="0" * 32)

    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    written = BytesParser(policy=default_policy).parsebytes(raw)
    assert written["Subject"] == subject
    [sender] = written["From"].addresses
    assert sender.addr_spec == SENDER
    name = from_name.strip(" \t")
    if sender.display_name != name:
        [head] = [line for line in raw.replace(b"\r\n ", b" ").split(b"\r\n") if line.startswith(b"From: ")]
        assert read_as_rfc_2047(head.decode()[len("From: ") :].rsplit(" <", 1)[0]) == name
    bodies = [part.get_content().replace("\r\n", "\n") for part in written.walk() if not part.is_multipart()]
    assert bodies == (["Hello\n", "<p>Hello</p>\n"] if html else ["Hello\n"])
