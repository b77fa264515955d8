"""Who may do what in a workspace: the one table, read by the API base class and the page mixin.

Roles, lowest first: viewer (reads), member (builds and runs workflows, manages their own
connections), admin (everyone's connections, members, API keys, deletes workflows), owner (also
admins and the workspace). An API key carries a role too (admin, member or viewer).

Every write endpoint, API and pages, is listed in WRITE_ENDPOINTS by its URL name and method;
one that is not needs the owner role (workspaces.tests.test_roles fails until it is listed).
Which object may be touched (your own connection, not an owner) is checked by the services,
with `has_role` and this same table.
"""

from enum import StrEnum

from galaxyco.errors import Forbidden
from workspaces.models import Role

ROLE_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Action(StrEnum):
    READ = "read"
    BUILD_WORKFLOWS = "build_workflows"
    RUN_WORKFLOWS = "run_workflows"
    DELETE_WORKFLOWS = "delete_workflows"
    MANAGE_OWN_CONNECTIONS = "manage_own_connections"
    MANAGE_ANY_CONNECTION = "manage_any_connection"
    MANAGE_MEMBERS = "manage_members"
    MANAGE_API_KEYS = "manage_api_keys"
    MANAGE_NOTIFICATIONS = "manage_notifications"
    MANAGE_ADMINS = "manage_admins"
    MANAGE_WORKSPACE = "manage_workspace"


MINIMUM_ROLE: dict[Action, Role] = {
    Action.READ: Role.VIEWER,
    Action.BUILD_WORKFLOWS: Role.MEMBER,
    Action.RUN_WORKFLOWS: Role.MEMBER,
    Action.MANAGE_OWN_CONNECTIONS: Role.MEMBER,
    Action.DELETE_WORKFLOWS: Role.ADMIN,
    Action.MANAGE_ANY_CONNECTION: Role.ADMIN,
    Action.MANAGE_MEMBERS: Role.ADMIN,
    Action.MANAGE_API_KEYS: Role.ADMIN,
    Action.MANAGE_NOTIFICATIONS: Role.ADMIN,
    Action.MANAGE_ADMINS: Role.OWNER,
    Action.MANAGE_WORKSPACE: Role.OWNER,
}

# What a refusal says the person cannot do.
ACTION_TEXT: dict[Action, str] = {
    Action.READ: "see this workspace",
    Action.BUILD_WORKFLOWS: "create or change workflows",
    Action.RUN_WORKFLOWS: "run workflows",
    Action.DELETE_WORKFLOWS: "delete workflows",
    Action.MANAGE_OWN_CONNECTIONS: "connect or change accounts",
    Action.MANAGE_ANY_CONNECTION: "change accounts other people connected",
    Action.MANAGE_MEMBERS: "add, remove or change members",
    Action.MANAGE_API_KEYS: "create or revoke API keys",
    Action.MANAGE_NOTIFICATIONS: "add or change notification endpoints",
    Action.MANAGE_ADMINS: "make someone an owner or admin, or change or remove an owner or admin",
    Action.MANAGE_WORKSPACE: "change the workspace",
}

