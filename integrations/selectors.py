from typing import Any

from django.db.models import Case, QuerySet, When

from galaxyco.errors import IntegrationNotConnected
from integrations.models import Integration, IntegrationStatus, IntegrationType
from workspaces.models import Membership, Workspace


def integration_list(*, workspace: Workspace) -> QuerySet[Integration]:
    return Integration.objects.for_workspace(workspace).select_related("connected_by")


def connected_integrations(*, workspace: Workspace) -> QuerySet[Integration]:
    """The workspace's accounts still connected, whether working or needing reconnection."""
    return integration_list(workspace=workspace).exclude(status=IntegrationStatus.DISCONNECTED)


def get_integration(*, workspace: Workspace, integration_id: int) -> Integration | None:
    return integration_list(workspace=workspace).filter(pk=integration_id).first()


def integrations_by_id(*, workspace: Workspace, integration_ids: set[int]) -> dict[int, Integration]:
    """The workspace's integrations among these ids, in one query."""
    return {i.pk: i for i in integration_list(workspace=workspace).filter(pk__in=integration_ids)}


def usable_integrations(*, workspace: Workspace, user_id: int | None) -> QuerySet[Integration]:
    """The accounts a person may name in a step and their workflows may send from: the ones they
    connected themselves, while they are a member. (Sharing an account is not built yet.)"""
    if user_id is None:
        return Integration.objects.none()
    return connected_integrations(workspace=workspace).filter(
        connected_by_id=user_id, connected_by__memberships__workspace=workspace
    )


def may_manage_integration(*, integration: Integration, membership: Membership | None) -> bool:
    """Disconnecting an account is for the member who connected it, or an owner or admin.
    An API key is neither."""
    if membership is None:
        return False
    return membership.can_manage or integration.connected_by_id == membership.user_id


def _summary(integration: Integration | None) -> dict[str, Any]:
    if integration is None:
        return {
            "connected": False,
            "status": "not_connected",
            "email": None,
            "integration_id": None,
            "display_name": "",
            "connected_at": None,
            "last_refreshed_at": None,
            "message": None,
        }
    return {
        "connected": integration.status == IntegrationStatus.ACTIVE,
        "status": integration.status,
        "email": integration.email,
        "integration_id": integration.pk,
        "display_name": integration.display_name,
        "connected_at": integration.connected_at,
        "last_refreshed_at": integration.last_refreshed_at,
        "message": integration.last_error_message or None,
    }


# The integration a type's status reports: an active one first, then one that needs attention.
_STATUS_PRIORITY = {
    IntegrationStatus.ACTIVE: 0,
    IntegrationStatus.REAUTH_REQUIRED: 1,
    IntegrationStatus.ERROR: 2,
    IntegrationStatus.DISCONNECTED: 3,
}


def integration_status(*, workspace: Workspace) -> dict[str, dict[str, Any]]:
    """One summary per type, from one query whatever the number of integrations."""
    best: dict[str, Integration] = {}
    rows = Integration.objects.for_workspace(workspace).only(
        "id",
        "type",
        "status",
        "email",
        "display_name",
        "connected_at",
        "last_refreshed_at",
        "last_error_message",
    )
    for integration in rows.order_by("-connected_at", "-id"):
        current = best.get(integration.type)
        if (
            current is None
            or _STATUS_PRIORITY[IntegrationStatus(integration.status)]
            < _STATUS_PRIORITY[IntegrationStatus(current.status)]
        ):
            best[integration.type] = integration
    return {kind.value: _summary(best.get(kind.value)) for kind in IntegrationType}


def default_integration_for(
    *, workspace: Workspace, integration_type: str, requester_id: int | None, workflow_creator_id: int | None
) -> Integration | None:
    """The account a step that names none uses: the requester's own of that type (an active one
    first, else one needing reconnection, so the run says so). A run with no person behind it
    (an API key) uses the workflow creator's, else the workspace's one active account of that
    type when there is exactly one. Never another member's mailbox for a person's run."""
    usable = (
        Integration.objects.for_workspace(workspace)
        .select_related("token")
        .filter(
            type=integration_type,
            status__in=[IntegrationStatus.ACTIVE, IntegrationStatus.REAUTH_REQUIRED],
            # An account whose owner left the workspace is nobody's to send from.
            connected_by__memberships__workspace=workspace,
        )
    )
    owner_id = requester_id or workflow_creator_id
    if owner_id is not None:
        return (
            usable.filter(connected_by_id=owner_id)
            .order_by(Case(When(status=IntegrationStatus.ACTIVE, then=0), default=1), "-connected_at", "-id")
            .first()
        )
    active = list(usable.filter(status=IntegrationStatus.ACTIVE)[:2])
    return active[0] if len(active) == 1 else None


def integration_for_step(
    *,
    workspace: Workspace,
    integration_type: str,
    named: Integration | None,
    requester_id: int | None,
    workflow_creator_id: int | None,
    step_label: str,
) -> Integration:
    """The account a step of a run sends from. A named account must still be connected and be
    one the workflow's creator may use (their own, while a member); a step that names none uses
    `default_integration_for`. Anything else fails the run asking to connect or choose one."""
    if named is None:
        integration = default_integration_for(
            workspace=workspace,
            integration_type=integration_type,
            requester_id=requester_id,
            workflow_creator_id=workflow_creator_id,
        )
        if integration is None:
            raise IntegrationNotConnected(
                f"No connected {integration_type.title()} account was found for “{step_label}”. "
                "Connect yours on the Integrations page, or choose the account in the workflow's step, "
                "then run it again."
            )
        return integration
    label = f"{named.get_type_display()} account {named.email}"
    if named.workspace_id != workspace.pk or named.status == IntegrationStatus.DISCONNECTED:
        raise IntegrationNotConnected(
            f"The {label} chosen for “{step_label}” is no longer connected. Connect an account on "
            "the Integrations page and choose it in the workflow's step, then run it again."
        )
    creator_may_use = (
        workflow_creator_id is not None
        and named.connected_by_id == workflow_creator_id
        and Membership.objects.for_workspace(workspace).filter(user_id=workflow_creator_id).exists()
    )
    if not creator_may_use:
        raise IntegrationNotConnected(
            f"The {label} chosen for “{step_label}” is not one this workflow's creator may send from. "
            "Connect an account on the Integrations page and choose it in the workflow's step, "
            "then run it again."
        )
    return named
