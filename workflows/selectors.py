from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from galaxyco.query import MAX_ID
from hooks.selectors import endpoints_exist
from integrations.selectors import owner_is_member
from workflows.compiled_reads import CompiledRead
from workflows.models import RunStatus, StepRun, Workflow, WorkflowRun, WorkflowStep
from workspaces.models import Workspace

# Read on every run: compiled once (see compiled_reads), the workspace and workflow ids as parameters.
_STEPS_TO_RUN: CompiledRead[WorkflowStep] = CompiledRead(
    lambda *, workspace_id, workflow_id: (
        WorkflowStep.objects.for_workspace(Workspace(pk=workspace_id))
        .filter(workflow_id=workflow_id)
        .select_related("workflow", "integration__token")
        .annotate(
            integration_owner_is_member=owner_is_member("integration"),
            workspace_notifies=endpoints_exist("workspace_id"),
        )
        .order_by("position")
    ),
    names=("workspace_id", "workflow_id"),
)


def steps_to_run(*, workspace: Workspace, workflow_id: int) -> list[WorkflowStep]:
    """A workflow's steps in order, each with its workflow and the account it names (with its
    token), annotated with whether that account's owner is still a member
    (`integration_owner_is_member`) and whether the workspace has notification endpoints
    (`workspace_notifies`): what a run is created from and its engine starts with. One query."""
    return _STEPS_TO_RUN.read(workspace_id=workspace.pk, workflow_id=int(workflow_id))


def workflow_list(*, workspace: Workspace) -> QuerySet[Workflow]:
    """The workspace's workflows, archived ones left out (their runs stay in run_list)."""
    steps = WorkflowStep.objects.for_workspace(workspace).order_by("position")
    return (
        Workflow.objects.for_workspace(workspace)
        .filter(archived_at__isnull=True)
        .select_related("created_by")
        .prefetch_related(Prefetch("steps", queryset=steps))
    )


def workflow_list_with_last_run(*, workspace: Workspace) -> QuerySet[Workflow]:
    """Workflows annotated with their number of steps and their latest run's id and status, in
    one query: what the pages listing workflows show. Not the steps themselves, whose params can
    hold files."""
    last_runs = (
        WorkflowRun.objects.for_workspace(workspace)
        .filter(workflow=OuterRef("pk"))
        .order_by("-created_at", "-id")
    )
    step_counts = (
        WorkflowStep.objects.for_workspace(workspace)
        .filter(workflow=OuterRef("pk"))
        .order_by()
        .values("workflow")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return (
        Workflow.objects.for_workspace(workspace)
        .filter(archived_at__isnull=True)
        .annotate(
            step_count=Subquery(step_counts),
            last_run_id=Subquery(last_runs.values("pk")[:1]),
            last_run_status=Subquery(last_runs.values("status")[:1]),
        )
    )


def workflow_choices(*, workspace: Workspace) -> QuerySet[Workflow]:
    """The workspace's workflows by name, id and name only: what a filter's choices need."""
    return Workflow.objects.for_workspace(workspace).filter(archived_at__isnull=True).only("id", "name")


def get_workflow(*, workspace: Workspace, workflow_id: int) -> Workflow | None:
    return workflow_list(workspace=workspace).filter(pk=workflow_id).first()


def run_list(
    *,
    workspace: Workspace,
    workflow_id: int | None = None,
    status: str | None = None,
    since: date | None = None,
    until: date | None = None,
    with_steps: bool = True,
    with_input: bool = True,
) -> QuerySet[WorkflowRun]:
    """Newest first; `since` and `until` are days in UTC, both included. `with_steps` prefetches
    each run's step runs (one query per page of runs), without their params: a run shows a step's
    output, never the params copied into it from the workflow, files included. Without
    `with_input`, the run's input (which can be megabytes of files) is not read either."""
    runs = (
        WorkflowRun.objects.for_workspace(workspace).select_related("workflow").order_by("-created_at", "-id")
    )
    if not with_input:
        runs = runs.defer("input")
    if with_steps:
        step_runs = StepRun.objects.for_workspace(workspace).defer("params").order_by("position")
        runs = runs.prefetch_related(Prefetch("step_runs", queryset=step_runs))
    if workflow_id is not None:
        # An id past the 64-bit range names no workflow (and SQLite cannot compare with it).
        runs = runs.filter(workflow_id=workflow_id) if 1 <= workflow_id <= MAX_ID else runs.none()
    if status:
        runs = runs.filter(status=status)
    # Day bounds as a range of created_at (not created_at's date), which run_list_idx serves.
    if since is not None:
        runs = runs.filter(created_at__gte=_start_of(since))
    if until is not None and until < date.max:
        runs = runs.filter(created_at__lt=_start_of(until + timedelta(days=1)))
    return runs


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def get_run(*, workspace: Workspace, run_id: int) -> WorkflowRun | None:
    return run_list(workspace=workspace).filter(pk=run_id).first()


def run_by_idempotency_key(*, workspace: Workspace, key: str) -> WorkflowRun | None:
    return run_list(workspace=workspace).filter(idempotency_key=key).first()


def stalled_runs(*, older_than: timedelta) -> QuerySet[WorkflowRun]:
    """Runs of every workspace (an operator's sweep) left queued or running with no attempt
    waiting or under way: their task was lost or their process died."""
    now = timezone.now()
    busy = StepRun.objects.unscoped().filter(run=OuterRef("pk"), next_attempt_at__gt=now)
    return (
        WorkflowRun.objects.unscoped()
        .filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING], created_at__lt=now - older_than)
        .filter(Q(resumed_at__isnull=True) | Q(resumed_at__lt=now - older_than))
        .exclude(Exists(busy))
    )


def last_run_input(*, workspace: Workspace, workflow_id: int, user_id: int) -> dict[str, Any] | None:
    """The input of this person's latest run of the workflow: what Run now prefills."""
    return (
        WorkflowRun.objects.for_workspace(workspace)
        .filter(workflow_id=workflow_id, requested_by_id=user_id)
        .order_by("-created_at", "-id")
        .values_list("input", flat=True)
        .first()
    )
