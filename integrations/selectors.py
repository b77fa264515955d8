from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from galaxyco.errors import IntegrationNotConnected
from integrations.models import Integration, IntegrationStatus, IntegrationType
from integrations.status_cache import recent_status
from workspaces.models import Membership, Workspace
from workspaces.permissions import Action, may


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


def _owner_is_member(queryset: QuerySet[Integration], *, workspace: Workspace) -> QuerySet[Integration]:
    # An account whose owner left the workspace is nobody's to send from.
    return queryset.filter(connected_by__memberships__workspace=workspace)


def usable_integrations(*, workspace: Workspace, user_id: int | None) -> QuerySet[Integration]:
    """The accounts a person may name in a step and their runs may send from: the shared ones
    and their own. With no person behind the request (an API key, a trigger): the shared ones."""
    usable = _owner_is_member(connected_integrations(workspace=workspace), workspace=workspace)
    if user_id is None:
        return usable.filter(shared=True)
    return usable.filter(Q(shared=True) | Q(connected_by_id=user_id))


def may_use_integration(*, integration: Integration, user_id: int | None) -> bool:
    """Whether a run requested by this person (None: an API key or a trigger) may send from it."""
    return integration.shared or (user_id is not None and integration.connected_by_id == user_id)


def may_manage_integration(*, integration: Integration, role: str, user_id: int | None) -> bool:
    """Disconnecting, sharing or making an account the default is for its owner (a member or
    more) or an admin."""
    if may(role, Action.MANAGE_ANY_CONNECTION):
        return True
    return (
        user_id is not None
        and integration.connected_by_id == user_id
        and may(role, Action.MANAGE_OWN_CONNECTIONS)
    )


def default_integration(*, workspace: Workspace, integration_type: str) -> Integration | None:
    """The workspace's default account of this type, if one is set (always a shared one)."""
    return (
        _owner_is_member(connected_integrations(workspace=workspace), workspace=workspace)
        .filter(type=integration_type, is_default=True)
        .select_related("token")
        .first()
    )


def default_integrations(*, workspace: Workspace) -> dict[str, Integration]:
    """The workspace's default account of each type that has one, in one query."""
    found = _owner_is_member(connected_integrations(workspace=workspace), workspace=workspace).filter(
        is_default=True
    )
    return {integration.type: integration for integration in found}


# The account a type's status reports: an active one first, then one that needs attention, then
# a disconnected one; the most recently connected within a status. Each status is one index probe
# of integration_status_idx that stops at its first row, so the status reads a handful of rows
# however many accounts the workspace has; the default comes from the partial unique index on
# is_default, while its owner is a member.
_STATUS_ORDER = (
    IntegrationStatus.ACTIVE,
    IntegrationStatus.REAUTH_REQUIRED,
    IntegrationStatus.ERROR,
    IntegrationStatus.DISCONNECTED,
)
# One row per type: the type, its reported account (NULLs when it has none), its default's id.
_STATUS_COLUMNS = (
    "type",
    "id",
    "status",
    "email",
    "display_name",
    "connected_at",
    "last_refreshed_at",
    "last_error_message",
    "default_id",
)
_INTEGRATION = Integration._meta.db_table

# On PostgreSQL, the function of migration 0010: PostgreSQL keeps its plan for the session, where
# this statement sent as text would be planned again on every request (planning its probes cost
# more than running them).
_STATUS_CALL = f"SELECT {', '.join(_STATUS_COLUMNS)} FROM integration_status(%s, %s, %s, %s)"  # noqa: S608
_STATUS_CALL_ARGUMENTS = (
    [kind.value for kind in IntegrationType],
    [status.value for status in _STATUS_ORDER],
    IntegrationStatus.DISCONNECTED.value,
)


def _newest(kind: IntegrationType, status: IntegrationStatus) -> str:
    return (
        f"(SELECT id FROM {_INTEGRATION} WHERE workspace_id = %(workspace)s AND type = '{kind.value}' "  # noqa: S608
        f"AND status = '{status.value}' ORDER BY connected_at DESC, id DESC LIMIT 1)"
    )


