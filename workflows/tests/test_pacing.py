"""A burst of sends to one mailbox: paced at Gmail's 2.5 a second, every email once, no step
claimed twice, no send refused (429) — even when the burst lasts longer than an attempt's lease,
every run is delivered to two executors (a redelivered task and a resume, say), and executors
come back late for their slots (the pool serves first deliveries first, as a busy worker would).

`make soak` runs it with 400 sends (PACING_BURST=400); the suite runs 20.
"""

import heapq
import itertools
import os
import threading
import time
from datetime import datetime

import pytest
from django.db import connections

from integrations.tests.google_grants import connect
from workflows import engine
from workflows.actions.gmail_send_email import GmailSendEmail
from workflows.models import StepRun
from workflows.services import StepSpec, create_workflow, start_run

pytestmark = pytest.mark.django_db(transaction=True)

BURST = int(os.environ.get("PACING_BURST", "20"))
EXECUTORS = 8
SEND_INTERVAL = GmailSendEmail.pace_interval  # Gmail: 15,000 quota units a minute, 100 a send


class CountdownPool:
    """A small stand-in for a worker pool: each delivery advances its run once and comes back
    after the run's `retry_in`, as a Celery countdown retry would."""

    def __init__(self, run_ids: list[int], deliveries_per_run: int) -> None:
        self._order = itertools.count()
        self._due = [
            (0.0, next(self._order), run_id) for run_id in run_ids for _ in range(deliveries_per_run)
        ]
        heapq.heapify(self._due)
        self._pending = len(self._due)
        self._lock = threading.Condition()
        self.errors: list[BaseException] = []

    def run(self, executors: int, timeout: float) -> None:
        threads = [threading.Thread(target=self._work) for _ in range(executors)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout)
        assert not any(thread.is_alive() for thread in threads), "the burst did not finish in time"
        assert not self.errors, self.errors

    def _next(self) -> int | None:
        with self._lock:
            while True:
                if self._pending == 0:
                    return None
                if self._due and self._due[0][0] <= time.monotonic():
                    return heapq.heappop(self._due)[2]
                wait = self._due[0][0] - time.monotonic() if self._due else None
                self._lock.wait(timeout=wait)

    def _work(self) -> None:
        try:
            while (run_id := self._next()) is not None:
                progress = engine.advance(run_id=run_id)
                with self._lock:
                    if progress.finished or progress.retry_in is None:
                        self._pending -= 1
                    else:
                        heapq.heappush(
                            self._due, (time.monotonic() + progress.retry_in, next(self._order), run_id)
                        )
                    self._lock.notify_all()
        except BaseException as error:  # reported by run(), not lost in a thread
            self.errors.append(error)
            with self._lock:
                self._pending = 0
                self._lock.notify_all()
        finally:
            connections.close_all()


def test_a_burst_to_one_mailbox_is_paced_and_each_step_is_claimed_once(
    google, workspace, member, monkeypatch, settings
):
    connect(google, workspace=workspace, user=member, email="busy@gmail.test")
    # A lease far shorter than the burst: a step that waited for its slot while holding one
    # would be claimed again by the second executor, and its email sent twice.
    settings.WORKFLOW_ATTEMPT_LEASE_SECONDS = 2.0
    monkeypatch.setattr(engine, "PACING_INLINE_SECONDS", 0.5, raising=False)
    workflow = create_workflow(
        workspace=workspace,
        created_by=member,
        name="Burst",
        steps=[
            StepSpec(
                action="gmail.send_email",
                params={"to": ["{{ input.email }}"], "subject": "Hi", "text": "Hello"},
            )
        ],
    )
    monkeypatch.setattr("workflows.tasks.enqueue_run", lambda *, run_id: None)  # the pool executes
    run_ids = [
        start_run(
            workspace=workspace,
            workflow_id=workflow.pk,
            run_input={"email": f"person{index}@example.com"},
            trigger="api",
            requested_by=member,
        )[0].pk
        for index in range(BURST)
    ]

    CountdownPool(run_ids, deliveries_per_run=2).run(executors=EXECUTORS, timeout=BURST * SEND_INTERVAL + 60)

    messages = google.state.messages()
    recipients = [message["to"][0] for message in messages]
    assert sorted(recipients) == sorted(f"person{index}@example.com" for index in range(BURST))
    steps = list(StepRun.objects.unscoped().filter(run_id__in=run_ids))
    assert {step.status for step in steps} == {"succeeded"}
    calls = google.state.stats()["gmail.send"]
    # Nothing is refused (no 429), however long the burst: one claim, one call per step.
    assert calls == BURST, f"{calls - BURST} sends were refused (429) and sent again"
    assert sum(step.attempts for step in steps) == calls
    sent_at = sorted(datetime.fromisoformat(message["received_at"]) for message in messages)
    span = (sent_at[-1] - sent_at[0]).total_seconds()
    assert span >= 0.9 * SEND_INTERVAL * (BURST - 1)  # never faster than 2.5 a second
    # and at that pace, not slower: two executors of one step book one slot between them
    assert span <= 1.25 * SEND_INTERVAL * (BURST - 1) + 2
