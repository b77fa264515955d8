from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from hooks.models import NotificationEndpoint, NotificationEvent, Trigger, TriggerType, WebhookDelivery


def webhook_url(trigger: Trigger) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("webhook_receive", kwargs={"token": trigger.token})


class TriggerErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    at = serializers.DateTimeField()


class TriggerSerializer(serializers.ModelSerializer):
    """A trigger as the API shows it. The webhook's signing secret only in the answer that made it."""

    url = serializers.SerializerMethodField(help_text="Webhook: where to POST a JSON object to start a run.")
    signing = serializers.BooleanField(read_only=True, help_text="Webhook: calls must be signed.")
    last_error = serializers.SerializerMethodField()

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
            "last_fired_at",
            "last_checked_at",
            "last_error",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_url(self, obj: Trigger) -> str | None:
        return webhook_url(obj) if obj.type == TriggerType.WEBHOOK else None

    @extend_schema_field(TriggerErrorSerializer(allow_null=True))
    def get_last_error(self, obj: Trigger) -> dict[str, Any] | None:
        return {"message": obj.last_error, "at": obj.last_error_at} if obj.last_error else None


class NewTriggerSerializer(TriggerSerializer):
    signing_secret = serializers.SerializerMethodField(
        help_text="Webhook with signing: the whsec_ key to sign calls with. Shown only in this answer."
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
