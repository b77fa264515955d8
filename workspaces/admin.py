from django.contrib import admin

from workspaces.admin_scope import AcrossWorkspaces
from workspaces.models import ApiKey, Membership, Workspace


class MembershipInline(AcrossWorkspaces, admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(AcrossWorkspaces, admin.ModelAdmin):
    list_display = ["name", "slug", "plan", "trial_ends_at", "created_at"]
    list_filter = ["plan"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(AcrossWorkspaces, admin.ModelAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "workspace__name", "workspace__slug"]
    autocomplete_fields = ["user", "workspace"]


@admin.register(ApiKey)
class ApiKeyAdmin(AcrossWorkspaces, admin.ModelAdmin):
    """The key hash is never shown: only the visible prefix identifies a key."""

    list_display = ["name", "prefix", "workspace", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "workspace__name", "workspace__slug"]
    fields = ["workspace", "name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["workspace", "prefix", "created_by", "created_at", "last_used_at"]

    def has_add_permission(self, request: object) -> bool:
        # Keys are created on the workspace settings page or with `create_api_key`, which show the key once.
        return False
