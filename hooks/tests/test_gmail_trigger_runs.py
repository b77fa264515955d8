"""Gmail triggers whose runs go all the way, against the emulator: mail a run sends never starts
another run (to the watched mailbox itself, or to another mailbox of the workspace), its marker
differs on every email and cannot be moved onto other mail, and a run can send on an attachment of
the email that started it."""

import base64
import datetime as dt
import hashlib
import os
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from django.utils.crypto import salted_hmac

from devtools.google_emulator.gmail_read import deliver, deliver_raw
from hooks import gmail_trigger
from hooks.tests.test_gmail_trigger import add_gmail_trigger, grant_read_access, runs_of
from integrations.google.marker import LEGACY_ORIGIN_UNTIL, ORIGIN_HEADER, STEP_HEADER, origin_value
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
    headers = parsed(logged)
    assert headers[ORIGIN_HEADER] == origin_value(workspace_id=workspace.pk, step=headers[STEP_HEADER])

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
    theirs.replace_header(
        ORIGIN_HEADER, origin_value(workspace_id=other_workspace.pk, step=theirs[STEP_HEADER])
    )
    theirs.replace_header("Message-ID", "<theirs@galaxyco.test>")
    deliver_raw(google.state, mailbox=OPS, raw=theirs.as_bytes())
    assert gmail_trigger.poll(trigger_id=watching_ops["id"]) == 1


def marked_mail(*, step: str, origin: str, subject: str) -> bytes:
    """New mail from an outsider carrying these two marker headers."""
    message = EmailMessage()
    message["From"] = "mallory@elsewhere.test"
    message["To"] = OPS
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="elsewhere.test")
    message[STEP_HEADER] = step
    message[ORIGIN_HEADER] = origin
    message.set_content("Please process this.")
    return message.as_bytes()


@pytest.fixture
def watching_ops(google, mailbox, workspace, member, key_client):
    """A trigger on ops@, whose workflow mails ops@ about every order that reaches shop-inbox@."""
    ops = grant_read_access(
        google, connect(google, workspace=workspace, user=member, email=OPS, share=True), member
    )
    workflow_id = create_workflow(
        key_client, workspace, send_step(to=[OPS], subject="Order: {{ input.subject }}", text="See it.")
    )
    watching_mailbox = add_gmail_trigger(key_client, workspace, workflow_id, mailbox, query="")
    watching = add_gmail_trigger(key_client, workspace, workflow_id, ops, query="")
    for trigger in (watching_mailbox, watching):
        gmail_trigger.poll(trigger_id=trigger["id"])
    for number in (1, 2):
        deliver(google.state, mailbox=MAILBOX, sender="bob@shop.test", subject=f"Order {number}")
    assert gmail_trigger.poll(trigger_id=watching_mailbox["id"]) == 2
    for sent in google.state.messages(to=OPS):
        deliver_raw(google.state, mailbox=OPS, raw=raw_bytes(sent))
    assert gmail_trigger.poll(trigger_id=watching["id"]) == 0
    return watching


def test_two_emails_of_one_workspace_carry_different_markers(google, watching_ops):
    sent = [parsed(message) for message in google.state.messages(to=OPS) if message["mailbox"] == MAILBOX]
    assert len(sent) == 2
    assert sent[0][STEP_HEADER] != sent[1][STEP_HEADER]
    assert sent[0][ORIGIN_HEADER] != sent[1][ORIGIN_HEADER]


def test_a_marker_moved_onto_another_step_id_starts_a_run(google, watching_ops):
    received = parsed(google.state.messages(to=OPS)[0])
    forged = marked_mail(
        step="<run-1-step-0-forged@galaxyco.test>", origin=received[ORIGIN_HEADER], subject="Forged"
    )
    deliver_raw(google.state, mailbox=OPS, raw=forged)

    assert gmail_trigger.poll(trigger_id=watching_ops["id"]) == 1


def test_both_headers_copied_unchanged_into_new_mail_make_only_their_own_workspace_skip_it(
    google, watching_ops
):
    """Copying a received email's two headers into new mail makes the workspace that sent it skip
    that mail (what an auto-forward of its own email back to it must do): the copier only silences
    their own message. Mail carrying another workspace's headers starts a run like any mail (the
    end of test_mail_our_runs_sent_arriving_in_another_watched_mailbox_starts_no_run)."""
    received = parsed(google.state.messages(to=OPS)[0])
    copied = marked_mail(step=received[STEP_HEADER], origin=received[ORIGIN_HEADER], subject="Copied")
    deliver_raw(google.state, mailbox=OPS, raw=copied)

    assert gmail_trigger.poll(trigger_id=watching_ops["id"]) == 0


def legacy_origin(workspace_id: int) -> str:
    """The one value per workspace that every email carried before the marker named its step."""
    return salted_hmac("galaxyco.gmail.origin", str(workspace_id), algorithm="sha256").hexdigest()[:32]


@pytest.mark.parametrize(
    ("received_at", "runs"),
    [(LEGACY_ORIGIN_UNTIL - dt.timedelta(days=3), 0), (LEGACY_ORIGIN_UNTIL + dt.timedelta(days=3), 1)],
)
def test_mail_with_the_old_constant_marker_is_skipped_only_if_received_before_the_transition_ends(
    google, watching_ops, workspace, received_at, runs
):
    old = marked_mail(
        step="<run-3-step-0-before@galaxyco.test>", origin=legacy_origin(workspace.pk), subject="Old"
    )
    arrived = deliver_raw(google.state, mailbox=OPS, raw=old)
    with google.state.lock:  # when Gmail received it: the message's internalDate
        [stored] = [m for m in google.state.mailbox_messages(OPS) if m["id"] == arrived["id"]]
        stored["received_at"] = received_at.isoformat()

    assert gmail_trigger.poll(trigger_id=watching_ops["id"]) == runs


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
