"""Thin Celery tasks: ids in, the engine and the services do the work.

A run's waits are Celery countdown retries, kept by the broker: a worker stopped while a run waits
finds it again when it starts. The scheduled `resume_stalled_runs` is the safety net for a task
the broker lost (a worker killed outright, a broker without persistence).
"""

import logging
import random
import time
from datetime import timedelta

from celery import Task, current_app, shared_task
from django.conf import settings

from galaxyco import context
from galaxyco.errors import ErrorCode
from workflows import engine
from workflows.models import WorkflowRun

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
        progress = _advance(run_id=run_id, run=None, sleep_every_wait=bool(self.request.is_eager))
    except engine.DATABASE_ERRORS as error:
        engine.close_broken_connection()
        countdown = database_retry_seconds(retries=self.request.retries)
        logger.warning(
            "The database is unavailable; the run will be retried in %.1f s",
            countdown,
            extra={"event": "run_database_unavailable", "error_type": type(error).__name__},
        )
        raise self.retry(countdown=countdown) from error
    if not progress.finished:
        raise self.retry(countdown=progress.retry_in)


def run_here(*, run: WorkflowRun) -> engine.Progress:
    """Execute a run created with `start_run(run_here=True)` in this thread, as `execute_run`
    executes it in a worker (the same loop, the same engine), handed the run as created instead
    of loading it again: the execute API's wait, without a trip through the broker.

    A wait longer than INLINE_WAIT_SECONDS (a retry, a send slot) is not waited for here: the
    run's task takes over through the broker, with that countdown, and the caller waits on its
    result. So does a database outage, after a backoff: the progress then says the run goes on
    and carries no run (`run` None), for nothing here can be read; the caller waits on the task's
    result and reads the run as the database has it, if it can. Never raised to the caller: the
    run exists and will go on, so an answer without it would invite a second run. The run was
    committed before this is called, so a process that dies here leaves it to the scheduled
    resume.
    """
    try:
        progress = _advance(run_id=run.pk, run=run, sleep_every_wait=_tasks_run_in_place())
    except engine.DATABASE_ERRORS as error:
        engine.close_broken_connection()
        countdown = database_retry_seconds(retries=0)
        logger.warning(
            "The database is unavailable; the run goes on in a worker in %.1f s",
            countdown,
            extra={"event": "run_database_unavailable", "error_type": type(error).__name__},
        )
        enqueue_run(run_id=run.pk, countdown=countdown)
        return engine.Progress(finished=False, retry_in=countdown)
    if not progress.finished:
        enqueue_run(run_id=run.pk, countdown=progress.retry_in)
    return progress


def _tasks_run_in_place() -> bool:
    # The test settings run tasks eagerly: no broker keeps a countdown there.
    return bool(current_app.conf.task_always_eager)


def _advance(*, run_id: int, run: WorkflowRun | None, sleep_every_wait: bool) -> engine.Progress:
    """Move the run on until it finishes, or until it must wait longer than a worker should hold
    on for (the progress says how long). With `sleep_every_wait` (tasks run eagerly: no broker
    keeps a countdown) every wait is slept in place."""
    progress = engine.advance(run_id=run_id, run=run) if run is not None else engine.advance(run_id=run_id)
    while not progress.finished and progress.retry_in is not None:
        if progress.retry_in > INLINE_WAIT_SECONDS and not sleep_every_wait:
            return progress
        time.sleep(progress.retry_in)
        progress = engine.advance(run_id=run_id)
    return progress


def database_retry_seconds(*, retries: int) -> float:
    ceiling = min(DATABASE_RETRY_MAX_SECONDS, 2.0 ** min(retries, 10))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


@shared_task
def resume_stalled_runs() -> int:
    """Scheduled by Celery beat (a row of django-celery-beat's, made by a migration)."""
    from workflows.services import resume_stalled_runs as resume

    return resume(older_than=timedelta(seconds=settings.WORKFLOW_RESUME_AFTER_SECONDS))


def enqueue_run(*, run_id: int, countdown: float | None = None) -> None:
    """Called after the run's transaction commits, so the worker always finds the row.

    If the broker cannot take the task, a run that has not started fails with a message instead
    of the request answering 500: the person sees what happened and can run it again (a started
    one is left to the scheduled resume).
    """
    try:
        if countdown is None:
            execute_run.apply_async((run_id,), task_id=run_task_id(run_id))
        else:
            execute_run.apply_async((run_id,), task_id=run_task_id(run_id), countdown=countdown)
    except Exception:
        logger.exception("Could not enqueue run", extra={"event": "enqueue_failed", "run_id": run_id})
        engine.fail_unstarted_run(
            run_id=run_id,
            code=ErrorCode.QUEUE_UNAVAILABLE,
            message=(
                "We could not start this run because our task queue is unavailable. Please run it again shortly."
            ),
        )