def _default(kind: IntegrationType) -> str:
    return (
        f"(SELECT d.id FROM {_INTEGRATION} d WHERE d.workspace_id = %(workspace)s "  # noqa: S608
        f"AND d.type = '{kind.value}' AND d.is_default "
        f"AND d.status <> '{IntegrationStatus.DISCONNECTED.value}' AND EXISTS ("
        f"SELECT 1 FROM {Membership._meta.db_table} m "
        "WHERE m.workspace_id = d.workspace_id AND m.user_id = d.connected_by_id))"
    )


# Elsewhere (SQLite), the same rows from one statement, built once, at import, from the model's
# tables and choices (no input), where the ORM would compile a dozen subqueries per request; the
# workspace is its only parameter.
_STATUS_SQL = f"""
SELECT b.type, {", ".join(f"i.{column}" for column in _STATUS_COLUMNS[1:-1])}, b.default_id
FROM ({
    " UNION ALL ".join(
        f"SELECT '{kind.value}' AS type, "
        f"COALESCE({', '.join(_newest(kind, status) for status in _STATUS_ORDER)}) AS best_id, "
        f"{_default(kind)} AS default_id"
        for kind in IntegrationType
    )
}) b
LEFT JOIN {_INTEGRATION} i ON i.id = b.best_id
"""  # noqa: S608


_NOT_CONNECTED: dict[str, Any] = {
    "connected": False,
    "status": "not_connected",
    "email": None,
    "integration_id": None,
    "display_name": "",
    "connected_at": None,
    "last_refreshed_at": None,
    "message": None,
}


def integration_status(*, workspace: Workspace) -> dict[str, dict[str, Any]]:
    """One summary per type, with its default account's id: one query reading at most two rows
    per type (the account it reports and the default), whatever the number of integrations.

    Kept by the process for STATUS_CACHE_SECONDS (integrations.status_cache), which every writer
    of an account drops; read afresh inside a transaction, which may hold writes of its own."""
    if connection.in_atomic_block:
        return _read_status(workspace_id=workspace.pk)
    cached = recent_status.get(workspace.pk)
    if cached is not None:
        return cached
    generation = recent_status.generation()
    status = _read_status(workspace_id=workspace.pk)
    recent_status.add(workspace.pk, status, read_in_generation=generation)
    return status


def _read_status(*, workspace_id: int) -> dict[str, dict[str, Any]]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_STATUS_CALL, [workspace_id, *_STATUS_CALL_ARGUMENTS])
        else:
            cursor.execute(_STATUS_SQL, {"workspace": workspace_id})
        rows = {row[0]: dict(zip(_STATUS_COLUMNS, row, strict=True)) for row in cursor.fetchall()}
    status: dict[str, dict[str, Any]] = {}
    for kind in IntegrationType:
        found = rows[kind.value]
        status[kind.value] = {"default_integration_id": found["default_id"]} | (
            _NOT_CONNECTED
            if found["id"] is None
            else {
                "connected": found["status"] == IntegrationStatus.ACTIVE,
                "status": found["status"],
                "email": found["email"],
                "integration_id": found["id"],
                "display_name": found["display_name"],
                "connected_at": found["connected_at"],
                "last_refreshed_at": found["last_refreshed_at"],
                "message": found["last_error_message"] or None,
            }
        )
    return status


def owner_is_member(integration_field: str) -> Exists:
    """An annotation for rows that name an account through `integration_field`: whether the
    member who connected it still belongs to its workspace. Loaded with the step, it spares
    `integration_for_step` a query (set it on the account as `owner_is_member`)."""
    return Exists(
        # A subquery of the outer row, which is already scoped: it names the workspace itself.
        Membership.objects.unscoped().filter(
            workspace_id=OuterRef(f"{integration_field}__workspace_id"),
            user_id=OuterRef(f"{integration_field}__connected_by_id"),
        )
    )


