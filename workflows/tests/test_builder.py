"""The builder draws each param with the wording its own action declares."""

from workflows.actions.base import FieldText
from workflows.actions.calendar_create_event import CalendarCreateEvent
from workflows.actions.gmail_send_email import GmailSendEmail
from workflows.builder import param_fields


class _Reworded(GmailSendEmail):
    field_text = {
        "to": FieldText(label="Recipients", help="One or more addresses.", placeholder="you@example.com"),
    }


def test_each_param_is_worded_by_its_actions_declaration():
    fields = {spec.name: spec for spec in param_fields(_Reworded())}
    assert (fields["to"].label, fields["to"].help_text, fields["to"].placeholder) == (
        "Recipients",
        "One or more addresses.",
        "you@example.com",
    )
    # Undeclared params fall back to the serializer field's own label, with no help or placeholder.
    assert (fields["cc"].label, fields["cc"].help_text, fields["cc"].placeholder) == ("Cc", "", "")


def test_choice_labels_come_from_the_action():
    fields = {spec.name: spec for spec in param_fields(CalendarCreateEvent())}
    assert fields["send_updates"].label == "Send invitations to"
    assert fields["send_updates"].choices == [
        ("all", "All guests"),
        ("externalOnly", "Only guests outside your organisation"),
        ("none", "No one"),
    ]
    assert fields["start"].placeholder == "2026-12-01T09:30:00"
