"""Gmail triggers whose runs go all the way, against the emulator: mail a run sends never starts
another run (to the watched mailbox itself, or to another mailbox of the workspace), and a run
can send on an attachment of the email that started it."""

import base64
import hashlib
import os

import pytest

from devtools.google_emulator.gmail_read import deliver, deliver_raw
from hooks import gmail_trigger
from hooks.tests.test_gmail_trigger import add_gmail_trigger, grant_read_access, runs_of
from integrations.google.marker import ORIGIN_HEADER, origin_value
from integrations.tests.google_grants import connect
from workflows.tests.helpers import create_workflow, parsed

pytestmark = pytest.mark.django_db(transaction=True)

MAILBOX = "shop-inbox@gmail.test"
OPS = "ops@gmail.test"


def raw_bytes(stored: dict) -> bytes:
    return base64.urlsafe_b64decode(stored["raw"] + "=" * (-len(stored["raw"]) % 4))


def send_step(**params) -> dict:
    return {
        "name": "On new mail",
        "steps": [{"action": "gmail.send_email", "integration": None, "params": params}],
    }


def forward_invoice(key_client, workspace) -> int:
    """A workflow that sends the triggering email's invoice.pdf on to boss@example.com."""
    return create_workflow(
        key_client,
        workspace,
        send_step(
            to=["boss@example.com"],
            text="Forwarded.",
            attachments=[{"from_trigger": True, "filename": "invoice.pdf"}],
        ),
    )


@pytest.fixture
def mailbox(google, workspace, member):
    return grant_read_access(
        google, connect(google, workspace=workspace, user=member, email=MAILBOX, share=True), member
    )


def test_a_run_mailing_the_watched_mailbox_itself_starts_no_second_run(
    google, mailbox, workspace, key_client
):
    workflow_id = create_workflow(
        key_client,
        workspace,
        send_step(to=[MAILBOX], subject="Logged: {{ input.subject }}", text="{{ input.snippet }}"),
    )
    trigger = add_gmail_trigger(key_client, workspace, workflow_id, mailbox, query="")
    gmail_trigger.poll(trigger_id=trigger["id"])
    deliver(google.state, mailbox=MAILBOX, sender="bob@shop.test", subject="Order 1", text="Paid")

    assert gmail_trigger.poll(trigger_id=trigger["id"]) == 1
    [run] = runs_of(trigger["id"])
    run.refresh_from_db()
    assert run.status == "succeeded"
    [logged] = [m for m in google.state.messages(to=MAILBOX) if m["subject"] == "Logged: Order 1"]
    assert "INBOX" in logged["labelIds"]  # mail to oneself lands in the inbox too
    assert parsed(logged)[ORIGIN_HEADER] == origin_value(workspace_id=workspace.pk)

    for _ in range(2):
        assert gmail_trigger.poll(trigger_id=trigger["id"]) == 0
    assert len(runs_of(trigger["id"])) == 1


def test_mail_our_runs_sent_arriving_in_another_watched_mailbox_starts_no_run(
    google, mailbox, workspace, member, key_client, other_workspace
):
    """The marker, not the SENT label: the copy that arrives in another mailbox has no SENT label."""
    ops = grant_read_access(
        google, connect(google, workspace=workspace, user=member, email=OPS, share=True), member
    )
    workflow_id = create_workflow(
        key_client, workspace, send_step(to=[OPS], subject="Order: {{ input.subject }}", text="See it.")
    )
    watching_mailbox = add_gmail_trigger(key_client, workspace, workflow_id, mailbox, query="")
    watching_ops = add_gmail_trigger(key_client, workspace, workflow_id, ops, query="")
    for trigger in (watching_mailbox, watching_ops):
        gmail_trigger.poll(trigger_id=trigger["id"])

    deliver(google.state, mailbox=MAILBOX, sender="bob@shop.test", subject="Order 1")
    assert gmail_trigger.poll(trigger_id=watching_mailbox["id"]) == 1
    [sent] = [m for m in google.state.messages(to=OPS) if m["mailbox"] == MAILBOX]
    deliver_raw(google.state, mailbox=OPS, raw=raw_bytes(sent))  # the email arrives at ops@

    assert gmail_trigger.poll(trigger_id=watching_ops["id"]) == 0
    assert runs_of(watching_ops["id"]) == []

    # Another workspace's runs' mail is mail like any other: it starts a run.
    theirs = parsed(sent)
    theirs.replace_header(ORIGIN_HEADER, origin_value(workspace_id=other_workspace.pk))
    theirs.replace_header("Message-ID", "<theirs@galaxyco.test>")
    deliver_raw(google.state, mailbox=OPS, raw=theirs.as_bytes())
    assert gmail_trigger.poll(trigger_id=watching_ops["id"]) == 1


