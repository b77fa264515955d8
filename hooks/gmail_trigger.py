"""New Gmail email triggers: poll a mailbox's history and start one run per new matching message.

The minute tick (hooks.tasks.tick_triggers) queues one poll task per due trigger. A poll reads
`users.history.list` from the trigger's cursor, every page (bootstrapping the cursor from
`users.getProfile`; a cursor Gmail no longer knows, 404, falls back to `messages.list` with
`after:`), fetches each new message, skips drafts, sent mail (what this mailbox sends, our own
runs included) and mail the workspace's runs sent from any mailbox (its marker header is the
workspace's value for its step header: integrations.google.marker), keeps those the trigger's query finds, and then, in one
transaction, moves the cursor on (compare-and-set: a second poller of the same cursor stops
there) and records a TriggerFiring per message (unique per trigger and message id) with its run.
Every call is booked against the mailbox's Gmail quota first (integrations.health.reserve_quota),
the budget sends use.
"""

import logging
import time
from base64 import urlsafe_b64decode
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from galaxyco.errors import AppError, ReauthRequired
from hooks.models import Trigger, TriggerFiring, TriggerPause, TriggerType
from integrations.google import clients
from integrations.google.marker import ORIGIN_HEADER, STEP_HEADER, is_own_origin
from integrations.google.scopes import GMAIL_READONLY
from integrations.health import GMAIL_UNITS, reserve_quota
from integrations.models import Integration, IntegrationStatus
from workflows.models import RunTrigger
from workflows.services import start_run

logger = logging.getLogger(__name__)

POLL_EVERY = timedelta(minutes=1)
UNHEALTHY_AFTER = timedelta(minutes=10)
# A quota wait longer than this ends the poll; the next tick carries on from the same cursor.
MAX_QUOTA_WAIT_SECONDS = 5.0
# How far before the last good check a fallback listing looks (clock skew, slow delivery).
FALLBACK_MARGIN = timedelta(minutes=10)
SKIPPED_LABELS = frozenset({"DRAFT", "SENT"})


class QuotaDeferred(Exception):
    """The mailbox's quota is booked too far ahead: poll again on the next tick."""


def due_gmail_ids(*, now: datetime) -> list[int]:
    return list(
        # The poll tick covers every workspace; each trigger is then loaded by id and works from its own.
        Trigger.objects.unscoped()
        .filter(type=TriggerType.GMAIL_NEW_EMAIL, enabled=True, workflow__archived_at__isnull=True)
        .exclude(due_at__gt=now)
        .values_list("pk", flat=True)
    )


def claim_poll(*, trigger_id: int, now: datetime) -> bool:
    """Book this minute's poll of a trigger (compare-and-set on due_at): one tick, one poll."""
    rows = Trigger.objects.unscoped().filter(pk=trigger_id).exclude(due_at__gt=now)
    return bool(rows.update(due_at=now + POLL_EVERY))


def has_read_access(integration: Integration) -> bool:
    return GMAIL_READONLY in (integration.scopes or [])


def _call(integration: Integration, cost: str, request: Any) -> dict[str, Any]:
    wait = reserve_quota(integration_id=integration.pk, units=GMAIL_UNITS[cost])
    if wait > MAX_QUOTA_WAIT_SECONDS:
        raise QuotaDeferred()
    if wait > 0:
        time.sleep(wait)
    result: dict[str, Any] = request()
    return result


def poll(*, trigger_id: int) -> int:
    """Poll one trigger's mailbox once; returns how many runs it started."""
    trigger = (
        Trigger.objects.unscoped()
        .filter(pk=trigger_id, enabled=True)
        .select_related("integration", "workspace")
        .first()
    )
    if trigger is None or trigger.type != TriggerType.GMAIL_NEW_EMAIL:
        return 0
    integration = trigger.integration
    if integration is None or integration.status != IntegrationStatus.ACTIVE:
        _pause(trigger, TriggerPause.REAUTH_REQUIRED)
        return 0
    if not has_read_access(integration):
        _pause(trigger, TriggerPause.READ_ACCESS_MISSING, notify=False)
        return 0
    try:
        if not trigger.cursor:
            profile = _call(integration, "profile", lambda: clients.gmail_profile(integration=integration))
            Trigger.objects.unscoped().filter(pk=trigger.pk, cursor="").update(
                cursor=str(profile["historyId"])
            )
            _healthy(trigger)
            return 0
        return _read_new_mail(trigger, integration)
    except QuotaDeferred:
        return 0
    except ReauthRequired:
        _pause(trigger, TriggerPause.REAUTH_REQUIRED)
        return 0
    except AppError as error:
        if error.code == "insufficient_permissions":  # read access was taken back at Google
            _pause(trigger, TriggerPause.READ_ACCESS_MISSING)
        # Recorded, not raised: the next tick tries again, and ten minutes without a good check
        # make the trigger unhealthy and tell its owner.
        Trigger.objects.unscoped().filter(pk=trigger.pk).update(
            last_error=error.message, last_error_at=timezone.now()
        )
        logger.info(
            "Gmail trigger poll failed: %s",
            error.code,
            extra={"event": "gmail_poll_failed", "trigger_id": trigger.pk, "error_code": error.code},
        )
        return 0


