"""gmail.send_email: a message built with Python's email package (no header can be injected)
and sent from the connected mailbox with users.messages.send."""

import base64
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

from rest_framework import serializers

from galaxyco.errors import IntegrationNotConnected, PermanentError
from integrations.google import clients
from integrations.models import Integration, IntegrationType
from workflows.actions.base import Action, EmailOrPlaceholderField, PlaceholderCharField, StepContext


class GmailSendEmailParams(serializers.Serializer):
    to = serializers.ListField(child=EmailOrPlaceholderField(), min_length=1, max_length=100)
    cc = serializers.ListField(child=EmailOrPlaceholderField(), required=False, default=list, max_length=100)
    bcc = serializers.ListField(child=EmailOrPlaceholderField(), required=False, default=list, max_length=100)
    subject = PlaceholderCharField(single_line=True, max_length=998, allow_blank=True, default="")
    text = PlaceholderCharField(required=False, allow_blank=True, default="")
    html = PlaceholderCharField(required=False, allow_blank=True, default="")
    reply_to = EmailOrPlaceholderField(required=False, allow_blank=True, default="")
    from_name = PlaceholderCharField(
        single_line=True, required=False, allow_blank=True, default="", max_length=200
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("text") and not attrs.get("html"):
            raise serializers.ValidationError({"text": ["Write a text body, an HTML body, or both."]})
        return attrs


def build_message(*, sender: str, params: dict[str, Any]) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = Address(display_name=params.get("from_name") or "", addr_spec=sender)
    message["To"] = ", ".join(params["to"])
    if params.get("cc"):
        message["Cc"] = ", ".join(params["cc"])
    if params.get("bcc"):
        message["Bcc"] = ", ".join(params["bcc"])
    if params.get("reply_to"):
        message["Reply-To"] = params["reply_to"]
    message["Subject"] = params.get("subject", "")
    text, html = params.get("text"), params.get("html")
    if text:
        message.set_content(text)
        if html:
            message.add_alternative(html, subtype="html")
    else:
        message.set_content(html, subtype="html")
    return message


class GmailSendEmail(Action):
    type = "gmail.send_email"
    label = "Send an email from Gmail"
    integration_type = IntegrationType.GMAIL
    params_serializer = GmailSendEmailParams
    html_params = frozenset({"html"})
    # Gmail gives a mailbox 15,000 quota units a minute and a send costs 100: 2.5 sends a second.
    pace_interval = 0.4

    def run(
        self, *, params: dict[str, Any], integration: Integration | None, step: StepContext
    ) -> dict[str, Any]:
        if integration is None:
            raise IntegrationNotConnected()
        try:
            message = build_message(sender=integration.email, params=params)
        except (ValueError, TypeError) as error:  # the email package refuses a header it cannot write safely
            raise PermanentError(
                "This email could not be built from the run's input: a header value is not allowed.",
                code="invalid_params",
            ) from error
        raw = base64.urlsafe_b64encode(message.as_bytes()).decode()
        sent = clients.send_gmail_message(integration=integration, raw=raw)
        return {"message_id": sent.get("id"), "thread_id": sent.get("threadId"), "from": integration.email}
