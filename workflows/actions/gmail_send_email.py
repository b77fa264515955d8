"""gmail.send_email: a message written directly (`_composed`; with attachments, or a value only
Python's email package writes, built by that package) and sent from the connected mailbox with
users.messages.send.

Python 3.11.7's email package decodes RFC 2047 encoded words (`=?utf-8?q?…?=`) in a header value
and writes a decoded line break out raw (CVE-2024-6923), so a value that is one line as typed
can become a hidden Bcc. Two guards: the header fields refuse encoded-word text, and the bytes
are read back before sending and must carry exactly the headers built and the recipients named.
"""

import base64
import binascii
import re
import secrets
from collections import Counter
from datetime import datetime, timedelta
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Any

from rest_framework import serializers

from galaxyco.errors import ErrorCode, IntegrationNotConnected, PermanentError
from hooks.trigger_attachments import attachments_of_triggering_email
from integrations.google import clients
from integrations.google.marker import ORIGIN_HEADER, STEP_HEADER, origin_value
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
from workflows.actions.email_policy import READING, WRITING

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


# Gmail's own limit is 25 MB of attachments; counted here as their base64 text, as Gmail counts it.
ATTACHMENTS_LIMIT_BYTES = 25 * 1024 * 1024
# A MIME type as RFC 2045 spells its tokens, without parameters.
MIME_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*"
CONTENT_TYPE = re.compile(rf"{MIME_TOKEN}/{MIME_TOKEN}")
# One or more message ids (<left@right>) separated by white space: In-Reply-To and References.
MESSAGE_ID_LIST = re.compile(r"<[^<>\s@]+@[^<>\s@]+>(?:\s+<[^<>\s@]+@[^<>\s@]+>)*")
# The Sent mail is searched from this long before the step's first attempt (clocks may disagree).
SENT_SEARCH_SLACK = timedelta(minutes=10)