def _read_new_mail(trigger: Trigger, integration: Integration) -> int:
    old_cursor = trigger.cursor
    query = str(trigger.config.get("query") or "").strip()
    try:
        candidates, new_cursor = _history_since(integration, old_cursor)
        matching = None
    except clients.HistoryExpired:
        new_cursor = str(
            _call(integration, "profile", lambda: clients.gmail_profile(integration=integration))["historyId"]
        )
        since = (trigger.last_checked_at or trigger.created_at) - FALLBACK_MARGIN
        found_by = f"({query}) " if query else ""
        candidates = _listed(integration, f"{found_by}after:{int(since.timestamp())}")
        matching = set(candidates)
    seen = set(
        TriggerFiring.objects.filter(trigger=trigger, key__in=candidates).values_list("key", flat=True)
    )
    fetched: list[dict[str, Any]] = []
    for message_id in candidates:
        message = _fetch(integration, message_id) if message_id not in seen else None
        if message is not None and not _skipped(message, workspace_id=trigger.workspace_id):
            fetched.append(message)
    if query and matching is None and fetched:
        earliest = min(int(message["internalDate"]) for message in fetched) // 1000
        matching = set(_listed(integration, f"({query}) after:{earliest - 1}"))
    wanted = [message for message in fetched if matching is None or message["id"] in matching]
    return _start_runs(trigger, old_cursor=old_cursor, new_cursor=new_cursor, messages=wanted)


def _skipped(message: dict[str, Any], *, workspace_id: int) -> bool:
    """Drafts, sent mail, and mail this workspace's runs sent (their marker header), wherever it
    landed: a run's email never starts another run."""
    if SKIPPED_LABELS & set(message.get("labelIds", [])):
        return True
    headers = _headers(message.get("payload", {}))
    return is_own_origin(
        value=headers.get(ORIGIN_HEADER.lower(), ""),
        step=headers.get(STEP_HEADER.lower(), ""),
        workspace_id=workspace_id,
        received_at=_received_at(message),
    )


