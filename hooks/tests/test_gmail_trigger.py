"""New Gmail email triggers against the emulator: every new matching message starts one run
(bursts across pages, two pollers, an expired cursor), drafts and sent mail start none, read
access is asked for incrementally, and a lost grant pauses the trigger with one notice."""

import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connections
from django.utils import timezone

from devtools.google_emulator import EmulatorClient
from devtools.google_emulator.gmail_read import deliver
from hooks import gmail_trigger, tasks
from hooks.models import Trigger, TriggerFiring
from integrations.google import clients
from integrations.google.scopes import GMAIL_READONLY, scopes_for
from integrations.models import Integration
from integrations.services import GoogleGrant, connect_google_integration
from integrations.tests.google_grants import connect
from workflows.models import WorkflowRun
from workflows.tests.helpers import create_workflow, workflows_url

pytestmark = pytest.mark.django_db(transaction=True)

MAILBOX = "shop-inbox@gmail.test"
ORDERS = "orders@shop.test"
ON_NEW_ORDER = {
    "name": "On a new order",
    "steps": [
        {
            "action": "gmail.send_email",
            "integration": None,
            "params": {
                "to": ["boss@example.com"],
                "subject": "New order: {{ input.subject }}",
                "text": "{{ input.snippet }} (from {{ input.from }})",
            },
        }
    ],
}


@pytest.fixture(autouse=True)
def no_execution(monkeypatch):
    """Runs are created and left queued: these tests are about which runs start."""
    monkeypatch.setattr("workflows.tasks.enqueue_run", lambda *, run_id: None)


@pytest.fixture
def notices(monkeypatch) -> list[dict]:
    sent: list[dict] = []

    def emit(**kwargs) -> int:
        sent.append(kwargs)
        return 0

    monkeypatch.setattr("hooks.notifications.emit", emit)
    return sent


def grant_read_access(google, integration: Integration, member) -> Integration:
    """What the incremental consent does: the same account, the same integration, one more scope."""
    data = EmulatorClient(google.url).issue_grant(
        email=integration.email, scopes=[*scopes_for("gmail"), GMAIL_READONLY]
    )
    return connect_google_integration(
        workspace=integration.workspace,
        user=member,
        integration_type="gmail",
        grant=GoogleGrant(
            account_id=data["account_id"],
            email=integration.email,
            display_name="Shop",
            access_token=data["access_token"],
            refresh_token=data["refresh_token"],
            expires_at=timezone.now() + timedelta(seconds=data["expires_in"]),
            granted_scopes=data["scope"].split(),
        ),
    )


@pytest.fixture
def mailbox(google, workspace, member) -> Integration:
    integration = connect(google, workspace=workspace, user=member, email=MAILBOX, share=True)
    updated = grant_read_access(google, integration, member)
    assert updated.pk == integration.pk and GMAIL_READONLY in updated.scopes
    return updated


@pytest.fixture
def workflow_id(workspace, key_client) -> int:
    return create_workflow(key_client, workspace, ON_NEW_ORDER)


