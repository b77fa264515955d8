"""Thin Celery tasks: ids and the message in, hooks.notifications does the work."""

from celery import Task, shared_task
from django.utils import timezone

from hooks import gmail_trigger, notifications, schedules


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def deliver_notification(self: Task, endpoint_id: int, message_id: str, event: str, body: str) -> object:
    """One attempt; a failed one comes back through the queue after its backoff (the broker keeps
    the countdown, so no worker waits)."""
    attempt = notifications.deliver(
        endpoint_id=endpoint_id,
        message_id=message_id,
        event=event,
        body=body,
        attempt=self.request.retries + 1,
    )
    if attempt.retry_in is not None:
        # Returned, not raised: the same retry message is sent either way, and a task run eagerly
        # (the test settings) then has Celery apply the retry at once instead of raising it.
        return self.retry(countdown=attempt.retry_in, throw=False)
    return attempt.delivered


@shared_task
def delete_old_deliveries() -> int:
    """Scheduled by Celery beat (a row of django-celery-beat's, made by a migration)."""
    return notifications.delete_old_deliveries()


@shared_task
def tick_triggers() -> int:
    """Every minute (a django-celery-beat row, made by a migration): fire the due schedule
    triggers, and queue one poll per due Gmail trigger (fan-out: one task per mailbox watched)."""
    now = timezone.now()
    fired = schedules.fire_due_schedules(now=now)
    for trigger_id in gmail_trigger.due_gmail_ids(now=now):
        if gmail_trigger.claim_poll(trigger_id=trigger_id, now=now):
            poll_gmail_trigger.delay(trigger_id)
    gmail_trigger.notify_stale(now=now)
    return fired


@shared_task(acks_late=True, reject_on_worker_lost=True)
def poll_gmail_trigger(trigger_id: int) -> int:
    return gmail_trigger.poll(trigger_id=trigger_id)
