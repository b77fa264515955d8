from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

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
