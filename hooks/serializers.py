from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from galaxyco.query import MAX_ID
from hooks.models import (
    NotificationEndpoint,
    NotificationEvent,
    Trigger,
    TriggerPause,
    TriggerType,
    WebhookDelivery,
)
from hooks.schedules import next_times
from hooks.trigger_types import checked_config


def webhook_url(trigger: Trigger) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("webhook_receive", kwargs={"token": trigger.token})


def authorization_url(trigger: Trigger) -> str | None:
    """Gmail trigger waiting for read access: the page that asks Google for it."""
    if trigger.paused != TriggerPause.READ_ACCESS_MISSING:
        return None
    path = reverse(
        "workflow_trigger_read_access",
        kwargs={"slug": trigger.workspace.slug, "workflow_id": trigger.workflow_id, "trigger_id": trigger.pk},
    )
    return settings.SITE_URL.rstrip("/") + path


def schedule_next_times(trigger: Trigger, count: int = 5) -> list[str]:
    if trigger.type != TriggerType.SCHEDULE:
        return []
    zone = trigger.config["timezone"]
    times = next_times(cron=trigger.config["cron"], zone=zone, after=timezone.now(), count=count)
    return [moment.isoformat() for moment in times]


def trigger_health(trigger: Trigger) -> str:
    """healthy, disabled, paused (waiting for read access or a reconnect) or unhealthy (a polling
    trigger that has not checked successfully for 10 minutes)."""
    from hooks.gmail_trigger import UNHEALTHY_AFTER

    if not trigger.enabled:
        return "disabled"
    if trigger.paused:
        return "paused"
    if trigger.type == TriggerType.GMAIL_NEW_EMAIL:
        since = trigger.last_checked_at or trigger.created_at
        if since is not None and timezone.now() - since > UNHEALTHY_AFTER:
            return "unhealthy"
    return "healthy"


class TriggerErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    at = serializers.DateTimeField()


class TriggerSerializer(serializers.ModelSerializer):
    """A trigger as the API shows it. The webhook's signing secret only in the answer that made it."""

    url = serializers.SerializerMethodField(help_text="Webhook: where to POST a JSON object to start a run.")
    signing = serializers.BooleanField(read_only=True, help_text="Webhook: calls must be signed.")
    last_error = serializers.SerializerMethodField()
    next_times = serializers.SerializerMethodField(help_text="Schedule: its next five times, in its zone.")
    authorization_url = serializers.SerializerMethodField(
        help_text="New Gmail email: the page that grants read access to the mailbox, while it is missing."
    )
    health = serializers.SerializerMethodField(help_text="healthy, disabled, paused or unhealthy.")
    paused_reason = serializers.SerializerMethodField()

    class Meta:
        model = Trigger
        fields = [
            "id",
            "workflow",
            "type",
            "enabled",
            "url",
            "signing",
            "config",
            "integration",
            "next_times",
            "authorization_url",
            "health",
            "paused_reason",
            "last_fired_at",
            "last_checked_at",
            "last_error",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_url(self, obj: Trigger) -> str | None:
        return webhook_url(obj) if obj.type == TriggerType.WEBHOOK else None

    @extend_schema_field({"type": "array", "items": {"type": "string", "format": "date-time"}})
    def get_next_times(self, obj: Trigger) -> list[str]:
        return schedule_next_times(obj)

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_authorization_url(self, obj: Trigger) -> str | None:
        return authorization_url(obj)

    def get_health(self, obj: Trigger) -> str:
        return trigger_health(obj)

    @extend_schema_field({"type": "string", "nullable": True})
    def get_paused_reason(self, obj: Trigger) -> str | None:
        return obj.get_paused_display() if obj.paused else None

    @extend_schema_field(TriggerErrorSerializer(allow_null=True))
    def get_last_error(self, obj: Trigger) -> dict[str, Any] | None:
        return {"message": obj.last_error, "at": obj.last_error_at} if obj.last_error else None


class NewTriggerSerializer(TriggerSerializer):
    signing_secret = serializers.SerializerMethodField(
        help_text="Webhook with signing: the whsec_ key to sign calls with. Shown only when the trigger "
        "is made or rotated."
    )

    class Meta(TriggerSerializer.Meta):
        fields = [*TriggerSerializer.Meta.fields, "signing_secret"]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "nullable": True})
    def get_signing_secret(self, obj: Trigger) -> str | None:
        return obj.signing_secret or None


class TriggerCreateSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=TriggerType.choices)
    enabled = serializers.BooleanField(default=True)
    signing = serializers.BooleanField(
        default=False, help_text="Webhook: require a Standard Webhooks signature on every call."
    )
    cron = serializers.CharField(required=False, help_text="Schedule: five cron fields.")
    timezone = serializers.CharField(required=False, help_text="Schedule: an IANA zone (default UTC).")
    input = serializers.DictField(required=False, help_text="Schedule: the input of every run.")
    integration = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="New Gmail email: the account watched."
    )
    query = serializers.CharField(
        required=False, allow_blank=True, help_text="New Gmail email: a Gmail search."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = {
            name: attrs[name]
            for name in ("cron", "timezone", "input", "integration", "query")
            if name in attrs
        }
        attrs["config"] = checked_config(attrs["type"], given)
        return attrs


class TriggerUpdateSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(required=False)


class EndpointSerializer(serializers.ModelSerializer):
    url = serializers.URLField(max_length=2000)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=NotificationEvent.choices), min_length=1, max_length=10
    )

    class Meta:
        model = NotificationEndpoint
        fields = ["id", "url", "events", "enabled", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class NewEndpointSerializer(EndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The whsec_ key deliveries are signed with. Shown only in this answer."
    )

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "message_id",
            "event",
            "attempt",
            "outcome",
            "response_status",
            "response_body",
            "error",
            "duration_ms",
            "created_at",
        ]
        read_only_fields = fields
