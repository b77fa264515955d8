"""A paced attempt's booking and claim: on PostgreSQL one statement (the function of migration
0011, `engine._book_and_claim`), elsewhere two UPDATEs in a transaction. From the same state both
ways must write the same and answer the same; the transaction's way runs on every database."""

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from integrations.models import Integration
from integrations.tests.factories import IntegrationFactory
from workflows import engine
from workflows.actions.registry import get_action
from workflows.models import StepRun, StepStatus
from workflows.tests.test_lease_takeover import queued_run

pytestmark = pytest.mark.django_db

INTERVAL = 0.4  # Gmail's pace
WAYS = ["transaction"] + (["one statement"] if connection.vendor == "postgresql" else [])


def attempt(way: str, *, workspace, member, monkeypatch, state: Callable[[Integration, StepRun], None]):
    """A fresh account and step put in `state`, then `_start_attempt` the given way: what it
    answered and what it left, times relative to when it ran."""
    integration = IntegrationFactory(workspace=workspace, connected_by=member, last_used_at=None)
    run = queued_run(workspace, member, integration, monkeypatch)
    step = StepRun.objects.unscoped().get(run=run)
    state(integration, step)
    integration.refresh_from_db()
    step.refresh_from_db()
    started = time.time()
    with monkeypatch.context() as patch:
        patch.setattr(engine, "_books_in_one", lambda: way == "one statement")
        answer = engine._start_attempt(
            step_run=step, action=get_action("gmail.send_email"), integration=integration, mark=True
        )
    stored_step = StepRun.objects.unscoped().get(pk=step.pk)
    stored = Integration.objects.unscoped().get(pk=integration.pk)

    def since(value: Any) -> float | None:
        if value is None:
            return None
        seconds = value.timestamp() if hasattr(value, "timestamp") else value
        return round(seconds - started, 1)

    if isinstance(answer, float):  # claimed: the engine goes on with what was written
        for field in ("status", "attempts", "provider_call_started_at", "send_slot_at", "next_attempt_at"):
            assert getattr(step, field) == getattr(stored_step, field), field
    left = {
        "answer": round(answer, 1)
        if isinstance(answer, float)
        else replace(answer, retry_in=answer.retry_in and round(answer.retry_in)),
        "status": stored_step.status,
        "attempts": stored_step.attempts,
        "marked": stored_step.provider_call_started_at is not None,
        "slot kept": since(stored_step.send_slot_at),
        "paced until": since(stored.paced_until),
        "sent until": since(stored.sent_until),
        "use noted": stored.last_used_at is not None,
    }
    return left


def both_ways(state: Callable[[Integration, StepRun], None], **fixtures) -> dict[str, Any]:
    answers = [attempt(way, state=state, **fixtures) for way in WAYS]
    assert all(answer == answers[0] for answer in answers), dict(zip(WAYS, answers, strict=True))
    return answers[0]


def update(model_object, **changes) -> None:
    type(model_object).objects.unscoped().filter(pk=model_object.pk).update(**changes)


@pytest.fixture
def fixtures(workspace, member, monkeypatch):
    return {"workspace": workspace, "member": member, "monkeypatch": monkeypatch}


def test_a_fresh_account_is_booked_and_the_attempt_claimed_and_marked(fixtures):
    left = both_ways(lambda integration, step: None, **fixtures)
    assert left == {
        "answer": 0.0,
        "status": StepStatus.RUNNING,
        "attempts": 1,
        "marked": True,
        "slot kept": None,
        "paced until": INTERVAL,
        "sent until": INTERVAL,
        "use noted": True,
    }


def test_a_near_moment_to_send_is_waited_for_claimed_but_not_yet_marked(fixtures):
    def sent_a_moment_ago(integration, step):
        update(integration, sent_until=time.time() + 0.7, last_used_at=timezone.now())

    left = both_ways(sent_a_moment_ago, **fixtures)
    assert (left["answer"], left["status"], left["attempts"], left["marked"]) == (
        0.7,
        StepStatus.RUNNING,
        1,
        False,
    )
    assert (left["paced until"], left["sent until"]) == (INTERVAL, 0.7 + INTERVAL)


def test_a_kept_slot_is_used_and_the_accounts_later_bookings_are_left_alone(fixtures):
    def came_back_for_its_slot(integration, step):
        update(integration, paced_until=time.time() + 5)
        update(step, status=StepStatus.RETRYING, send_slot_at=timezone.now() + timedelta(seconds=0.5))

    left = both_ways(came_back_for_its_slot, **fixtures)
    assert (left["answer"], left["attempts"], left["slot kept"]) == (0.5, 1, None)
    assert (left["paced until"], left["sent until"]) == (5.0, 0.5 + INTERVAL)


def test_a_lost_claim_books_nothing(fixtures):
    def another_executor_has_it(integration, step):
        update(
            step, status=StepStatus.RUNNING, attempts=1, next_attempt_at=timezone.now() + timedelta(minutes=2)
        )

    def lost_after_reading(integration, step):
        # Read as pending, claimed by another executor before this one writes.
        step.refresh_from_db = lambda: None
        another_executor_has_it(integration, step)

    left = both_ways(lost_after_reading, **fixtures)
    assert left["answer"] == engine.StepOutcome(retry_in=1.0)
    assert (left["attempts"], left["marked"]) == (1, False)
    assert (left["paced until"], left["sent until"], left["use noted"]) == (None, None, False)


def test_a_far_slot_is_booked_on_its_own_and_waited_for_unclaimed(fixtures):
    def busy_mailbox(integration, step):
        update(integration, paced_until=time.time() + 100)

    left = both_ways(busy_mailbox, **fixtures)
    assert left["answer"] == engine.StepOutcome(retry_in=100) and left["attempts"] == 0
    assert (left["slot kept"], left["paced until"], left["sent until"]) == (100.0, 100.0 + INTERVAL, None)
