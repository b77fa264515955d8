from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from hooks.models import NotificationEndpoint, Trigger, WebhookDelivery
from workspaces.admin_scope import AcrossWorkspaces


@admin.register(Trigger)
class TriggerAdmin(AcrossWorkspaces, admin.ModelAdmin):
    """Tokens and secrets never show here: the builder and the API manage them."""

    list_display = ["id", "type", "workflow", "workspace", "enabled", "last_fired_at", "last_error_at"]
    list_filter = ["type", "enabled"]
    list_select_related = ["workflow", "workspace"]
    readonly_fields = [
        "workspace",
        "workflow",
        "type",
        "config",
        "created_by",
        "created_at",
        "last_fired_at",
        "last_checked_at",
        "last_error",
        "last_error_at",
    ]
    fields = [*readonly_fields, "enabled"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(NotificationEndpoint)
class NotificationEndpointAdmin(AcrossWorkspaces, admin.ModelAdmin):
    list_display = ["url", "workspace", "enabled", "created_at"]
    list_filter = ["enabled"]
    list_select_related = ["workspace"]
    fields = ["workspace", "url", "events", "enabled", "created_by", "created_at"]
    readonly_fields = ["workspace", "url", "events", "created_by", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(AcrossWorkspaces, admin.ModelAdmin):
    list_display = ["created_at", "event", "endpoint", "attempt", "outcome", "response_status"]
    list_filter = ["outcome", "event"]
    list_select_related = ["endpoint"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
