"""HTML pages. Every interpolated value goes through ``_e`` (HTML-escaping)."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple


class ScopeItem(NamedTuple):
    scope: str
    label: str
    fixed: bool  # identity scopes are always granted: shown as text, not a checkbox


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


_CSS = """
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 Roboto, "Segoe UI", Arial, sans-serif; background: #f0f4f9; color: #1f1f1f; }
a { color: #0b57d0; }
code, pre { font-family: "Roboto Mono", Consolas, monospace; font-size: 13px; }
.card { background: #fff; border-radius: 24px; padding: 32px 40px; margin: 40px auto;
        box-shadow: 0 1px 3px rgba(60,64,67,.15); }
.narrow { max-width: 480px; }
.wide { max-width: 960px; }
.logo { font-size: 22px; font-weight: 500; letter-spacing: -.5px; }
.logo b:nth-child(1), .logo b:nth-child(4) { color: #4285f4; }
.logo b:nth-child(2), .logo b:nth-child(6) { color: #ea4335; }
.logo b:nth-child(3) { color: #fbbc05; }
.logo b:nth-child(5) { color: #34a853; }
.logo small { color: #5f6368; font-size: 13px; font-weight: 400; margin-left: 6px; }
h1 { font-size: 24px; font-weight: 400; margin: 16px 0 8px; }
h2 { font-size: 18px; font-weight: 500; margin: 0; }
.muted { color: #5f6368; font-size: 13px; }
label.field { display: block; margin: 12px 0; font-size: 13px; color: #444746; }
label.field input { display: block; width: 100%; margin-top: 4px; padding: 10px 12px; font-size: 15px;
                    border: 1px solid #747775; border-radius: 4px; }
ul.scopes { list-style: none; padding: 0; margin: 8px 0 16px; border-top: 1px solid #e0e3e7; }
ul.scopes li { padding: 10px 4px; border-bottom: 1px solid #e0e3e7;
               display: flex; gap: 12px; align-items: flex-start; }
ul.scopes li .tick { color: #188038; width: 16px; text-align: center; }
ul.scopes code { display: block; color: #5f6368; font-size: 11px; word-break: break-all; }
.actions { display: flex; justify-content: flex-end; gap: 12px; margin-top: 24px; }
button { font: inherit; font-weight: 500; padding: 9px 24px; border-radius: 20px; cursor: pointer; }
button[value="deny"] { background: #fff; color: #0b57d0; border: 1px solid #747775; }
button[value="allow"] { background: #0b57d0; color: #fff; border: 1px solid #0b57d0; }
.error { background: #fce8e6; color: #b3261e; padding: 10px 14px; border-radius: 8px; }
.message, .event { border: 1px solid #e0e3e7; border-radius: 12px; padding: 16px 20px; margin: 16px 0; }
.message header { display: flex; justify-content: space-between; gap: 16px; }
dl.meta { display: grid; grid-template-columns: 90px 1fr; gap: 2px 12px; margin: 8px 0; font-size: 13px; }
dl.meta dt { color: #5f6368; } dl.meta dd { margin: 0; word-break: break-all; }
pre { background: #f8f9fa; padding: 12px; border-radius: 8px; white-space: pre-wrap; word-break: break-word; }
iframe { width: 100%; min-height: 240px; border: 1px solid #e0e3e7; border-radius: 8px; background: #fff; }
form.filter { display: flex; gap: 8px; margin: 16px 0; }
form.filter input { flex: 1; padding: 8px 10px; border: 1px solid #747775; border-radius: 4px; }
form.filter button { padding: 6px 16px; }
table.control { border-collapse: collapse; font-size: 13px; margin-top: 8px; }
table.control td { border-top: 1px solid #e0e3e7; padding: 6px 8px; vertical-align: top; }
"""

_LOGO = '<div class="logo"><b>G</b><b>o</b><b>o</b><b>g</b><b>l</b><b>e</b><small>emulator</small></div>'


def _document(title: str, body: str) -> str:
    return (
        "<!doctype html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'  # no /favicon.ico request, so no 404 in the console
        f"<style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


def consent_page(
    *,
    client_id: str,
    scopes: Iterable[ScopeItem],
    hidden: Mapping[str, str],
    email: str,
    name: str,
    error: str | None = None,
) -> str:
    rows = []
    for item in scopes:
        if item.fixed:
            control = '<span class="tick" aria-hidden="true">&#10003;</span>'
        else:
            control = f'<input type="checkbox" name="scope" value="{_e(item.scope)}" checked>'
        rows.append(
            f"<li><label>{control}</label><div>{_e(item.label)}<code>{_e(item.scope)}</code></div></li>"
        )
    fields = "".join(
        f'<input type="hidden" name="{_e(key)}" value="{_e(value)}">' for key, value in hidden.items()
    )
    problem = f'<p class="error">{_e(error)}</p>' if error else ""
    body = f"""
<main class="card narrow">
  {_LOGO}
  <h1>Sign in to continue to <strong>{_e(client_id)}</strong></h1>
  <p class="muted">Local Google emulator &mdash; no request leaves this machine.</p>
  {problem}
  <form method="post" action="/o/oauth2/v2/auth">
    {fields}
    <label class="field">Email
      <input type="email" id="email" name="email" value="{_e(email)}" required></label>
    <label class="field">Name<input type="text" id="name" name="name" value="{_e(name)}"></label>
    <p><strong>{_e(client_id)}</strong> wants to access your Google Account. This will allow it to:</p>
    <ul class="scopes">{"".join(rows)}</ul>
    <div class="actions">
      <button type="submit" name="decision" value="deny">Deny</button>
      <button type="submit" name="decision" value="allow">Allow</button>
    </div>
  </form>
</main>"""
    return _document("Sign in - Google Accounts (emulator)", body)


def error_page(error: str, message: str, status: int = 400) -> str:
    body = f"""
<main class="card narrow">
  {_LOGO}
  <h1>Access blocked: this request is invalid</h1>
  <p class="error">Error {status}: {_e(error)}</p>
  <p>{_e(message)}</p>
</main>"""
    return _document("Error - Google Accounts (emulator)", body)


def _address_list(values: Iterable[str]) -> str:
    return ", ".join(_e(value) for value in values)


def _message_html(message: Mapping[str, Any]) -> str:
    meta = [
        ("Mailbox", _e(message["mailbox"])),
        ("From", _e(message["from"])),
        ("To", _address_list(message["to"])),
    ]
    if message["cc"]:
        meta.append(("Cc", _address_list(message["cc"])))
    if message["bcc"]:
        meta.append(("Bcc", _address_list(message["bcc"])))
    if message["reply_to"]:
        meta.append(("Reply-To", _e(message["reply_to"])))
    for attachment in message.get("attachments", []):
        meta.append(("Attachment", _e(f"{attachment['filename']} ({attachment['content_type']})")))
    parts = []
    if message["text"] is not None:
        parts.append(f"<h3>Text</h3><pre>{_e(message['text'])}</pre>")
    if message["html"] is not None:
        # An empty sandbox attribute: the email's HTML renders without scripts, forms or navigation.
        parts.append(
            '<h3>HTML</h3><iframe sandbox="" referrerpolicy="no-referrer" '
            f'srcdoc="{_e(message["html"])}"></iframe>'
            f"<details><summary>HTML source</summary><pre>{_e(message['html'])}</pre></details>"
        )
    return f"""
<article class="message" data-id="{_e(message["id"])}">
  <header><h2>{_e(message["subject"] or "(no subject)")}</h2>
  <time class="muted">{_e(message["received_at"])}</time></header>
  <dl class="meta">{"".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in meta)}</dl>
  {"".join(parts)}
</article>"""


def inbox_page(messages: list[dict[str, Any]], to: str | None) -> str:
    newest_first = list(reversed(messages))
    listing = "".join(_message_html(m) for m in newest_first) or '<p class="muted">No messages yet.</p>'
    scope = f" to <strong>{_e(to)}</strong>" if to else ""
    clear = ' &middot; <a href="/_emulator/inbox">show all</a>' if to else ""
    body = f"""
<main class="card wide">
  {_LOGO}
  <h1>Emulator inbox</h1>
  <p class="muted">{len(messages)} message(s){scope}, newest first{clear} &middot;
     <a href="/_emulator/inbox.json{_e("?to=" + to) if to else ""}">JSON</a></p>
  <form class="filter" method="get" action="/_emulator/inbox">
    <input type="email" name="to" placeholder="Filter by recipient" value="{_e(to or "")}">
    <button type="submit">Filter</button>
  </form>
  {listing}
</main>"""
    return _document("Emulator inbox", body)


def _when(value: Any) -> str:
    if not isinstance(value, Mapping):
        return ""
    moment = value.get("dateTime") or value.get("date") or ""
    zone = value.get("timeZone")
    return f"{moment} ({zone})" if zone else str(moment)


def event_page(event: Mapping[str, Any]) -> str:
    attendees = "".join(
        f"<li>{_e(a.get('email'))} &mdash; {_e(a.get('responseStatus'))}</li>"
        for a in event.get("attendees", [])
        if isinstance(a, Mapping)
    )
    description = f"<pre>{_e(event['description'])}</pre>" if event.get("description") else ""
    body = f"""
<main class="card narrow">
  {_LOGO}
  <div class="event" data-id="{_e(event["id"])}">
    <h1>{_e(event.get("summary") or "(no title)")}</h1>
    <dl class="meta">
      <dt>Start</dt><dd>{_e(_when(event.get("start")))}</dd>
      <dt>End</dt><dd>{_e(_when(event.get("end")))}</dd>
      <dt>Organizer</dt><dd>{_e(event["organizer"]["email"])}</dd>
      <dt>Status</dt><dd>{_e(event["status"])}</dd>
      <dt>Calendar</dt><dd>{_e(event.get("calendarId"))}</dd>
    </dl>
    {description}
    {f"<h2>Attendees</h2><ul>{attendees}</ul>" if attendees else ""}
  </div>
  <p class="muted"><a href="/_emulator/calendar/events.json">All events (JSON)</a></p>
</main>"""
    return _document(f"{event.get('summary') or 'Event'} - Calendar (emulator)", body)


def not_found_page(message: str) -> str:
    body = f'<main class="card narrow">{_LOGO}<h1>Not found</h1><p>{_e(message)}</p></main>'
    return _document("Not found (emulator)", body)


def index_page(
    *,
    base_url: str,
    issuer: str,
    client_id: str,
    messages: int,
    events: int,
    control_api: Iterable[tuple[str, str, str]],
) -> str:
    links = [
        ("/_emulator/inbox", f"Inbox ({messages} message(s))"),
        ("/_emulator/inbox.json", "Inbox as JSON"),
        ("/_emulator/calendar/events.json", f"Calendar events as JSON ({events})"),
        ("/_emulator/control/stats", "Request counts"),
        ("/.well-known/openid-configuration", "OpenID configuration"),
        ("/oauth2/v1/certs", "Signing certificates"),
    ]
    items = "".join(f'<li><a href="{_e(href)}">{_e(text)}</a></li>' for href, text in links)
    rows = "".join(
        f"<tr><td><code>{_e(methods)}</code></td><td><code>{_e(path)}</code></td><td>{_e(summary)}</td></tr>"
        for methods, path, summary in control_api
    )
    body = f"""
<main class="card wide">
  {_LOGO}
  <h1>Google emulator</h1>
  <p>Stands in for Google's OAuth, Gmail and Calendar endpoints during development and tests.</p>
  <dl class="meta"><dt>URL</dt><dd>{_e(base_url)}</dd><dt>Issuer</dt><dd>{_e(issuer)}</dd>
  <dt>Client id</dt><dd>{_e(client_id)}</dd></dl>
  <ul>{items}</ul>
  <h2 id="control-api">Control API</h2>
  <p class="muted">JSON in and out; <code>devtools/google_emulator/client.py</code> wraps it.</p>
  <table class="control">{rows}</table>
</main>"""
    return _document("Google emulator", body)


def avatar_svg(name: str) -> str:
    initial = (name.strip()[:1] or "?").upper()
    hue = sum(map(ord, name)) % 360
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">'
        f'<circle cx="48" cy="48" r="48" fill="hsl({hue},55%,45%)"/>'
        '<text x="48" y="62" font-family="Arial,sans-serif" font-size="44" fill="#fff" '
        f'text-anchor="middle">{_e(initial)}</text></svg>'
    )
