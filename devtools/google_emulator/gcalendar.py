"""Google Calendar: events.insert (a client may choose the event's id: a second insert with an id
the calendar has answers 409) and events.get.

Named ``gcalendar`` rather than ``calendar`` so it can never shadow the standard library module.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .oauth import require_token
from .web import Context, Request, Response, api_error, json_response

INSERT_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/calendar",
        "https://www.googleapis.com/auth/calendar.events",
        "https://www.googleapis.com/auth/calendar.events.owned",
    }
)
READ_SCOPES = INSERT_SCOPES | {
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/calendar.events.readonly",
}
# Kept with a stored event for tests; not part of Google's resource.
_EMULATOR_FIELDS = ("calendarId", "sendUpdates", "mailbox")
# Fields the server owns; a client cannot set them on insert.
_SERVER_FIELDS = {
    "id",
    "kind",
    "etag",
    "status",
    "htmlLink",
    "created",
    "updated",
    "creator",
    "organizer",
    "iCalUID",
}
# Event ids Google accepts: base32hex characters, 5 to 1024 of them.
_EVENT_ID = re.compile(r"[a-v0-9]{5,1024}")


class InvalidEvent(ValueError):
    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _moment(value: Any, label: str) -> dt.datetime:
    """The instant an event boundary denotes (midnight UTC for all-day dates)."""
    if not isinstance(value, dict) or not (value.get("dateTime") or value.get("date")):
        raise InvalidEvent(f"Missing {label} time.", "required")
    try:
        if value.get("dateTime"):
            moment = dt.datetime.fromisoformat(str(value["dateTime"]))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=_zone(value.get("timeZone"), label))
            return moment
        day = dt.date.fromisoformat(str(value["date"]))
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    except InvalidEvent:
        raise
    except ValueError as exc:
        raise InvalidEvent(f"Invalid {label} time.") from exc


def _zone(name: object, label: str) -> dt.tzinfo:
    if not name:
        raise InvalidEvent(f"Missing time zone definition for {label} time.", "required")
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidEvent(f"Invalid time zone definition for {label} time: {name}") from exc


def _attendees(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidEvent("Invalid attendees.")
    attendees = []
    for attendee in value:
        if not isinstance(attendee, dict) or not attendee.get("email"):
            raise InvalidEvent("Missing attendee email.", "required")
        attendees.append({**attendee, "responseStatus": attendee.get("responseStatus") or "needsAction"})
    return attendees


def build_event(ctx: Context, body: Any, organizer: str) -> dict[str, Any]:
    """Validate an insert body and return Google's event resource for it."""
    if not isinstance(body, dict):
        raise InvalidEvent("Invalid JSON payload received.")
    start, end = _moment(body.get("start"), "start"), _moment(body.get("end"), "end")
    if end < start:
        raise InvalidEvent("The specified time range is empty.")
    event_id = str(body.get("id") or secrets.token_hex(13))
    if not _EVENT_ID.fullmatch(event_id):
        raise InvalidEvent("Invalid resource id value.")
    now = _rfc3339(dt.datetime.now(dt.UTC))
    given = {key: value for key, value in body.items() if key not in _SERVER_FIELDS}
    event: dict[str, Any] = {
        "kind": "calendar#event",
        "etag": f'"{secrets.randbelow(10**16):016d}"',
        "id": event_id,
        "status": "confirmed",
        "htmlLink": f"{ctx.base_url}/_emulator/calendar/event?eid={event_id}",
        "created": now,
        "updated": now,
        "creator": {"email": organizer, "self": True},
        "organizer": {"email": organizer, "self": True},
        "iCalUID": f"{event_id}@google.com",
        "sequence": 0,
        "reminders": {"useDefault": True},
        "eventType": "default",
        **given,
    }
    if "attendees" in body:
        event["attendees"] = _attendees(body["attendees"])
    return event


def _calendar_owner(ctx: Context, req: Request, calendar_id: str, scopes: frozenset[str]) -> str | Response:
    """The email of the account whose token the request carries, when it has one of ``scopes``
    and ``calendar_id`` names its calendar; otherwise the error to answer."""
    auth = require_token(ctx, req, scopes)
    if isinstance(auth, Response):
        return auth
    owner = auth.account.email
    if calendar_id != "primary" and calendar_id.lower() != owner:
        return api_error(404, "Not Found", "notFound")
    return owner


def insert(ctx: Context, req: Request, calendar_id: str) -> Response:
    """POST /calendar/v3/calendars/<calendarId>/events."""
    organizer = _calendar_owner(ctx, req, calendar_id, INSERT_SCOPES)
    if isinstance(organizer, Response):
        return organizer
    try:
        event = build_event(ctx, req.json_body(), organizer)
    except InvalidEvent as exc:
        return api_error(400, str(exc), exc.reason)
    except ValueError:
        return api_error(400, "Invalid JSON payload received.", "parseError")
    with ctx.state.lock:
        if ctx.state.calendar_event(organizer, event["id"]) is not None:
            return api_error(409, "The requested identifier already exists.", "duplicate")
        # calendarId/sendUpdates/mailbox are kept for tests; they are not part of Google's resource.
        ctx.state.add_event(
            {
                **event,
                "calendarId": calendar_id,
                "sendUpdates": req.args.get("sendUpdates") or "none",
                "mailbox": organizer,
            }
        )
    return json_response(event)


def get(ctx: Context, req: Request, calendar_id: str, event_id: str) -> Response:
    """GET /calendar/v3/calendars/<calendarId>/events/<eventId>."""
    owner = _calendar_owner(ctx, req, calendar_id, READ_SCOPES)
    if isinstance(owner, Response):
        return owner
    event = ctx.state.calendar_event(owner, event_id)
    if event is None:
        return api_error(404, "Not Found", "notFound")
    return json_response({key: value for key, value in event.items() if key not in _EMULATOR_FIELDS})
