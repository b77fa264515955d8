"""Writes: queue system email as OutboundEmail rows, send one row, sweep lost ones, apply webhooks."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from anymail.message import AnymailMessage
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from integrations.sidemail import sequences
from integrations.sidemail.api_client import SidemailClient, SidemailError
from integrations.sidemail.models import OutboundEmail, WebhookEvent, WorkflowEmail

logger = logging.getLogger(__name__)

Status = OutboundEmail.Status
# A claimed attempt holds its row this much longer than the HTTP timeout before a sweep may retry it.
LEASE_MARGIN_SECONDS = 30.0
# Webhook statuses only move forward: a late "delivered" never hides an "opened" or a bounce.
_EVENT_STATUS = {
    "email.delivered": Status.DELIVERED,
    "email.open": Status.OPENED,
    "email.bounce": Status.BOUNCED,
    "email.complaint": Status.COMPLAINED,
}
_RANK = {Status.SENT: 0, Status.DELIVERED: 1, Status.OPENED: 2, Status.BOUNCED: 3, Status.COMPLAINED: 3}
WEBHOOK_EVENT_TYPES = frozenset(_EVENT_STATUS)


def send_template(*, to: str, template_name: str, props: dict[str, Any] | None = None) -> int | None:
    """Send a Sidemail template through Django's email API (so it is an OutboundEmail like the rest).

    Returns the OutboundEmail id; None when a ``pre_send`` receiver cancelled the email.
    """
    message = AnymailMessage(to=[to], from_email=settings.DEFAULT_FROM_EMAIL)
    message.template_id = template_name
    message.merge_global_data = props or {}
    message.send()
    message_id = message.anymail_status.message_id
    return int(message_id) if message_id else None


def queue_emails(*, payloads: list[dict[str, Any]]) -> list[OutboundEmail]:
    """One pending row per Sidemail request body; each is handed to the task queue once committed."""
    now = timezone.now()
    with transaction.atomic():
        rows = [
            OutboundEmail.objects.create(
                to_address=payload["toAddress"],
                from_address=payload.get("fromAddress", ""),
                template_name=payload.get("templateName") or payload.get("templateId") or "",
                subject=payload.get("subject", ""),
                payload=payload,
                next_attempt_at=now,
            )
            for payload in payloads
        ]
    for row in rows:
        transaction.on_commit(partial(enqueue, email_id=row.pk))
    return rows


def enqueue(*, email_id: int) -> None:
    """Hand a row to the task queue. If the queue is down the row stays due and the sweep finds it."""
    from integrations.sidemail.tasks import send_outbound_email

    try:
        send_outbound_email.delay(email_id)
    except Exception:
        logger.warning(
            "Could not enqueue a system email; the sweep will send it",
            exc_info=True,
            extra={"event": "sidemail_enqueue_failed", "outbound_email_id": email_id},
        )


def retry_delay(*, attempt: int, retry_after: float | None = None) -> float:
    """Seconds before the attempt after ``attempt`` (1-based): SIDEMAIL_RETRY_DELAYS, up to 20 % later,
    never sooner than Sidemail's Retry-After."""
    delays = settings.SIDEMAIL_RETRY_DELAYS
    base = float(delays[min(attempt, len(delays)) - 1])
    return max(base * random.uniform(1.0, 1.2), retry_after or 0.0)


@dataclass(frozen=True)
class Attempt:
    retry_in: float | None  # seconds until the row is due again; None: nothing more to do now


def deliver(*, email_id: int, client: SidemailClient | None = None) -> Attempt:
    """Claim the row, call Sidemail once, record what came of it."""
    now = timezone.now()
    claimable = Q(status__in=[Status.PENDING, Status.RETRYING], next_attempt_at__lte=now) | Q(
        status=Status.SENDING, lease_until__lt=now
    )
    lease = timedelta(seconds=settings.SIDEMAIL_HTTP_TIMEOUT + LEASE_MARGIN_SECONDS)
    claimed = OutboundEmail.objects.filter(claimable, pk=email_id).update(
        status=Status.SENDING, attempts=F("attempts") + 1, lease_until=now + lease, updated_at=now
    )
    if not claimed:
        return Attempt(retry_in=_not_yet_due(email_id))
    email = OutboundEmail.objects.get(pk=email_id)
    mine = OutboundEmail.objects.filter(pk=email_id, status=Status.SENDING, attempts=email.attempts)
    try:
        sent = (client or SidemailClient()).send_email(email.payload)
    except SidemailError as error:
        return _record_failure(email, mine, error)
    done = timezone.now()
    mine.update(
        status=Status.SENT,
        sidemail_id=sent.id,
        sent_at=done,
        payload={},
        error_code="",
        error_message="",
        lease_until=None,
        next_attempt_at=None,
        updated_at=done,
    )
    _apply_early_events(email_id=email_id, sidemail_id=sent.id)
    return Attempt(retry_in=None)


