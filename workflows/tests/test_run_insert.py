"""A run and its steps are written together (`workflows.run_insert`): on PostgreSQL in one
statement, which needs no transaction around it; elsewhere in the caller's transaction."""

from contextlib import nullcontext

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from workflows import run_insert, services
from workflows.models import StepRun, WorkflowRun
from workflows.services import StepSpec
from workflows.tests.test_step_outputs import EVENT

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = {"to": ["ada@example.com"], "subject": "Hi", "text": "Hello"}


def test_a_run_is_written_with_its_steps_as_the_objects_returned_say(workspace, member):
    workflow = services.create_workflow(
        workspace=workspace,
        created_by=member,
        name="Three steps",
        steps=[
            StepSpec(action="gmail.send_email", params=EMAIL),
            StepSpec(action="calendar.create_event", params=EVENT["params"]),
            StepSpec(action="gmail.send_email", params=EMAIL),
        ],
    )
    with CaptureQueriesContext(connection) as captured:
        run, created = services.start_run(
            workspace=workspace,
            workflow_id=workflow.pk,
            run_input={"name": "Ada"},
            trigger="api",
            requested_by=member,
        )

    inserts = [query["sql"] for query in captured.captured_queries if "INSERT INTO" in query["sql"]]
    assert len(inserts) == (1 if run_insert.in_one_statement() else 2)
    assert created and not run._state.adding
    stored = WorkflowRun.objects.unscoped().get(pk=run.pk)
    assert (stored.workflow_id, stored.created_at) == (workflow.pk, run.created_at)
    held = list(run.step_runs.all())
    rows = list(StepRun.objects.unscoped().filter(run=run).order_by("position"))
    assert [(s.pk, s.run_id, s.position, s.action, s.message_id_header) for s in held] == [
        (s.pk, s.run_id, s.position, s.action, s.message_id_header) for s in rows
    ]
    # An email's Message-ID names its run and step; the calendar step, deduplicated by Google, has none.
    assert rows[0].message_id_header.startswith(f"<run-{run.pk}-step-0-")
    assert rows[1].message_id_header == ""
    assert rows[2].message_id_header.startswith(f"<run-{run.pk}-step-2-")
    assert rows[0].message_id_header != rows[2].message_id_header.replace("step-2", "step-0")


def test_a_step_that_cannot_be_written_leaves_no_run(workspace):
    workflow = services.create_workflow(
        workspace=workspace,
        created_by=None,
        name="One step",
        steps=[StepSpec(action="gmail.send_email", params=EMAIL)],
    )
    run = WorkflowRun(workspace=workspace, workflow=workflow, input={}, trigger="api")
    broken = StepRun(workspace=workspace, position=0, key="a", action="gmail.send_email", params=EMAIL)
    broken.integration_id = 2_000_000_000  # no such account

    in_transaction = nullcontext() if run_insert.in_one_statement() else transaction.atomic()
    with pytest.raises(IntegrityError), in_transaction:
        run_insert.insert_run_with_steps(run=run, step_runs=[broken], message_ids={0: ("<run-", "-x@test>")})

    assert not WorkflowRun.objects.unscoped().filter(workflow=workflow).exists()


def test_a_key_race_lost_inside_a_callers_transaction_leaves_it_usable(workspace, monkeypatch):
    """A trigger starts runs inside its own transaction: the INSERT that loses an idempotency-key
    race to another request (it found no run for the key, then the other's was committed) gets a
    savepoint of its own, so the caller's transaction goes on and the answer is the other's run."""
    workflow = services.create_workflow(
        workspace=workspace,
        created_by=None,
        name="One step",
        steps=[StepSpec(action="gmail.send_email", params=EMAIL)],
    )
    theirs, _ = services.start_run(
        workspace=workspace, workflow_id=workflow.pk, run_input={}, trigger="api", idempotency_key="signup-42"
    )
    looked_up = services._existing_run_for_key
    lookups: list[str] = []

    def found_nothing_the_first_time(**kwargs):
        lookups.append(kwargs["key"])
        return None if len(lookups) == 1 else looked_up(**kwargs)

    monkeypatch.setattr(services, "_existing_run_for_key", found_nothing_the_first_time)
    with transaction.atomic():
        run, created = services.start_run(
            workspace=workspace,
            workflow_id=workflow.pk,
            run_input={},
            trigger="api",
            idempotency_key="signup-42",
        )
        assert WorkflowRun.objects.unscoped().filter(workflow=workflow).count() == 1  # still usable

    assert (run.pk, created, lookups) == (theirs.pk, False, ["signup-42", "signup-42"])
