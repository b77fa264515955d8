"""Creating a calendar event is idempotent: each step names its event with a key of its own
(attempt-independent), Google refuses a second event with that id (409), and the event the first
call made is read back. So a call that timed out after Google created the event is retried freely,
and never makes a second event."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.tests.google_grants import connect
from workflows import engine
from workflows.models import RunStatus, StepRun, StepStatus, WorkflowRun
from workflows.services import StepSpec
from workflows.tests.helpers import run_workflow

pytestmark = pytest.mark.django_db

HANG = 1.5  # past the client's timeout below


def start(workspace, member, integration, django_capture_on_commit_callbacks) -> WorkflowRun:
    return run_workflow(
        workspace=workspace,
        member=member,
        name="Meeting",
        capture=django_capture_on_commit_callbacks,
        steps=[
            StepSpec(
                action="calendar.create_event",
                params={
                    "summary": "Intro call",
                    "start": "2026-12-01T09:30:00",
                    "end": "2026-12-01T10:00:00",
                },
                integration=integration,
            )
        ],
    )


def test_an_insert_that_timed_out_after_google_made_the_event_is_retried_and_makes_one_event(
    google, workspace, member, settings, django_capture_on_commit_callbacks
):
    settings.GOOGLE_HTTP_TIMEOUT = 0.4
    integration = connect(
        google, workspace=workspace, user=member, email="cal@gmail.test", integration_type="calendar"
    )
    google.state.add_fault("calendar.insert", hang_seconds=HANG, hang_after=True)

    run = start(workspace, member, integration, django_capture_on_commit_callbacks)

    assert run.status == RunStatus.SUCCEEDED
    [event] = google.state.events()
    step = run.step_runs.get()
    assert step.attempts == 2  # the timeout, then the retry that found the event
    assert google.state.stats()["calendar.insert"] == 2
    assert step.output == {"event_id": event["id"], "html_link": event["htmlLink"], "status": "confirmed"}


def test_a_step_whose_executor_died_after_the_insert_makes_one_event(
    google, workspace, member, django_capture_on_commit_callbacks
):
    integration = connect(
        google, workspace=workspace, user=member, email="cal@gmail.test", integration_type="calendar"
    )
    run = start(workspace, member, integration, django_capture_on_commit_callbacks)
    [event] = google.state.events()
    first_output = run.step_runs.get().output
    # The same step again, as a redelivered task finds it when its worker died before recording
    # the answer: running, its lease over.
    StepRun.objects.unscoped().filter(run=run).update(
        status=StepStatus.RUNNING, output={}, next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    WorkflowRun.objects.unscoped().filter(pk=run.pk).update(status=RunStatus.RUNNING, finished_at=None)

    engine.advance(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert google.state.events() == [event]  # one event
    assert run.step_runs.get().output == first_output


def test_each_step_gets_its_own_event_id(google, workspace, member, django_capture_on_commit_callbacks):
    integration = connect(
        google, workspace=workspace, user=member, email="cal@gmail.test", integration_type="calendar"
    )
    first = start(workspace, member, integration, django_capture_on_commit_callbacks)
    second = start(workspace, member, integration, django_capture_on_commit_callbacks)

    events = google.state.events()
    assert [event["id"] for event in events] == [
        first.step_runs.get().output["event_id"],
        second.step_runs.get().output["event_id"],
    ]
    assert len(set(event["id"] for event in events)) == 2
