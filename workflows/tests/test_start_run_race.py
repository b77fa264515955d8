"""A run started inside a caller's transaction (a trigger's) that loses an idempotency-key race."""

import pytest
from django.db import transaction

from workflows import services
from workflows.models import WorkflowRun
from workflows.services import StepSpec

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = {"to": ["ada@example.com"], "subject": "Hi", "text": "Hello"}


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
