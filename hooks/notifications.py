"""Notifications out: when something happens in a workspace, each of its endpoints that asked
for that event receives a JSON message `{"type", "timestamp", "data"}` signed with Standard
Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).

Each message is one Celery task per endpoint. An attempt that does not get a 2xx is retried
through the task queue with growing delays; every attempt is a WebhookDelivery row. Retries keep
the message's id and body, so a receiver that got an earlier attempt can tell.
"""

import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from requests_hardened.ip_filter import InvalidIPAddress
from standardwebhooks.webhooks import Webhook

from hooks import selectors
from hooks.destinations import session
from hooks.models import DeliveryOutcome, NotificationEndpoint, NotificationEvent, Trigger, WebhookDelivery
from integrations.models import Integration
from integrations.serializers import IntegrationSerializer
from workflows.models import RunStatus, WorkflowRun
from workflows.serializers import RunSerializer

logger = logging.getLogger(__name__)

# What a delivery row keeps of the endpoint's answer.
RESPONSE_BODY_LIMIT = 2000
RUN_EVENTS = {
    RunStatus.SUCCEEDED: NotificationEvent.RUN_SUCCEEDED,
    RunStatus.FAILED: NotificationEvent.RUN_FAILED,
}


def emit(*, workspace_id: int, event: NotificationEvent, data: dict[str, Any]) -> int:
    """Queue this event for each endpoint that asked for it, once the current transaction
    commits. Returns how many endpoints it goes to."""
    endpoints = selectors.endpoints_for_event(workspace_id=workspace_id, event=event)
    if endpoints:
        _queue(endpoints=endpoints, event=event, data=data)
    return len(endpoints)


def _queue(*, endpoints: list[NotificationEndpoint], event: NotificationEvent, data: dict[str, Any]) -> None:
    from hooks.tasks import deliver_notification

    message_id = f"msg_{uuid.uuid4().hex}"
    body = json.dumps(
        {"type": event.value, "timestamp": timezone.now().isoformat(), "data": data},
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
    )

    def enqueue(endpoint_id: int) -> None:
        try:
            deliver_notification.delay(endpoint_id, message_id, event.value, body)
        except Exception:
            logger.exception(
                "Could not queue a notification",
                extra={"event": "notification_enqueue_failed", "endpoint_id": endpoint_id},
            )

    for endpoint in endpoints:
        transaction.on_commit(lambda endpoint_id=endpoint.pk: enqueue(endpoint_id))  # type: ignore[misc]
    logger.info(
        "Notification %s queued for %d endpoint(s)",
        event.value,
        len(endpoints),
        extra={"event": "notification_queued", "notification": event.value, "message_id": message_id},
    )


def run_finished(*, run: WorkflowRun) -> None:
    """Called by the engine once a run has finished (the run as the engine holds it, its workflow
    loaded): run.succeeded or run.failed, with the run as the API shows it. Never raises: a
    notification must not disturb the run it is about."""
    try:
        event = RUN_EVENTS.get(RunStatus(run.status))
        if event is None:
            return
        endpoints = selectors.endpoints_for_event(workspace_id=run.workspace_id, event=event)
        if endpoints:  # the run is serialized only when someone listens
            _queue(endpoints=endpoints, event=event, data=dict(RunSerializer(run).data))
    except Exception:
        logger.exception("Could not notify about a finished run", extra={"event": "notification_failed"})


def integration_reauth_required(*, integration_id: int) -> None:
    """Called when an account starts needing reconnection. Never raises, like `run_finished`."""
    try:
        integration = (
            Integration.objects.unscoped().filter(pk=integration_id).select_related("connected_by").first()
        )
        if integration is not None:
            emit(
                workspace_id=integration.workspace_id,
                event=NotificationEvent.INTEGRATION_REAUTH_REQUIRED,
                data={"integration": dict(IntegrationSerializer(integration).data)},
            )
    except Exception:
        logger.exception("Could not notify about an account", extra={"event": "notification_failed"})


@dataclass(frozen=True)
class Attempt:
    delivered: bool
    retry_in: float | None = None