def test_a_reply_carries_the_triggering_emails_attachment_byte_identical(
    google, mailbox, workspace, key_client
):
    workflow_id = create_workflow(
        key_client,
        workspace,
        send_step(
            to=["{{ input.from }}"],
            text="Thanks, we got your invoice.",
            reply_to_message_id="{{ input.message_id }}",
            attachments=[{"from_trigger": True, "filename": "invoice.pdf"}],
        ),
    )
    trigger = add_gmail_trigger(key_client, workspace, workflow_id, mailbox, query="")
    gmail_trigger.poll(trigger_id=trigger["id"])
    pdf = b"%PDF-1.7\n" + os.urandom(200 * 1024)
    incoming = deliver(
        google.state,
        mailbox=MAILBOX,
        sender="bob@shop.test",
        subject="Invoice 7",
        attachments=[
            {"filename": "notes.txt", "content_type": "text/plain", "content_base64": "aGk="},
            {
                "filename": "invoice.pdf",
                "content_type": "application/pdf",
                "content_base64": base64.b64encode(pdf).decode(),
            },
        ],
    )

    assert gmail_trigger.poll(trigger_id=trigger["id"]) == 1
    [run] = runs_of(trigger["id"])
    run.refresh_from_db()
    assert run.status == "succeeded", run.step_runs.get().error_message
    [reply] = google.state.messages(to="bob@shop.test")
    assert reply["threadId"] == incoming["threadId"]
    [attachment] = list(parsed(reply).iter_attachments())
    assert attachment.get_filename() == "invoice.pdf"
    assert attachment.get_content_type() == "application/pdf"
    received = attachment.get_payload(decode=True)
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(pdf).hexdigest()


def test_an_attachment_the_triggering_email_does_not_have_fails_the_step_naming_it(
    google, mailbox, workspace, key_client
):
    workflow_id = forward_invoice(key_client, workspace)
    trigger = add_gmail_trigger(key_client, workspace, workflow_id, mailbox, query="")
    gmail_trigger.poll(trigger_id=trigger["id"])
    deliver(
        google.state,
        mailbox=MAILBOX,
        sender="bob@shop.test",
        subject="No invoice",
        attachments=[{"filename": "notes.txt", "content_type": "text/plain", "content_base64": "aGk="}],
    )

    assert gmail_trigger.poll(trigger_id=trigger["id"]) == 1
    [run] = runs_of(trigger["id"])
    run.refresh_from_db()
    step = run.step_runs.get()
    assert run.status == "failed" and step.error_code == "invalid_params"
    assert "invoice.pdf" in step.error_message and "notes.txt" in step.error_message
    assert google.state.messages(to="boss@example.com") == []


def test_an_attachment_from_the_trigger_in_a_run_no_email_started_fails_the_step(
    google, mailbox, workspace, key_client
):
    from workflows.tests.helpers import execute

    workflow_id = forward_invoice(key_client, workspace)
    message = deliver(google.state, mailbox=MAILBOX, sender="bob@shop.test", subject="Invoice")

    # An API caller naming a message id does not make the run one an email started.
    response = execute(key_client, workspace, workflow_id, {"message_id": message["id"]})

    run = response.json()["run"]
    assert run["status"] == "failed"
    assert "started by a new Gmail email" in run["steps"][0]["error"]["message"]
    assert google.state.messages(to="boss@example.com") == []


def test_a_re_run_of_a_run_an_email_started_reads_the_same_emails_attachment(
    google, mailbox, workspace, key_client
):
    from devtools.google_emulator import EmulatorClient

    workflow_id = forward_invoice(key_client, workspace)
    trigger = add_gmail_trigger(key_client, workspace, workflow_id, mailbox, query="")
    gmail_trigger.poll(trigger_id=trigger["id"])
    pdf = b"%PDF-1.4 " + os.urandom(1024)
    deliver(
        google.state,
        mailbox=MAILBOX,
        sender="bob@shop.test",
        subject="Invoice",
        attachments=[
            {
                "filename": "invoice.pdf",
                "content_type": "application/pdf",
                "content_base64": base64.b64encode(pdf).decode(),
            }
        ],
    )
    EmulatorClient(google.url).fail_next("gmail.attachment", status=403)
    assert gmail_trigger.poll(trigger_id=trigger["id"]) == 1
    [first] = runs_of(trigger["id"])
    first.refresh_from_db()
    assert first.status == "failed"

    rerun = key_client.post(f"/api/workspaces/{workspace.pk}/runs/{first.pk}/retry/")

    assert rerun.json()["run"]["status"] == "succeeded", rerun.json()
    [sent] = google.state.messages(to="boss@example.com")
    [attachment] = list(parsed(sent).iter_attachments())
    assert attachment.get_payload(decode=True) == pdf
