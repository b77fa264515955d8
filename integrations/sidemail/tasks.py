"""Thin Celery tasks: ids in, the services do the work."""

import logging
import time

from celery import Task, shared_task

from integrations.sidemail import sequences, services
from integrations.sidemail.api_client import SidemailError

logger = logging.getLogger(__name__)
CONTACT_MAX_RETRIES = 5

# Short waits are slept in place; longer ones hand the worker back and come back later.
INLINE_WAIT_SECONDS = 2.0


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def send_outbound_email(self: Task, email_id: int) -> None:
    """Send one OutboundEmail; a transient failure comes back as a countdown retry, kept by the
    broker. Run eagerly (the test settings) there is no broker to keep one, so waits are slept."""
    while True:
        retry_in = services.deliver(email_id=email_id).retry_in
        if retry_in is None:
            return
        if retry_in > INLINE_WAIT_SECONDS and not self.request.is_eager:
            raise self.retry(countdown=retry_in)
        time.sleep(retry_in)


@shared_task
def requeue_outbound_emails() -> int:
    """Scheduled by Celery beat (a row of django-celery-beat's, made by a migration)."""
    return services.requeue_due()


@shared_task(bind=True, acks_late=True, max_retries=CONTACT_MAX_RETRIES)
def sync_contact_task(self: Task, user_id: int, previous_email: str = "") -> None:
    try:
        services.sync_contact(user_id=user_id, previous_email=previous_email)
    except SidemailError as error:
        _retry_or_log(self, error, user_id=user_id)


@shared_task(bind=True, acks_late=True, max_retries=CONTACT_MAX_RETRIES)
def delete_contact_task(self: Task, email: str) -> None:
    try:
        services.delete_contact(email=email)
    except SidemailError as error:
        _retry_or_log(self, error, user_id=None)


@shared_task(bind=True, acks_late=True, max_retries=CONTACT_MAX_RETRIES)
def unsubscribe_contact_task(self: Task, email: str) -> None:
    try:
        services.unsubscribe_contact(email=email)
    except SidemailError as error:
        _retry_or_log(self, error, user_id=None)


def _retry_or_log(task: Task, error: SidemailError, *, user_id: int | None) -> None:
    """Transient errors come back later (not when run in place: nothing would keep the countdown);
    the rest, and the last failure, are logged: `sidemail_sync_contacts` repairs what is left."""
    if error.retryable and not task.request.is_eager and task.request.retries < CONTACT_MAX_RETRIES:
        delay = services.retry_delay(attempt=task.request.retries + 1, retry_after=error.retry_after)
        raise task.retry(countdown=delay, exc=error)
    logger.warning(
        "A Sidemail contact update failed: %s",
        error.message,
        extra={"event": "sidemail_contact_failed", "error_code": error.code, "user_id": user_id},
    )


@shared_task
def send_due_sequence_steps() -> int:
    """Scheduled by Celery beat every minute (a row of django-celery-beat's, made by a migration)."""
    return sequences.send_due_steps()
