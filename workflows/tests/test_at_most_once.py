"""Sends are at most once, and "unknown" is a state.

Where a Gmail send failed decides what happens next: before the request left (refused, DNS) or
answered 429/5xx, it was not sent and is retried; after it (a read timeout), its outcome is
unknown: looked up in the Sent mail where the account may read it, else `outcome_unknown` until a
person chooses Send again.
"""

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from galaxyco.errors import PermanentError, RetryableError, SendOutcomeUnknown
from integrations.google import clients
from integrations.tests.google_grants import connect
from workflows import engine
from workflows.actions.gmail_send_email import message_bytes
from workflows.models import RunStatus, StepRun, StepStatus, WorkflowRun
from workflows.services import StepSpec
from workflows.tests.helpers import run_workflow
from workspaces.tests.factories import api_key_for

pytestmark = pytest.mark.django_db

READONLY = "https://www.googleapis.com/auth/gmail.readonly"
SENDER = "sender@gmail.test"
HANG = 1.5  # past the client's timeout below


@pytest.fixture
def short_timeout(settings):
    settings.GOOGLE_HTTP_TIMEOUT = 0.4


def raw_email(message_id: str = "<t-1@galaxyco.app>") -> str:
    import base64

    params = {"to": ["ada@example.com"], "subject": "Hi", "text": "Hello"}
    return base64.urlsafe_b64encode(
        message_bytes(sender=SENDER, params=params, message_id=message_id)
    ).decode()


# ------------------------------------------------------------------ classification


def test_a_read_timeout_after_the_send_went_out_is_an_unknown_outcome(
    google, workspace, member, short_timeout
):
    integration = connect(google, workspace=workspace, user=member, email=SENDER)
    google.state.add_fault("gmail.send", hang_seconds=HANG, hang_after=True)
    marks = []

    with pytest.raises(SendOutcomeUnknown):
        clients.send_gmail_message(integration=integration, raw=raw_email(), on_call=lambda: marks.append(1))

    assert marks == [1]  # recorded before the request went out
    assert len(google.state.messages()) == 1  # and Gmail did send it


def test_a_hang_before_sending_is_unknown_too_for_the_client_cannot_tell(
    google, workspace, member, short_timeout
):
    integration = connect(google, workspace=workspace, user=member, email=SENDER)
    google.state.add_fault("gmail.send", hang_seconds=HANG, status=503)

    with pytest.raises(SendOutcomeUnknown):
        clients.send_gmail_message(integration=integration, raw=raw_email(), on_call=lambda: None)
    assert google.state.messages() == []


@pytest.mark.parametrize(("status", "code"), [(500, "provider_unavailable"), (429, "rate_limited")])
def test_a_5xx_or_429_answer_was_not_sent_and_is_retryable(google, workspace, member, status, code):
    integration = connect(google, workspace=workspace, user=member, email=SENDER)
    google.state.add_fault("gmail.send", status=status)

    with pytest.raises(RetryableError) as raised:
        clients.send_gmail_message(integration=integration, raw=raw_email(), on_call=lambda: None)
    assert raised.value.code == code
    assert not isinstance(raised.value, SendOutcomeUnknown)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_refused_connection_was_not_sent_and_is_retryable(google, workspace, member, settings):
    integration = connect(google, workspace=workspace, user=member, email=SENDER)
    settings.GOOGLE_API_BASE_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    with pytest.raises(RetryableError) as raised:
        clients.send_gmail_message(integration=integration, raw=raw_email(), on_call=lambda: None)
    assert raised.value.code == "provider_unreachable"


