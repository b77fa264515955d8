"""Every action type, by name. Add an action: write its module, list it here."""

from workflows.actions.base import Action
from workflows.actions.calendar_create_event import CalendarCreateEvent
from workflows.actions.gmail_send_email import GmailSendEmail
from workflows.actions.sidemail_send_email import SidemailSendEmail

ACTIONS: dict[str, Action] = {
    action.type: action for action in (GmailSendEmail(), CalendarCreateEvent(), SidemailSendEmail())
}


def get_action(action_type: str) -> Action | None:
    return ACTIONS.get(action_type)


def action_choices() -> list[tuple[str, str]]:
    return [(action.type, action.label) for action in ACTIONS.values()]