# Every write endpoint under /api/workspaces/<id>/ and /w/<slug>/: (URL name, method) -> action.
WRITE_ENDPOINTS: dict[tuple[str, str], Action] = {
    # API
    ("api_workflow_list", "POST"): Action.BUILD_WORKFLOWS,
    ("api_workflow_detail", "PUT"): Action.BUILD_WORKFLOWS,
    ("api_workflow_detail", "PATCH"): Action.BUILD_WORKFLOWS,
    ("api_workflow_detail", "DELETE"): Action.DELETE_WORKFLOWS,
    ("api_workflow_execute", "POST"): Action.RUN_WORKFLOWS,
    ("api_workflow_preview", "POST"): Action.RUN_WORKFLOWS,
    ("api_run_retry", "POST"): Action.RUN_WORKFLOWS,
    ("api_run_cancel", "POST"): Action.RUN_WORKFLOWS,
    ("api_step_send_again", "POST"): Action.RUN_WORKFLOWS,
    ("api_integration_detail", "PATCH"): Action.MANAGE_OWN_CONNECTIONS,
    ("api_integration_disconnect", "POST"): Action.MANAGE_OWN_CONNECTIONS,
    ("api_integration_sidemail_connect", "POST"): Action.MANAGE_OWN_CONNECTIONS,
    ("api_trigger_list", "POST"): Action.BUILD_WORKFLOWS,
    ("api_trigger_detail", "PATCH"): Action.BUILD_WORKFLOWS,
    ("api_trigger_detail", "DELETE"): Action.BUILD_WORKFLOWS,
    ("api_trigger_rotate", "POST"): Action.BUILD_WORKFLOWS,
    ("api_endpoint_list", "POST"): Action.MANAGE_NOTIFICATIONS,
    ("api_endpoint_detail", "PATCH"): Action.MANAGE_NOTIFICATIONS,
    ("api_endpoint_detail", "DELETE"): Action.MANAGE_NOTIFICATIONS,
    # Pages
    ("workflow_create", "POST"): Action.BUILD_WORKFLOWS,
    ("workflow_edit", "POST"): Action.BUILD_WORKFLOWS,
    ("workflow_run", "POST"): Action.RUN_WORKFLOWS,
    ("workflow_preview", "POST"): Action.RUN_WORKFLOWS,
    ("run_retry", "POST"): Action.RUN_WORKFLOWS,
    ("run_cancel", "POST"): Action.RUN_WORKFLOWS,
    ("run_step_send_again", "POST"): Action.RUN_WORKFLOWS,
    ("workflow_delete", "POST"): Action.DELETE_WORKFLOWS,
    ("workflow_trigger_create", "POST"): Action.BUILD_WORKFLOWS,
    ("workflow_trigger_change", "POST"): Action.BUILD_WORKFLOWS,
    ("workflow_trigger_read_access", "POST"): Action.MANAGE_OWN_CONNECTIONS,
    ("notification_endpoint_create", "POST"): Action.MANAGE_NOTIFICATIONS,
    ("notification_endpoint_change", "POST"): Action.MANAGE_NOTIFICATIONS,
    ("integrations_google_connect", "POST"): Action.MANAGE_OWN_CONNECTIONS,
    ("integrations_sidemail_connect", "POST"): Action.MANAGE_OWN_CONNECTIONS,
    ("integrations_update", "POST"): Action.MANAGE_OWN_CONNECTIONS,
    ("integrations_disconnect", "POST"): Action.MANAGE_OWN_CONNECTIONS,
    ("workspace_members", "POST"): Action.MANAGE_MEMBERS,
    ("workspace_member_change", "POST"): Action.MANAGE_MEMBERS,
    ("workspace_settings", "POST"): Action.MANAGE_API_KEYS,
    ("workspace_api_key_revoke", "POST"): Action.MANAGE_API_KEYS,
}


def has_role(role: str, minimum: str) -> bool:
    return ROLE_RANK.get(Role(role), -1) >= ROLE_RANK[Role(minimum)]


def may(role: str, action: Action) -> bool:
    return has_role(role, MINIMUM_ROLE[action])


def ensure(*, role: str, action: Action) -> None:
    """Raise Forbidden, with a sentence saying why, unless `role` may do `action`."""
    if not may(role, action):
        raise Forbidden(refusal(role=role, action=action))


NEEDED_TEXT: dict[Role, str] = {
    Role.OWNER: "an owner",
    Role.ADMIN: "an admin or owner",
    Role.MEMBER: "a member, admin or owner",
    Role.VIEWER: "a member of the workspace",
}


def refusal(*, role: str, action: Action) -> str:
    return (
        f"As {'an' if role in (Role.ADMIN, Role.OWNER) else 'a'} {Role(role).label.lower()} of this workspace you cannot {ACTION_TEXT[action]}: "
        f"that takes {NEEDED_TEXT[MINIMUM_ROLE[action]]}. Ask a workspace owner or admin if you need it."
    )


def ensure_request_allowed(*, role: str, url_name: str | None, method: str) -> None:
    """The check every workspace request passes, page or API, before its handler runs."""
    if method.upper() in SAFE_METHODS:
        ensure(role=role, action=Action.READ)
        return
    action = WRITE_ENDPOINTS.get((url_name or "", method.upper()))
    if action is None:
        # An endpoint missing from the table: only an owner, until it is listed.
        if not has_role(role, Role.OWNER):
            raise Forbidden("Only a workspace owner can do that.")
        return
    ensure(role=role, action=action)
