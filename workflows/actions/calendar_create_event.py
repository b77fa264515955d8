"""calendar.create_event: an event on the connected account's calendar."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rest_framework import serializers

from galaxyco.errors import IntegrationNotConnected
from integrations.google import clients
from integrations.models import Integration, IntegrationType
from workflows import rendering
from workflows.actions.base import (
    RENDERED,
    Action,
    AddressListField,
    EmailOrPlaceholderField,
    FieldText,
    PlaceholderCharField,
    StepContext,
)

SEND_UPDATES = ("all", "externalOnly", "none")


class DateTimeOrPlaceholderField(PlaceholderCharField):
    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data).strip()
        if not rendering.has_placeholder(value) or self.context.get(RENDERED):
            try:
                if "T" not in value:  # Google wants a dateTime here, not a bare date
                    raise ValueError
                datetime.fromisoformat(value)
            except ValueError:
                raise serializers.ValidationError(
                    "Use an ISO 8601 date and time, such as 2026-12-01T09:30:00."
                ) from None
        return value


class CalendarCreateEventParams(serializers.Serializer):
    summary = PlaceholderCharField(single_line=True, max_length=1024)
    description = PlaceholderCharField(required=False, allow_blank=True, default="")
    start = DateTimeOrPlaceholderField(single_line=True)
    end = DateTimeOrPlaceholderField(single_line=True)
    time_zone = serializers.CharField(default="UTC")
    attendees = AddressListField(
        child=EmailOrPlaceholderField(), required=False, default=list, max_length=100
    )
    send_updates = serializers.ChoiceField(choices=SEND_UPDATES, default="none")
    calendar_id = serializers.CharField(default="primary", max_length=255)

    def validate_time_zone(self, value: str) -> str:
        try:
            ZoneInfo(value)
        # OSError: the name of a folder of the zone database, or one too long for a file name.
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise serializers.ValidationError("Use a time zone name such as Europe/Paris or UTC.") from None
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs["start"], attrs["end"]
        if self.context.get(RENDERED) or not (
            rendering.has_placeholder(start) or rendering.has_placeholder(end)
        ):
            zone = ZoneInfo(attrs.get("time_zone", "UTC"))
            if _aware(end, zone) <= _aware(start, zone):
                raise serializers.ValidationError({"end": ["The event must end after it starts."]})
        return attrs


def _aware(value: str, zone: ZoneInfo) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


class CalendarCreateEvent(Action):
    type = "calendar.create_event"
    label = "Create a Google Calendar event"
    field_text = {
        "start": FieldText(
            help="An ISO 8601 date and time, such as 2026-12-01T09:30:00.", placeholder="2026-12-01T09:30:00"
        ),
        "end": FieldText(
            help="An ISO 8601 date and time, after the start.", placeholder="2026-12-01T10:00:00"
        ),
        "time_zone": FieldText(help="A time zone name such as Europe/Paris or UTC."),
        "attendees": FieldText(help="Email addresses, separated by commas."),
        "send_updates": FieldText(
            label="Send invitations to",
            choices={
                "all": "All guests",
                "externalOnly": "Only guests outside your organisation",
                "none": "No one",
            },
        ),
        "calendar_id": FieldText(
            label="Calendar ID", help="Leave “primary” for the account's main calendar."
        ),
    }
    integration_type = IntegrationType.CALENDAR
    params_serializer = CalendarCreateEventParams
    address_params = frozenset({"attendees"})
    output_fields = frozenset({"event_id", "html_link", "status"})

    def run(
        self, *, params: dict[str, Any], integration: Integration | None, step: StepContext
    ) -> dict[str, Any]:
        if integration is None:
            raise IntegrationNotConnected()
        event = {
            # Google refuses a second event with this id (409): a retry after a timeout finds the
            # event the first call made instead of creating another.
            **({"id": step.idempotency_key} if step.idempotency_key else {}),
            "summary": params["summary"],
            "description": params.get("description", ""),
            "start": {"dateTime": params["start"], "timeZone": params["time_zone"]},
            "end": {"dateTime": params["end"], "timeZone": params["time_zone"]},
            "attendees": [{"email": email} for email in params.get("attendees", [])],
        }
        created = clients.insert_calendar_event(
            integration=integration,
            calendar_id=params.get("calendar_id", "primary"),
            event=event,
            send_updates=params.get("send_updates", "none"),
        )
        return {
            "event_id": created.get("id"),
            "html_link": created.get("htmlLink"),
            "status": created.get("status"),
        }
