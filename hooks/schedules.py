"""Schedule triggers: cron times in a time zone (croniter), fired from the database.

One periodic tick (hooks.tasks.tick_triggers, every minute from Celery beat's database
scheduler) fires every schedule trigger whose `due_at` has passed. Each firing is one
transaction that moves `due_at` on with a compare-and-set, records a TriggerFiring unique per
(trigger, tick) and starts the run, so any number of schedulers racing on one tick start one run.
After downtime only the latest missed tick fires: one catch-up run, not one per missed tick.

A tick is named by its wall-clock time in the trigger's zone: when clocks go back, a time that
happens twice (02:30 on the last Sunday of October in Berlin) fires once; when they go forward, a
time that does not exist fires at the first moment after the gap (croniter's rule).
"""

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from croniter import croniter
from django.db import IntegrityError, transaction
from django.utils import timezone

from galaxyco.errors import AppError
from hooks.models import Trigger, TriggerFiring, TriggerType
from workflows.models import RunTrigger
from workflows.services import start_run

logger = logging.getLogger(__name__)

CRON_FIELDS = 5


class ScheduleError(ValueError):
    """A cron expression or zone we cannot schedule; the message names what is wrong."""


def check_cron(cron: str) -> str:
    cron = " ".join(cron.split())
    if len(cron.split(" ")) != CRON_FIELDS or not croniter.is_valid(cron):
        raise ScheduleError(
            f"“{cron}” is not a cron expression. Use five fields: minute hour day-of-month month "
            "day-of-week, for example “0 9 * * 1-5” (9:00 on weekdays)."
        )
    return cron


def check_zone(name: str) -> str:
    if name not in available_timezones():
        raise ScheduleError(f"“{name}” is not a time zone we know. Use an IANA name such as “Europe/Berlin”.")
    return name


def _times_after(*, cron: str, zone: str, moment: datetime) -> Iterator[datetime]:
    """Cron times strictly after `moment`, in the zone, each wall-clock time once."""
    times = croniter(cron, moment.astimezone(ZoneInfo(zone)))
    previous: datetime | None = None
    while True:
        current: datetime = times.get_next(datetime)
        if previous is None or current.replace(tzinfo=None) != previous.replace(tzinfo=None):
            yield current
        previous = current


def next_times(*, cron: str, zone: str, after: datetime, count: int = 5) -> list[datetime]:
    times = _times_after(cron=cron, zone=zone, moment=after)
    return [next(times) for _ in range(count)]


def next_time(*, cron: str, zone: str, after: datetime) -> datetime:
    return next(_times_after(cron=cron, zone=zone, moment=after))


def latest_time(*, cron: str, zone: str, at_or_before: datetime) -> datetime:
    """The last cron time at or before the moment (the tick a late scheduler fires)."""
    local = at_or_before.astimezone(ZoneInfo(zone))
    times = croniter(cron, local + timedelta(microseconds=1))
    latest: datetime = times.get_prev(datetime)
    return latest


def tick_key(moment: datetime) -> str:
    """A tick's name: its wall-clock time in the trigger's zone, to the minute."""
    return moment.replace(tzinfo=None).isoformat(timespec="minutes")


def schedule_due_at(*, config: dict[str, Any], now: datetime) -> datetime:
    return next_time(cron=config["cron"], zone=config["timezone"], after=now)


def due_schedule_ids(*, now: datetime) -> list[int]:
    return list(
        # The schedule tick covers every workspace; each trigger is then loaded by id and works from its own.
        Trigger.objects.unscoped()
        .filter(type=TriggerType.SCHEDULE, enabled=True, due_at__lte=now, workflow__archived_at__isnull=True)
        .values_list("pk", flat=True)
    )


def fire_due_schedules(*, now: datetime | None = None) -> int:
    """Fire every due schedule trigger once; returns how many runs this call started."""
    moment = now or timezone.now()
    return sum(
        fire_schedule(trigger_id=trigger_id, now=moment) for trigger_id in due_schedule_ids(now=moment)
    )


def fire_schedule(*, trigger_id: int, now: datetime) -> bool:
    """Fire one schedule trigger if it is still due (another scheduler may have fired it)."""
    trigger = (
        Trigger.objects.unscoped()
        .filter(pk=trigger_id, type=TriggerType.SCHEDULE, enabled=True, due_at__lte=now)
        .select_related("workspace")
        .first()
    )
    if trigger is None or trigger.due_at is None:
        return False
    cron, zone = trigger.config["cron"], trigger.config["timezone"]
    tick = latest_time(cron=cron, zone=zone, at_or_before=now)
    key = tick_key(tick)
    try:
        with transaction.atomic():
            claimed = (
                Trigger.objects.unscoped()
                .filter(pk=trigger.pk, due_at=trigger.due_at)
                .update(due_at=next_time(cron=cron, zone=zone, after=now))
            )
            if not claimed:
                return False
            firing = TriggerFiring.objects.create(trigger=trigger, key=key)
            started = _start(trigger=trigger, key=key)
            if started is not None:
                firing.run = started
                firing.save(update_fields=["run"])
    except IntegrityError:
        # This tick already fired (a wall-clock time that happens twice when clocks go back).
        Trigger.objects.unscoped().filter(pk=trigger.pk, due_at=trigger.due_at).update(
            due_at=next_time(cron=cron, zone=zone, after=now)
        )
        return False
    return started is not None


def _start(*, trigger: Trigger, key: str) -> Any:
    try:
        run, _ = start_run(
            workspace=trigger.workspace,
            workflow_id=trigger.workflow_id,
            run_input=dict(trigger.config.get("input") or {}),
            trigger=RunTrigger.SCHEDULE,
            idempotency_key=f"schedule-{trigger.pk}:{key}",
            source_trigger_id=trigger.pk,
        )
    except AppError as error:
        # The tick counts as fired; the trigger's card says why it started nothing.
        Trigger.objects.unscoped().filter(pk=trigger.pk).update(
            last_error=error.message, last_error_at=timezone.now()
        )
        logger.info(
            "Schedule trigger started no run: %s",
            error.code,
            extra={"event": "schedule_refused", "trigger_id": trigger.pk, "error_code": error.code},
        )
        return None
    Trigger.objects.unscoped().filter(pk=trigger.pk).update(
        last_fired_at=timezone.now(), last_checked_at=timezone.now(), last_error="", last_error_at=None
    )
    return run