def _apply_early_events(*, email_id: int, sidemail_id: str) -> None:
    """A webhook can arrive before the answer to the send is recorded: its event was kept without an
    email, and counts now."""
    with transaction.atomic():
        early = list(
            WebhookEvent.objects.select_for_update().filter(sidemail_id=sidemail_id, outbound_email=None)
        )
        if not early:
            return
        email = OutboundEmail.objects.select_for_update().get(pk=email_id)
        WebhookEvent.objects.filter(pk__in=[event.pk for event in early]).update(outbound_email=email)
        best = max((_EVENT_STATUS[event.event_type] for event in early), key=lambda status: _RANK[status])
        if _RANK.get(Status(email.status), -1) < _RANK[best]:
            email.status = best
            email.save(update_fields=["status", "updated_at"])


def _not_yet_due(email_id: int) -> float | None:
    email = OutboundEmail.objects.filter(pk=email_id, status__in=[Status.PENDING, Status.RETRYING]).first()
    if email is None or email.next_attempt_at is None:
        return None
    return max((email.next_attempt_at - timezone.now()).total_seconds(), 0.0)


def _record_failure(email: OutboundEmail, mine: Any, error: SidemailError) -> Attempt:
    now = timezone.now()
    out_of_attempts = email.attempts >= settings.SIDEMAIL_MAX_ATTEMPTS
    if error.retryable and not out_of_attempts:
        delay = retry_delay(attempt=email.attempts, retry_after=error.retry_after)
        mine.update(
            status=Status.RETRYING,
            error_code=error.code,
            error_message=error.message,
            next_attempt_at=now + timedelta(seconds=delay),
            lease_until=None,
            updated_at=now,
        )
        logger.warning(
            "Sidemail did not take a system email; retrying",
            extra={
                "event": "sidemail_send_retry",
                "outbound_email_id": email.pk,
                "error_code": error.code,
                "attempt": email.attempts,
                "retry_in": round(delay, 2),
            },
        )
        return Attempt(retry_in=delay)
    message = error.message
    if error.retryable:
        message = f"Gave up after {email.attempts} attempts: {error.message}"
    mine.update(
        status=Status.FAILED,
        error_code=error.code,
        error_message=message,
        lease_until=None,
        next_attempt_at=None,
        updated_at=now,
    )
    logger.error(
        "Sidemail refused a system email: %s",
        message,
        extra={
            "event": "sidemail_send_failed",
            "outbound_email_id": email.pk,
            "error_code": error.code,
            "template_name": email.template_name,
        },
    )
    return Attempt(retry_in=None)


def requeue_due(*, grace: timedelta | None = None) -> int:
    """Enqueue again the rows a lost task left behind: due for longer than ``grace`` (their own
    countdown task gets the first chance), or stuck in an attempt whose lease ran out."""
    now = timezone.now()
    grace = timedelta(seconds=settings.SIDEMAIL_SWEEP_GRACE_SECONDS) if grace is None else grace
    lost = OutboundEmail.objects.filter(
        Q(status__in=[Status.PENDING, Status.RETRYING], next_attempt_at__lte=now - grace)
        | Q(status=Status.SENDING, lease_until__lt=now)
    ).values_list("pk", flat=True)
    ids = list(lost[:1000])
    for email_id in ids:
        enqueue(email_id=email_id)
    if ids:
        logger.info("Re-enqueued system emails", extra={"event": "sidemail_requeued", "count": len(ids)})
    return len(ids)


class InvalidWebhookEvent(ValueError):
    """The body is not a Sidemail event this app understands."""


@dataclass(frozen=True)
class WebhookEventData:
    sidemail_id: str
    event_type: str
    payload: dict[str, Any]


def parse_webhook_event(body: Any) -> WebhookEventData | None:
    """An event as Sidemail sends it (https://sidemail.io/docs/webhooks/):
    `{"type": "email.delivered", "data": {"email": {"id", "toAddress", …}, "time", …}}`.

    None for a well-formed event of a type we do not act on (other email events, sending
    domains, inbound email)."""
    if not isinstance(body, dict):
        raise InvalidWebhookEvent("The event must be a JSON object.")
    event_type = body.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidWebhookEvent("The event names no type.")
    if event_type not in WEBHOOK_EVENT_TYPES:
        return None
    data = body.get("data")
    email = data.get("email") if isinstance(data, dict) else None
    sidemail_id = email.get("id") if isinstance(email, dict) else None
    if not isinstance(sidemail_id, str) or not sidemail_id or len(sidemail_id) > 100:
        raise InvalidWebhookEvent("The event names no email id.")
    return WebhookEventData(sidemail_id=sidemail_id, event_type=event_type, payload=body)


