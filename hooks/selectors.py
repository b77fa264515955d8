from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet

from hooks.keys import token_hash
from hooks.models import NotificationEndpoint, Trigger, TriggerFiring, TriggerType, WebhookDelivery
from workflows.models import RunTrigger, WorkflowRun
from workspaces.models import Workspace

# A re-run of a re-run of ...: how far back the run a trigger started is looked for.
MAX_RERUN_DEPTH = 100


def trigger_list(*, workspace: Workspace, workflow_id: int) -> QuerySet[Trigger]:
    return (
        Trigger.objects.for_workspace(workspace).filter(workflow_id=workflow_id).order_by("created_at", "id")
    )


def get_trigger(*, workspace: Workspace, workflow_id: int, trigger_id: int) -> Trigger | None:
    return trigger_list(workspace=workspace, workflow_id=workflow_id).filter(pk=trigger_id).first()


def webhook_trigger_for_token(*, token: str) -> Trigger | None:
    """The enabled webhook trigger this URL token names (of any workspace: the token is the
    credential), with its workflow and workspace."""
    return (
        Trigger.objects.unscoped()
        .filter(token_hash=token_hash(token), type=TriggerType.WEBHOOK, enabled=True)
        .select_related("workflow", "workspace")
        .first()
    )


def run_started_by_email(*, workspace_id: int, run_id: int) -> WorkflowRun | None:
    """The run a new Gmail email trigger started that this run is or repeats (re-runs followed
    back to it); None when no email started it."""
    # A step loads its run by id and works inside the run's workspace.
    runs = WorkflowRun.objects.unscoped().filter(workspace_id=workspace_id)
    run = runs.filter(pk=run_id).first()
    for _ in range(MAX_RERUN_DEPTH):
        if run is None or run.retry_of_id is None:
            break
        run = runs.filter(pk=run.retry_of_id).first()
    return run if run is not None and run.trigger == RunTrigger.GMAIL else None


def gmail_trigger_firing(*, workspace_id: int, run: WorkflowRun) -> TriggerFiring | None:
    """The firing (the email) of the workspace's new Gmail email trigger that started this run,
    with the trigger and its account; None when that trigger was deleted."""
    if run.source_trigger_id is None:
        return None
    return (
        TriggerFiring.objects.filter(
            trigger_id=run.source_trigger_id,
            trigger__workspace_id=workspace_id,
            trigger__type=TriggerType.GMAIL_NEW_EMAIL,
            run=run,
        )
        .select_related("trigger__integration")
        .first()
    )


def endpoint_list(*, workspace: Workspace) -> QuerySet[NotificationEndpoint]:
    return NotificationEndpoint.objects.for_workspace(workspace).order_by("created_at", "id")


def get_endpoint(*, workspace: Workspace, endpoint_id: int) -> NotificationEndpoint | None:
    return endpoint_list(workspace=workspace).filter(pk=endpoint_id).first()


def endpoints_exist(workspace_field: str) -> Exists:
    """An annotation for rows of a workspace (`workspace_field` names its id): whether it has an
    enabled endpoint. Read with a run, it spares the run's end a query when nobody listens."""
    return Exists(
        # A subquery of the outer row, which is already scoped: it names the workspace itself.
        NotificationEndpoint.objects.unscoped().filter(workspace_id=OuterRef(workspace_field), enabled=True)
    )


def endpoints_for_event(*, workspace_id: int, event: str) -> list[NotificationEndpoint]:
    """The enabled endpoints of a workspace that asked for this event (the list is short: read
    it whole rather than depend on a JSON containment lookup SQLite lacks)."""
    # Filtered by the workspace id the engine has (the run's), without loading the workspace row.
    endpoints = NotificationEndpoint.objects.unscoped().filter(workspace_id=workspace_id, enabled=True)
    return [endpoint for endpoint in endpoints if event in endpoint.events]


def deliveries_of(*, workspace: Workspace, endpoint: NotificationEndpoint) -> QuerySet[WebhookDelivery]:
    return (
        WebhookDelivery.objects.for_workspace(workspace)
        .filter(endpoint=endpoint)
        .order_by("-created_at", "-id")
    )


def recent_deliveries(*, workspace: Workspace, limit: int) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.for_workspace(workspace).select_related("endpoint")[:limit]


def deliveries_before(*, moment: datetime) -> QuerySet[WebhookDelivery]:
    """Delivery attempts of every workspace older than `moment` (the retention sweep)."""
    # Retention sweeps every workspace.
    return WebhookDelivery.objects.unscoped().filter(created_at__lt=moment)
