"""What each integration type asks Google for."""

from integrations.models import IntegrationType

GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
# Asked for only when a member adds a "new Gmail email" trigger (incremental consent), never at connect.
GMAIL_READONLY = "https://www.googleapis.com/auth/gmail.readonly"
CALENDAR_EVENTS = "https://www.googleapis.com/auth/calendar.events"
IDENTITY = ["openid", "email", "profile"]

REQUIRED_SCOPE = {
    IntegrationType.GMAIL: GMAIL_SEND,
    IntegrationType.CALENDAR: CALENDAR_EVENTS,
}

# How the permission reads on Google's consent screen, for messages to people.
PERMISSION_LABEL = {
    IntegrationType.GMAIL: "Send email on your behalf",
    IntegrationType.CALENDAR: "View and edit events on all your calendars",
}


def scopes_for(integration_type: str) -> list[str]:
    return [*IDENTITY, REQUIRED_SCOPE[IntegrationType(integration_type)]]
