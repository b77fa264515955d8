"""Developer-facing routes: the inbox and event pages, and the JSON control API.

The control API mirrors the ``EmulatorState`` methods so tests in other processes
(e.g. a browser-driven end-to-end suite) can steer the emulator over HTTP.
"""

from __future__ import annotations

from typing import Any

from . import gmail_read, pages
from .gmail import InvalidMessage
from .state import RANDOM_FAULT_KINDS
from .web import Context, Request, Response, html_response, json_response

_OK = {"ok": True}


class ControlError(ValueError):
    pass


def _body(req: Request) -> dict[str, Any]:
    if not req.get_data().strip():
        return {}
    try:
        data = req.json_body()
    except ValueError as exc:
        raise ControlError("body must be a JSON object") from exc
    if not isinstance(data, dict):
        raise ControlError("body must be a JSON object")
    return data


def _get(body: dict[str, Any], key: str, kinds: tuple[type, ...], default: Any = None) -> Any:
    """body[key] if it has one of ``kinds`` (JSON null means the default)."""
    value = body.get(key)
    if value is None:
        return default
    # bool is an int subclass; only accept it where a bool is wanted.
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(kind.__name__ for kind in kinds)
        raise ControlError(f"{key} must be {names}")
    return value


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
        body = _body(req)
        ctx.state.add_fault(
            _get(body, "endpoint", (str,), ""),
            status=_get(body, "status", (int,)),
            count=_get(body, "count", (int,), 1),
            hang_seconds=_get(body, "hang_seconds", (int, float)),
            retry_after=_get(body, "retry_after", (int,)),
            hang_after=_get(body, "hang_after", (bool,), False),
        )
    except ValueError as exc:
        return _error(str(exc))
    return json_response(_OK)


def random_faults(ctx: Context, req: Request) -> Response:
    try:
        body = _body(req)
        names = _get(body, "endpoints", (list,), ["token", "gmail.send"])
        kinds = _get(body, "kinds", (list,), list(RANDOM_FAULT_KINDS))
        if not all(isinstance(item, str) for item in [*names, *kinds]):
            raise ControlError("endpoints and kinds must be lists of strings")
        ctx.state.set_random_faults(
            rate=_get(body, "rate", (int, float), 0),
            seed=_get(body, "seed", (int,), 0),
            endpoints=names,
            kinds=kinds,
            hang_seconds=_get(body, "hang_seconds", (int, float), 2.0),
        )
    except ValueError as exc:
        return _error(str(exc))
    return json_response(_OK)


def set_consent(ctx: Context, req: Request) -> Response:
    try:
        body = _body(req)
        scopes = _get(body, "scopes", (list, str))
        if isinstance(scopes, list) and not all(isinstance(scope, str) for scope in scopes):
            raise ControlError("scopes must be a list of strings")
        ctx.state.set_consent(
            email=_get(body, "email", (str,), ""),
            name=_get(body, "name", (str,), ""),
            decision=_get(body, "decision", (str,), "allow"),
            scopes=scopes,
            issue_refresh_token=_get(body, "issue_refresh_token", (bool,), True),
        )
    except ValueError as exc:
        return _error(str(exc))
    return json_response(_OK)


def settings(ctx: Context, req: Request) -> Response:
    """GET shows the settings; POST changes the ones given."""
    state = ctx.state
    if req.method == "POST":
        try:
            body = _body(req)
            lifetime = _get(body, "access_token_lifetime", (int,))
            quota = _get(body, "gmail_quota_units_per_minute", (int,))
            with state.lock:
                if lifetime is not None:
                    state.set_access_token_lifetime(lifetime)
                if quota is not None:
                    state.set_gmail_quota(quota)
        except ValueError as exc:
            return _error(str(exc))
    return json_response(
        {
            "access_token_lifetime": state.access_token_lifetime,
            "gmail_quota_units_per_minute": state.gmail_quota_units_per_minute,
        }
    )


def stats(ctx: Context, req: Request) -> Response:
    return json_response(ctx.state.stats())


def accounts(ctx: Context, req: Request) -> Response:
    return json_response({"accounts": ctx.state.accounts()})


def _strings(body: dict[str, Any], key: str) -> list[str] | None:
    values = _get(body, key, (list,))
    if values is not None and not all(isinstance(value, str) for value in values):
        raise ControlError(f"{key} must be a list of strings")
    return values


def deliver(ctx: Context, req: Request, email: str) -> Response:
    """A new incoming message in the mailbox (its history records it, as Gmail's does)."""
    try:
        body = _body(req)
        attachments = _get(body, "attachments", (list,), [])
        if not all(isinstance(item, dict) and isinstance(item.get("filename"), str) for item in attachments):
            raise ControlError("attachments must be objects with a filename")
        delivered = gmail_read.deliver(
            ctx.state,
            mailbox=email,
            sender=_get(body, "from", (str,), "someone@example.com"),
            subject=_get(body, "subject", (str,), ""),
            text=_get(body, "text", (str,), ""),
            html=_get(body, "html", (str,)),
            to=_strings(body, "to"),
            labels=_strings(body, "labels"),
            attachments=attachments,
            message_id=_get(body, "message_id", (str,)),
            in_reply_to=_get(body, "in_reply_to", (str,)),
        )
    except (ValueError, InvalidMessage) as exc:
        return _error(str(exc))
    return json_response({**_OK, **delivered})


def expire_history(ctx: Context, req: Request, email: str) -> Response:
    return json_response({**_OK, "historyId": str(ctx.state.expire_history(email.strip().lower()))})
