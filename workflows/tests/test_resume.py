import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from integrations.tests.google_grants import connect
from workflows.models import StepRun, WorkflowRun
from workflows.services import StepSpec, create_workflow, start_run

pytestmark = pytest.mark.django_db


def lost_run(workspace, member, *, age: timedelta) -> WorkflowRun:
    """A run whose task never ran (the test transaction never commits, so it is never enqueued)."""
    workflow = create_workflow(
        workspace=workspace,
        created_by=member,
        name="Lost",
        steps=[
            StepSpec(
                action="gmail.send_email", params={"to": ["a@example.com"], "subject": "Hi", "text": "Hello"}
            )
        ],
    )
    run, _ = start_run(
        workspace=workspace, workflow_id=workflow.pk, run_input={}, trigger="api", requested_by=member
    )
    WorkflowRun.objects.unscoped().filter(pk=run.pk).update(created_at=timezone.now() - age)
    return run


def resume() -> str:
    out = io.StringIO()
    call_command("resume_stalled_runs", "--older-than", "300", stdout=out)
    return out.getvalue()


def test_a_lost_run_is_picked_up_again(google, workspace, member):
    connect(google, workspace=workspace, user=member)
    run = lost_run(workspace, member, age=timedelta(minutes=10))
    assert "Resumed 1 run(s)." in resume()
    assert WorkflowRun.objects.unscoped().get(pk=run.pk).status == "succeeded"
    assert len(google.state.messages()) == 1
    assert "Resumed 0 run(s)." in resume()


def test_recent_runs_and_attempts_under_way_are_left_alone(google, workspace, member):
    connect(google, workspace=workspace, user=member)
    lost_run(workspace, member, age=timedelta(minutes=1))
    busy = lost_run(workspace, member, age=timedelta(minutes=10))
    StepRun.objects.unscoped().filter(run=busy).update(
        status="running", next_attempt_at=timezone.now() + timedelta(minutes=1)
    )
    assert "Resumed 0 run(s)." in resume()
    assert google.state.messages() == []


def test_an_attempt_whose_executor_died_is_taken_over_after_its_lease(google, workspace, member):
    connect(google, workspace=workspace, user=member)
    run = lost_run(workspace, member, age=timedelta(minutes=10))
    WorkflowRun.objects.unscoped().filter(pk=run.pk).update(status="running")
    StepRun.objects.unscoped().filter(run=run).update(
        status="running", attempts=1, next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    resume()
    step = StepRun.objects.unscoped().get(run=run)
    assert (step.status, step.attempts) == ("succeeded", 2)


def test_a_run_still_waiting_in_the_queue_is_enqueued_again_once_per_interval(workspace, member, monkeypatch):
    """A backlog longer than the sweep's age: each sweep must not add every waiting run again."""
    from workflows.tasks import execute_run

    enqueued: list[int] = []
    monkeypatch.setattr(execute_run, "apply_async", lambda args, task_id: enqueued.append(args[0]))
    run = lost_run(workspace, member, age=timedelta(minutes=10))
    assert "Resumed 1 run(s)." in resume()
    assert "Resumed 0 run(s)." in resume()
    WorkflowRun.objects.unscoped().filter(pk=run.pk).update(
        resumed_at=timezone.now() - timedelta(seconds=301)
    )
    assert "Resumed 1 run(s)." in resume()
    assert enqueued == [run.pk, run.pk]
