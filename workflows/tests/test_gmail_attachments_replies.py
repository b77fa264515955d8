"""Gmail send with attachments (large ones through the upload endpoint) and replies that thread,
against the Google emulator over real HTTP."""

import base64
import hashlib
import io
import os
from email.utils import make_msgid

import pytest
from googleapiclient.http import MediaIoBaseUpload

from devtools.google_emulator.gmail_read import deliver
from galaxyco.errors import PermanentError
from integrations.google import clients
from integrations.tests.google_grants import connect
from workflows.actions.base import StepContext
from workflows.actions.gmail_send_email import GmailSendEmail, GmailSendEmailParams
from workflows.models import WorkflowRun
from workflows.tests.helpers import create_workflow, execute, parsed

pytestmark = pytest.mark.django_db(transaction=True)

SENDER = "sender@gmail.test"
READONLY = "https://www.googleapis.com/auth/gmail.readonly"


def reply_workflow() -> dict:
    return {
        "name": "Answer",
        "steps": [
            {
                "action": "gmail.send_email",
                "integration": None,
                "params": {
                    "to": ["{{ input.email }}"],
                    "text": "Thanks, on its way.",
                    "reply_to_message_id": "{{ input.message_id }}",
                },
            }
        ],
    }


def send_directly(integration, params: dict, calls: list[str]) -> dict:
    action = GmailSendEmail()
    prepared = action.prepare(params=params, run_input={})
    step = StepContext(
        workspace_id=integration.workspace_id,
        run_id=0,
        position=0,
        message_id_header=make_msgid(domain="galaxyco.test"),
        on_call=lambda: calls.append("called"),
    )
    return action.run(params=prepared, integration=integration, step=step)


def test_a_reply_lands_in_the_thread_with_in_reply_to_references_and_re_subject(
    google, workspace, member, key_client
):
    connect(google, workspace=workspace, user=member, email=SENDER, extra_scopes=(READONLY,))
    first = deliver(
        google.state, mailbox=SENDER, sender="bob@shop.test", subject="Order 42", message_id="<o42@shop.test>"
    )
    answered = deliver(
        google.state,
        mailbox=SENDER,
        sender="bob@shop.test",
        subject="Re: Order 42",
        message_id="<o42-2@shop.test>",
        in_reply_to="<o42@shop.test>",
    )
    assert answered["threadId"] == first["threadId"]

    workflow_id = create_workflow(key_client, workspace, reply_workflow())
    response = execute(
        key_client, workspace, workflow_id, {"email": "bob@shop.test", "message_id": answered["id"]}
    )

    assert response.json()["run"]["status"] == "succeeded", response.json()
    [sent] = google.state.messages(to="bob@shop.test")
    assert sent["threadId"] == first["threadId"]
    message = parsed(sent)
    assert message["In-Reply-To"] == "<o42-2@shop.test>"
    assert message["References"].split() == ["<o42@shop.test>", "<o42-2@shop.test>"]
    assert message["Subject"] == "Re: Order 42"


def test_a_reply_without_read_access_is_refused_with_what_to_do(google, workspace, member, key_client):
    connect(google, workspace=workspace, user=member, email=SENDER)
    answered = deliver(google.state, mailbox=SENDER, sender="bob@shop.test", subject="Order 42")
    workflow_id = create_workflow(key_client, workspace, reply_workflow())

    response = execute(
        key_client, workspace, workflow_id, {"email": "bob@shop.test", "message_id": answered["id"]}
    )

    run = response.json()["run"]
    assert run["status"] == "failed"
    assert "read access" in run["steps"][0]["error"]["message"]
    assert google.state.messages(to="bob@shop.test") == []
    assert WorkflowRun.objects.unscoped().count() == 1


def test_a_10_mb_attachment_goes_through_the_upload_endpoint_and_arrives_byte_identical(
    google, workspace, member
):
    integration = connect(google, workspace=workspace, user=member, email=SENDER)
    content = os.urandom(10 * 1024 * 1024)
    calls: list[str] = []

    output = send_directly(
        integration,
        {
            "to": ["ada@example.com"],
            "subject": "The file",
            "text": "Attached.",
            "attachments": [
                {
                    "filename": "data.bin",
                    "content_type": "application/octet-stream",
                    "content_base64": base64.b64encode(content).decode(),
                }
            ],
        },
        calls,
    )

    assert calls == ["called"]  # the at-most-once mark is made for the upload path too
    [stored] = google.state.messages(to="ada@example.com")
    assert output["message_id"] == stored["id"]
    [attachment] = list(parsed(stored).iter_attachments())
    assert attachment.get_filename() == "data.bin"
    received = attachment.get_payload(decode=True)
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(content).hexdigest()


def test_a_small_attachment_goes_as_raw_and_reads_back_through_attachments_get(google, workspace, member):
    integration = connect(google, workspace=workspace, user=member, email=SENDER, extra_scopes=(READONLY,))
    content = b"%PDF-1.4 tiny\x00\xff"
    output = send_directly(
        integration,
        {
            "to": ["ada@example.com"],
            "text": "Attached.",
            "attachments": [
                {
                    "filename": "r.pdf",
                    "content_type": "application/pdf",
                    "content_base64": base64.b64encode(content).decode(),
                }
            ],
        },
        [],
    )

    full = clients.gmail_get_message(integration=integration, message_id=output["message_id"])
    [part] = [part for part in full["payload"]["parts"] if part.get("filename") == "r.pdf"]
    got = clients.execute(
        integration=integration,
        service_label="Gmail",
        request_for=lambda: (
            clients._gmail_messages(google.url)
            .attachments()
            .get(userId="me", messageId=output["message_id"], id=part["body"]["attachmentId"])
        ),
    )
    assert base64.urlsafe_b64decode(got["data"] + "=" * (-len(got["data"]) % 4)) == content


