from django.contrib import admin
from django.http import HttpRequest

from integrations.sidemail.models import Enrollment, OutboundEmail, Sequence, SequenceStep, WebhookEvent


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "to_address",
        "template_name",
        "subject",
        "status",
        "attempts",
        "error_code",
    )
    list_filter = ("status", "template_name", "error_code")
    search_fields = ("to_address", "template_name", "subject", "sidemail_id", "error_message")
    date_hierarchy = "created_at"
    # A record of what happened: read only. The payload (one-time links) is not shown.
    readonly_fields = (
        "to_address",
        "from_address",
        "template_name",
        "subject",
        "status",
        "sidemail_id",
        "error_code",
        "error_message",
        "attempts",
        "next_attempt_at",
        "lease_until",
        "created_at",
        "updated_at",
        "sent_at",
    )
    exclude = ("payload",)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("received_at", "event_type", "sidemail_id", "outbound_email")
    list_filter = ("event_type",)
    search_fields = ("sidemail_id",)
    readonly_fields = ("sidemail_id", "event_type", "outbound_email", "payload", "received_at")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class SequenceStepInline(admin.TabularInline):
    model = SequenceStep
    extra = 0


@admin.register(Sequence)
class SequenceAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "audience", "is_active")
    inlines = [SequenceStepInline]


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = (
        "user",
        "sequence",
        "workspace",
        "next_step",
        "next_send_at",
        "completed_at",
        "stopped_at",
    )
    list_filter = ("sequence", "stop_reason")
    search_fields = ("user__email", "workspace__slug")
    raw_id_fields = ("user", "workspace")
