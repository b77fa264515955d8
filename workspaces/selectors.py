from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from integrations.models import Integration, IntegrationStatus, IntegrationType
from integrations.selectors import integration_list
from workflows.models import RunStatus, Workflow, WorkflowRun
from workflows.selectors import run_list, workflow_list_with_last_run
from workspaces.models import ApiKey, Membership, Workspace


def workspaces_for_user(*, user: User | AnonymousUser) -> QuerySet[Workspace]:
    if not user.is_authenticated:
        return Workspace.objects.none()
    return Workspace.objects.filter(memberships__user=user).order_by("name", "id")


def workspaces_for_api_key(*, api_key: ApiKey) -> QuerySet[Workspace]:
    return Workspace.objects.filter(pk=api_key.workspace_id)


def membership_for(*, user: User | AnonymousUser, workspace: Workspace) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.for_workspace(workspace).filter(user=user).first()


def member_list(*, workspace: Workspace) -> QuerySet[Membership]:
    return Membership.objects.for_workspace(workspace).select_related("user")


def api_key_list(*, workspace: Workspace) -> QuerySet[ApiKey]:
    return ApiKey.objects.for_workspace(workspace).select_related("created_by")


@dataclass(frozen=True)
class FirstSteps:
    """The first-time checklist: each step ticks itself off from the workspace's own data."""

    gmail_connected: bool
    workflow_created: bool
    # "Run it" is ticked by any run that finished, failed ones too: the person has tried it. The
    # checklist stays until a run succeeded, pointing at what to fix.
    workflow_ran: bool
    workflow_succeeded: bool

    @property
    def complete(self) -> bool:
        return self.gmail_connected and self.workflow_created and self.workflow_succeeded


@dataclass(frozen=True)
class HomeOverview:
    integrations: list[Integration]
    workflows: list[Workflow]
    workflow_count: int
    recent_runs: list[WorkflowRun]
    first_steps: FirstSteps


HOME_WORKFLOWS = 6
HOME_RUNS = 8


def home_overview(*, workspace: Workspace) -> HomeOverview:
    """What the workspace home shows: accounts and their state, workflows, and the latest runs
    with the failed ones first."""
    integrations = list(
        integration_list(workspace=workspace)
        .exclude(status=IntegrationStatus.DISCONNECTED)
        .select_related("connected_by")
    )
    workflows = workflow_list_with_last_run(workspace=workspace).order_by("-updated_at", "-id")
    latest_runs = run_list(workspace=workspace, with_steps=False, with_input=False)
    runs = list(latest_runs.select_related("requested_by", "api_key")[:HOME_RUNS])
    runs.sort(key=lambda run: run.status != RunStatus.FAILED)  # stable: newest first within each
    return HomeOverview(
        integrations=integrations,
        workflows=list(workflows[:HOME_WORKFLOWS]),
        workflow_count=workflows.count(),
        recent_runs=runs,
        first_steps=FirstSteps(
            gmail_connected=any(
                i.type == IntegrationType.GMAIL and i.status == IntegrationStatus.ACTIVE for i in integrations
            ),
            workflow_created=workflows.exists(),
            workflow_ran=run_list(workspace=workspace)
            .filter(status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED])
            .exists(),
            workflow_succeeded=run_list(workspace=workspace, status=RunStatus.SUCCEEDED).exists(),
        ),
    )
