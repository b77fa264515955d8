"""Thin Celery tasks: ids in, the engine and the services do the work.

A run's waits are Celery countdown retries, kept by the broker: a worker stopped while a run waits
finds it again when it starts. The scheduled `resume_stalled_runs` is the safety net for a task
the broker lost (a worker killed outright, a broker without persistence).
"""

import logging
import random
import time
from datetime import timedelta

from celery import Task, shared_task
from django.conf import settings

from galaxyco import context
from galaxyco.errors import ErrorCode
from workflows import engine

logger = logging.getLogger(__name__)

# Short waits are slept in place; longer ones hand the worker back and come back later.
INLINE_WAIT_SECONDS = 2.0
DATABASE_RETRY_MAX_SECONDS = 60.0


def run_task_id(run_id: int) -> str:
    """One task id per run, so the web process can wait for the run's result by its id."""
    return f"workflow-run-{run_id}"


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None, ignore_result=False)
def execute_run(self: Task, run_id: int) -> None:
    context.clear()
    context.bind(run_id=run_id, task_id=self.request.id)
    try:
        wait = _advance(run_id=run_id, eager=bool(self.request.is_eager))
    except engine.DATABASE_ERRORS as error:
        engine.close_broken_connection()
        countdown = database_retry_seconds(retries=self.request.retries)
        logger.warning(
            "The database is unavailable; the run will be retried in %.1f s",
            countdown,
            extra={"event": "run_database_unavailable", "error_type": type(error).__name__},
        )
        raise self.retry(countdown=countdown) from error
    if wait is not None:
        raise self.retry(countdown=wait)


def _advance(*, run_id: int, eager: bool) -> float | None:
    """Move the run on until it finishes, or until it must wait longer than a worker should hold
    on for (returns that wait). Run eagerly (the test settings) there is no broker to keep a
    countdown, so every wait is slept in place."""
    while True:
        progress = engine.advance(run_id=run_id)
        if progress.finished or progress.retry_in is None:
            return None
        if progress.retry_in > INLINE_WAIT_SECONDS and not eager:
            return progress.retry_in
        time.sleep(progress.retry_in)


def database_retry_seconds(*, retries: int) -> float:
    ceiling = min(DATABASE_RETRY_MAX_SECONDS, 2.0 ** min(retries, 10))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


@shared_task
def resume_stalled_runs() -> int:
    """Scheduled by Celery beat (a row of django-celery-beat's, made by a migration)."""
    from workflows.services import resume_stalled_runs as resume

    return resume(older_than=timedelta(seconds=settings.WORKFLOW_RESUME_AFTER_SECONDS))


def enqueue_run(*, run_id: int) -> None:
    """Called after the run's transaction commits, so the worker always finds the row.

    If the broker cannot take the task, the run fails with a message instead of the request
    answering 500: the person sees what happened and can run it again.
    """
    try:
        execute_run.apply_async((run_id,), task_id=run_task_id(run_id))
    except Exception:
        logger.exception("Could not enqueue run", extra={"event": "enqueue_failed", "run_id": run_id})
        engine.fail_unstarted_run(
            run_id=run_id,
            code=ErrorCode.QUEUE_UNAVAILABLE,
            message=(
                "We could not start this run because our task queue is unavailable. Please run it again shortly."
            ),
        )
