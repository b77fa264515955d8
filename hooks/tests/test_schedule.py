"""Schedule triggers: cron times in a zone across DST changes, durable across a scheduler restart,
one catch-up run after downtime, one run per tick however many schedulers race; the API's
validation and next five times."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections

from hooks import schedules
from hooks.models import Trigger, TriggerFiring
from tests.clock import FrozenClock
from workflows.models import WorkflowRun
from workflows.tests.helpers import create_workflow, workflows_url

pytestmark = pytest.mark.django_db(transaction=True)

INPUT = {"name": "Ada", "email": "ada@example.com"}


@pytest.fixture
def clock(freeze_time) -> FrozenClock:
    """A frozen clock: timezone.now() answers what the test sets."""
    return freeze_time(datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture(autouse=True)
def no_execution(monkeypatch):
    """Runs are created and left queued: these tests are about which runs start, not what they do."""
    monkeypatch.setattr("workflows.tasks.enqueue_run", lambda *, run_id: None)


@pytest.fixture
def workflow_id(workspace, key_client) -> int:
    return create_workflow(key_client, workspace)


def add_schedule(client, workspace, workflow_id: int, **body):
    return client.post(
        f"{workflows_url(workspace)}{workflow_id}/triggers/",
        {"type": "schedule", "input": INPUT, **body},
        format="json",
    )


def run_times(trigger_id: int) -> list[datetime]:
    return [
        run.created_at
        for run in WorkflowRun.objects.unscoped().filter(source_trigger_id=trigger_id).order_by("id")
    ]


def tick_through(
    clock: FrozenClock, until: datetime, every: timedelta = timedelta(minutes=1)
) -> Iterator[int]:
    while clock.now < until:
        clock.now += every
        yield schedules.fire_due_schedules(now=clock.now)


def test_weekday_mornings_in_berlin_across_the_spring_change(clock, workspace, key_client, workflow_id):
    clock.now = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # Friday; clocks go forward on Sunday the 29th
    response = add_schedule(key_client, workspace, workflow_id, cron="0 9 * * *", timezone="Europe/Berlin")
    assert response.status_code == 201, response.json()
    trigger = response.json()
    assert trigger["next_times"][:3] == [
        "2026-03-28T09:00:00+01:00",
        "2026-03-29T09:00:00+02:00",
        "2026-03-30T09:00:00+02:00",
    ]
    assert len(trigger["next_times"]) == 5 and trigger["health"] == "healthy"

    assert sum(tick_through(clock, datetime(2026, 3, 31, 0, 0, tzinfo=UTC), timedelta(minutes=5))) == 3
    # 9:00 in Berlin is 08:00 UTC before the change and 07:00 UTC after it.
    assert run_times(trigger["id"]) == [
        datetime(2026, 3, 28, 8, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 7, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 7, 0, tzinfo=UTC),
    ]
    run = (
        WorkflowRun.objects.unscoped()
        .filter(source_trigger_id=trigger["id"])
        .get(created_at=run_times(trigger["id"])[0])
    )
    assert run.trigger == "schedule" and run.input == INPUT


def test_a_time_that_happens_twice_in_autumn_fires_once(clock, workspace, key_client, workflow_id):
    clock.now = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)  # clocks go back at 03:00 on the 25th
    trigger = add_schedule(
        key_client, workspace, workflow_id, cron="30 2 * * *", timezone="Europe/Berlin"
    ).json()
    assert sum(tick_through(clock, datetime(2026, 10, 26, 12, 0, tzinfo=UTC))) == 2
    assert run_times(trigger["id"]) == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 02:30 CEST, the first 02:30 of the night
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),  # 02:30 CET
    ]


def test_a_scheduler_restart_after_downtime_makes_one_catch_up_run(clock, workspace, key_client, workflow_id):
    clock.now = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
    trigger = add_schedule(key_client, workspace, workflow_id, cron="0 * * * *", timezone="UTC").json()
    assert sum(tick_through(clock, datetime(2026, 5, 4, 10, 1, tzinfo=UTC))) == 1

    # The scheduler is down from 10:01 to 15:20: five hourly ticks pass unseen. Nothing of it lives
    # in the process: a new one reads the due time from the database and fires once, for 15:00.
    clock.now = datetime(2026, 5, 4, 15, 20, tzinfo=UTC)
    assert schedules.fire_due_schedules(now=clock.now) == 1
    assert schedules.fire_due_schedules(now=clock.now) == 0
    assert list(TriggerFiring.objects.filter(trigger_id=trigger["id"]).values_list("key", flat=True)) == [
        "2026-05-04T10:00",
        "2026-05-04T15:00",
    ]
    assert sum(tick_through(clock, datetime(2026, 5, 4, 16, 0, tzinfo=UTC))) == 1
    assert len(run_times(trigger["id"])) == 3


def test_a_disabled_schedule_does_not_catch_up_when_enabled(clock, workspace, key_client, workflow_id):
    clock.now = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
    trigger = add_schedule(key_client, workspace, workflow_id, cron="0 * * * *").json()
    url = f"{workflows_url(workspace)}{workflow_id}/triggers/{trigger['id']}/"
    assert key_client.patch(url, {"enabled": False}, format="json").status_code == 200
    clock.now = datetime(2026, 5, 4, 12, 30, tzinfo=UTC)
    assert schedules.fire_due_schedules(now=clock.now) == 0
    assert key_client.patch(url, {"enabled": True}, format="json").status_code == 200
    assert schedules.fire_due_schedules(now=clock.now) == 0
    assert Trigger.objects.unscoped().get(pk=trigger["id"]).due_at == datetime(2026, 5, 4, 13, 0, tzinfo=UTC)


def test_three_schedulers_at_once_start_one_run_per_tick(clock, workspace, key_client, workflow_id):
    clock.now = datetime(2026, 5, 4, 9, 59, tzinfo=UTC)
    triggers = [add_schedule(key_client, workspace, workflow_id, cron="* * * * *").json() for _ in range(3)]
    barrier = threading.Barrier(3)
    started: list[int] = []
    errors: list[BaseException] = []

    def scheduler() -> None:
        try:
            for minute in range(1, 6):
                barrier.wait(timeout=30)
                started.append(
                    schedules.fire_due_schedules(
                        now=datetime(2026, 5, 4, 9, 59, tzinfo=UTC) + timedelta(minutes=minute)
                    )
                )
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=scheduler) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # Three triggers, five ticks: fifteen runs, one per (trigger, tick), whoever fired it.
    assert sum(started) == 15
    for trigger in triggers:
        keys = list(TriggerFiring.objects.filter(trigger_id=trigger["id"]).values_list("key", flat=True))
        assert sorted(keys) == [f"2026-05-04T10:0{minute}" for minute in range(5)]
        assert WorkflowRun.objects.unscoped().filter(source_trigger_id=trigger["id"]).count() == 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "0 9 * *"}, "cron"),
        ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({}, "cron"),
    ],
)
def test_a_bad_cron_or_zone_is_refused_naming_the_field(workspace, key_client, workflow_id, body, field):
    response = add_schedule(key_client, workspace, workflow_id, **body)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"], response.json()
    assert Trigger.objects.unscoped().count() == 0


def test_the_builder_shows_the_next_five_times(workspace, key_client, session_client, workflow_id):
    trigger = add_schedule(
        key_client, workspace, workflow_id, cron="0 9 * * 1-5", timezone="Europe/Berlin"
    ).json()
    times = [datetime.fromisoformat(moment) for moment in trigger["next_times"]]
    assert len(times) == 5 and times == sorted(times) and times[0] > datetime.now(tz=UTC)
    assert all(moment.hour == 9 and moment.minute == 0 and moment.isoweekday() <= 5 for moment in times)
    page = session_client.get(f"/w/{workspace.slug}/workflows/{workflow_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    for moment in trigger["next_times"]:
        assert f'<time datetime="{moment}">' in html


def test_the_builder_adds_a_schedule_and_refuses_a_bad_one(workspace, session_client, workflow_id):
    from html import unescape

    builder = f"/w/{workspace.slug}/workflows/{workflow_id}/"
    add = f"{builder}triggers/"
    bad = session_client.post(add, {"type": "schedule", "cron": "0 25 * * *", "timezone": "UTC"}, follow=True)
    assert (
        "is not a cron expression" in unescape(bad.content.decode())
        and Trigger.objects.unscoped().count() == 0
    )
    bad = session_client.post(
        add, {"type": "schedule", "cron": "0 9 * * *", "timezone": "Berlin"}, follow=True
    )
    assert (
        "is not a time zone we know" in unescape(bad.content.decode())
        and Trigger.objects.unscoped().count() == 0
    )

    page = session_client.post(
        add, {"type": "schedule", "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"}, follow=True
    )
    trigger = Trigger.objects.unscoped().get()
    assert trigger.config == {"cron": "0 9 * * 1-5", "timezone": "Europe/Berlin", "input": {}}
    assert page.content.decode().count("<time datetime=") == 5