def add_gmail_trigger(
    client, workspace, workflow_id: int, integration: Integration, query: str = f"from:{ORDERS}"
):
    response = client.post(
        f"{workflows_url(workspace)}{workflow_id}/triggers/",
        {"type": "gmail.new_email", "integration": integration.pk, "query": query},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def order(google, number: int, **extra) -> str:
    return deliver(
        google.state,
        mailbox=MAILBOX,
        sender=f"Shop <{ORDERS}>",
        subject=f"Order {number}",
        text=f"Order {number} paid",
        **extra,
    )["id"]


def runs_of(trigger_id: int) -> list[WorkflowRun]:
    return list(WorkflowRun.objects.unscoped().filter(source_trigger_id=trigger_id).order_by("id"))


def test_250_messages_between_two_polls_make_250_runs(
    google, mailbox, workspace, session_client, workflow_id, monkeypatch
):
    monkeypatch.setattr(clients, "GMAIL_PAGE_SIZE", 100)  # so the burst spans three pages
    trigger = add_gmail_trigger(session_client, workspace, workflow_id, mailbox)
    assert trigger["authorization_url"] is None and trigger["health"] == "healthy"
    order(google, 0)  # before the first poll: not new to the trigger
    assert gmail_trigger.poll(trigger_id=trigger["id"]) == 0  # reads the cursor from getProfile

    ids = [order(google, number) for number in range(1, 251)]
    deliver(google.state, mailbox=MAILBOX, sender="friend@example.com", subject="Lunch?")
    assert gmail_trigger.poll(trigger_id=trigger["id"]) == 250
    runs = runs_of(trigger["id"])
    assert [run.input["message_id"] for run in runs] == ids
    assert {run.trigger for run in runs} == {"gmail"}
    first = runs[0].input
    assert first["subject"] == "Order 1" and first["from"] == f"Shop <{ORDERS}>" and first["to"] == [MAILBOX]
    assert first["text"].strip() == "Order 1 paid" and first["snippet"] == "Order 1 paid"
    assert first["labels"] == ["INBOX", "UNREAD"] and first["thread_id"] and first["date"]

    assert gmail_trigger.poll(trigger_id=trigger["id"]) == 0  # the same poll again: nothing new
    assert len(runs_of(trigger["id"])) == 250
    assert Trigger.objects.unscoped().get(pk=trigger["id"]).last_checked_at is not None


def test_the_run_input_names_attachments_with_sizes(google, mailbox, workspace, session_client, workflow_id):
    import base64

    trigger = add_gmail_trigger(session_client, workspace, workflow_id, mailbox)
    gmail_trigger.poll(trigger_id=trigger["id"])
    pdf = b"%PDF" * 1000
    order(
        google,
        1,
        html="<p>Paid</p>",
        attachments=[
            {
                "filename": "invoice.pdf",
                "content_type": "application/pdf",
                "content_base64": base64.b64encode(pdf).decode(),
            }
        ],
    )
    assert gmail_trigger.poll(trigger_id=trigger["id"]) == 1
    run_input = runs_of(trigger["id"])[0].input
    assert run_input["attachments"] == [
        {"filename": "invoice.pdf", "size": len(pdf), "content_type": "application/pdf"}
    ]
    assert "<p>Paid</p>" in run_input["html"]


def test_two_pollers_at_once_start_each_run_once(google, mailbox, workspace, session_client, workflow_id):
    trigger = add_gmail_trigger(session_client, workspace, workflow_id, mailbox)
    gmail_trigger.poll(trigger_id=trigger["id"])
    ids = [order(google, number) for number in range(30)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def poller() -> None:
        try:
            barrier.wait(timeout=30)
            gmail_trigger.poll(trigger_id=trigger["id"])
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=poller) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(run.input["message_id"] for run in runs_of(trigger["id"])) == sorted(ids)
    assert gmail_trigger.poll(trigger_id=trigger["id"]) == 0


def test_an_expired_cursor_loses_and_doubles_nothing(google, mailbox, workspace, session_client, workflow_id):
    trigger = add_gmail_trigger(session_client, workspace, workflow_id, mailbox)
    gmail_trigger.poll(trigger_id=trigger["id"])
    before = [order(google, number) for number in range(3)]
    assert gmail_trigger.poll(trigger_id=trigger["id"]) == 3
    missed = [order(google, number) for number in range(3, 6)]
    google.state.expire_history(MAILBOX)  # Gmail forgot the history the cursor points into
    after = [order(google, number) for number in range(6, 8)]
    # history.list answers 404: messages.list with after: finds 3..7 (and 0..2 again: skipped).
    assert gmail_trigger.poll(trigger_id=trigger["id"]) == 5
    assert [run.input["message_id"] for run in runs_of(trigger["id"])] == before + missed + after
    assert google.state.stats()["gmail.list"] >= 1
    nxt = order(google, 8)
    assert gmail_trigger.poll(trigger_id=trigger["id"]) == 1  # history works again from the new cursor
    assert runs_of(trigger["id"])[-1].input["message_id"] == nxt


def test_sent_mail_and_drafts_start_no_run(google, mailbox, workspace, session_client, workflow_id):
    trigger = add_gmail_trigger(session_client, workspace, workflow_id, mailbox, query="")
    gmail_trigger.poll(trigger_id=trigger["id"])
    deliver(google.state, mailbox=MAILBOX, sender=MAILBOX, to=[ORDERS], subject="Our reply", labels=["SENT"])
    deliver(
        google.state, mailbox=MAILBOX, sender=MAILBOX, to=[ORDERS], subject="Unfinished", labels=["DRAFT"]
    )
    assert gmail_trigger.poll(trigger_id=trigger["id"]) == 0
    assert runs_of(trigger["id"]) == []
    incoming = deliver(
        google.state, mailbox=MAILBOX, sender="anyone@example.com", subject="Hi", text="Hello"
    )["id"]
    assert gmail_trigger.poll(trigger_id=trigger["id"]) == 1
    assert runs_of(trigger["id"])[0].input["message_id"] == incoming


def test_a_revoked_grant_pauses_the_trigger_with_one_notice(
    google, mailbox, workspace, session_client, workflow_id, notices
):
    trigger = add_gmail_trigger(session_client, workspace, workflow_id, mailbox)
    gmail_trigger.poll(trigger_id=trigger["id"])
    EmulatorClient(google.url).revoke(MAILBOX)
    order(google, 1)
    for _ in range(3):
        assert gmail_trigger.poll(trigger_id=trigger["id"]) == 0
    shown = session_client.get(f"{workflows_url(workspace)}{workflow_id}/triggers/{trigger['id']}/").json()
    assert shown["health"] == "paused" and shown["paused_reason"] == "The account needs reconnecting"
    assert [notice["event"] for notice in notices].count("trigger.unhealthy") == 1
    assert runs_of(trigger["id"]) == []
    page = session_client.get(f"/w/{workspace.slug}/workflows/{workflow_id}/").content.decode()
    assert "paused: The account needs reconnecting" in page


def test_read_access_is_asked_for_when_the_trigger_is_made(
    google, workspace, member, session_client, workflow_id
):
    integration = connect(google, workspace=workspace, user=member, email=MAILBOX, share=True)
    assert GMAIL_READONLY not in integration.scopes  # never at the first connect
    trigger = add_gmail_trigger(session_client, workspace, workflow_id, integration)
    assert trigger["health"] == "paused" and trigger["authorization_url"].endswith(
        f"/w/{workspace.slug}/workflows/{workflow_id}/triggers/{trigger['id']}/read-access/"
    )
    assert (
        gmail_trigger.poll(trigger_id=trigger["id"]) == 0
        and google.state.stats().get("gmail.profile") is None
    )
    path = urlsplit(trigger["authorization_url"]).path
    assert "Allow GalaxyCo to read this mailbox" in session_client.get(path).content.decode()
    builder = session_client.get(f"/w/{workspace.slug}/workflows/{workflow_id}/").content.decode()
    assert 'data-testid="grant-read-access"' in builder

    to_google = session_client.post(path)
    assert to_google.status_code == 302
    query = parse_qs(urlsplit(to_google["Location"]).query)
    assert GMAIL_READONLY in query["scope"][0].split() and query["include_granted_scopes"] == ["true"]
    assert query["login_hint"] == [MAILBOX]

    grant_read_access(google, integration, member)
    assert gmail_trigger.poll(trigger_id=trigger["id"]) == 0  # starts: the cursor from getProfile
    shown = session_client.get(f"{workflows_url(workspace)}{workflow_id}/triggers/{trigger['id']}/").json()
    assert shown["health"] == "healthy" and shown["authorization_url"] is None
    order(google, 1)
    assert gmail_trigger.poll(trigger_id=trigger["id"]) == 1
    assert Integration.objects.unscoped().filter(workspace=workspace).count() == 1


def test_one_tick_polls_every_due_mailbox_once(google, mailbox, workspace, session_client, workflow_id):
    first = add_gmail_trigger(session_client, workspace, workflow_id, mailbox)
    second = add_gmail_trigger(session_client, workspace, workflow_id, mailbox, query="subject:order")
    tasks.tick_triggers()  # both bootstrap their cursors
    order(google, 1)
    tasks.tick_triggers()  # not due yet: polled a minute after the last poll
    assert runs_of(first["id"]) == [] and runs_of(second["id"]) == []
    Trigger.objects.unscoped().update(due_at=timezone.now())
    tasks.tick_triggers()
    assert len(runs_of(first["id"])) == 1 and len(runs_of(second["id"])) == 1
    assert TriggerFiring.objects.count() == 2


def test_a_trigger_that_has_not_checked_for_ten_minutes_is_unhealthy(
    google, mailbox, workspace, session_client, workflow_id, notices
):
    trigger = add_gmail_trigger(session_client, workspace, workflow_id, mailbox)
    gmail_trigger.poll(trigger_id=trigger["id"])
    Trigger.objects.unscoped().filter(pk=trigger["id"]).update(
        last_checked_at=timezone.now() - timedelta(minutes=11), created_at=timezone.now() - timedelta(hours=1)
    )
    shown = session_client.get(f"{workflows_url(workspace)}{workflow_id}/triggers/{trigger['id']}/").json()
    assert shown["health"] == "unhealthy"
    assert gmail_trigger.notify_stale(now=timezone.now()) == 1
    assert gmail_trigger.notify_stale(now=timezone.now()) == 0
    assert [notice["event"] for notice in notices] == ["trigger.unhealthy"]
    gmail_trigger.poll(trigger_id=trigger["id"])
    shown = session_client.get(f"{workflows_url(workspace)}{workflow_id}/triggers/{trigger['id']}/").json()
    assert shown["health"] == "healthy"


def test_a_gmail_trigger_needs_an_account_the_member_may_use(workspace, session_client, workflow_id):
    response = session_client.post(
        f"{workflows_url(workspace)}{workflow_id}/triggers/",
        {"type": "gmail.new_email", "integration": 999999, "query": ""},
        format="json",
    )
    assert response.status_code == 400
    response = session_client.post(
        f"{workflows_url(workspace)}{workflow_id}/triggers/", {"type": "gmail.new_email"}, format="json"
    )
    assert response.status_code == 400 and "integration" in response.json()["error"]["fields"]


def test_the_read_access_consent_updates_the_same_integration(
    live_server, google, workspace, member, key_client
):
    from integrations.tests.connect_helpers import (
        assert_no_server_error,
        browser_for,
        csrf_token,
        start_connect,
    )

    google.state.set_consent(email=MAILBOX, name="Shop")
    browser = browser_for(live_server, member)
    assert_no_server_error(start_connect(browser, live_server, workspace))
    integration = Integration.objects.unscoped().get()
    assert GMAIL_READONLY not in integration.scopes
    workflow_id = create_workflow(key_client, workspace, ON_NEW_ORDER)
    trigger = Trigger.objects.create(
        workspace=workspace,
        workflow_id=workflow_id,
        type="gmail.new_email",
        integration=integration,
        created_by=member,
        paused="read_access_missing",
    )
    page_url = (
        f"{live_server.url}/w/{workspace.slug}/workflows/{workflow_id}/triggers/{trigger.pk}/read-access/"
    )

    google.state.set_consent(email=MAILBOX, name="Shop")
    page = browser.get(page_url)
    landed = browser.post(
        page_url, data={"csrfmiddlewaretoken": csrf_token(page.text)}, headers={"Referer": page_url}
    )
    assert_no_server_error(landed)
    assert landed.url.startswith(f"{live_server.url}/w/{workspace.slug}/workflows/{workflow_id}/")
    assert f"GalaxyCo may now read {MAILBOX}" in landed.text
    integration = Integration.objects.unscoped().get()  # the same one, with one more scope
    assert (
        GMAIL_READONLY in integration.scopes
        and "https://www.googleapis.com/auth/gmail.send" in integration.scopes
    )

    assert gmail_trigger.poll(trigger_id=trigger.pk) == 0
    assert Trigger.objects.unscoped().get(pk=trigger.pk).paused == ""


def test_read_access_from_another_account_changes_nothing(live_server, google, workspace, member, key_client):
    from integrations.tests.connect_helpers import browser_for, csrf_token, start_connect

    google.state.set_consent(email=MAILBOX, name="Shop")
    browser = browser_for(live_server, member)
    start_connect(browser, live_server, workspace)
    integration = Integration.objects.unscoped().get()
    workflow_id = create_workflow(key_client, workspace, ON_NEW_ORDER)
    trigger = Trigger.objects.create(
        workspace=workspace, workflow_id=workflow_id, type="gmail.new_email", integration=integration
    )
    page_url = (
        f"{live_server.url}/w/{workspace.slug}/workflows/{workflow_id}/triggers/{trigger.pk}/read-access/"
    )
    google.state.set_consent(email="someone-else@gmail.test", name="Else")
    page = browser.get(page_url)
    landed = browser.post(
        page_url, data={"csrfmiddlewaretoken": csrf_token(page.text)}, headers={"Referer": page_url}
    )
    assert "You chose a different Google account" in landed.text
    assert (
        Integration.objects.unscoped().count() == 1
        and GMAIL_READONLY not in Integration.objects.unscoped().get().scopes
    )


def test_the_builder_adds_a_gmail_trigger_that_asks_for_read_access(
    google, workspace, member, session_client, workflow_id
):
    integration = connect(google, workspace=workspace, user=member, email=MAILBOX, share=True)
    builder = f"/w/{workspace.slug}/workflows/{workflow_id}/"
    page = session_client.post(
        f"{builder}triggers/",
        {"type": "gmail.new_email", "integration": integration.pk, "query": f"from:{ORDERS}"},
        follow=True,
    )
    trigger = Trigger.objects.unscoped().get()
    assert trigger.integration == integration and trigger.config == {"query": f"from:{ORDERS}"}
    html = page.content.decode()
    assert 'data-testid="grant-read-access"' in html and f"/triggers/{trigger.pk}/read-access/" in html


def test_a_message_deleted_before_it_is_read_is_skipped(
    google, mailbox, workspace, session_client, workflow_id
):
    trigger = add_gmail_trigger(session_client, workspace, workflow_id, mailbox)
    gmail_trigger.poll(trigger_id=trigger["id"])
    gone, kept = order(google, 1), order(google, 2)
    with google.state.lock:  # deleted in Gmail after history recorded it: messages.get answers 404
        google.state._messages = [message for message in google.state._messages if message["id"] != gone]
    assert gmail_trigger.poll(trigger_id=trigger["id"]) == 1
    assert [run.input["message_id"] for run in runs_of(trigger["id"])] == [kept]
    assert Trigger.objects.unscoped().get(pk=trigger["id"]).last_error == ""