def test_attachments_over_25_mb_are_refused_naming_the_limit():
    encoded = base64.b64encode(b"\0" * (19 * 1024 * 1024)).decode()  # 25.3 MB once encoded
    serializer = GmailSendEmailParams(
        data={
            "to": ["ada@example.com"],
            "text": "Too big.",
            "attachments": [
                {"filename": "big.bin", "content_type": "application/octet-stream", "content_base64": encoded}
            ],
        }
    )
    assert not serializer.is_valid()
    assert "25 MB" in str(serializer.errors["attachments"])


@pytest.mark.parametrize(
    "attachment",
    [
        {"filename": "../../etc/passwd", "content_type": "text/plain", "content_base64": ""},
        {"filename": "a\r\nBcc: eve@evil.test", "content_type": "text/plain", "content_base64": ""},
        {"filename": "C:\\x.txt", "content_type": "text/plain", "content_base64": ""},
        {"filename": "ok.txt", "content_type": "text/plain\r\nBcc: eve@evil.test", "content_base64": ""},
        {"filename": "ok.txt", "content_type": "text/plain; name=x", "content_base64": ""},
        {"filename": "ok.txt", "content_type": "text/plain", "content_base64": "not base64!"},
    ],
)
def test_a_hostile_attachment_is_refused(attachment):
    serializer = GmailSendEmailParams(
        data={"to": ["ada@example.com"], "text": "x", "attachments": [attachment]}
    )
    assert not serializer.is_valid()
    assert "attachments" in serializer.errors


def test_upload_urls_reach_the_configured_base_url_over_plain_http(google, settings):
    assert settings.GOOGLE_API_BASE_URL.startswith("http://")
    request = clients._gmail_messages(settings.GOOGLE_API_BASE_URL).send(
        userId="me", media_body=MediaIoBaseUpload(io.BytesIO(b"x"), mimetype="message/rfc822")
    )
    assert request.uri.startswith(
        settings.GOOGLE_API_BASE_URL.rstrip("/") + "/upload/gmail/v1/users/me/messages/send"
    )


def test_a_reply_to_a_message_without_a_message_id_is_refused():
    from workflows.actions.gmail_send_email import reply_headers

    with pytest.raises(PermanentError, match="Message-ID"):
        reply_headers(
            original={"payload": {"headers": [{"name": "Message-ID", "value": "<a@b>\r\nBcc: x@y"}]}}
        )


def test_a_long_references_chain_passes_the_header_guard_unchanged():
    from workflows.actions.gmail_send_email import message_bytes, reply_headers

    chain = " ".join(f"<id{i}.a-long-local-part@mail.example.com>" for i in range(40))
    original = {
        "payload": {
            "headers": [
                {"name": "Message-ID", "value": "<last@mail.example.com>"},
                {"name": "References", "value": chain},
                {"name": "Subject", "value": "Hello"},
            ]
        }
    }
    params = {"to": ["ada@example.com"], "text": "x"}
    reply = reply_headers(original=original)
    raw = message_bytes(sender=SENDER, params=params, message_id="<m@galaxyco.test>", reply=reply)

    written = parsed({"raw": base64.urlsafe_b64encode(raw).decode()})
    assert written["References"].split() == [*chain.split(), "<last@mail.example.com>"]
    assert written["Subject"] == "Re: Hello"


@pytest.mark.parametrize(
    ("attachment", "field"),
    [
        ({"from_trigger": True, "filename": "a.pdf", "content_base64": "aGk="}, "non_field_errors"),
        ({"from_trigger": True, "filename": "../a.pdf"}, "filename"),
        ({"filename": "a.pdf"}, "content_type"),
        ({"filename": "a.pdf", "content_type": "application/pdf"}, "content_base64"),
        (
            {"filename": "a.pdf", "content_type": "application/pdf", "content_base64": "{{ input.x | y }}"},
            "content_base64",
        ),
    ],
)
def test_an_attachment_must_be_one_form_or_the_other(attachment, field):
    serializer = GmailSendEmailParams(
        data={"to": ["ada@example.com"], "text": "x", "attachments": [attachment]}
    )
    assert not serializer.is_valid()
    assert field in serializer.errors["attachments"][0]


def test_an_attachment_from_the_trigger_or_from_an_input_placeholder_is_saved_as_written():
    attachments = [
        {"from_trigger": True, "filename": "invoice.pdf"},
        {
            "filename": "data.bin",
            "content_type": "application/octet-stream",
            "content_base64": "{{ input.file }}",
        },
        {"from_trigger": False, "filename": "a.txt", "content_type": "text/plain", "content_base64": "aGk="},
    ]
    params = GmailSendEmail().validate_params(
        {"to": ["ada@example.com"], "text": "x", "attachments": attachments}
    )
    assert [dict(item) for item in params["attachments"]] == [
        attachments[0],
        attachments[1],
        {"filename": "a.txt", "content_type": "text/plain", "content_base64": "aGk="},
    ]


def test_an_input_that_is_not_base64_fails_the_step_when_it_is_filled_in():
    action = GmailSendEmail()
    params = action.validate_params(
        {
            "to": ["ada@example.com"],
            "text": "x",
            "attachments": [
                {
                    "filename": "a.bin",
                    "content_type": "application/octet-stream",
                    "content_base64": "{{ input.file }}",
                }
            ],
        }
    )
    with pytest.raises(PermanentError, match="base64"):
        action.prepare(params=params, run_input={"file": "not base64!"})
    prepared = action.prepare(params=params, run_input={"file": "aGk="})
    assert prepared["attachments"][0]["content_base64"] == "aGk="
