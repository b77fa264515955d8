"""A send's attempt is taken just before its request, by the UPDATE that also marks it under way,
and matches only while the step is still as this executor read it. An executor whose step
another executor took while it read what its send needs sends nothing and records nothing; reads
that die before the send leave the step not sent, so it is simply retried. A lookup of an earlier
send is made under an attempt claimed first."""

import time
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from integrations.models import Integration
from integrations.tests.google_grants import connect
from workflows import engine
from workflows.actions.gmail_send_email import GmailSendEmail
from workflows.models import RunStatus, StepRun, StepStatus, WorkflowRun
from workflows.services import StepSpec, create_workflow, start_run

pytestmark = pytest.mark.django_db

READONLY = "https://www.googleapis.com/auth/gmail.readonly"
SENDER = "sender@gmail.test"


def queued_run(workspace, member, integration, monkeypatch) -> WorkflowRun:
    workflow = create_workflow(
        workspace=workspace,
        created_by=member,
        name="Welcome",
        steps=[
            StepSpec(
                action="gmail.send_email",
                params={"to": ["ada@example.com"], "subject": "Hi", "text": "Hello"},
                integration=integration,
            )
        ],
    )
    with monkeypatch.context() as patch:
        patch.setattr("workflows.tasks.enqueue_run", lambda *, run_id: None)
        run, _ = start_run(
            workspace=workspace, workflow_id=workflow.pk, run_input={}, trigger="api", requested_by=member
        )
    return run


def test_an_executor_whose_step_was_taken_over_before_its_send_sends_nothing(
    google, workspace, member, monkeypatch
):
    integration = connect(google, workspace=workspace, user=member, email=SENDER)
    run = queued_run(workspace, member, integration, monkeypatch)
    real_reply_to = GmailSendEmail._reply_to
    took_over: list[engine.Progress] = []
    readers: list[str] = []

    def slow_reads_then_taken_over(self, **kwargs):
        readers.append("B" if readers else "A")
        if readers == ["A"]:
            # While A reads, B (a redelivered task, say) claims the attempt, sends and records it.
            took_over.append(engine.advance(run_id=run.pk))
        return real_reply_to(self, **kwargs)

    monkeypatch.setattr(GmailSendEmail, "_reply_to", slow_reads_then_taken_over)

    progress = engine.advance(run_id=run.pk)  # A, back from its reads

    assert readers == ["A", "B"] and took_over[0].finished
    assert (progress.finished, progress.retry_in) == (False, 1.0)
    assert len(google.state.messages()) == 1
    assert google.state.stats()["gmail.send"] == 1
    step = StepRun.objects.unscoped().get(run=run)
    assert (step.status, step.attempts, step.error_code) == (StepStatus.SUCCEEDED, 1, "")  # B's only
    assert WorkflowRun.objects.unscoped().get(pk=run.pk).status == RunStatus.SUCCEEDED


def test_an_executor_overtaken_while_it_read_records_nothing(google, workspace, member, monkeypatch):
    integration = connect(google, workspace=workspace, user=member, email=SENDER)
    run = queued_run(workspace, member, integration, monkeypatch)
    real_reply_to = GmailSendEmail._reply_to

    def taken_over(self, **kwargs):
        # Another executor holds the step's attempt now, and is sending it.
        StepRun.objects.unscoped().filter(run=run).update(
            status=StepStatus.RUNNING, attempts=1, next_attempt_at=timezone.now() + timedelta(minutes=2)
        )
        return real_reply_to(self, **kwargs)

    monkeypatch.setattr(GmailSendEmail, "_reply_to", taken_over)

    assert engine.advance(run_id=run.pk).retry_in == 1.0

    assert google.state.stats().get("gmail.send", 0) == 0
    step = StepRun.objects.unscoped().get(run=run)
    assert (step.status, step.attempts, step.error_code) == (StepStatus.RUNNING, 1, "")
    assert step.provider_call_started_at is None  # not marked by this one


def test_reads_before_the_send_that_die_leave_the_step_not_sent_and_retried_without_a_lookup(
    google, workspace, member, monkeypatch
):
    # A send-only account: were the step taken for maybe-sent, it could only end outcome_unknown.
    integration = connect(google, workspace=workspace, user=member, email=SENDER)
    run = queued_run(workspace, member, integration, monkeypatch)
    with monkeypatch.context() as patch:
        patch.setattr(
            GmailSendEmail,
            "_reply_to",
            lambda self, **kwargs: (_ for _ in ()).throw(OperationalError("gone")),
        )
        with pytest.raises(OperationalError):
            engine.advance(run_id=run.pk)  # the executor dies reading, before its send
    step = StepRun.objects.unscoped().get(run=run)
    # Not claimed, not marked: nothing to wait for before the next executor takes it.
    assert (step.status, step.attempts, step.provider_call_started_at) == (StepStatus.PENDING, 0, None)

    assert engine.advance(run_id=run.pk).finished

    assert WorkflowRun.objects.unscoped().get(pk=run.pk).status == RunStatus.SUCCEEDED
    assert len(google.state.messages()) == 1
    assert google.state.stats().get("gmail.list", 0) == 0  # not looked up: known not sent


def test_a_send_found_not_done_waits_for_a_far_slot_outside_the_attempt(
    google, workspace, member, monkeypatch
):
    integration = connect(google, workspace=workspace, user=member, email=SENDER, extra_scopes=(READONLY,))
    run = queued_run(workspace, member, integration, monkeypatch)
    # What an executor that died mid-send leaves; its send never landed.
    StepRun.objects.unscoped().filter(run=run).update(
        status=StepStatus.RUNNING,
        attempts=1,
        provider_call_started_at=timezone.now() - timedelta(minutes=3),
        next_attempt_at=timezone.now() - timedelta(seconds=1),
    )
    # The mailbox is booked 200 s ahead.
    Integration.objects.unscoped().filter(pk=integration.pk).update(paced_until=time.time() + 200)
    slept: list[float] = []
    monkeypatch.setattr(engine, "_sleep", slept.append)

    progress = engine.advance(run_id=run.pk)

    assert not progress.finished
    assert progress.retry_in is not None and 190 < progress.retry_in <= 200.5
    assert slept == []  # nothing waited for inside the attempt's lease
    assert google.state.stats().get("gmail.send", 0) == 0
    step = StepRun.objects.unscoped().get(run=run)
    assert step.status == StepStatus.RETRYING  # not held while it waits
    assert step.provider_call_started_at is None  # looked up: known not sent
    assert step.send_slot_at is not None and step.next_attempt_at == step.send_slot_at

    # Back at its slot: sent once, in its booked slot.
    StepRun.objects.unscoped().filter(pk=step.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1), send_slot_at=timezone.now()
    )
    Integration.objects.unscoped().filter(pk=integration.pk).update(sent_until=None)
    assert engine.advance(run_id=run.pk).finished
    assert WorkflowRun.objects.unscoped().get(pk=run.pk).status == RunStatus.SUCCEEDED
    assert google.state.stats()["gmail.send"] == 1