def _received_at(message: dict[str, Any]) -> datetime | None:
    """When Gmail received the message (its internalDate, epoch milliseconds), if it says."""
    try:
        return datetime.fromtimestamp(int(message["internalDate"]) / 1000, tz=UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return None


def _fetch(integration: Integration, message_id: str) -> dict[str, Any] | None:
    """The message in full, or None when it was deleted since history listed it."""
    try:
        return _call(
            integration,
            "get",
            lambda: clients.gmail_get_message(integration=integration, message_id=message_id),
        )
    except clients.HistoryExpired:
        return None


def _history_since(integration: Integration, cursor: str) -> tuple[list[str], str]:
    """Ids of messages added since the cursor (every page, oldest first), and the new cursor."""
    ids: list[str] = []
    page_token = None
    while True:
        page = _call(
            integration,
            "history",
            lambda token=page_token: clients.gmail_history_page(
                integration=integration, start_history_id=cursor, page_token=token
            ),
        )
        for record in page.get("history", []):
            for added in record.get("messagesAdded", []):
                message = added["message"]
                if message["id"] not in ids and not SKIPPED_LABELS & set(message.get("labelIds", [])):
                    ids.append(message["id"])
        page_token = page.get("nextPageToken")
        if not page_token:
            return ids, str(page["historyId"])


def _listed(integration: Integration, query: str) -> list[str]:
    """Ids of every message the query finds (every page), oldest first."""
    ids: list[str] = []
    page_token = None
    while True:
        page = _call(
            integration,
            "list",
            lambda token=page_token: clients.gmail_list_page(
                integration=integration, query=query, page_token=token
            ),
        )
        ids += [message["id"] for message in page.get("messages", [])]
        page_token = page.get("nextPageToken")
        if not page_token:
            return list(reversed(ids))


def _start_runs(trigger: Trigger, *, old_cursor: str, new_cursor: str, messages: list[dict[str, Any]]) -> int:
    started = 0
    with transaction.atomic():
        moved = Trigger.objects.unscoped().filter(pk=trigger.pk, cursor=old_cursor).update(cursor=new_cursor)
        if not moved:
            return 0  # another poller read this stretch of history and started its runs
        for message in messages:
            try:
                with transaction.atomic():
                    firing = TriggerFiring.objects.create(trigger=trigger, key=message["id"])
            except IntegrityError:
                continue  # a fallback listing overlapping what history already delivered
            try:
                run, _ = start_run(
                    workspace=trigger.workspace,
                    workflow_id=trigger.workflow_id,
                    run_input=run_input(message),
                    trigger=RunTrigger.GMAIL,
                    source_trigger_id=trigger.pk,
                )
            except AppError as error:
                Trigger.objects.unscoped().filter(pk=trigger.pk).update(
                    last_error=error.message, last_error_at=timezone.now()
                )
                continue
            firing.run = run
            firing.save(update_fields=["run"])
            started += 1
        fields: dict[str, Any] = {"last_checked_at": timezone.now(), "paused": TriggerPause.NONE}
        if started:
            fields["last_fired_at"] = timezone.now()
        Trigger.objects.unscoped().filter(pk=trigger.pk).update(**fields)
    _healthy(trigger)
    return started


def _healthy(trigger: Trigger) -> None:
    Trigger.objects.unscoped().filter(pk=trigger.pk).update(
        last_checked_at=timezone.now(), paused=TriggerPause.NONE, unhealthy_notified_at=None
    )


def _pause(trigger: Trigger, reason: TriggerPause, *, notify: bool = True) -> None:
    Trigger.objects.unscoped().filter(pk=trigger.pk).update(paused=reason)
    if notify:
        tell_owner_once(trigger_id=trigger.pk)


def tell_owner_once(*, trigger_id: int) -> None:
    """trigger.unhealthy to the workspace's endpoints, once until the trigger works again."""
    if (
        Trigger.objects.unscoped()
        .filter(pk=trigger_id, unhealthy_notified_at__isnull=True)
        .update(unhealthy_notified_at=timezone.now())
    ):
        from hooks.notifications import trigger_unhealthy

        transaction.on_commit(lambda: trigger_unhealthy(trigger_id=trigger_id))


def notify_stale(*, now: datetime) -> int:
    """Tell the owners of enabled Gmail triggers that have not checked for 10 minutes (once each)."""
    stale = (
        Trigger.objects.unscoped()
        .filter(
            type=TriggerType.GMAIL_NEW_EMAIL,
            enabled=True,
            unhealthy_notified_at__isnull=True,
            created_at__lt=now - UNHEALTHY_AFTER,
        )
        .exclude(last_checked_at__gte=now - UNHEALTHY_AFTER)
    )
    stale = stale.exclude(paused=TriggerPause.READ_ACCESS_MISSING)  # waiting for a person, not broken
    ids = list(stale.values_list("pk", flat=True))
    for trigger_id in ids:
        tell_owner_once(trigger_id=trigger_id)
    return len(ids)


# --- A message as the run's input


def _headers(payload: dict[str, Any]) -> dict[str, str]:
    return {header["name"].lower(): header["value"] for header in payload.get("headers", [])}


def _walk(part: dict[str, Any]) -> list[dict[str, Any]]:
    return [part, *(child for sub in part.get("parts", []) for child in _walk(sub))]


def _decoded(part: dict[str, Any]) -> str:
    data = part.get("body", {}).get("data")
    if not data:
        return ""
    return urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode("utf-8", "replace")


def run_input(message: dict[str, Any]) -> dict[str, Any]:
    """The fields a run started by this message reads as {{ input.<field> }}."""
    payload = message.get("payload", {})
    headers = _headers(payload)
    parts = _walk(payload)
    bodies = {"text/plain": "", "text/html": ""}
    for part in parts:
        if not part.get("filename") and part.get("mimeType") in bodies and not bodies[part["mimeType"]]:
            bodies[part["mimeType"]] = _decoded(part)
    return {
        "message_id": message["id"],
        "thread_id": message["threadId"],
        "from": headers.get("from", ""),
        "to": [address for _, address in getaddresses([headers.get("to", "")]) if address],
        "subject": headers.get("subject", ""),
        "date": headers.get("date", ""),
        "snippet": message.get("snippet", ""),
        "text": bodies["text/plain"],
        "html": bodies["text/html"],
        "labels": list(message.get("labelIds", [])),
        "attachments": [
            {
                "filename": part["filename"],
                "size": part.get("body", {}).get("size", 0),
                "content_type": part.get("mimeType", ""),
            }
            for part in parts
            if part.get("filename")
        ],
    }