def max_attempts() -> int:
    return len(settings.NOTIFICATION_RETRY_DELAYS) + 1


def deliver(*, endpoint_id: int, message_id: str, event: str, body: str, attempt: int) -> Attempt:
    """Send one attempt and log it. `retry_in` says when to try again; None: done (delivered, out
    of attempts, or the endpoint was removed or switched off meanwhile)."""
    endpoint = NotificationEndpoint.objects.unscoped().filter(pk=endpoint_id, enabled=True).first()
    if endpoint is None:
        return Attempt(delivered=False)
    started = time.monotonic()
    status: int | None = None
    answer = error = ""
    try:
        status, answer = _post(endpoint=endpoint, message_id=message_id, body=body)
    except requests.RequestException as failure:
        error = _describe(failure)
    delivered = status is not None and 200 <= status < 300
    if not delivered and not error:
        error = f"The endpoint answered {status}; it must answer 2xx."
    WebhookDelivery.objects.create(
        workspace_id=endpoint.workspace_id,
        endpoint=endpoint,
        message_id=message_id,
        event=event,
        attempt=attempt,
        outcome=DeliveryOutcome.DELIVERED if delivered else DeliveryOutcome.FAILED,
        response_status=status,
        response_body=answer,
        error=error,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    extra = {"endpoint_id": endpoint.pk, "message_id": message_id, "attempt": attempt, "status": status}
    if delivered:
        logger.info("Notification delivered", extra={"event": "notification_delivered", **extra})
        return Attempt(delivered=True)
    if attempt >= max_attempts():
        logger.warning("Notification given up", extra={"event": "notification_given_up", **extra})
        return Attempt(delivered=False)
    delay = float(settings.NOTIFICATION_RETRY_DELAYS[attempt - 1])
    logger.info("Notification will be retried", extra={"event": "notification_retry", **extra})
    return Attempt(delivered=False, retry_in=delay / 2 + random.uniform(0, delay / 2))


def _post(*, endpoint: NotificationEndpoint, message_id: str, body: str) -> tuple[int, str]:
    now = datetime.now(tz=UTC)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(endpoint.secret).sign(msg_id=message_id, timestamp=now, data=body),
    }
    with (
        session() as http,
        http.post(endpoint.url, data=body.encode(), headers=headers, stream=True) as response,
    ):
        return response.status_code, _start_of(response)


def _start_of(response: requests.Response) -> str:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= RESPONSE_BODY_LIMIT:
            break
    return b"".join(chunks)[:RESPONSE_BODY_LIMIT].decode("utf-8", "replace").replace("\x00", "")


def _describe(failure: requests.RequestException) -> str:
    if isinstance(failure, InvalidIPAddress):
        return "The endpoint's host now resolves to a private address, which notifications are never sent to."
    if isinstance(failure, requests.Timeout):
        return "The endpoint did not answer in time."
    if isinstance(failure, requests.ConnectionError):
        return "We could not connect to the endpoint."
    return "The request to the endpoint failed."


def delete_old_deliveries() -> int:
    """Delivery logs are kept NOTIFICATION_DELIVERY_RETENTION_DAYS days. Returns how many went."""
    cutoff = timezone.now() - timedelta(days=settings.NOTIFICATION_DELIVERY_RETENTION_DAYS)
    deleted, _ = selectors.deliveries_before(moment=cutoff).delete()
    return deleted


def trigger_unhealthy(*, trigger_id: int) -> None:
    """Called once when a trigger stops working (its account needs reconnecting, or it has not
    checked its mailbox for 10 minutes). Never raises, like `run_finished`."""
    from hooks.serializers import TriggerSerializer

    try:
        trigger = Trigger.objects.unscoped().filter(pk=trigger_id).first()
        if trigger is not None:
            emit(
                workspace_id=trigger.workspace_id,
                event=NotificationEvent.TRIGGER_UNHEALTHY,
                data={"trigger": dict(TriggerSerializer(trigger).data)},
            )
    except Exception:
        logger.exception("Could not notify about a trigger", extra={"event": "notification_failed"})
