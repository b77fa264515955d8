"""Each trigger type's own settings, checked like a step's params: a serializer per type whose
errors name the field (400 with `fields.cron`, `fields.timezone`, `fields.integration`)."""

from typing import Any

from rest_framework import serializers

from galaxyco.query import MAX_ID
from hooks.models import TriggerType
from hooks.schedules import ScheduleError, check_cron, check_zone


class ScheduleConfigSerializer(serializers.Serializer):
    cron = serializers.CharField(max_length=100, help_text="Five cron fields, e.g. “0 9 * * 1-5”.")
    timezone = serializers.CharField(
        max_length=64, default="UTC", help_text="An IANA zone, e.g. Europe/Berlin."
    )
    input = serializers.DictField(default=dict, help_text="The input of every run it starts.")

    def validate_cron(self, value: str) -> str:
        try:
            return check_cron(value)
        except ScheduleError as error:
            raise serializers.ValidationError(str(error)) from None

    def validate_timezone(self, value: str) -> str:
        try:
            return check_zone(value)
        except ScheduleError as error:
            raise serializers.ValidationError(str(error)) from None


class GmailConfigSerializer(serializers.Serializer):
    integration = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="The Gmail account (integration id) to watch."
    )
    query = serializers.CharField(
        max_length=500, allow_blank=True, default="", help_text="A Gmail search, e.g. from:orders@shop.test."
    )


CONFIG_SERIALIZERS: dict[str, type[serializers.Serializer]] = {
    TriggerType.SCHEDULE: ScheduleConfigSerializer,
    TriggerType.GMAIL_NEW_EMAIL: GmailConfigSerializer,
}


def checked_config(trigger_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """The type's settings from a request body; raises ValidationError naming the fields."""
    serializer_class = CONFIG_SERIALIZERS.get(trigger_type)
    if serializer_class is None:
        return {}
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
