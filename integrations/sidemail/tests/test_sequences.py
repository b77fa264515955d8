"""Onboarding and trial sequences: each step at its time, once, whoever ticks; stops that hold."""

import importlib
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.db import connections
from django.test import Client

from integrations.sidemail import sequences
from integrations.sidemail.models import Enrollment
from workspaces.models import Plan, Workspace
from workspaces.services import create_workspace
from workspaces.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WEBHOOK_SECRET = "sidemail-test-webhook-secret"


def at(**delta: float) -> datetime:
    return START + timedelta(**delta)


@pytest.fixture
def clock(freeze_time):
    return freeze_time(START)


def templates_to(standin, address):
    return [email["templateName"] for email in standin.emails(to=address)]


def tick(commits):
    with commits(execute=True):
        return sequences.send_due_steps()


def test_onboarding_sends_day_0_2_and_5_at_their_times_once_each(
    standin, clock, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        user = UserFactory(email="ada@example.com")
    enrollment = Enrollment.objects.get(user=user, sequence__slug="onboarding")
    assert enrollment.next_send_at == clock.now

    assert tick(django_capture_on_commit_callbacks) == 1
    assert tick(django_capture_on_commit_callbacks) == 0  # a second scheduler, or a restart
    assert templates_to(standin, "ada@example.com") == ["onboarding-welcome"]

    clock.now = at(days=2, minutes=-1)
    assert tick(django_capture_on_commit_callbacks) == 0
    clock.now = at(days=2)
    assert tick(django_capture_on_commit_callbacks) == 1
    assert tick(django_capture_on_commit_callbacks) == 0
    clock.now = at(days=5)
    assert tick(django_capture_on_commit_callbacks) == 1
    clock.now = at(days=30)
    assert tick(django_capture_on_commit_callbacks) == 0

    assert templates_to(standin, "ada@example.com") == [
        "onboarding-welcome",
        "onboarding-tips-day-2",
        "onboarding-tips-day-5",
    ]
    enrollment.refresh_from_db()
    assert enrollment.completed_at is not None and enrollment.stopped_at is None


@pytest.fixture
def migrated_sequences():
    """The rows the data migration made, made again: an earlier test that committed for real
    ended with a flush that removed them."""
    migration = importlib.import_module(
        "integrations.sidemail.migrations.0004_onboarding_and_trial_sequences"
    )
    migration.create(django_apps, None)


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_ticking_at_once_send_each_step_once(standin, clock, migrated_sequences):
    users = [UserFactory(email=f"user{n}@example.com") for n in range(6)]
    assert Enrollment.objects.filter(sequence__slug="onboarding").count() == 6
    start = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def scheduler() -> None:
        try:
            start.wait(5)
            counts.append(sequences.send_due_steps())
        except BaseException as error:  # asserted on below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert sum(counts) == 6
    for user in users:
        assert templates_to(standin, user.email) == ["onboarding-welcome"]


def test_a_trial_workspace_owner_gets_the_trial_sequence_ending_before_the_trial_ends(
    standin, clock, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        owner = UserFactory(email="owner@example.com")
        workspace = create_workspace(name="Acme", owner=owner)
    assert workspace.plan == Plan.TRIAL and workspace.trial_ends_at is not None
    trial = Enrollment.objects.get(user=owner, sequence__slug="trial", workspace=workspace)

    tick(django_capture_on_commit_callbacks)
    trial.refresh_from_db()
    assert trial.next_send_at == workspace.trial_ends_at - timedelta(days=3)
    clock.now = trial.next_send_at
    tick(django_capture_on_commit_callbacks)

    sent = standin.emails(to="owner@example.com")
    assert [email["templateName"] for email in sent if email["templateName"].startswith("trial")] == [
        "trial-started",
        "trial-ending",
    ]
    assert sent[-1]["templateProps"]["workspace_name"] == "Acme"
    assert sent[-1]["templateProps"]["trial_ends_at"] == workspace.trial_ends_at.isoformat()


def test_converting_to_paid_stops_the_trial_sequence(standin, clock, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        owner = UserFactory(email="owner@example.com")
        workspace = create_workspace(name="Acme", owner=owner)
    tick(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("set_workspace_plan", "--workspace", workspace.slug, "--plan", "paid")

    trial = Enrollment.objects.get(user=owner, sequence__slug="trial")
    assert trial.stop_reason == Enrollment.StopReason.CONVERTED
    clock.now = at(days=30)
    for _ in range(3):  # one step of each enrolment per tick
        tick(django_capture_on_commit_callbacks)
    assert "trial-ending" not in templates_to(standin, "owner@example.com")
    # Onboarding is about the person, not the plan: it goes on.
    assert "onboarding-tips-day-5" in templates_to(standin, "owner@example.com")


def test_an_unsubscribe_stops_every_sequence_of_that_person(
    standin, clock, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        owner = UserFactory(email="owner@example.com")
        create_workspace(name="Acme", owner=owner)
    tick(django_capture_on_commit_callbacks)
    welcome = standin.emails(to="owner@example.com")[0]
    bounce = {
        "type": "email.bounce",
        "data": {"email": {"id": welcome["id"], "toAddress": "owner@example.com"}, "bounceType": "permanent"},
    }
    with django_capture_on_commit_callbacks(execute=True):
        answer = Client().post(
            "/webhooks/sidemail/",
            data=json.dumps(bounce),
            content_type="application/json",
            HTTP_SIDEMAIL_SECRET=WEBHOOK_SECRET,
        )
    assert answer.status_code == 200

    assert set(Enrollment.objects.filter(user=owner).values_list("stop_reason", flat=True)) == {
        "unsubscribed"
    }
    assert {c["emailAddress"]: c for c in standin.contacts()}["owner@example.com"]["isSubscribed"] is False
    clock.now = at(days=30)
    tick(django_capture_on_commit_callbacks)
    assert sorted(templates_to(standin, "owner@example.com")) == ["onboarding-welcome", "trial-started"]


def test_set_workspace_plan_starts_a_trial_of_the_given_length(clock, django_capture_on_commit_callbacks):
    owner = UserFactory(email="owner@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        workspace = create_workspace(name="Old", owner=owner)
        Workspace.objects.filter(pk=workspace.pk).update(plan=Plan.PAID, trial_ends_at=None)
        call_command(
            "set_workspace_plan", "--workspace", workspace.slug, "--plan", "trial", "--trial-days", "7"
        )
    workspace.refresh_from_db()
    assert workspace.plan == Plan.TRIAL
    assert workspace.trial_ends_at == clock.now + timedelta(days=7)


def test_existing_workspaces_are_paid_so_no_one_gets_a_trial_mail_out_of_the_blue():
    assert Workspace._meta.get_field("plan").default == Plan.PAID


def test_beat_runs_the_tick_every_minute_from_the_database():
    from django_celery_beat.models import PeriodicTask

    from integrations.sidemail.tasks import send_due_sequence_steps

    scheduled = PeriodicTask.objects.get(task=send_due_sequence_steps.name)
    assert scheduled.enabled and (scheduled.interval.every, scheduled.interval.period) == (1, "minutes")
