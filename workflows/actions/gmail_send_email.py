"""gmail.send_email: a message built with Python's email package and sent from the connected
mailbox with users.messages.send.

Python 3.11.7's email package decodes RFC 2047 encoded words (`=?utf-8?q?…?=`) in a header value
and writes a decoded line break out raw (CVE-2024-6923), so a value that is one line as typed
can become a hidden Bcc. Two guards: the header fields refuse encoded-word text, and the bytes
are read back before sending and must carry exactly the headers built and the recipients named.
"""

import base64
import re
from collections import Counter
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import SMTP, default
from typing import Any

from rest_framework import serializers

from galaxyco.errors import ErrorCode, IntegrationNotConnected, PermanentError
from integrations.google import clients
from integrations.models import Integration, IntegrationType
from workflows.actions.base import (
    Action,
    AddressListField,
    EmailOrPlaceholderField,
    FieldText,
    PlaceholderCharField,
    StepContext,
)

# What the email package decodes as an encoded word: =?charset?Q-or-B?text?= (the charset may
# carry a *language; the text may hold spaces, which the package tolerates).
ENCODED_WORD = re.compile(r"=\?[^?]*\?[bq]\?[^?]*\?=", re.IGNORECASE)


def refuse_encoded_words(value: str) -> str:
    if ENCODED_WORD.search(value):
        raise serializers.ValidationError(
            "Encoded-word text such as =?utf-8?q?...?= is not allowed in an email header: mail "
            "programs decode it into other characters, line breaks included. Write the text itself."
        )
    return value


class HeaderTextField(PlaceholderCharField):
    """One line of header text (a subject, a display name) that no mail program reads differently."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(single_line=True, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        return refuse_encoded_words(super().to_internal_value(data))


class HeaderAddressField(EmailOrPlaceholderField):
    def to_internal_value(self, data: Any) -> str:
        return refuse_encoded_words(super().to_internal_value(data))


class GmailSendEmailParams(serializers.Serializer):
    to = AddressListField(child=HeaderAddressField(), min_length=1, max_length=100)
    cc = AddressListField(child=HeaderAddressField(), required=False, default=list, max_length=100)
    bcc = AddressListField(child=HeaderAddressField(), required=False, default=list, max_length=100)
    subject = HeaderTextField(max_length=998, allow_blank=True, default="")
    text = PlaceholderCharField(required=False, allow_blank=True, default="")
    html = PlaceholderCharField(required=False, allow_blank=True, default="")
    reply_to = HeaderAddressField(required=False, allow_blank=True, default="")
    from_name = HeaderTextField(required=False, allow_blank=True, default="", max_length=200)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("text") and not attrs.get("html"):
            raise serializers.ValidationError({"text": ["Write a text body, an HTML body, or both."]})
        return attrs


def build_message(*, sender: str, params: dict[str, Any], message_id: str = "") -> EmailMessage:
    """The one place the message's headers are set: `message_bytes` expects exactly these.
    `message_id`: ours, so a send whose outcome is unknown can be found in the Sent mail."""
    message = EmailMessage(policy=SMTP)
    if message_id:
        message["Message-ID"] = message_id
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


def _recipients_named(*, sender: str, params: dict[str, Any]) -> dict[str, list[str]]:
    reply_to = params.get("reply_to")
    return {
        "From": [sender],
        "To": list(params["to"]),
        "Cc": list(params.get("cc") or []),
        "Bcc": list(params.get("bcc") or []),
        "Reply-To": [reply_to] if reply_to else [],
    }


def _not_sent(what: str) -> PermanentError:
    return PermanentError(
        f"This email was not sent: {what} would not be what the step's settings say. "
        "Check the run's input for text that mail programs decode, such as =?utf-8?q?...?=.",
        code=ErrorCode.INVALID_PARAMS,
    )


def message_bytes(*, message: EmailMessage, sender: str, params: dict[str, Any]) -> bytes:
    """The message as sent, read back first as a mail server would read it: it must carry exactly
    the headers built and exactly the recipients the step named, or it is refused."""
    raw = message.as_bytes()
    try:
        written = BytesParser(policy=default).parsebytes(raw, headersonly=True)
        if Counter(name.lower() for name in written) != Counter(name.lower() for name in message):
            raise _not_sent("its headers")
        for name, named in _recipients_named(sender=sender, params=params).items():
            header = written[name]
            found = [address.addr_spec for address in header.addresses] if header is not None else []
            if found != named:
                raise _not_sent(f"its {name} addresses")
    except (MessageError, ValueError, LookupError, TypeError) as error:  # hostile bytes, odd parser paths
        raise _not_sent("its headers") from error
    return raw


class GmailSendEmail(Action):
    type = "gmail.send_email"
    label = "Send an email from Gmail"
    field_text = {
        "to": FieldText(
            label="To",
            help="Separate addresses with commas.",
            placeholder="ada@example.com, {{ input.email }}",
        ),
        "cc": FieldText(label="Cc", help="Separate addresses with commas."),
        "bcc": FieldText(label="Bcc", help="Separate addresses with commas."),
        "text": FieldText(label="Text body", help="Plain text. Write a text body, an HTML body, or both."),
        "html": FieldText(label="HTML body", help="Placeholders in HTML are escaped."),
        "reply_to": FieldText(label="Reply-To"),
        "from_name": FieldText(
            label="Sender name", help="Shown as the sender's name; the address is the connected mailbox."
        ),
    }
    integration_type = IntegrationType.GMAIL
    params_serializer = GmailSendEmailParams
    html_params = frozenset({"html"})
    address_params = frozenset({"to", "cc", "bcc", "reply_to"})
    output_fields = frozenset({"message_id", "thread_id", "from"})
    # Gmail gives a mailbox 15,000 quota units a minute and a send costs 100: 2.5 sends a second.
    pace_interval = 0.4
    at_most_once = True

    def can_find_done(self, *, integration: Integration | None) -> bool:
        return integration is not None and clients.can_read_sent_mail(integration)

    def find_done(self, *, integration: Integration | None, step: StepContext) -> dict[str, Any] | None:
        if integration is None:
            raise IntegrationNotConnected()
        found = clients.find_sent_message(integration=integration, message_id_header=step.message_id_header)
        if found is None:
            return None
        return {"message_id": found.get("id"), "thread_id": found.get("threadId"), "from": integration.email}

    def run(
        self, *, params: dict[str, Any], integration: Integration | None, step: StepContext
    ) -> dict[str, Any]:
        if integration is None:
            raise IntegrationNotConnected()
        try:
            message = build_message(
                sender=integration.email, params=params, message_id=step.message_id_header
            )
            raw = message_bytes(message=message, sender=integration.email, params=params)
        except (ValueError, TypeError) as error:  # the email package refuses a header it cannot write safely
            raise PermanentError(
                "This email could not be built from the run's input: a header value is not allowed.",
                code=ErrorCode.INVALID_PARAMS,
            ) from error
        sent = clients.send_gmail_message(
            integration=integration, raw=base64.urlsafe_b64encode(raw).decode(), on_call=step.on_call
        )
        return {"message_id": sent.get("id"), "thread_id": sent.get("threadId"), "from": integration.email}