def test_a_dns_failure_was_not_sent_and_is_retryable(google, workspace, member, settings, monkeypatch):
    integration = connect(google, workspace=workspace, user=member, email=SENDER)
    settings.GOOGLE_API_BASE_URL = "http://gmail.invalid"

    def no_such_host(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with pytest.raises(RetryableError) as raised:
        clients.send_gmail_message(integration=integration, raw=raw_email(), on_call=lambda: None)
    assert raised.value.code == "provider_unreachable"


@pytest.fixture
def server_that_hangs_up() -> Iterator[tuple[str, list[bytes]]]:
    """Reads each request and closes the connection without an answer (a client that retries would resend)."""
    received: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                received.append(conn.recv(65536))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", received
    stop.set()
    thread.join(5)
    listener.close()


def test_a_connection_closed_before_the_answer_is_unknown_and_never_resent(
    google, workspace, member, settings, server_that_hangs_up
):
    integration = connect(google, workspace=workspace, user=member, email=SENDER)
    settings.GOOGLE_API_BASE_URL, received = server_that_hangs_up

    with pytest.raises(SendOutcomeUnknown):
        clients.send_gmail_message(integration=integration, raw=raw_email(), on_call=lambda: None)
    requests_seen = [data for data in received if data]
    assert len(requests_seen) == 1  # never sent again by the HTTP client on its own


def test_a_read_timeout_of_a_lookup_is_only_retryable(google, workspace, member, short_timeout):
    integration = connect(google, workspace=workspace, user=member, email=SENDER, extra_scopes=(READONLY,))
    google.state.add_fault("gmail.list", hang_seconds=HANG, status=503)

    with pytest.raises(RetryableError) as raised:
        clients.find_sent_message(integration=integration, message_id_header="<x@galaxyco.app>")
    assert raised.value.code == "provider_timeout"
    assert not isinstance(raised.value, SendOutcomeUnknown)


# ------------------------------------------------------------------ the lookup


def test_the_lookup_finds_our_message_id_in_the_sent_mail_and_only_there(google, workspace, member):
    integration = connect(google, workspace=workspace, user=member, email=SENDER, extra_scopes=(READONLY,))
    other = connect(
        google, workspace=workspace, user=member, email="other@gmail.test", extra_scopes=(READONLY,)
    )
    sent = clients.send_gmail_message(integration=integration, raw=raw_email("<mine-1@galaxyco.app>"))

    found = clients.find_sent_message(integration=integration, message_id_header="<mine-1@galaxyco.app>")
    assert found == {"id": sent["id"], "threadId": sent["threadId"]}
    assert (
        clients.find_sent_message(integration=integration, message_id_header="<mine-2@galaxyco.app>") is None
    )
    # another mailbox's Sent mail does not hold it
    assert clients.find_sent_message(integration=other, message_id_header="<mine-1@galaxyco.app>") is None


def test_the_lookup_needs_a_read_scope(google, workspace, member):
    integration = connect(google, workspace=workspace, user=member, email=SENDER)
    assert not clients.can_read_sent_mail(integration)

    with pytest.raises(PermanentError) as raised:
        clients.find_sent_message(integration=integration, message_id_header="<x@galaxyco.app>")
    assert raised.value.code == "insufficient_permissions"


# ------------------------------------------------------------------ the engine


def start(
    workspace, member, integration, django_capture_on_commit_callbacks, *, steps: int = 1
) -> WorkflowRun:
    return run_workflow(
        workspace=workspace,
        member=member,
        name="Welcome",
        capture=django_capture_on_commit_callbacks,
        steps=[
            StepSpec(
                action="gmail.send_email",
                params={"to": [f"step{position}@example.com"], "subject": "Hi", "text": "Hello"},
                integration=integration,
            )
            for position in range(steps)
        ],
    )


def test_without_a_read_scope_an_unknown_outcome_waits_for_a_person(
    google, workspace, member, short_timeout, django_capture_on_commit_callbacks
):
    integration = connect(google, workspace=workspace, user=member, email=SENDER)
    google.state.add_fault("gmail.send", hang_seconds=HANG, hang_after=True)

    run = start(workspace, member, integration, django_capture_on_commit_callbacks)

    assert (run.status, run.error_code) == (RunStatus.FAILED, "outcome_unknown")
    assert f"Sent folder of {SENDER}" in run.error_message
    step = run.step_runs.get()
    assert step.status == StepStatus.OUTCOME_UNKNOWN
    assert step.attempts == 1  # not sent again
    assert step.provider_call_started_at is not None
    [delivered] = google.state.messages()
    assert delivered["headers"]["Message-ID"] == step.message_id_header
    assert step.message_id_header.startswith(f"<run-{run.pk}-step-0-")


def test_with_a_read_scope_a_delivered_send_is_found_and_succeeds_once(
    google, workspace, member, short_timeout, django_capture_on_commit_callbacks
):
    integration = connect(google, workspace=workspace, user=member, email=SENDER, extra_scopes=(READONLY,))
    google.state.add_fault("gmail.send", hang_seconds=HANG, hang_after=True)

    run = start(workspace, member, integration, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    [delivered] = google.state.messages()
    step = run.step_runs.get()
    assert step.output["message_id"] == delivered["id"]
    assert step.provider_call_started_at is None
    assert google.state.stats()["gmail.send"] == 1


def test_with_a_read_scope_a_send_that_never_landed_is_sent_again_with_the_same_message_id(
    google, workspace, member, short_timeout, django_capture_on_commit_callbacks
):
    integration = connect(google, workspace=workspace, user=member, email=SENDER, extra_scopes=(READONLY,))
    google.state.add_fault("gmail.send", hang_seconds=HANG, status=503)

    run = start(workspace, member, integration, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    [delivered] = google.state.messages()
    step = run.step_runs.get()
    assert delivered["headers"]["Message-ID"] == step.message_id_header
    assert google.state.stats()["gmail.send"] == 2
    assert google.state.stats()["gmail.list"] == 2  # by our Message-ID, then by recipient, subject and time


def test_a_refused_send_is_retried_freely(google, workspace, member, django_capture_on_commit_callbacks):
    integration = connect(google, workspace=workspace, user=member, email=SENDER)
    google.state.add_fault("gmail.send", status=500, count=2)

    run = start(workspace, member, integration, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    assert len(google.state.messages()) == 1
    assert run.step_runs.get().attempts == 3


def die_mid_send(run: WorkflowRun) -> StepRun:
    """What a worker killed during the send leaves: the step running, the mark set, its lease over."""
    step = run.step_runs.get()
    StepRun.objects.unscoped().filter(pk=step.pk).update(
        status=StepStatus.RUNNING,
        attempts=1,
        provider_call_started_at=timezone.now() - timedelta(minutes=3),
        next_attempt_at=timezone.now() - timedelta(seconds=1),
        message_id_header="<run-dead-step-0-1@galaxyco.app>",
    )
    WorkflowRun.objects.unscoped().filter(pk=run.pk).update(status=RunStatus.RUNNING, finished_at=None)
    return step


@pytest.mark.parametrize("landed", [True, False])
def test_a_step_whose_executor_died_mid_send_is_looked_up_not_resent(
    google, workspace, member, django_capture_on_commit_callbacks, landed
):
    integration = connect(google, workspace=workspace, user=member, email=SENDER, extra_scopes=(READONLY,))
    run = start(workspace, member, integration, django_capture_on_commit_callbacks)
    google.state.reset()
    integration = connect(google, workspace=workspace, user=member, email=SENDER, extra_scopes=(READONLY,))
    step = die_mid_send(run)
    if landed:
        clients.send_gmail_message(integration=integration, raw=raw_email("<run-dead-step-0-1@galaxyco.app>"))

    engine.advance(run_id=run.pk)

    run.refresh_from_db()
    step.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert len(google.state.messages()) == 1
    assert google.state.stats().get("gmail.send", 0) == 1  # the one before the worker died, or the resend


def test_without_a_read_scope_a_dead_executor_mid_send_leaves_the_outcome_unknown(
    google, workspace, member, django_capture_on_commit_callbacks
):
    integration = connect(google, workspace=workspace, user=member, email=SENDER)
    run = start(workspace, member, integration, django_capture_on_commit_callbacks)
    sends = google.state.stats()["gmail.send"]
    die_mid_send(run)

    engine.advance(run_id=run.pk)

    run.refresh_from_db()
    assert (run.status, run.error_code) == (RunStatus.FAILED, "outcome_unknown")
    assert google.state.stats()["gmail.send"] == sends  # nothing sent


# ------------------------------------------------------------------ Send again


def test_send_again_sends_exactly_one_and_the_run_carries_on(
    google, workspace, member, key_client, short_timeout, django_capture_on_commit_callbacks
):
    integration = connect(google, workspace=workspace, user=member, email=SENDER)
    google.state.add_fault("gmail.send", hang_seconds=HANG, hang_after=True)
    run = start(workspace, member, integration, django_capture_on_commit_callbacks, steps=2)
    assert [s.status for s in run.step_runs.all()] == [StepStatus.OUTCOME_UNKNOWN, StepStatus.SKIPPED]
    first_message_id = run.step_runs.get(position=0).message_id_header
    url = f"/api/workspaces/{workspace.pk}/runs/{run.pk}/steps/0/send-again/"

    with django_capture_on_commit_callbacks(execute=True):
        response = key_client.post(url)
    assert response.status_code == 202, response.json()  # under way again
    assert response["Location"] == response.json()["run"]["url"]
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED

    to = [message["to"][0] for message in google.state.messages()]
    assert to == ["step0@example.com", "step0@example.com", "step1@example.com"]  # once more, on request
    again = run.step_runs.get(position=0)
    assert again.message_id_header != first_message_id  # a new email, not the lost one's twin
    # a second click finds nothing left to send
    assert key_client.post(url).status_code == 409
    assert len(google.state.messages()) == 3


def test_send_again_needs_the_member_role(
    google, workspace, member, short_timeout, django_capture_on_commit_callbacks
):
    integration = connect(google, workspace=workspace, user=member, email=SENDER)
    google.state.add_fault("gmail.send", hang_seconds=HANG, hang_after=True)
    run = start(workspace, member, integration, django_capture_on_commit_callbacks)
    viewer = APIClient()
    viewer.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(workspace, role='viewer')}")

    response = viewer.post(f"/api/workspaces/{workspace.pk}/runs/{run.pk}/steps/0/send-again/")

    assert response.status_code == 403
    assert len(google.state.messages()) == 1


def test_the_run_page_offers_send_again_and_it_sends(
    google, workspace, member, client, short_timeout, django_capture_on_commit_callbacks
):
    integration = connect(google, workspace=workspace, user=member, email=SENDER)
    google.state.add_fault("gmail.send", hang_seconds=HANG, hang_after=True)
    run = start(workspace, member, integration, django_capture_on_commit_callbacks)
    client.force_login(member)
    page = client.get(f"/w/{workspace.slug}/runs/{run.pk}/").content.decode()
    assert f"Check the Sent folder of {SENDER}" in page
    assert 'data-testid="send-again"' in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/w/{workspace.slug}/runs/{run.pk}/steps/0/send-again/")

    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert len(google.state.messages()) == 2


# ------------------------------------------------------------------ Gmail replaces our Message-ID


def test_with_gmail_replacing_the_message_id_a_delivered_send_is_found_by_search_and_not_resent(
    google, workspace, member, short_timeout, django_capture_on_commit_callbacks
):
    integration = connect(google, workspace=workspace, user=member, email=SENDER, extra_scopes=(READONLY,))
    google.state.set_rewrite_message_ids(True)
    google.state.add_fault("gmail.send", hang_seconds=HANG, hang_after=True)

    run = start(workspace, member, integration, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    [delivered] = google.state.messages()
    step = run.step_runs.get()
    assert delivered["headers"]["Message-ID"] != step.message_id_header  # Gmail's own, not ours
    assert delivered["headers"]["X-GalaxyCo-Step"] == step.message_id_header
    assert step.output["message_id"] == delivered["id"]
    assert google.state.stats()["gmail.send"] == 1


def test_with_gmail_replacing_the_message_id_a_send_that_never_landed_is_sent_once(
    google, workspace, member, short_timeout, django_capture_on_commit_callbacks
):
    integration = connect(google, workspace=workspace, user=member, email=SENDER, extra_scopes=(READONLY,))
    google.state.set_rewrite_message_ids(True)
    google.state.add_fault("gmail.send", hang_seconds=HANG, status=503)

    run = start(workspace, member, integration, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    [delivered] = google.state.messages()
    assert delivered["to"] == ["step0@example.com"]
    assert google.state.stats()["gmail.send"] == 2  # the one that never landed, and this one


def test_an_email_the_person_sent_with_the_same_recipient_and_subject_is_not_taken_for_the_steps(
    google, workspace, member, django_capture_on_commit_callbacks
):
    from email.message import EmailMessage

    integration = connect(google, workspace=workspace, user=member, email=SENDER, extra_scopes=(READONLY,))
    run = start(workspace, member, integration, django_capture_on_commit_callbacks)
    google.state.reset()
    integration = connect(google, workspace=workspace, user=member, email=SENDER, extra_scopes=(READONLY,))
    google.state.set_rewrite_message_ids(True)
    step = die_mid_send(run)  # the step's own send never reached Gmail
    lookalike = EmailMessage()
    lookalike["From"], lookalike["To"], lookalike["Subject"] = SENDER, "step0@example.com", "Hi"
    lookalike.set_content("Hello from me, by hand")
    import base64

    by_hand = clients.send_gmail_message(
        integration=integration, raw=base64.urlsafe_b64encode(lookalike.as_bytes()).decode()
    )

    engine.advance(run_id=run.pk)

    run.refresh_from_db()
    step.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert [message["to"] for message in google.state.messages()] == [["step0@example.com"]] * 2
    assert step.output["message_id"] != by_hand["id"]  # the step's email was sent, not the person's taken
    assert google.state.stats()["gmail.get"] >= 1  # the look-alike was read and refused


def test_the_search_confirms_the_recipients_too(google, workspace, member):
    from workflows.actions.gmail_send_email import find_sent_lookalike

    integration = connect(google, workspace=workspace, user=member, email=SENDER, extra_scopes=(READONLY,))
    google.state.set_rewrite_message_ids(True)
    before = timezone.now()
    sent = clients.send_gmail_message(integration=integration, raw=raw_email("<mine-3@galaxyco.app>"))
    params = {"to": ["ada@example.com"], "subject": "Hi", "text": "Hello"}

    found = find_sent_lookalike(
        integration=integration, message_id="<mine-3@galaxyco.app>", params=params, since=before
    )
    assert found == {"id": sent["id"], "threadId": sent["threadId"]}
    other = {**params, "cc": ["bob@example.com"]}
    assert (
        find_sent_lookalike(
            integration=integration, message_id="<mine-3@galaxyco.app>", params=other, since=before
        )
        is None
    )
    assert (
        find_sent_lookalike(
            integration=integration, message_id="<mine-4@galaxyco.app>", params=params, since=before
        )
        is None
    )


def test_the_search_reads_only_the_newest_few_candidates(google, workspace, member):
    from workflows.actions.gmail_send_email import SENT_SEARCH_CANDIDATES, find_sent_lookalike

    integration = connect(google, workspace=workspace, user=member, email=SENDER, extra_scopes=(READONLY,))
    google.state.set_rewrite_message_ids(True)
    google.state.set_gmail_quota(1_000_000)  # the sends below go out at once, unpaced
    before = timezone.now()
    for number in range(SENT_SEARCH_CANDIDATES + 5):  # look-alikes: same recipient and subject
        clients.send_gmail_message(integration=integration, raw=raw_email(f"<other-{number}@galaxyco.app>"))
    params = {"to": ["ada@example.com"], "subject": "Hi", "text": "Hello"}
    reads = google.state.stats().get("gmail.get", 0)

    found = find_sent_lookalike(
        integration=integration, message_id="<mine-5@galaxyco.app>", params=params, since=before
    )

    assert found is None
    assert google.state.stats()["gmail.get"] - reads == SENT_SEARCH_CANDIDATES
    sent = clients.send_gmail_message(integration=integration, raw=raw_email("<mine-5@galaxyco.app>"))
    found = find_sent_lookalike(
        integration=integration, message_id="<mine-5@galaxyco.app>", params=params, since=before
    )
    assert found == {"id": sent["id"], "threadId": sent["threadId"]}  # the newest is read first
