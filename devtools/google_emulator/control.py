"""Developer-facing routes: the inbox and event pages, and the JSON control API.

The control API mirrors the ``EmulatorState`` methods so tests in other processes
(e.g. a browser-driven end-to-end suite) can steer the emulator over HTTP.
"""

from __future__ import annotations

from typing import Any

from devtools.standin.control import ControlError, field, read_body

from . import gmail_read, pages
from .gmail import InvalidMessage
from .state import RANDOM_FAULT_KINDS
from .web import Context, Request, Response, html_response, json_response

_OK = {"ok": True}


def _error(message: str, status: int = 400) -> Response:
    return json_response({"ok": False, "error": message}, status)


# ------------------------------------------------------------------- pages


def inbox(ctx: Context, req: Request) -> Response:
    to = req.args.get("to") or None
    # Belt and braces on top of escaping: the page itself never runs scripts.
    csp = "script-src 'none'; object-src 'none'; base-uri 'none'"
    return html_response(
        pages.inbox_page(ctx.state.messages(to), to), headers={"Content-Security-Policy": csp}
    )


def inbox_json(ctx: Context, req: Request) -> Response:
    return json_response({"messages": ctx.state.messages(req.args.get("to") or None)})


def events_json(ctx: Context, req: Request) -> Response:
    return json_response({"events": ctx.state.events()})


def event_page(ctx: Context, req: Request) -> Response:
    event = ctx.state.event(req.args.get("eid") or "")
    if event is None:
        return html_response(pages.not_found_page("No such event."), 404)
    return html_response(pages.event_page(event))


# ------------------------------------------------------------- control API


def reset(ctx: Context, req: Request) -> Response:
    ctx.state.reset()
    return json_response(_OK)


def _account_action(ctx: Context, email: str, action: str) -> Response:
    if ctx.state.account(email) is None:
        return _error(f"unknown account {email}", 404)
    if action == "expire":
        return json_response({**_OK, "expired": ctx.state.expire_account(email)})
    return json_response({**_OK, "revoked": ctx.state.revoke_account(email)})


def expire_account(ctx: Context, req: Request, email: str) -> Response:
    return _account_action(ctx, email, "expire")


def revoke_account(ctx: Context, req: Request, email: str) -> Response:
    return _account_action(ctx, email, "revoke")


def add_fault(ctx: Context, req: Request) -> Response:
    try:
        body = read_body(req)
        ctx.state.add_fault(
            field(body, "endpoint", (str,), ""),
            status=field(body, "status", (int,)),
            count=field(body, "count", (int,), 1),
            hang_seconds=field(body, "hang_seconds", (int, float)),
            retry_after=field(body, "retry_after", (int,)),
            hang_after=field(body, "hang_after", (bool,), False),
        )
    except ValueError as exc:
        return _error(str(exc))
    return json_response(_OK)


def random_faults(ctx: Context, req: Request) -> Response:
    try:
        body = read_body(req)
        names = field(body, "endpoints", (list,), ["token", "gmail.send"])
        kinds = field(body, "kinds", (list,), list(RANDOM_FAULT_KINDS))
        if not all(isinstance(item, str) for item in [*names, *kinds]):
            raise ControlError("endpoints and kinds must be lists of strings")
        ctx.state.set_random_faults(
            rate=field(body, "rate", (int, float), 0),
            seed=field(body, "seed", (int,), 0),
            endpoints=names,
            kinds=kinds,
            hang_seconds=field(body, "hang_seconds", (int, float), 2.0),
        )
    except ValueError as exc:
        return _error(str(exc))
    return json_response(_OK)


def set_consent(ctx: Context, req: Request) -> Response:
    try:
        body = read_body(req)
        scopes = field(body, "scopes", (list, str))
        if isinstance(scopes, list) and not all(isinstance(scope, str) for scope in scopes):
            raise ControlError("scopes must be a list of strings")
        ctx.state.set_consent(
            email=field(body, "email", (str,), ""),
            name=field(body, "name", (str,), ""),
            decision=field(body, "decision", (str,), "allow"),
            scopes=scopes,
            issue_refresh_token=field(body, "issue_refresh_token", (bool,), True),
        )
    except ValueError as exc:
        return _error(str(exc))
    return json_response(_OK)


def settings(ctx: Context, req: Request) -> Response:
    """GET shows the settings; POST changes the ones given."""
    state = ctx.state
    if req.method == "POST":
        try:
            body = read_body(req)
            lifetime = field(body, "access_token_lifetime", (int,))
            quota = field(body, "gmail_quota_units_per_minute", (int,))
            rewrite = field(body, "rewrite_message_ids", (bool,))
            with state.lock:
                if lifetime is not None:
                    state.set_access_token_lifetime(lifetime)
                if quota is not None:
                    state.set_gmail_quota(quota)
                if rewrite is not None:
                    state.set_rewrite_message_ids(rewrite)
        except ValueError as exc:
            return _error(str(exc))
    return json_response(
        {
            "access_token_lifetime": state.access_token_lifetime,
            "gmail_quota_units_per_minute": state.gmail_quota_units_per_minute,
            "rewrite_message_ids": state.rewrite_message_ids,
        }
    )


def stats(ctx: Context, req: Request) -> Response:
    return json_response(ctx.state.stats())


def accounts(ctx: Context, req: Request) -> Response:
    return json_response({"accounts": ctx.state.accounts()})


def _strings(body: dict[str, Any], key: str) -> list[str] | None:
    values = field(body, key, (list,))
    if values is not None and not all(isinstance(value, str) for value in values):
        raise ControlError(f"{key} must be a list of strings")
    return values


def deliver(ctx: Context, req: Request, email: str) -> Response:
    """A new incoming message in the mailbox (its history records it, as Gmail's does)."""
    try:
        body = read_body(req)
        attachments = field(body, "attachments", (list,), [])
        if not all(isinstance(item, dict) and isinstance(item.get("filename"), str) for item in attachments):
            raise ControlError("attachments must be objects with a filename")
        delivered = gmail_read.deliver(
            ctx.state,
            mailbox=email,
            sender=field(body, "from", (str,), "someone@example.com"),
            subject=field(body, "subject", (str,), ""),
            text=field(body, "text", (str,), ""),
            html=field(body, "html", (str,)),
            to=_strings(body, "to"),
            labels=_strings(body, "labels"),
            attachments=attachments,
            message_id=field(body, "message_id", (str,)),
            in_reply_to=field(body, "in_reply_to", (str,)),
        )
    except (ValueError, InvalidMessage) as exc:
        return _error(str(exc))
    return json_response({**_OK, **delivered})


def expire_history(ctx: Context, req: Request, email: str) -> Response:
    return json_response({**_OK, "historyId": str(ctx.state.expire_history(email.strip().lower()))})
