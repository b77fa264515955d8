"""Gmail: users.messages.send (a JSON body with ``raw``, or the message uploaded to the /upload/
URL as ``uploadType=media`` or ``multipart``), threading, and Google's per-mailbox rate limit."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import secrets
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Any

from werkzeug.http import parse_options_header

from .oauth import Authorized, require_token
from .web import Context, Request, Response, api_error, json_response

SEND_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/gmail.send",
        "https://www.googleapis.com/auth/gmail.compose",
        "https://www.googleapis.com/auth/gmail.modify",
        "https://mail.google.com/",
    }
)
# Google's published cost of messages.send in quota units.
SEND_COST_UNITS = 100


class InvalidMessage(ValueError):
    pass


def _iso_millis(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _decode_raw(raw: object) -> bytes:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidMessage(
            "'raw' RFC822 payload message string or uploading message via /upload/* URL required"
        )
    # Gmail wants base64url, but plain base64 decodes to the same bytes once translated.
    text = raw.strip().replace("+", "-").replace("/", "_").rstrip("=")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidMessage("Invalid value for ByteString") from exc


def _addresses(message: EmailMessage, header: str) -> list[str]:
    values = [str(value) for value in message.get_all(header, [])]
    return [address for _, address in getaddresses(values) if address]


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if not isinstance(part, EmailMessage):
        return None
    try:
        return str(part.get_content())
    except (LookupError, ValueError):
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else None


def _attachments(message: EmailMessage) -> list[dict[str, Any]]:
    found = []
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        found.append(
            {
                "filename": part.get_filename(),
                "content_type": part.get_content_type(),
                "size": len(payload) if isinstance(payload, bytes) else 0,
            }
        )
    return found


def parse_message(raw: object, mailbox: str) -> dict[str, Any]:
    """Turn the ``raw`` field into the stored message dict (without id/threadId)."""
    data = _decode_raw(raw)
    try:
        message = BytesParser(policy=policy.default).parsebytes(data)
        if not isinstance(message, EmailMessage):
            raise InvalidMessage("Invalid message")
        to, cc, bcc = (_addresses(message, name) for name in ("To", "Cc", "Bcc"))
        if not (to or cc or bcc):
            raise InvalidMessage("Recipient address required")
        reply_to = message.get("Reply-To")
        return {
            "mailbox": mailbox,
            # Gmail fills in the sender when the message has no From header.
            "from": str(message.get("From") or mailbox),
            "to": to,
            "cc": cc,
            "bcc": bcc,
            "reply_to": str(reply_to) if reply_to is not None else None,
            "subject": str(message.get("Subject") or ""),
            "text": _body(message, "plain"),
            "html": _body(message, "html"),
            "headers": {name: str(value) for name, value in message.items()},
            "attachments": _attachments(message),
            "raw": raw,
        }
    except InvalidMessage:
        raise
    except Exception as exc:  # the email package raises many types on hostile input
        raise InvalidMessage("Invalid message") from exc


def with_gmail_message_id(raw: object) -> str:
    """``raw`` with a Message-ID of Gmail's own in place of the client's, as Gmail's API sends it
    (it keeps no copy of the client's)."""
    data = _decode_raw(raw)
    try:
        message = BytesParser(policy=policy.default).parsebytes(data)
        del message["Message-ID"]
        message["Message-ID"] = f"<CA{secrets.token_hex(20)}@mail.gmail.com>"
        return base64.urlsafe_b64encode(message.as_bytes()).decode()
    except Exception as exc:  # the email package raises many types on hostile input
        raise InvalidMessage("Invalid message") from exc


def _rate_limited(retry_after: int) -> Response:
    until = _iso_millis(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=retry_after))
    # Two spaces, as in Google's own message.
    message = f"User-rate limit exceeded.  Retry after {until}"
    return api_error(
        429,
        message,
        "rateLimitExceeded",
        domain="usageLimits",
        headers={"Retry-After": str(retry_after)},
    )


def send(ctx: Context, req: Request, user_id: str) -> Response:
    """POST /gmail/v1/users/<userId>/messages/send."""
    auth = require_token(ctx, req, SEND_SCOPES)
    if isinstance(auth, Response):
        return auth
    return _send(ctx, req, auth, user_id, _json_send_body)


def upload_send(ctx: Context, req: Request, user_id: str) -> Response:
    """POST /upload/gmail/v1/users/<userId>/messages/send?uploadType=media|multipart."""
    auth = require_token(ctx, req, SEND_SCOPES)
    if isinstance(auth, Response):
        return auth
    return _send(ctx, req, auth, user_id, _uploaded_send_body)


