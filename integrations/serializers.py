from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from galaxyco.query import PageParameters
from integrations.models import Integration, IntegrationStatus, IntegrationType


class OwnerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()


class IntegrationSerializer(serializers.ModelSerializer):
    """An integration as the API shows it: never any token material."""

    connected_by = serializers.SerializerMethodField()
    owner = serializers.SerializerMethodField()
    last_error = serializers.SerializerMethodField()

    class Meta:
        model = Integration
        fields = [
            "id",
            "provider",
            "type",
            "status",
            "email",
            "display_name",
            "scopes",
            "owner",
            "shared",
            "is_default",
            "connected_by",
            "connected_at",
            "last_refreshed_at",
            "last_used_at",
            "last_error",
        ]
        read_only_fields = fields

    def get_connected_by(self, obj: Integration) -> str | None:
        return obj.connected_by.email if obj.connected_by else None

    @extend_schema_field(OwnerSerializer(allow_null=True))
    def get_owner(self, obj: Integration) -> dict[str, Any] | None:
        """Who connected the account: only their runs may send from it unless it is shared."""
        return {"id": obj.connected_by.pk, "email": obj.connected_by.email} if obj.connected_by else None

    def get_last_error(self, obj: Integration) -> dict[str, Any] | None:
        if not obj.last_error_code:
            return None
        return {"code": obj.last_error_code, "message": obj.last_error_message, "at": obj.last_error_at}


class IntegrationUpdateSerializer(serializers.Serializer):
    """PATCH: share or unshare the account, and/or make it the workspace's default of its type."""

    shared = serializers.BooleanField(required=False)
    is_default = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Send “shared” (true or false) and/or “is_default”.")
        return attrs


class IntegrationStatusEntrySerializer(serializers.Serializer):
    default_integration_id = serializers.IntegerField(
        allow_null=True,
        help_text="The workspace's default account of this type, used by steps that name none.",
    )
    connected = serializers.BooleanField()
    status = serializers.CharField()
    email = serializers.EmailField(allow_null=True)
    integration_id = serializers.IntegerField(allow_null=True)
    display_name = serializers.CharField(allow_blank=True)
    connected_at = serializers.DateTimeField(allow_null=True)
    last_refreshed_at = serializers.DateTimeField(allow_null=True)
    message = serializers.CharField(allow_null=True, help_text="What to do when it is not connected.")


class IntegrationStatusSerializer(serializers.Serializer):
    """The schema of GET .../integrations/status/; `status_representation` writes its body."""

    gmail = IntegrationStatusEntrySerializer()
    calendar = IntegrationStatusEntrySerializer()
    sidemail = IntegrationStatusEntrySerializer()


_DATETIME = serializers.DateTimeField()
_STATUS_DATETIMES = ("connected_at", "last_refreshed_at")


def status_representation(status: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """IntegrationStatusSerializer's output for `integration_status`'s summaries, without building
    a serializer per request: the summaries already hold JSON values but for the dates, which are
    written as DRF writes them."""
    return {
        kind: summary
        | {name: _DATETIME.to_representation(summary[name]) for name in _STATUS_DATETIMES if summary[name]}
        for kind, summary in status.items()
    }


class SidemailConnectSerializer(serializers.Serializer):
    """POST .../integrations/sidemail/: the workspace's own Sidemail account. The key is checked
    with Sidemail before it is saved, stored encrypted, and never shown again."""

    api_key = serializers.CharField(write_only=True, max_length=500, help_text="A Sidemail project API key.")
    from_address = serializers.EmailField(
        help_text="The address workflow emails are sent from, on a domain verified in Sidemail."
    )
    shared = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Share with the workspace (any member's runs, API keys and triggers may send from it).",
    )


class IntegrationFilters(PageParameters):
    type = serializers.ChoiceField(required=False, choices=IntegrationType.choices)
    status = serializers.ChoiceField(required=False, choices=IntegrationStatus.choices)


class DisconnectResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    revoked_at_google = serializers.BooleanField()
    revocation = serializers.ChoiceField(
        choices=["revoked", "kept", "unreachable", "not_applicable"],
        help_text="revoked: Google revoked the access. kept: other connections of the same Google account "
        "still use it. unreachable: Google could not be reached; the access lapses unused. "
        "not_applicable: a Sidemail key, deleted here (it still works at Sidemail).",
    )
    message = serializers.CharField()
    integration = IntegrationSerializer()
