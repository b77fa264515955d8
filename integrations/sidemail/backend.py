"""Django's email backend for Sidemail, built on Anymail's base classes.

Anymail gives the message handling every ESP backend shares: the pre_send and post_send signals,
``message.anymail_status``, template_id / merge_global_data / send_at / esp_extra on an
``AnymailMessage``, and a clear error for what the ESP cannot do. Only the last step differs from
Anymail's own backends: instead of calling the API while Django waits, ``post_to_esp`` records one
``OutboundEmail`` per recipient (Sidemail takes one ``toAddress`` per email) and a task sends it,
retrying through the queue. The status each recipient gets is therefore "queued", with our row's
id as its message id.
"""

from __future__ import annotations

from typing import Any

from anymail.backends.base import AnymailBaseBackend, BasePayload
from anymail.message import AnymailRecipientStatus
from anymail.utils import EmailAddress, parse_single_address
from django.core.mail import EmailMessage

from integrations.sidemail import services


class EmailBackend(AnymailBaseBackend):
    esp_name = "Sidemail"

    def build_message_payload(self, message: EmailMessage, defaults: dict[str, Any]) -> SidemailPayload:
        return SidemailPayload(message, defaults, self)

    def post_to_esp(self, payload: SidemailPayload, message: EmailMessage) -> list[int]:
        rows = services.queue_emails(payloads=payload.per_recipient())
        return [row.pk for row in rows]

    def parse_recipient_status(
        self, response: list[int], payload: SidemailPayload, message: EmailMessage
    ) -> dict[str, AnymailRecipientStatus]:
        return {
            recipient.addr_spec: AnymailRecipientStatus(message_id=str(row_id), status="queued")
            for recipient, row_id in zip(payload.recipients, response, strict=True)
        }


class SidemailPayload(BasePayload):
    """Sidemail's ``/email/send`` body, less ``toAddress``: one copy goes to each recipient."""

    def init_payload(self) -> None:
        self.data: dict[str, Any] = {}
        self.recipients: list[EmailAddress] = []

    def per_recipient(self) -> list[dict[str, Any]]:
        return [{"toAddress": recipient.addr_spec, **self.data} for recipient in self.recipients]

    def set_from_email(self, email: EmailAddress) -> None:
        self.data["fromAddress"] = email.addr_spec
        if email.display_name:
            self.data["fromName"] = email.display_name

    def add_recipient(self, recipient_type: str, email: EmailAddress) -> None:
        if recipient_type != "to":
            # Sidemail has no cc or bcc; a copy sent as its own email would tell no one it is a copy.
            self.unsupported_feature(recipient_type)
            return
        self.recipients.append(email)

    def set_subject(self, subject: str) -> None:
        if subject:
            self.data["subject"] = subject

    def set_reply_to(self, emails: list[EmailAddress]) -> None:
        if len(emails) > 1:
            self.unsupported_feature("multiple reply_to addresses")
        if emails:
            self.data["replyToAddress"] = emails[0].addr_spec

    def set_extra_headers(self, headers: dict[str, str]) -> None:
        self.unsupported_feature("extra_headers")

    def set_text_body(self, body: str) -> None:
        if body:
            self.data["text"] = body

    def set_html_body(self, body: str) -> None:
        if body:
            self.data["html"] = body

    def add_attachment(self, attachment: Any) -> None:
        if attachment.inline:
            self.unsupported_feature("inline attachments")
        self.data.setdefault("attachments", []).append(
            {"name": attachment.name or "attachment", "content": attachment.b64content}
        )

    def set_template_id(self, template_id: str) -> None:
        # A name is what templates are known by in Sidemail's dashboard; esp_extra can pass templateId.
        self.data["templateName"] = template_id
        # Sidemail refuses a template together with content: Django's required body is dropped.
        self.data.pop("text", None)
        self.data.pop("html", None)

    def set_merge_global_data(self, merge_global_data: dict[str, Any]) -> None:
        self.data["templateProps"] = dict(merge_global_data)

    def set_send_at(self, send_at: Any) -> None:
        self.data["scheduledAt"] = send_at.isoformat()

    def set_esp_extra(self, extra: dict[str, Any]) -> None:
        self.data.update(extra)
        if "templateId" in extra:
            self.data.pop("templateName", None)


def address_parts(value: str) -> tuple[str, str]:
    """("GalaxyCo", "noreply@galaxyco.example") from "GalaxyCo <noreply@galaxyco.example>"."""
    parsed = parse_single_address(value, field="DEFAULT_FROM_EMAIL")
    return parsed.display_name, parsed.addr_spec
