"""Sidemail's own endpoints: send an email, and the contacts API."""

from __future__ import annotations

import re
from typing import Any

from .web import Context, Request, Response, json_response, sidemail_error

# Loose on purpose: Sidemail refuses what is plainly not an address, not every RFC 5322 corner.
_ADDRESS = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
_STRING_FIELDS = ("toAddress", "fromAddress", "fromName", "replyToAddress", "subject", "html", "text")
_TEMPLATE_FIELDS = ("templateName", "templateId")
CONTACTS_PAGE_LIMIT = 100


class InvalidParameters(ValueError):
    pass


def _object_body(req: Request) -> dict[str, Any]:
    try:
        body = req.json_body()
    except ValueError as exc:
        raise InvalidParameters("The request body must be JSON.") from exc
    if not isinstance(body, dict):
        raise InvalidParameters("The request body must be a JSON object.")
    return body


def _address(body: dict[str, Any], field: str, *, required: bool) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _ADDRESS.match(value.strip()):
        raise InvalidParameters(f"{field} must be a valid email address.")
    return value.strip()


def _validate_send(body: dict[str, Any]) -> dict[str, Any]:
    """The email as Sidemail would accept it, or InvalidParameters saying what is wrong."""
    for field in (*_STRING_FIELDS, *_TEMPLATE_FIELDS, "scheduledAt"):
        if field in body and body[field] is not None and not isinstance(body[field], str):
            raise InvalidParameters(f"{field} must be a string.")
    _address(body, "toAddress", required=True)
    _address(body, "fromAddress", required=True)
    _address(body, "replyToAddress", required=False)
    template = [field for field in _TEMPLATE_FIELDS if body.get(field)]
    content = [field for field in ("html", "text") if body.get(field)]
    if len(template) > 1:
        raise InvalidParameters("Use templateName or templateId, not both.")
    if template and content:
        raise InvalidParameters("Send a template or html/text content, not both.")
    if not template and not content:
        raise InvalidParameters("Either templateName (or templateId) or html/text is required.")
    if not template and not body.get("subject"):
        raise InvalidParameters("subject is required when sending html/text content.")
    props = body.get("templateProps")
    if props is not None and not isinstance(props, dict):
        raise InvalidParameters("templateProps must be an object.")
    if props and not template:
        raise InvalidParameters("templateProps needs templateName or templateId.")
    attachments = body.get("attachments")
    if attachments is not None and not (
        isinstance(attachments, list)
        and all(isinstance(item, dict) and isinstance(item.get("name"), str) for item in attachments)
        and all(isinstance(item.get("content"), str) for item in attachments)
    ):
        raise InvalidParameters("attachments must be a list of {name, content} with base64 content.")
    known = {*_STRING_FIELDS, *_TEMPLATE_FIELDS, "templateProps", "scheduledAt", "attachments"}
    return {key: value for key, value in body.items() if key in known and value is not None}


def send_email(ctx: Context, req: Request) -> Response:
    try:
        email = _validate_send(_object_body(req))
    except InvalidParameters as exc:
        return sidemail_error(400, "parameters-invalid", str(exc))
    stored = ctx.state.add_email(email)
    return json_response({"id": stored["id"], "status": stored["status"]})


def _validate_contact(body: dict[str, Any]) -> dict[str, Any]:
    _address(body, "emailAddress", required=True)
    for field in ("identifier", "timezone", "firstName", "lastName"):
        if body.get(field) is not None and not isinstance(body[field], str):
            raise InvalidParameters(f"{field} must be a string.")
    if body.get("isSubscribed") is not None and not isinstance(body["isSubscribed"], bool):
        raise InvalidParameters("isSubscribed must be true or false.")
    if body.get("customProps") is not None and not isinstance(body["customProps"], dict):
        raise InvalidParameters("customProps must be an object.")
    groups = body.get("groups")
    if groups is not None and not (isinstance(groups, list) and all(isinstance(g, str) for g in groups)):
        raise InvalidParameters("groups must be a list of strings.")
    return {key: value for key, value in body.items() if value is not None}


def upsert_contact(ctx: Context, req: Request) -> Response:
    try:
        contact = _validate_contact(_object_body(req))
    except InvalidParameters as exc:
        return sidemail_error(400, "parameters-invalid", str(exc))
    return json_response({"status": ctx.state.upsert_contact(contact)})


def get_contact(ctx: Context, req: Request, email: str) -> Response:
    contact = ctx.state.contact(email)
    if contact is None:
        return sidemail_error(404, "contact-not-found", f"No contact has the address {email}.")
    return json_response({"data": contact})


def delete_contact(ctx: Context, req: Request, email: str) -> Response:
    if not ctx.state.delete_contact(email):
        return sidemail_error(404, "contact-not-found", f"No contact has the address {email}.")
    return json_response({"deleted": True})


def list_contacts(ctx: Context, req: Request) -> Response:
    """A page of contacts: ``paginationCursorNext`` from the previous page, ``limit`` up to 100."""
    try:
        limit = int(req.args.get("limit", CONTACTS_PAGE_LIMIT))
        start = int(req.args.get("paginationCursorNext") or 0)
    except ValueError:
        return sidemail_error(400, "parameters-invalid", "limit and paginationCursorNext must be integers.")
    if not 1 <= limit <= CONTACTS_PAGE_LIMIT or start < 0:
        return sidemail_error(400, "parameters-invalid", f"limit must be 1-{CONTACTS_PAGE_LIMIT}.")
    contacts = ctx.state.contacts()
    page = contacts[start : start + limit]
    has_more = start + limit < len(contacts)
    return json_response(
        {
            "data": page,
            "hasMore": has_more,
            "paginationCursorNext": str(start + limit) if has_more else None,
        }
    )
