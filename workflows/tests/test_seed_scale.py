import pytest
from django.core.management import CommandError, call_command

from integrations.selectors import integration_status
from workflows.models import RunStatus, StepRun, WorkflowRun
from workflows.selectors import run_list
from workspaces.models import Membership, Workspace


@pytest.mark.django_db
def test_seed_scale_fills_an_empty_database_in_chunks_and_refuses_one_with_workspaces():
    call_command("seed_scale", workspaces=8, runs=100, busiest_runs=30, chunk=7, stdout=None)
    busiest = Workspace.objects.get(slug="scale-busiest")
    assert Workspace.objects.count() == 8
    assert Membership.objects.unscoped().count() == 8 + 2
    assert WorkflowRun.objects.unscoped().count() == StepRun.objects.unscoped().count() == 100
    runs = run_list(workspace=busiest)
    assert runs.count() == 30
    newest = runs.first()
    assert newest is not None and [step.status for step in newest.step_runs.all()] == ["succeeded"]
    assert {run.status for run in run_list(workspace=busiest)} == {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.CANCELED,
    }
    gmail = integration_status(workspace=busiest)["gmail"]
    assert gmail["connected"] and gmail["default_integration_id"] == gmail["integration_id"]
    with pytest.raises(CommandError, match="already has workspaces"):
        call_command("seed_scale", workspaces=1, runs=1)
