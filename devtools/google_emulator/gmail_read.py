"""Gmail's read side: users.getProfile, users.history.list, users.messages.list and .get,
attachments, threads, and delivering an incoming message (the control API's way to mail a mailbox).

Quota costs are Google's published units; each call is charged to the mailbox's minute window.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from typing import Any

from . import search
from .gmail import _decode_raw, _rate_limited, parse_message
from .oauth import Authorized, require_token
from .state import EmulatorState
from .web import Context, Request, Response, api_error, json_response

READ_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/gmail.readonly",
        "https://www.googleapis.com/auth/gmail.modify",
        "https://mail.google.com/",
    }
)
COST_UNITS = {"profile": 1, "history": 2, "list": 5, "get": 5, "attachment": 5, "thread": 10}
MAX_PAGE = 500


def _authorized(ctx: Context, req: Request, user_id: str, cost: str) -> Authorized | Response:
    auth = require_token(ctx, req, READ_SCOPES)
    if isinstance(auth, Response):
        return auth
    mailbox = auth.account.email
    if user_id != "me" and user_id.lower() != mailbox:
        return api_error(403, f"Delegation denied for {mailbox}", "forbidden")
    retry_after = ctx.state.charge_gmail_quota(mailbox, COST_UNITS[cost])
    if retry_after is not None:
        return _rate_limited(retry_after)
    return auth


def _page_size(req: Request, default: int) -> int:
    try:
        size = int(req.args.get("maxResults") or default)
    except ValueError:
        size = default
    return max(1, min(size, MAX_PAGE))


def _offset(req: Request) -> int | None:
    token = req.args.get("pageToken") or "0"
    return int(token) if token.isdigit() else None


def _bad_page_token() -> Response:
    return api_error(400, "Invalid pageToken", "invalidArgument")


def profile(ctx: Context, req: Request, user_id: str) -> Response:
    """GET /gmail/v1/users/<userId>/profile."""
    auth = _authorized(ctx, req, user_id, "profile")
    if isinstance(auth, Response):
        return auth
    messages = ctx.state.mailbox_messages(auth.account.email)
    return json_response(
        {
            "emailAddress": auth.account.email,
            "messagesTotal": len(messages),
            "threadsTotal": len({message["threadId"] for message in messages}),
            "historyId": str(ctx.state.history_id()),
        }
    )


def history(ctx: Context, req: Request, user_id: str) -> Response:
    """GET /gmail/v1/users/<userId>/history: messagesAdded records after startHistoryId."""
    auth = _authorized(ctx, req, user_id, "history")
    if isinstance(auth, Response):
        return auth
    start_text = req.args.get("startHistoryId") or ""
    if not start_text.isdigit():
        return api_error(400, "Invalid startHistoryId", "invalidArgument")
    offset = _offset(req)
    if offset is None:
        return _bad_page_token()
    mailbox = auth.account.email
    records = ctx.state.history_since(mailbox, int(start_text))
    if records is None:
        return api_error(404, "Requested entity was not found.", "notFound")
    label = req.args.get("labelId")
    size = _page_size(req, 100)
    items = []
    for record in records:
        stored = ctx.state.mailbox_message(mailbox, record["message"])
        if stored is None or (label and label not in stored["labelIds"]):
            continue
        brief = {"id": stored["id"], "threadId": stored["threadId"]}
        items.append(
            {
                "id": str(record["id"]),
                "messages": [brief],
                "messagesAdded": [{"message": {**brief, "labelIds": stored["labelIds"]}}],
            }
        )
    body: dict[str, Any] = {"historyId": str(ctx.state.history_id())}
    if items[offset : offset + size]:
        body["history"] = items[offset : offset + size]
    if offset + size < len(items):
        body["nextPageToken"] = str(offset + size)
    return json_response(body)


def list_messages(ctx: Context, req: Request, user_id: str) -> Response:
    """GET /gmail/v1/users/<userId>/messages: newest first, filtered by ``q`` and ``labelIds``."""
    auth = _authorized(ctx, req, user_id, "list")
    if isinstance(auth, Response):
        return auth
    query = req.args.get("q") or ""
    try:
        search.check(query)
    except search.QueryError as exc:
        return api_error(400, str(exc), "invalidArgument")
    offset = _offset(req)
    if offset is None:
        return _bad_page_token()
    labels = req.args.getlist("labelIds")
    with ctx.state.lock:
        found = [
            {"id": message["id"], "threadId": message["threadId"]}
            for message in reversed(ctx.state.mailbox_messages(auth.account.email))
            if search.matches(message, query) and all(label in message["labelIds"] for label in labels)
        ]
    size = _page_size(req, 100)
    body: dict[str, Any] = {"resultSizeEstimate": len(found)}
    if found[offset : offset + size]:
        body["messages"] = found[offset : offset + size]
    if offset + size < len(found):
        body["nextPageToken"] = str(offset + size)
    return json_response(body)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _parsed(stored: dict[str, Any]) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(_decode_raw(stored["raw"]))
    assert isinstance(message, EmailMessage)
    return message


def _part(part: EmailMessage, part_id: str, with_bodies: bool) -> dict[str, Any]:
    headers = [{"name": name, "value": str(value)} for name, value in part.items()]
    shaped: dict[str, Any] = {
        "partId": part_id,
        "mimeType": part.get_content_type(),
        "filename": part.get_filename() or "",
        "headers": headers,
    }
    if part.is_multipart():
        shaped["body"] = {"size": 0}
        children = [child for child in part.iter_parts() if isinstance(child, EmailMessage)]
        prefix = "" if part_id == "" else f"{part_id}."
        shaped["parts"] = [
            _part(child, f"{prefix}{index}", with_bodies) for index, child in enumerate(children)
        ]
        return shaped
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    if shaped["filename"]:
        shaped["body"] = {"size": len(data), "attachmentId": f"att-{part_id or '0'}"}
    else:
        shaped["body"] = {"size": len(data), **({"data": _b64(data)} if with_bodies else {})}
    return shaped


def _resource(stored: dict[str, Any], fmt: str, wanted_headers: list[str]) -> dict[str, Any]:
    received = dt.datetime.fromisoformat(stored["received_at"])
    resource: dict[str, Any] = {
        "id": stored["id"],
        "threadId": stored["threadId"],
        "labelIds": stored["labelIds"],
        "snippet": search.snippet(stored.get("text")),
        "historyId": stored.get("historyId", "1"),
        "internalDate": str(int(received.timestamp() * 1000)),
        "sizeEstimate": len(_decode_raw(stored["raw"])),
    }
    if fmt == "raw":
        resource["raw"] = _b64(_decode_raw(stored["raw"]))
    elif fmt == "metadata":
        message = _parsed(stored)
        wanted = {name.lower() for name in wanted_headers}
        headers = [
            {"name": name, "value": str(value)}
            for name, value in message.items()
            if not wanted or name.lower() in wanted
        ]
        resource["payload"] = {"mimeType": message.get_content_type(), "headers": headers}
    elif fmt == "full":
        resource["payload"] = _part(_parsed(stored), "", with_bodies=True)
    return resource


def get_message(ctx: Context, req: Request, user_id: str, message_id: str) -> Response:
    """GET /gmail/v1/users/<userId>/messages/<id>?format=full|raw|metadata|minimal."""
    auth = _authorized(ctx, req, user_id, "get")
    if isinstance(auth, Response):
        return auth
    fmt = req.args.get("format") or "full"
    if fmt not in {"full", "raw", "metadata", "minimal"}:
        return api_error(400, f"Invalid value at 'format' ({fmt})", "invalidArgument")
    stored = ctx.state.mailbox_message(auth.account.email, message_id)
    if stored is None:
        return api_error(404, "Requested entity was not found.", "notFound")
    return json_response(_resource(stored, fmt, req.args.getlist("metadataHeaders")))


def _find_part(part: EmailMessage, part_id: str, wanted: str) -> EmailMessage | None:
    if not part.is_multipart():
        return part if (part_id or "0") == wanted else None
    prefix = "" if part_id == "" else f"{part_id}."
    for index, child in enumerate(part.iter_parts()):
        if isinstance(child, EmailMessage):
            found = _find_part(child, f"{prefix}{index}", wanted)
            if found is not None:
                return found
    return None


def get_attachment(ctx: Context, req: Request, user_id: str, message_id: str, attachment_id: str) -> Response:
    """GET /gmail/v1/users/<userId>/messages/<id>/attachments/<attachmentId>."""
    auth = _authorized(ctx, req, user_id, "attachment")
    if isinstance(auth, Response):
        return auth
    stored = ctx.state.mailbox_message(auth.account.email, message_id)
    part = None
    if stored is not None and attachment_id.startswith("att-"):
        part = _find_part(_parsed(stored), "", attachment_id.removeprefix("att-"))
    if part is None:
        return api_error(404, "Requested entity was not found.", "notFound")
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    return json_response({"attachmentId": attachment_id, "size": len(data), "data": _b64(data)})


def get_thread(ctx: Context, req: Request, user_id: str, thread_id: str) -> Response:
    """GET /gmail/v1/users/<userId>/threads/<id>: its messages, oldest first."""
    auth = _authorized(ctx, req, user_id, "thread")
    if isinstance(auth, Response):
        return auth
    fmt = req.args.get("format") or "full"
    with ctx.state.lock:
        members = [m for m in ctx.state.mailbox_messages(auth.account.email) if m["threadId"] == thread_id]
        if not members:
            return api_error(404, "Requested entity was not found.", "notFound")
        messages = [_resource(message, fmt, req.args.getlist("metadataHeaders")) for message in members]
    return json_response({"id": thread_id, "historyId": messages[-1]["historyId"], "messages": messages})


def deliver(
    state: EmulatorState,
    *,
    mailbox: str,
    sender: str,
    subject: str = "",
    text: str = "",
    html: str | None = None,
    to: list[str] | None = None,
    labels: list[str] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    message_id: str | None = None,
    in_reply_to: str | None = None,
) -> dict[str, Any]:
    """Put a message in ``mailbox`` as if it had arrived (labels INBOX, UNREAD by default).

    ``attachments`` are ``{"filename", "content_type", "content_base64"}``. Answers
    ``{"id", "threadId", "historyId"}``.
    """
    key = mailbox.strip().lower()
    email = EmailMessage()
    email["From"] = sender
    email["To"] = ", ".join(to or [key])
    email["Subject"] = subject
    email["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    email["Message-ID"] = message_id or make_msgid(domain="mail.emulator.test")
    if in_reply_to:
        email["In-Reply-To"] = in_reply_to
        email["References"] = in_reply_to
    email.set_content(text or "")
    if html is not None:
        email.add_alternative(html, subtype="html")
    for attachment in attachments or []:
        maintype, _, subtype = str(attachment.get("content_type") or "application/octet-stream").partition(
            "/"
        )
        email.add_attachment(
            base64.b64decode(attachment.get("content_base64") or ""),
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=str(attachment["filename"]),
        )
    return deliver_raw(state, mailbox=key, raw=email.as_bytes(), labels=labels)


def deliver_raw(
    state: EmulatorState, *, mailbox: str, raw: bytes, labels: list[str] | None = None
) -> dict[str, Any]:
    """Put these exact bytes in ``mailbox`` as an incoming message (for instance an email another
    mailbox sent, arriving). Answers ``{"id", "threadId", "historyId"}``."""
    key = mailbox.strip().lower()
    stored = parse_message(_b64(raw), key)
    in_reply_to = stored["headers"].get("In-Reply-To")
    new_id = secrets.token_hex(8)
    with state.lock:
        thread_id = state.thread_id_for(key, [in_reply_to] if in_reply_to else []) or new_id
        stored = {
            "id": new_id,
            "threadId": thread_id,
            **stored,
            "labelIds": list(labels) if labels is not None else ["INBOX", "UNREAD"],
            "received_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        state.add_message(stored)
    return {"id": new_id, "threadId": thread_id, "historyId": stored["historyId"]}
