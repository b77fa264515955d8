"""Thin Celery tasks: ids in, the engine does the work."""

import logging
import threading
import time

from celery import Task, shared_task
from django.db import connection

from galaxyco import context
from workflows import engine

logger = logging.getLogger(__name__)

# Short waits are slept in place; longer ones hand the worker back and come back later.
INLINE_WAIT_SECONDS = 2.0


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def execute_run(self: Task, run_id: int) -> None:
    context.clear()
    context.bind(run_id=run_id, task_id=self.request.id)
    while True:
        progress = engine.advance(run_id=run_id)
        if progress.finished or progress.retry_in is None:
            return
        if self.request.is_eager:
            _retry_in_background(run_id=run_id, first_wait=progress.retry_in)
            return
        if progress.retry_in <= INLINE_WAIT_SECONDS:
            time.sleep(progress.retry_in)
            continue
        raise self.retry(countdown=progress.retry_in)


def _retry_in_background(*, run_id: int, first_wait: float) -> None:
    """In process there is no worker to come back later: a thread of this process waits and
    carries on, so the request that started the run does not sleep through its retries."""

    def carry_on() -> None:
        context.bind(run_id=run_id)
        try:
            wait: float | None = first_wait
            while wait is not None:
                time.sleep(wait)
                progress = engine.advance(run_id=run_id)
                wait = None if progress.finished else progress.retry_in
        except Exception:
            logger.exception("Retrying a run in process failed", extra={"event": "run_retry_crashed"})
        finally:
            connection.close()

    threading.Thread(target=carry_on, name=f"run-{run_id}-retries", daemon=True).start()


def enqueue_run(*, run_id: int) -> None:
    """Called after the run's transaction commits, so the worker always finds the row.

    If the broker cannot take the task, the run fails with a message instead of the request
    answering 500: the person sees what happened and can run it again.
    """
    try:
        execute_run.delay(run_id)
    except Exception:
        logger.exception("Could not enqueue run", extra={"event": "enqueue_failed", "run_id": run_id})
        engine.fail_unstarted_run(
            run_id=run_id,
            code="queue_unavailable",
            message=(
                "We could not start this run because our task queue is unavailable. Please run it again shortly."
            ),
        )