def integration_for_step(
    *,
    workspace: Workspace,
    integration_type: str,
    named: Integration | None,
    requester_id: int | None,
    step_label: str,
) -> Integration:
    """The account a step of a run sends from: the account it names, if the run may use it
    (shared, or the requester's own); else the workspace's default; else, for a person's run,
    their own single account of that type. Never a guess: anything else fails the run saying
    what to choose. `requester_id` is None for a run started by an API key or a trigger."""
    kind = IntegrationType(integration_type).label
    if named is not None:
        label = f"{named.get_type_display()} account {named.email}"
        # Loaded with the step where the caller annotated it (`owner_is_member`), else read now.
        owner_is_member: bool | None = getattr(named, "owner_is_member", None)
        if owner_is_member is None:
            owner_is_member = (
                named.connected_by_id is not None
                and Membership.objects.for_workspace(workspace).filter(user_id=named.connected_by_id).exists()
            )
        if (
            named.workspace_id != workspace.pk
            or named.status == IntegrationStatus.DISCONNECTED
            or not owner_is_member
        ):
            raise IntegrationNotConnected(
                f"The {label} chosen for “{step_label}” is no longer connected. Connect an account on "
                "the Integrations page and choose it in the workflow's step, then run it again."
            )
        if not may_use_integration(integration=named, user_id=requester_id):
            owner = named.connected_by.email if named.connected_by else "its owner"
            raise IntegrationNotConnected(
                f"The {label} chosen for “{step_label}” is private to {owner}: only their own runs "
                "may send from it. Ask them or an admin to share it on the Integrations page, or "
                "choose another account in the workflow's step."
            )
        return named
    default = default_integration(workspace=workspace, integration_type=integration_type)
    if default is not None:
        return default
    if requester_id is None:
        raise IntegrationNotConnected(
            f"“{step_label}” names no account and the workspace has no default {kind} account. "
            "Choose the account in the workflow's step, or make a shared account the default on the "
            "Integrations page, then run it again."
        )
    own = list(
        _owner_is_member(connected_integrations(workspace=workspace), workspace=workspace)
        .filter(type=integration_type, connected_by_id=requester_id)
        .select_related("token")[:2]
    )
    if len(own) == 1:
        return own[0]
    if not own:
        raise IntegrationNotConnected(
            f"No {kind} account was found for “{step_label}”: the workspace has no default {kind} "
            "account and you have not connected one. Connect yours on the Integrations page, or "
            "choose an account in the workflow's step, then run it again."
        )
    raise IntegrationNotConnected(
        f"You have more than one {kind} account connected and the workspace has no default, so "
        f"GalaxyCo will not guess which one sends “{step_label}”. Choose the account in the "
        "workflow's step, or make a shared account the default on the Integrations page."
    )


@dataclass(frozen=True)
class StepAccount:
    """Which mailbox a step sends from for a given person's run, in words, and why they could
    not run it (empty when they can)."""

    text: str
    warning: str = ""


def step_account(
    *,
    workspace: Workspace,
    integration_type: str,
    named: Integration | None,
    requester_id: int,
    step_label: str,
) -> StepAccount:
    """`integration_for_step` told as the builder shows it to the person who would press Run now."""
    try:
        chosen = integration_for_step(
            workspace=workspace,
            integration_type=integration_type,
            named=named,
            requester_id=requester_id,
            step_label=step_label,
        )
    except IntegrationNotConnected as error:
        text = named.email if named is not None else "the workspace default (none is set)"
        return StepAccount(text=text, warning=error.message)
    if named is not None:
        sharing = "shared with the workspace" if chosen.shared else "private to you"
        return StepAccount(text=f"{chosen.email} ({sharing})")
    if chosen.is_default:
        return StepAccount(text=f"the workspace default ({chosen.email})")
    return StepAccount(
        text=f"your own account ({chosen.email}): the workspace has no default, so a teammate's run "
        "would use theirs"
    )


def default_account_labels(*, workspace: Workspace) -> dict[str, str]:
    """What the builder's empty account choice means, per type: the workspace default, by name."""
    defaults = default_integrations(workspace=workspace)
    return {
        kind.value: f"Workspace default ({defaults[kind.value].email})"
        if kind.value in defaults
        else "Workspace default (none set: the runner's own account)"
        for kind in IntegrationType
    }
