"""Developer-facing routes: the inbox pages and the JSON control API (``/_standin/...``).

The control API mirrors the ``StandinState`` methods so tests in other processes (a browser
suite, ``make run``) can steer the stand-in over HTTP.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

import requests

from devtools.standin.control import ControlError, field, read_body

from . import pages
from .state import EVENT_STATUS, WEBHOOK_EVENT_TYPES, now_iso
from .web import Context, Request, Response, html_response, json_response

_OK = {"ok": True}
WEBHOOK_TIMEOUT_SECONDS = 10.0
# The page never runs scripts; an email's HTML is shown in a sandboxed frame.
_PAGE_CSP = "script-src 'none'; object-src 'none'; base-uri 'none'"


def _error(message: str, status: int = 400) -> Response:
    return json_response({"ok": False, "error": message}, status)


# ------------------------------------------------------------------- pages


def inbox(ctx: Context, req: Request) -> Response:
    to = req.args.get("to") or None
    return html_response(
        pages.inbox_page(ctx.state.emails(to), to), headers={"Content-Security-Policy": _PAGE_CSP}
    )


def email_page(ctx: Context, req: Request, email_id: str) -> Response:
    email = ctx.state.email(email_id)
    if email is None:
        return html_response(pages.not_found_page("No such email."), 404)
    return html_response(pages.email_page(dict(email)), headers={"Content-Security-Policy": _PAGE_CSP})


def inbox_json(ctx: Context, req: Request) -> Response:
    return json_response({"emails": ctx.state.emails(req.args.get("to") or None)})


def contacts_json(ctx: Context, req: Request) -> Response:
    return json_response({"contacts": ctx.state.contacts()})


# ------------------------------------------------------------- control API


def reset(ctx: Context, req: Request) -> Response:
    ctx.state.reset()
    return json_response(_OK)


def stats(ctx: Context, req: Request) -> Response:
    return json_response(ctx.state.stats())


def add_fault(ctx: Context, req: Request) -> Response:
    try:
        body = read_body(req)
        ctx.state.add_fault(
            field(body, "endpoint", (str,), "email.send"),
            count=field(body, "count", (int,), 1),
            status=field(body, "status", (int,)),
            error_code=field(body, "error_code", (str,)),
            hang_seconds=field(body, "hang_seconds", (int, float)),
            retry_after=field(body, "retry_after", (int,)),
        )
    except ValueError as exc:
        return _error(str(exc))
    return json_response(_OK)


def settings(ctx: Context, req: Request) -> Response:
    """GET shows the settings (never the keys themselves); POST changes the ones given."""
    state = ctx.state
    if req.method == "POST":
        try:
            body = read_body(req)
            keys = field(body, "api_keys", (list,))
            with state.lock:
                if keys is not None:
                    state.set_api_keys(keys)
                if "webhook_url" in body or "webhook_secret" in body:
                    url = field(body, "webhook_url", (str,), state.webhook_url)
                    if url:
                        _check_loopback(url)
                    state.set_webhook(
                        url=url, secret=field(body, "webhook_secret", (str,), state.webhook_secret)
                    )
        except ValueError as exc:
            return _error(str(exc))
    with state.lock:
        return json_response(
            {
                "api_keys": len(state.api_keys),
                "webhook_url": state.webhook_url,
                "webhook_secret_set": state.webhook_secret is not None,
            }
        )


def _check_loopback(url: str) -> None:
    """Webhooks go to this machine only: the stand-in is for development and tests."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https"):
        raise ControlError("webhook_url must be an http(s) URL")
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ControlError("webhook_url must be on this machine (localhost or a loopback address)")


# The email's fields a Sidemail event carries, and what each event adds beside the email and its
# time: https://sidemail.io/docs/webhooks/
_EVENT_EMAIL_FIELDS = (
    "id",
    "templateId",
    "templateName",
    "templateProps",
    "fromName",
    "fromAddress",
    "toAddress",
    "createdAt",
)
_EVENT_EXTRA: dict[str, dict[str, str]] = {
    "email.delivered": {"smtpResponse": "250 2.6.0 Message received"},
    "email.bounce": {"bounceType": "permanent"},
}


def webhook_event(email: dict[str, Any], event_type: str) -> dict[str, Any]:
    """The JSON event Sidemail POSTs for ``event_type`` about an accepted email."""
    return {
        "type": event_type,
        "data": {
            "email": {name: email[name] for name in _EVENT_EMAIL_FIELDS if name in email},
            "time": now_iso(),
            **_EVENT_EXTRA.get(event_type, {}),
        },
    }


def emit_webhook(ctx: Context, req: Request) -> Response:
    """POST one event about an accepted email to the webhook URL, with the ``sidemail-secret`` header.

    Answers what the receiver answered, so a test sees a refused event.
    """
    try:
        body = read_body(req)
        email_id = field(body, "email_id", (str,), "")
        event_type = field(body, "type", (str,), "email.delivered")
        if event_type not in WEBHOOK_EVENT_TYPES:
            raise ControlError(f"type must be one of {', '.join(WEBHOOK_EVENT_TYPES)}")
        with ctx.state.lock:
            url = field(body, "url", (str,), ctx.state.webhook_url)
            secret = field(body, "secret", (str,), ctx.state.webhook_secret)
            email = ctx.state.email(email_id)
            if email is None:
                return _error(f"unknown email {email_id}", 404)
            event = webhook_event(email, event_type)
        if not url:
            raise ControlError("no webhook_url: set one in /_standin/control/settings or pass url")
        _check_loopback(url)
    except ValueError as exc:
        return _error(str(exc))
    headers = {"Content-Type": "application/json"}
    if secret:
        headers["sidemail-secret"] = secret
    try:
        answer = requests.post(url, data=json.dumps(event), headers=headers, timeout=WEBHOOK_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        return _error(f"the webhook URL did not answer: {type(exc).__name__}", 502)
    if 200 <= answer.status_code < 300:
        ctx.state.set_email_status(email_id, EVENT_STATUS[event_type])
    return json_response({**_OK, "event": event, "status_code": answer.status_code})
