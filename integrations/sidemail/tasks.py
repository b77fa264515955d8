"""Thin Celery tasks: ids in, the services do the work."""

import time

from celery import Task, shared_task

from integrations.sidemail import services

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
