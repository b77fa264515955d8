from typing import Any

from django.db.models import Case, QuerySet, When

from integrations.models import Integration, IntegrationStatus, IntegrationType
from workspaces.models import Workspace


def integration_list(*, workspace: Workspace) -> QuerySet[Integration]:
    return Integration.objects.for_workspace(workspace).select_related("connected_by")


def connected_integrations(*, workspace: Workspace) -> QuerySet[Integration]:
    """The workspace's accounts still connected, whether working or needing reconnection."""
    return integration_list(workspace=workspace).exclude(status=IntegrationStatus.DISCONNECTED)


def get_integration(*, workspace: Workspace, integration_id: int) -> Integration | None:
    return integration_list(workspace=workspace).filter(pk=integration_id).first()


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
            type=integration_type, status__in=[IntegrationStatus.ACTIVE, IntegrationStatus.REAUTH_REQUIRED]
        )
    )
    owner_id = requester_id or workflow_creator_id
    if owner_id is not None:
        own = (
            usable.filter(connected_by_id=owner_id)
            .order_by(Case(When(status=IntegrationStatus.ACTIVE, then=0), default=1), "-connected_at", "-id")
            .first()
        )
        if own is not None or requester_id is not None:
            return own
    active = list(usable.filter(status=IntegrationStatus.ACTIVE)[:2])
    return active[0] if len(active) == 1 else None
