"""HTML pages. Every interpolated value goes through ``_e`` (HTML-escaping)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import Any

_URL = re.compile(r"https?://[^\s<>\"']+")

_CSS = """
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, "Segoe UI", Arial, sans-serif; background: #f4f5fb; color: #1d1d2b; }
a { color: #4f46e5; }
code, pre { font-family: ui-monospace, Consolas, monospace; font-size: 13px; }
.card { background: #fff; border-radius: 16px; padding: 28px 36px; margin: 32px auto; max-width: 960px;
        box-shadow: 0 1px 3px rgba(30,30,60,.12); }
.logo { font-size: 22px; font-weight: 600; color: #4f46e5; }
.logo small { color: #6b6b80; font-size: 13px; font-weight: 400; margin-left: 6px; }
.muted { color: #6b6b80; font-size: 13px; }
.email { border: 1px solid #e3e3ee; border-radius: 12px; padding: 16px 20px; margin: 16px 0; }
.email header { display: flex; justify-content: space-between; gap: 16px; }
.status { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #eef; align-self: flex-start; white-space: nowrap; }
dl.meta { display: grid; grid-template-columns: 110px 1fr; gap: 2px 12px; margin: 8px 0; font-size: 13px; }
dl.meta dt { color: #6b6b80; } dl.meta dd { margin: 0; word-break: break-all; }
pre { background: #f8f8fc; padding: 12px; border-radius: 8px; white-space: pre-wrap; word-break: break-word; }
iframe { width: 100%; min-height: 240px; border: 1px solid #e3e3ee; border-radius: 8px; background: #fff; }
form.filter { display: flex; gap: 8px; margin: 16px 0; }
form.filter input { flex: 1; padding: 8px 10px; border: 1px solid #aaa; border-radius: 4px; }
table.control { border-collapse: collapse; font-size: 13px; margin-top: 8px; }
table.control td { padding: 4px 12px 4px 0; vertical-align: top; }
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _linkify(text: str) -> str:
    """Escaped text with every http(s) URL made a link (verification and reset links, say)."""
    out, last = [], 0
    for match in _URL.finditer(text):
        out.append(_e(text[last : match.start()]))
        url = match.group(0)
        out.append(f'<a href="{_e(url)}">{_e(url)}</a>')
        last = match.end()
    out.append(_e(text[last:]))
    return "".join(out)


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f'<body><main class="card">{body}</main></body></html>'
    )


def _header(subtitle: str) -> str:
    return f'<div class="logo">Sidemail<small>stand-in · {_e(subtitle)}</small></div>'


def _email_html(email: Mapping[str, Any], *, full: bool) -> str:
    template = email.get("templateName") or email.get("templateId")
    title = f"Template {template}" if template else (email.get("subject") or "(no subject)")
    sender = email.get("fromAddress", "")
    if email.get("fromName"):
        sender = f"{email['fromName']} <{sender}>"
    rows = [
        ("From", sender),
        ("To", email.get("toAddress")),
        ("Sent", email.get("createdAt")),
        ("Id", email["id"]),
    ]
    if email.get("replyToAddress"):
        rows.append(("Reply-To", email["replyToAddress"]))
    if template and email.get("subject"):
        rows.append(("Subject", email["subject"]))
    meta = "".join(f"<dt>{_e(name)}</dt><dd>{_e(value)}</dd>" for name, value in rows)
    parts = [
        f'<article class="email" data-email-id="{_e(email["id"])}"><header>'
        f'<h2><a href="/_standin/inbox/{_e(email["id"])}">{_e(title)}</a></h2>'
        f'<span class="status">{_e(email.get("status"))}</span></header><dl class="meta">{meta}</dl>'
    ]
    if template:
        props = json.dumps(email.get("templateProps") or {}, indent=2, ensure_ascii=False)
        parts.append(f'<p class="muted">templateProps</p><pre class="props">{_linkify(props)}</pre>')
    if email.get("text"):
        parts.append(f'<pre class="text">{_linkify(email["text"])}</pre>')
    if email.get("html") and full:
        parts.append(f'<iframe sandbox="" srcdoc="{_e(email["html"])}" title="HTML body"></iframe>')
    elif email.get("html"):
        parts.append('<p class="muted">HTML body: open the email to see it.</p>')
    if email.get("attachments"):
        names = ", ".join(str(item.get("name")) for item in email["attachments"])
        parts.append(f'<p class="muted">Attachments: {_e(names)}</p>')
    parts.append("</article>")
    return "".join(parts)


def inbox_page(emails: list[dict[str, Any]], to: str | None) -> str:
    newest_first = "".join(_email_html(email, full=False) for email in reversed(emails))
    body = (
        f"{_header('inbox')}<h1>Every email the stand-in accepted</h1>"
        '<form class="filter" method="get"><input name="to" placeholder="Only emails to…" '
        f'value="{_e(to)}"><button>Filter</button></form>'
        f'<p class="muted">{len(emails)} email(s), newest first. '
        '<a href="/_standin/inbox.json">JSON</a></p>'
        f"{newest_first or '<p>No email yet.</p>'}"
    )
    return _document("Sidemail stand-in inbox", body)


def email_page(email: dict[str, Any]) -> str:
    body = f'{_header("email")}<p><a href="/_standin/inbox">← inbox</a></p>{_email_html(email, full=True)}'
    return _document("Sidemail stand-in email", body)


def not_found_page(message: str) -> str:
    return _document("Not found", f"{_header('not found')}<p>{_e(message)}</p>")


def index_page(*, base_url: str, emails: int, contacts: int, control_api: list[tuple[str, str, str]]) -> str:
    rows = "".join(
        f"<tr><td><code>{_e(methods)}</code></td><td><code>{_e(path)}</code></td><td>{_e(doc)}</td></tr>"
        for methods, path, doc in control_api
    )
    body = (
        f"{_header('running')}<p>API base: <code>{_e(base_url)}/v1</code> "
        "(the app's <code>SIDEMAIL_API_URL</code>)</p>"
        f'<p><a href="/_standin/inbox">Inbox</a>: {emails} email(s). Contacts: {contacts}.</p>'
        f'<h2>Control API</h2><table class="control">{rows}</table>'
    )
    return _document("Sidemail stand-in", body)