class AttachmentSerializer(serializers.Serializer):
    """A file: `{"filename", "content_type", "content_base64"}` (the base64 may be a placeholder,
    such as {{ input.file }}), or `{"from_trigger": true, "filename"}`: the attachment of that name
    of the email that started the run (hooks.trigger_attachments), read from Gmail at send time."""

    from_trigger = serializers.BooleanField(required=False)
    filename = serializers.CharField(max_length=255)
    content_type = serializers.CharField(max_length=255, required=False)
    content_base64 = serializers.CharField(allow_blank=True, trim_whitespace=True, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("from_trigger"):
            if "content_type" in attrs or "content_base64" in attrs:
                raise serializers.ValidationError(
                    "An attachment from the triggering email takes only its filename: its content "
                    "type and bytes come from that email."
                )
            return {"from_trigger": True, "filename": attrs["filename"]}
        missing = [name for name in ("content_type", "content_base64") if name not in attrs]
        if missing:
            raise serializers.ValidationError({name: ["This field is required."] for name in missing})
        attrs.pop("from_trigger", None)
        return attrs

    def validate_filename(self, value: str) -> str:
        if any(char in value for char in "/\\\0") or any(not char.isprintable() for char in value):
            raise serializers.ValidationError(
                "A file name is one line without path separators (/ or \\), for example report.pdf."
            )
        return refuse_encoded_words(value)

    def validate_content_type(self, value: str) -> str:
        if not CONTENT_TYPE.fullmatch(value):
            raise serializers.ValidationError("Write a content type such as application/pdf or image/png.")
        return value.lower()

    def validate_content_base64(self, value: str) -> str:
        if rendering.has_placeholder(value) and not self.context.get(RENDERED):
            return rendering.validate_placeholders(value)
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            raise serializers.ValidationError(
                "This is not base64 text: encode the file's bytes with base64."
            ) from error
        return value


class GmailSendEmailParams(serializers.Serializer):
    to = AddressListField(child=HeaderAddressField(), min_length=1, max_length=100)
    cc = AddressListField(child=HeaderAddressField(), required=False, default=list, max_length=100)
    bcc = AddressListField(child=HeaderAddressField(), required=False, default=list, max_length=100)
    subject = HeaderTextField(max_length=998, allow_blank=True, default="")
    text = PlaceholderCharField(required=False, allow_blank=True, default="")
    html = PlaceholderCharField(required=False, allow_blank=True, default="")
    reply_to = HeaderAddressField(required=False, allow_blank=True, default="")
    from_name = HeaderTextField(required=False, allow_blank=True, default="", max_length=200)
    attachments = serializers.ListField(
        child=AttachmentSerializer(), required=False, default=list, max_length=100
    )
    # The Gmail id of the message answered: the email is sent as a reply in its thread.
    reply_to_message_id = PlaceholderCharField(
        required=False, allow_blank=True, default="", max_length=64, single_line=True
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("text") and not attrs.get("html"):
            raise serializers.ValidationError({"text": ["Write a text body, an HTML body, or both."]})
        encoded = encoded_size(attrs.get("attachments") or [])
        if encoded > ATTACHMENTS_LIMIT_BYTES:
            raise serializers.ValidationError({"attachments": [too_large(encoded)]})
        return attrs


def encoded_size(attachments: list[dict[str, Any]]) -> int:
    """What attachments weigh against Gmail's limit: their base64 text (read ones only)."""
    return sum(len(attachment.get("content_base64", "")) for attachment in attachments)


def too_large(encoded: int) -> str:
    return (
        f"Attachments are limited to 25 MB in total (base64-encoded, as Gmail counts them); these "
        f"are {encoded / (1024 * 1024):.1f} MB. Send fewer or smaller files."
    )


def reply_headers(*, original: dict[str, Any]) -> dict[str, str]:
    """In-Reply-To, References and the subject of a reply to `original` (users.messages.get,
    format=metadata), following Google's rules; refused when its ids are not message ids."""
    headers = {
        item.get("name", "").lower(): str(item.get("value", ""))
        for item in (original.get("payload") or {}).get("headers") or []
    }
    message_id = headers.get("message-id", "").strip()
    references = " ".join([*headers.get("references", "").split(), message_id])
    if not MESSAGE_ID_LIST.fullmatch(message_id) or not MESSAGE_ID_LIST.fullmatch(references):
        raise PermanentError(
            "The message to reply to has no usable Message-ID header, so a reply would not thread.",
            code=ErrorCode.INVALID_PARAMS,
        )
    subject = " ".join(headers.get("subject", "").split())
    if not subject.lower().startswith("re:"):
        subject = f"Re: {subject}".rstrip()
    return {"In-Reply-To": message_id, "References": references, "Subject": subject}


def build_message(
    *,
    sender: str,
    params: dict[str, Any],
    message_id: str = "",
    reply: dict[str, str] | None = None,
    origin: str = "",
) -> EmailMessage:
    """The message as the email package builds it (`message_bytes` writes the same headers
    itself when it can, and reads either back).
    `message_id`: ours, so a send whose outcome is unknown can be found in the Sent mail.
    `reply`: `reply_headers` of the message answered; its subject replaces a blank one.
    `origin`: integrations.google.marker's value for the workspace, so its triggers skip this email."""
    params = _with_ascii_domains(params)
    message = EmailMessage(policy=WRITING)
    if message_id:
        message["Message-ID"] = message_id
        message[STEP_HEADER] = message_id
    message["From"] = Address(display_name=params.get("from_name") or "", addr_spec=sender)
    message["To"] = ", ".join(params["to"])
    if params.get("cc"):
        message["Cc"] = ", ".join(params["cc"])
    if params.get("bcc"):
        message["Bcc"] = ", ".join(params["bcc"])
    if params.get("reply_to"):
        message["Reply-To"] = params["reply_to"]
    if reply:
        message["In-Reply-To"] = reply["In-Reply-To"]
        message["References"] = reply["References"]
    message["Subject"] = params.get("subject") or (reply or {}).get("Subject", "")
    if origin:
        message[ORIGIN_HEADER] = origin
    text, html = params.get("text"), params.get("html")
    if text:
        message.set_content(text)
        if html:
            message.add_alternative(html, subtype="html")
    else:
        message.set_content(html, subtype="html")
    for attachment in params.get("attachments") or []:
        maintype, _, subtype = attachment["content_type"].partition("/")
        message.add_attachment(
            base64.b64decode(attachment["content_base64"]),
            maintype=maintype,
            subtype=subtype,
            filename=attachment["filename"],
        )
    return message


def ascii_address(address: str) -> str:
    """The address with its domain in IDNA form (`bücher.de` → `xn--bcher-kva.de`), as mail servers
    read it; Django's validate_email checked the domain with the same codec, and allows only
    ASCII before the @."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError as error:
        raise _not_sent("its addresses") from error


def _with_ascii_domains(params: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {
        name: [ascii_address(address) for address in params[name]]
        for name in ("to", "cc", "bcc")
        if params.get(name)
    }
    if params.get("reply_to"):
        converted["reply_to"] = ascii_address(params["reply_to"])
    return {**params, **converted}


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


class _NotPlain(Exception):
    """A value the composer leaves to the email package (a non-ASCII address, an odd id)."""


# What a header may carry as written: printable ASCII words separated by single spaces.
PLAIN_WORDS = re.compile(r"[!-~]+(?: [!-~]+)*")
# RFC 5322's line length: lines are folded to this where they can be.
LINE_LENGTH = 78
# UTF-8 bytes per encoded word, so that `=?utf-8?b?…?=` (at most 75 characters, RFC 2047) fits
# on a folded line after "Subject: " or "From: ".
SUBJECT_WORD_BYTES = 42
NAME_WORD_BYTES = 45


def _folded(name: str, words: list[str]) -> str:
    """`name: words` folded before a word where a line would pass LINE_LENGTH (the first word
    too, as the email package folds a long id); unfolding (which removes only the line breaks)
    gives the words back exactly."""
    lines, line = [], f"{name}:"
    for word in words:
        if len(line) + 1 + len(word) > LINE_LENGTH:
            lines.append(line)
            line = ""
        line += " " + word
    return "\r\n".join([*lines, line])


def _plain_words(value: str, *, room: int) -> list[str] | None:
    """The value's words, when it can be written as it is: printable ASCII, single spaces, each
    word fitting a continuation line (`room`), and nothing a mail program could decode (`=?`)."""
    if not PLAIN_WORDS.fullmatch(value) or "=?" in value:
        return None
    words = value.split(" ")
    return words if max(len(word) for word in words) <= room else None


def _encoded_words(value: str, *, size: int) -> list[str]:
    """RFC 2047 B-encoded words holding `value` exactly (readers drop the white space between
    adjacent encoded words), split between characters, each of at most `size` bytes of UTF-8.
    (Python's email package reads a space between two of them in a display name, as it does in
    what it writes itself: a name of up to NAME_WORD_BYTES takes one word.)"""
    words, chunk = [], b""
    for char in value:
        encoded = char.encode()
        if len(chunk) + len(encoded) > size:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    return [f"=?utf-8?b?{base64.b64encode(word).decode()}?=" for word in [*words, chunk]]


def _text_header(name: str, value: str) -> str:
    """An unstructured header (Subject): as written when plain, else as encoded words."""
    if not value:
        return f"{name}: "
    if ENCODED_WORD.search(value):  # refused by the fields; the email package's writing is checked
        raise _NotPlain(name)
    words = _plain_words(value, room=LINE_LENGTH - 1)
    return _folded(name, words if words is not None else _encoded_words(value, size=SUBJECT_WORD_BYTES))


def _plain_header(name: str, value: str) -> str:
    """A header of ids or a hash, written as it is; anything else goes to the email package."""
    words = _plain_words(value, room=LINE_LENGTH - 1)
    if words is None:
        raise _NotPlain(name)
    return _folded(name, words)


def _address_header(name: str, addresses: list[str]) -> str:
    """Checked addr-specs (Django's validate_email: ASCII local parts, dot-atoms or quoted
    strings), separated by commas and folded between addresses. An internationalized domain goes
    to the email package, as before."""
    if not all(address.isascii() and address.isprintable() for address in addresses):
        raise _NotPlain(name)
    return _folded(name, [f"{address}," for address in addresses[:-1]] + addresses[-1:])


def _from_header(*, display_name: str, sender: str) -> str:
    if not (sender.isascii() and sender.isprintable()):
        raise _NotPlain("From")
    # As the email package writes a name: without white space around it (a blank one is none).
    display_name = display_name.strip(" \t")
    if ENCODED_WORD.search(display_name):  # as in _text_header
        raise _NotPlain("From")
    if not display_name:
        return f"From: {sender}"
    if PLAIN_WORDS.fullmatch(display_name) and "=?" not in display_name:
        # A quoted string, on one line however long (a name is at most 200 characters).
        quoted = display_name.replace("\\", "\\\\").replace('"', '\\"')
        return _folded("From", [f'"{quoted}"', f"<{sender}>"])
    return _folded("From", [*_encoded_words(display_name, size=NAME_WORD_BYTES), f"<{sender}>"])


def _text_body(text: str) -> tuple[str, bytes]:
    """Its transfer encoding and bytes, chosen as the email package chooses for set_content: 7bit
    for short ASCII lines, 8bit for short lines of UTF-8, base64 when a line is longer than
    LINE_LENGTH (the email package picks quoted-printable instead when it is shorter). Line breaks
    become CRLF and the text ends with one, as the email package writes it."""
    lines = text.encode().splitlines()
    if max((len(line) for line in lines), default=0) <= LINE_LENGTH:
        body = b"\r\n".join(lines) + b"\r\n"
        return ("7bit" if body.isascii() else "8bit"), body
    # Text is encoded in its canonical form, with CRLF line breaks (RFC 2046).
    encoded = base64.encodebytes(b"\r\n".join(lines) + b"\r\n")
    return "base64", encoded.replace(b"\n", b"\r\n")


def _text_part(text: str, subtype: str) -> tuple[list[str], bytes]:
    encoding, body = _text_body(text)
    return [f'Content-Type: text/{subtype}; charset="utf-8"', f"Content-Transfer-Encoding: {encoding}"], body


def _composed(
    *, sender: str, params: dict[str, Any], message_id: str, reply: dict[str, str] | None, origin: str
) -> tuple[bytes, list[str]]:
    """The bytes `build_message` would give for an email without attachments, written directly:
    the email package parses every header it is given and folds it again, which cost more CPU
    than the send. Returns the bytes and the names of the headers written. Raises _NotPlain for
    what it leaves to the email package."""
    headers = []
    if message_id:
        headers += [_plain_header("Message-ID", message_id), _plain_header(STEP_HEADER, message_id)]
    headers.append(_from_header(display_name=params.get("from_name") or "", sender=sender))
    headers.append(_address_header("To", list(params["to"])))
    for name, key in (("Cc", "cc"), ("Bcc", "bcc")):
        if params.get(key):
            headers.append(_address_header(name, list(params[key])))
    if params.get("reply_to"):
        headers.append(_address_header("Reply-To", [params["reply_to"]]))
    if reply:
        headers += [
            _plain_header("In-Reply-To", reply["In-Reply-To"]),
            _plain_header("References", reply["References"]),
        ]
    headers.append(_text_header("Subject", params.get("subject") or (reply or {}).get("Subject", "")))
    if origin:
        headers.append(_plain_header(ORIGIN_HEADER, origin))
    text, html = params.get("text") or "", params.get("html") or ""
    if text and html:
        parts = [_text_part(text, "plain"), _text_part(html, "html")]
        boundary = f"=_{secrets.token_hex(16)}"
        while any(boundary.encode() in body for _, body in parts):  # 128 random bits: checked all the same
            boundary = f"=_{secrets.token_hex(16)}"
        headers += ["MIME-Version: 1.0", f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"']
        # The line break before a boundary belongs to the boundary (RFC 2046): one more after each
        # part, so a part's text keeps its own last line break.
        body = b"".join(
            f"--{boundary}\r\n".encode()
            + "\r\n".join(part_headers).encode()
            + b"\r\n\r\n"
            + part_body
            + b"\r\n"
            for part_headers, part_body in parts
        )
        body += f"--{boundary}--\r\n".encode()
    else:
        part_headers, body = _text_part(text, "plain") if text else _text_part(html, "html")
        headers += [*part_headers, "MIME-Version: 1.0"]
    raw = "\r\n".join(headers).encode("ascii") + b"\r\n\r\n" + body
    return raw, [header.split(":", 1)[0] for header in headers]


def message_bytes(
    *,
    sender: str,
    params: dict[str, Any],
    message_id: str = "",
    reply: dict[str, str] | None = None,
    origin: str = "",
) -> bytes:
    """The message as sent (see `build_message` for the arguments), read back first as a mail
    server would read it: it must carry exactly the headers built and exactly the recipients the
    step named, or it is refused. Without attachments it is composed directly (`_composed`),
    else, or for a value only the email package writes, built by `build_message`."""
    params = _with_ascii_domains(params)
    try:
        if params.get("attachments"):
            raise _NotPlain("attachments")
        raw, names = _composed(
            sender=sender, params=params, message_id=message_id, reply=reply, origin=origin
        )
        ids = reply or {}
    except _NotPlain:
        message = build_message(
            sender=sender, params=params, message_id=message_id, reply=reply, origin=origin
        )
        raw, names = message.as_bytes(), list(message.keys())
        ids = {name: str(message[name]) for name in ("In-Reply-To", "References") if name in message}
    try:
        written = BytesParser(policy=READING).parsebytes(raw, headersonly=True)
        if Counter(name.lower() for name in written) != Counter(name.lower() for name in names):
            raise _not_sent("its headers")
        for name in ("In-Reply-To", "References"):
            value = written[name]
            if value is not None and (
                not MESSAGE_ID_LIST.fullmatch(str(value)) or str(value) != ids.get(name)
            ):
                raise _not_sent(f"its {name} header")
        for name, named in _recipients_named(sender=sender, params=params).items():
            header = written[name]
            found = [address.addr_spec for address in header.addresses] if header is not None else []
            if found != named:
                raise _not_sent(f"its {name} addresses")
    except (MessageError, ValueError, LookupError, TypeError) as error:  # hostile bytes, odd parser paths
        raise _not_sent("its headers") from error
    return raw


def sent_search_query(*, params: dict[str, Any], since: datetime) -> str:
    """Gmail's search for the step's email in the Sent mail by its recipient, subject and time."""
    terms = ["in:sent", f"to:{params['to'][0]}"]
    subject = " ".join((params.get("subject") or "").split())
    if subject and '"' not in subject:  # a quote would end the phrase early: search without it
        terms.append(f'subject:"{subject}"')
    terms.append(f"after:{int((since - SENT_SEARCH_SLACK).timestamp())}")
    return " ".join(terms)


def _addresses(values: list[str]) -> list[str]:
    return sorted(ascii_address(address).lower() for _, address in getaddresses(values) if address)


def is_the_steps_email(*, found: dict[str, Any], message_id: str, params: dict[str, Any]) -> bool:
    """Whether a Sent message (users.messages.get, format=metadata) is the step's email: it carries
    the step's Message-ID (in Message-ID, or in our own header where Gmail replaced it) and is
    addressed to exactly the step's To and Cc."""
    headers: dict[str, list[str]] = {}
    for item in (found.get("payload") or {}).get("headers") or []:
        headers.setdefault(str(item.get("name", "")).lower(), []).append(str(item.get("value", "")))
    marks = {value.strip() for value in headers.get("message-id", []) + headers.get(STEP_HEADER.lower(), [])}
    return (
        message_id in marks
        and _addresses(headers.get("to", [])) == _addresses(list(params["to"]))
        and _addresses(headers.get("cc", [])) == _addresses(list(params.get("cc") or []))
    )


# How many of the newest Sent messages matching the search are read to find the step's email: it
# was sent within minutes of the search, so it is among the newest, and each candidate costs a read.
SENT_SEARCH_CANDIDATES = 10


def find_sent_lookalike(
    *, integration: Integration, message_id: str, params: dict[str, Any], since: datetime
) -> dict[str, Any] | None:
    """The step's email found in the Sent mail by recipient, subject and time, each candidate
    confirmed by its headers (`is_the_steps_email`): an email the person sent with the same subject
    is never taken for it. Only the newest SENT_SEARCH_CANDIDATES matches are read."""
    listed = clients.gmail_list_page(
        integration=integration,
        query=sent_search_query(params=params, since=since),
        page_token=None,
        page_size=SENT_SEARCH_CANDIDATES,
    )
    for candidate in listed.get("messages") or []:
        found = clients.gmail_message_headers(
            integration=integration,
            message_id=str(candidate["id"]),
            names=["Message-ID", STEP_HEADER, "To", "Cc"],
        )
        if is_the_steps_email(found=found, message_id=message_id, params=params):
            return {"id": candidate["id"], "threadId": found.get("threadId") or candidate.get("threadId")}
    return None


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
        "attachments": FieldText(
            label="Attachments",
            help=(
                'Each is {"filename", "content_type", "content_base64"} (the base64 may be a placeholder '
                'such as {{ input.file }}), or {"from_trigger": true, "filename": "invoice.pdf"}: that '
                "attachment of the email that started the run (a new Gmail email trigger; read from "
                "Gmail when the step sends, through the trigger's account). 25 MB in total, base64-encoded. "
                "A file written here is copied into every run: keep it small (a saved workflow takes "
                "2.5 MB by default); pass large files in the run's input as {{ input.file }}."
            ),
        ),
        "reply_to_message_id": FieldText(
            label="Reply to message",
            help="The Gmail id of the message answered; the email joins its thread. Needs read access.",
            placeholder="{{ input.message_id }}",
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

    def find_done(
        self, *, integration: Integration | None, step: StepContext, params: dict[str, Any]
    ) -> dict[str, Any] | None:
        if integration is None:
            raise IntegrationNotConnected()
        found = clients.find_sent_message(integration=integration, message_id_header=step.message_id_header)
        if found is None and step.started_at is not None:
            found = find_sent_lookalike(
                integration=integration,
                message_id=step.message_id_header,
                params=params,
                since=step.started_at,
            )
        if found is None:
            return None
        return {"message_id": found.get("id"), "thread_id": found.get("threadId"), "from": integration.email}

    def _reply_to(
        self, *, params: dict[str, Any], integration: Integration
    ) -> tuple[dict[str, str] | None, str | None]:
        """The reply headers and thread of the message answered, read from Gmail (needs read access)."""
        answered = params.get("reply_to_message_id")
        if not answered:
            return None, None
        if not clients.can_read_sent_mail(integration):
            raise PermanentError(
                "Replying needs read access to this Gmail account (to read the message answered): "
                "allow GalaxyCo to read the mailbox on the Integrations page, then run again.",
                code=ErrorCode.INVALID_PARAMS,
            )
        original = clients.gmail_message_headers(
            integration=integration, message_id=answered, names=["Message-ID", "References", "Subject"]
        )
        return reply_headers(original=original), str(original.get("threadId") or "") or None

    def _with_trigger_attachments(self, *, params: dict[str, Any], step: StepContext) -> dict[str, Any]:
        """`params` with each attachment from the triggering email read from Gmail, within the cap."""
        attachments = params.get("attachments") or []
        wanted = [item["filename"] for item in attachments if item.get("from_trigger")]
        if not wanted:
            return params
        found = attachments_of_triggering_email(
            workspace_id=step.workspace_id, run_id=step.run_id, filenames=wanted
        )
        resolved = [found[item["filename"]] if item.get("from_trigger") else item for item in attachments]
        encoded = encoded_size(resolved)
        if encoded > ATTACHMENTS_LIMIT_BYTES:
            raise PermanentError(too_large(encoded), code=ErrorCode.INVALID_PARAMS)
        return {**params, "attachments": resolved}

    def run(
        self, *, params: dict[str, Any], integration: Integration | None, step: StepContext
    ) -> dict[str, Any]:
        if integration is None:
            raise IntegrationNotConnected()
        params = self._with_trigger_attachments(params=params, step=step)
        reply, thread_id = self._reply_to(params=params, integration=integration)
        try:
            raw = message_bytes(
                sender=integration.email,
                params=params,
                message_id=step.message_id_header,
                reply=reply,
                origin=origin_value(workspace_id=step.workspace_id, step=step.message_id_header),
            )
        except (ValueError, TypeError) as error:  # the email package refuses a header it cannot write safely
            raise PermanentError(
                "This email could not be built from the run's input: a header value is not allowed.",
                code=ErrorCode.INVALID_PARAMS,
            ) from error
        if len(raw) > clients.GMAIL_UPLOAD_THRESHOLD:
            sent = clients.send_gmail_upload(
                integration=integration, message=raw, thread_id=thread_id, on_call=step.on_call
            )
        else:
            sent = clients.send_gmail_message(
                integration=integration,
                raw=base64.urlsafe_b64encode(raw).decode(),
                thread_id=thread_id,
                on_call=step.on_call,
            )
        return {"message_id": sent.get("id"), "thread_id": sent.get("threadId"), "from": integration.email}
