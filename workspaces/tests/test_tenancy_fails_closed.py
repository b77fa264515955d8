"""Tenancy fails closed: a tenant query names its workspace, and API views cannot step around the check."""

from typing import Any

import pytest

from workflows.models import StepRun, Workflow, WorkflowRun, WorkflowStep
from workspaces.models import Membership, Workspace
from workspaces.querysets import UnscopedQuery
from workspaces.scoping import SEALED_METHODS, WorkspaceAPIView, WorkspaceGenericAPIView


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        lambda: list(Workflow.objects.all()),
        lambda: Workflow.objects.filter(name="x").first(),
        lambda: Workflow.objects.get(pk=1),
        lambda: Workflow.objects.count(),
        lambda: Workflow.objects.exists(),
        lambda: Workflow.objects.filter(pk=1).update(name="y"),
        lambda: Workflow.objects.filter(pk=1).delete(),
        lambda: list(Workflow.objects.values_list("pk", flat=True)),
        lambda: list(Workflow.objects.iterator()),
        lambda: Workflow.objects.get_or_create(name="x"),
        lambda: list(WorkflowRun.objects.filter(pk=1)),
        lambda: list(StepRun.objects.all()),
        lambda: list(Membership.objects.all()),
    ],
)
def test_an_unscoped_query_raises(query: Any, workspace: Workspace) -> None:
    Workflow.objects.create(workspace=workspace, name="x")
    with pytest.raises(UnscopedQuery):
        query()


@pytest.mark.django_db
def test_scoped_and_explicitly_unscoped_queries_run(workspace: Workspace, other_workspace: Workspace) -> None:
    mine = Workflow.objects.create(workspace=workspace, name="mine")
    Workflow.objects.create(workspace=other_workspace, name="theirs")
    assert list(Workflow.objects.for_workspace(workspace)) == [mine]
    assert Workflow.objects.for_workspace(workspace).filter(pk=mine.pk).count() == 1
    assert Workflow.objects.unscoped().count() == 2


@pytest.mark.django_db
def test_django_internals_still_work_through_loaded_objects(workspace: Workspace) -> None:
    """Related managers read one parent's rows, and the base manager serves refresh and deletion."""
    workflow = Workflow.objects.create(workspace=workspace, name="w")
    step = WorkflowStep.objects.create(
        workspace=workspace, workflow=workflow, position=0, key="send", action="gmail_send_email"
    )
    assert list(workflow.steps.all()) == [step]
    step.refresh_from_db()
    assert step.workflow == workflow
    workflow.delete()
    assert not WorkflowStep.objects.for_workspace(workspace).exists()


@pytest.mark.parametrize("method", SEALED_METHODS)
@pytest.mark.parametrize("base", [WorkspaceAPIView, WorkspaceGenericAPIView])
def test_a_subclass_that_overrides_a_sealed_method_is_refused(method: str, base: type) -> None:
    def override(self: Any, *args: Any, **kwargs: Any) -> None:
        return None

    with pytest.raises(TypeError, match=method):
        type("LeakyApi", (base,), {method: override})
