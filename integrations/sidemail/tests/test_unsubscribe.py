"""A person who unsubscribed in Sidemail (their contact's isSubscribed false) gets no further
sequence step; reading the contact never sends a step twice and waits out Sidemail's hiccups."""

from datetime import UTC, datetime, timedelta

import pytest

from integrations.sidemail import sequences
from integrations.sidemail.api_client import SidemailClient
from integrations.sidemail.models import Enrollment
from workspaces.services import create_workspace
from workspaces.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(freeze_time):
    return freeze_time(START)


@pytest.fixture
def tick(django_capture_on_commit_callbacks):
    def run() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return sequences.send_due_steps()

    return run


@pytest.fixture
def new_user(django_capture_on_commit_callbacks):
    def create(email: str):
        with django_capture_on_commit_callbacks(execute=True):
            return UserFactory(email=email)

    return create


def templates_to(standin, address):
    return [email["templateName"] for email in standin.emails(to=address)]


def onboarding(user) -> Enrollment:
    return Enrollment.objects.get(user=user, sequence__slug="onboarding")


def test_a_contact_unsubscribed_in_sidemail_gets_no_next_step_and_all_their_enrolments_stop(
    standin, clock, tick, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        owner = UserFactory(email="ada@example.com")
        create_workspace(name="Acme", owner=owner)
    assert tick() == 2
    assert sorted(templates_to(standin, "ada@example.com")) == ["onboarding-welcome", "trial-started"]

    # The person clicks "unsubscribe" in a marketing email: Sidemail's contact says so.
    SidemailClient().upsert_contact({"emailAddress": "ada@example.com", "isSubscribed": False})
    clock.now = START + timedelta(days=2)
    contact_reads = standin.stats().get("contacts.get", 0)
    assert tick() == 0

    assert sorted(templates_to(standin, "ada@example.com")) == ["onboarding-welcome", "trial-started"]
    assert standin.stats()["contacts.get"] == contact_reads + 1  # one read, then every enrolment stops
    enrollments = Enrollment.objects.filter(user=owner)
    assert set(enrollments.values_list("stop_reason", flat=True)) == {Enrollment.StopReason.UNSUBSCRIBED}
    assert all(e.stopped_at == clock.now and e.next_send_at is None for e in enrollments)
    clock.now = START + timedelta(days=30)
    assert tick() == 0
    assert len(standin.emails(to="ada@example.com")) == 2


def test_a_transient_contact_read_error_retries_the_step_next_tick_and_sends_it_once(
    standin, clock, tick, new_user
):
    user = new_user("grace@example.com")
    standin.fail_next("contacts.get", status=503)

    assert tick() == 0
    assert templates_to(standin, "grace@example.com") == []
    waiting = onboarding(user)
    assert waiting.stopped_at is None and waiting.next_send_at == START

    clock.now = START + timedelta(minutes=1)
    assert tick() == 1
    assert tick() == 0
    assert templates_to(standin, "grace@example.com") == ["onboarding-welcome"]
    assert standin.stats()["contacts.get"] == 2


def test_a_sidemail_outage_ends_the_tick_after_one_contact_read(standin, clock, tick, new_user):
    first, second = new_user("ada@example.com"), new_user("grace@example.com")
    standin.fail_next("contacts.get", status=503, count=5)
    reads = standin.stats().get("contacts.get", 0)

    assert tick() == 0

    assert standin.stats()["contacts.get"] == reads + 1
    assert onboarding(first).next_send_at == START and onboarding(second).next_send_at == START


def test_a_contact_sidemail_does_not_have_yet_is_sent_to(standin, clock, tick, new_user):
    user = new_user("ada@example.com")
    assert SidemailClient().delete_contact("ada@example.com")

    assert tick() == 1

    assert templates_to(standin, "ada@example.com") == ["onboarding-welcome"]
    assert onboarding(user).stopped_at is None


def test_a_permanent_contact_read_error_does_not_hold_the_step_up(standin, clock, tick, new_user):
    new_user("ada@example.com")
    standin.fail_next("contacts.get", status=400, error_code="parameters-invalid")

    assert tick() == 1

    assert templates_to(standin, "ada@example.com") == ["onboarding-welcome"]