def _json_send_body(req: Request) -> dict[str, Any]:
    body = req.json_body()
    if not isinstance(body, dict):
        raise InvalidMessage("Invalid JSON payload received.")
    return body


def _part_content(part: bytes) -> tuple[bytes, bytes]:
    """(headers, content) of one part of a multipart/related body, its framing line breaks removed."""
    part = part.removeprefix(b"\r\n").removeprefix(b"\n")
    for separator in (b"\r\n\r\n", b"\n\n"):
        headers, found, content = part.partition(separator)
        if found:
            break
    else:
        raise InvalidMessage("Invalid multipart request.")
    return headers, content.removesuffix(b"\r\n").removesuffix(b"\n")


def _uploaded_send_body(req: Request) -> dict[str, Any]:
    """The send body of an upload: the metadata (JSON) and the message as base64url ``raw``."""
    upload_type = req.args.get("uploadType")
    data = req.get_data()
    if upload_type == "media":
        return {"raw": base64.urlsafe_b64encode(data).decode()}
    if upload_type != "multipart":
        raise InvalidMessage(
            f"Invalid upload type: {upload_type or 'none'} (this emulator: media, multipart)"
        )
    mimetype, options = parse_options_header(req.headers.get("Content-Type", ""))
    boundary = options.get("boundary")
    if mimetype != "multipart/related" or not boundary:
        raise InvalidMessage("A multipart upload needs a multipart/related body with a boundary.")
    parts = data.split(b"--" + boundary.encode())
    if len(parts) < 4:
        raise InvalidMessage("A multipart upload has two parts: the metadata, then the message.")
    _, metadata = _part_content(parts[1])
    _, message = _part_content(parts[2])
    body = json.loads(metadata or b"{}")
    if not isinstance(body, dict):
        raise InvalidMessage("Invalid JSON payload received.")
    return {**body, "raw": base64.urlsafe_b64encode(message).decode()}


def _send(
    ctx: Context, req: Request, auth: Authorized, user_id: str, body_of: Callable[[Request], dict[str, Any]]
) -> Response:
    mailbox = auth.account.email
    if user_id != "me" and user_id.lower() != mailbox:
        return api_error(403, f"Delegation denied for {mailbox}", "forbidden")

    retry_after = ctx.state.charge_gmail_quota(mailbox, SEND_COST_UNITS)
    if retry_after is not None:
        return _rate_limited(retry_after)

    try:
        body = body_of(req)
        raw = with_gmail_message_id(body.get("raw")) if ctx.state.rewrite_message_ids else body.get("raw")
        stored = parse_message(raw, mailbox)
    except InvalidMessage as exc:
        return api_error(400, str(exc), "invalidArgument")
    except ValueError:
        return api_error(400, "Invalid JSON payload received.", "parseError")

    message_id = secrets.token_hex(8)
    references = [*stored["headers"].get("References", "").split(), stored["headers"].get("In-Reply-To", "")]
    # Google's rules: a threadId joins that thread (when the mailbox has it); else the references may.
    asked_thread = str(body.get("threadId") or "")
    thread_id = (
        (asked_thread if asked_thread and ctx.state.has_thread(mailbox, asked_thread) else None)
        or ctx.state.thread_id_for(mailbox, [ref for ref in references if ref])
        or message_id
    )
    # As Gmail does: mail to oneself is one message, in the Sent mail and the inbox at once.
    to_self = mailbox in {address.lower() for address in [*stored["to"], *stored["cc"], *stored["bcc"]]}
    labels = ["SENT", "INBOX", "UNREAD"] if to_self else ["SENT"]
    stored = {
        "id": message_id,
        "threadId": thread_id,
        **stored,
        "labelIds": labels,
        "received_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    ctx.state.add_message(stored)
    return json_response({"id": message_id, "threadId": thread_id, "labelIds": labels})


def message_id_of(req: Request) -> str | None:
    """The Message-ID header of a send request's message, if it can be read (for fault records)."""
    body_of = _uploaded_send_body if req.path.startswith("/upload/") else _json_send_body
    try:
        data = _decode_raw(body_of(req).get("raw"))
        value = BytesParser(policy=policy.default).parsebytes(data, headersonly=True).get("Message-ID")
    except (InvalidMessage, ValueError, TypeError, LookupError):
        return None
    return str(value) if value is not None else None
