from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from workflows.models import StepRun, Workflow, WorkflowRun, WorkflowStep
from workspaces.admin_scope import AcrossWorkspaces


class WorkflowStepInline(AcrossWorkspaces, admin.TabularInline):
    """Read-only here: steps are changed in the builder or the API, where their params are validated."""

    model = WorkflowStep
    extra = 0
    can_delete = False
    fields = readonly_fields = ("position", "action", "integration", "params")
    ordering = ["position"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Workflow)
class WorkflowAdmin(AcrossWorkspaces, admin.ModelAdmin):
    list_display = ["name", "workspace", "is_active", "created_by", "created_at", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "workspace__name", "workspace__slug"]
    list_select_related = ["workspace", "created_by"]
    fields = ["workspace", "name", "description", "is_active", "created_by", "created_at", "updated_at"]
    readonly_fields = ["workspace", "created_by", "created_at", "updated_at"]
    inlines = [WorkflowStepInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Workflows are created in the builder or with the API, which validate their steps.
        return False


class StepRunInline(AcrossWorkspaces, admin.TabularInline):
    model = StepRun
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "position",
        "action",
        "integration",
        "status",
        "attempts",
        "params",
        "output",
        "error_code",
        "error_message",
        "started_at",
        "finished_at",
        "next_attempt_at",
    )
    ordering = ["position"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WorkflowRun)
class WorkflowRunAdmin(AcrossWorkspaces, admin.ModelAdmin):
    """A run is a record of what happened: read-only."""

    list_display = [
        "id",
        "workflow",
        "workspace",
        "status",
        "trigger",
        "requested_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "trigger"]
    search_fields = ["workflow__name", "workspace__name", "workspace__slug"]
    list_select_related = ["workflow", "workspace", "requested_by"]
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "workspace",
        "workflow",
        "status",
        "trigger",
        "input",
        "requested_by",
        "api_key",
        "idempotency_key",
        "created_at",
        "started_at",
        "finished_at",
        "error_code",
        "error_message",
    )
    inlines = [StepRunInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
