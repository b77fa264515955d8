"""A send's attempt is claimed just before its request, with its slot and moment booked in the
same transaction and, when nothing is left to wait for, its mark written by the claim itself:
what comes before (params, the message, the token, reads) claims nothing."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import health
from integrations.tests.factories import IntegrationFactory
from integrations.tests.google_grants import connect
from workflows import engine, services
from workflows.actions.gmail_send_email import GmailSendEmail
from workflows.models import RunStatus, StepRun, StepStatus, WorkflowRun
from workflows.tests.test_lease_takeover import queued_run

pytestmark = pytest.mark.django_db

READONLY = "https://www.googleapis.com/auth/gmail.readonly"
SENDER = "sender@gmail.test"


def test_a_step_marked_and_left_since_it_was_read_is_looked_up_not_sent_again(
    google, workspace, member, monkeypatch
):
    integration = connect(google, workspace=workspace, user=member, email=SENDER, extra_scopes=(READONLY,))
    run = queued_run(workspace, member, integration, monkeypatch)
    real_reply_to = GmailSendEmail._reply_to

    def another_executor_marks_and_dies(self, **kwargs):
        # While this executor reads, another one claims, marks its send and dies; its lease runs out.
        StepRun.objects.unscoped().filter(run=run).update(
            status=StepStatus.RUNNING,
            provider_call_started_at=timezone.now() - timedelta(minutes=3),
            next_attempt_at=timezone.now() - timedelta(seconds=1),
        )
        return real_reply_to(self, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(GmailSendEmail, "_reply_to", another_executor_marks_and_dies)
        assert engine.advance(run_id=run.pk).retry_in == 1.0  # its claim matched nothing

    assert google.state.stats().get("gmail.send", 0) == 0
    step = StepRun.objects.unscoped().get(run=run)
    assert (step.status, step.attempts) == (StepStatus.RUNNING, 0)
    assert step.provider_call_started_at is not None  # the other executor's mark, kept

    # The next executor finds the mark: it looks the send up (not there) and only then sends.
    assert engine.advance(run_id=run.pk).finished
    assert google.state.stats()["gmail.list"] >= 1
    assert google.state.stats()["gmail.send"] == 1
    assert WorkflowRun.objects.unscoped().get(pk=run.pk).status == RunStatus.SUCCEEDED


def test_a_send_that_waits_for_its_moment_is_claimed_first_and_marked_after_the_wait(
    google, workspace, member, monkeypatch
):
    integration = connect(google, workspace=workspace, user=member, email=SENDER)
    run = queued_run(workspace, member, integration, monkeypatch)
    # The mailbox sent a moment ago: its next moment to send is 0.3 s away.
    integration.__class__.objects.unscoped().filter(pk=integration.pk).update(sent_until=time.time() + 0.7)
    seen_while_waiting: list[tuple[str, int, object]] = []

    def sleep(seconds: float) -> None:
        step = StepRun.objects.unscoped().get(run=run)
        seen_while_waiting.append((step.status, step.attempts, step.provider_call_started_at))

    monkeypatch.setattr(engine, "_sleep", sleep)

    assert engine.advance(run_id=run.pk).finished

    # Held through the wait, but not yet marked: nothing could have been sent meanwhile.
    assert seen_while_waiting == [(StepStatus.RUNNING, 1, None)]
    step = StepRun.objects.unscoped().get(run=run)
    assert (step.status, step.attempts) == (StepStatus.SUCCEEDED, 1)
    assert google.state.stats()["gmail.send"] == 1


def test_a_run_canceled_while_its_send_is_prepared_sends_nothing(google, workspace, member, monkeypatch):
    integration = connect(google, workspace=workspace, user=member, email=SENDER)
    run = queued_run(workspace, member, integration, monkeypatch)
    real_reply_to = GmailSendEmail._reply_to

    def canceled_meanwhile(self, **kwargs):
        services.cancel_run(workspace=workspace, run_id=run.pk)  # nothing claimed yet: it may be
        return real_reply_to(self, **kwargs)

    monkeypatch.setattr(GmailSendEmail, "_reply_to", canceled_meanwhile)

    assert engine.advance(run_id=run.pk).retry_in == 1.0  # the claim found the step skipped
    assert engine.advance(run_id=run.pk).finished
    assert google.state.stats().get("gmail.send", 0) == 0
    assert WorkflowRun.objects.unscoped().get(pk=run.pk).status == RunStatus.CANCELED
    assert StepRun.objects.unscoped().get(run=run).status == StepStatus.SKIPPED


def test_a_send_books_its_slot_and_moment_and_notes_the_use_in_one_update(
    workspace, django_assert_num_queries
):
    gmail = IntegrationFactory(workspace=workspace, last_used_at=None)
    with django_assert_num_queries(1):
        first = health.book_send(integration=gmail, interval=0.4, slot=None, within=2.0)
    stored = gmail.__class__.objects.unscoped().get(pk=gmail.pk)
    assert first == 0.0
    assert stored.paced_until is not None and stored.sent_until is not None
    assert stored.last_used_at == gmail.last_used_at is not None

    second = health.book_send(integration=gmail, interval=0.4, slot=None, within=2.0)

    assert second == pytest.approx(0.4, abs=0.05)  # one interval after the first
    # noted at most once a minute: the second booking left it as it was
    assert gmail.__class__.objects.unscoped().get(pk=gmail.pk).last_used_at == stored.last_used_at


def test_a_send_whose_slot_or_moment_is_far_books_nothing_in_one_update(workspace):
    gmail = IntegrationFactory(workspace=workspace)
    far = time.time() + 100
    gmail.__class__.objects.unscoped().filter(pk=gmail.pk).update(paced_until=far, sent_until=None)
    assert health.book_send(integration=gmail, interval=0.4, slot=None, within=2.0) is None
    gmail.__class__.objects.unscoped().filter(pk=gmail.pk).update(paced_until=None, sent_until=far)
    assert health.book_send(integration=gmail, interval=0.4, slot=None, within=2.0) is None
    assert health.book_send(integration=gmail, interval=0.4, slot=far, within=2.0) is None

    stored = gmail.__class__.objects.unscoped().get(pk=gmail.pk)
    assert (stored.paced_until, stored.sent_until) == (None, far)  # nothing booked