def apply_webhook_event(*, event: WebhookEventData) -> bool:
    """Record the event once and move the email's status on. Returns False for a repeat."""
    try:
        with transaction.atomic():
            email = OutboundEmail.objects.select_for_update().filter(sidemail_id=event.sidemail_id).first()
            WebhookEvent.objects.create(
                sidemail_id=event.sidemail_id,
                event_type=event.event_type,
                outbound_email=email,
                payload=event.payload,
            )
            new_status = _EVENT_STATUS[event.event_type]
            _apply_to_workflow_email(event=event)
            if email is not None and _RANK.get(Status(email.status), -1) < _RANK[new_status]:
                email.status = new_status
                email.save(update_fields=["status", "updated_at"])
            if email is not None and new_status in (Status.BOUNCED, Status.COMPLAINED):
                sequences.stop_for_address(email=email.to_address)
                transaction.on_commit(partial(enqueue_contact_unsubscribe, email=email.to_address))
    except IntegrityError:
        return False
    return True


# A workflow step's email keeps Sidemail's own words for its status; they too only move forward.
_WORKFLOW_EMAIL_STATUS = {
    "email.delivered": "delivered",
    "email.open": "open",
    "email.bounce": "bounce",
    "email.complaint": "complaint",
}
_WORKFLOW_EMAIL_RANK = {"queued": 0, "delivered": 1, "open": 2, "bounce": 3, "complaint": 3}


def _apply_to_workflow_email(*, event: WebhookEventData) -> None:
    new_status = _WORKFLOW_EMAIL_STATUS[event.event_type]
    earlier = [s for s, rank in _WORKFLOW_EMAIL_RANK.items() if rank < _WORKFLOW_EMAIL_RANK[new_status]]
    WorkflowEmail.objects.filter(sidemail_id=event.sidemail_id, status__in=earlier).update(
        status=new_status, updated_at=timezone.now()
    )


# ------------------------------------------------------------------ contacts


def sidemail_configured() -> bool:
    return bool(settings.SIDEMAIL_API_KEY)


def contact_for(user: Any) -> dict[str, Any]:
    """The user's Sidemail contact. ``identifier`` is the user's id as a JSON string; ``isSubscribed``
    is left out so that an upsert never resubscribes someone who unsubscribed."""
    contact: dict[str, Any] = {"emailAddress": user.email, "identifier": str(user.pk)}
    name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    if name:
        contact["customProps"] = {"name": name}
    return contact


def sync_contact(*, user_id: int, previous_email: str = "", client: SidemailClient | None = None) -> str:
    """Upsert the user's contact (after an email change, the old address's contact goes first).

    Returns "created", "updated", or "skipped" for a user who is gone or has no address."""
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None or not user.email:
        return "skipped"
    client = client or SidemailClient()
    if previous_email and previous_email.lower() != user.email.lower():
        client.delete_contact(previous_email)
    return client.upsert_contact(contact_for(user))


def delete_contact(*, email: str, client: SidemailClient | None = None) -> bool:
    return (client or SidemailClient()).delete_contact(email)


def enqueue_contact_sync(*, user_id: int, previous_email: str = "") -> None:
    from integrations.sidemail.tasks import sync_contact_task

    _enqueue_quietly(sync_contact_task, user_id, previous_email)


def unsubscribe_contact(*, email: str, client: SidemailClient | None = None) -> str:
    """A bounce or a complaint: the address's contact is upserted with ``isSubscribed: false``."""
    user = get_user_model().objects.filter(email__iexact=email).first()
    contact = contact_for(user) if user is not None else {"emailAddress": email}
    return (client or SidemailClient()).upsert_contact({**contact, "isSubscribed": False})


def enqueue_contact_unsubscribe(*, email: str) -> None:
    from integrations.sidemail.tasks import unsubscribe_contact_task

    _enqueue_quietly(unsubscribe_contact_task, email)


def enqueue_contact_delete(*, email: str) -> None:
    from integrations.sidemail.tasks import delete_contact_task

    _enqueue_quietly(delete_contact_task, email)


def _enqueue_quietly(task: Any, *args: Any) -> None:
    """A contact that missed its update is repaired by `sidemail_sync_contacts`; a sign-up never
    fails because the queue is down."""
    try:
        task.delay(*args)
    except Exception:
        logger.warning(
            "Could not enqueue a Sidemail contact update",
            exc_info=True,
            extra={"event": "sidemail_contact_enqueue_failed"},
        )


def prune_contacts(*, client: SidemailClient | None = None) -> int:
    """Delete the contacts whose identifier names a user who no longer exists; page by page."""
    client = client or SidemailClient()
    user_ids = set(get_user_model().objects.values_list("pk", flat=True))
    stale: list[str] = []
    cursor: str | None = None
    while True:
        page, cursor = client.list_contacts(cursor=cursor)
        for contact in page:
            identifier = contact.get("identifier")
            if isinstance(identifier, str) and identifier.isdigit() and int(identifier) not in user_ids:
                stale.append(str(contact.get("emailAddress", "")))
        if cursor is None:
            break
    for email in stale:
        if email:
            client.delete_contact(email)
    return len(stale)
