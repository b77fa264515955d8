"""Gmail's search operators (the ``q`` of users.messages.list), over the stored message dicts.

One function, :func:`matches`, answers for every caller. Supported: ``from:``, ``to:``,
``subject:``, ``after:``/``before:`` (``YYYY/MM/DD`` or epoch seconds), ``label:``,
``in:`` (``inbox``, ``sent``, ``drafts``, ``anywhere``), ``rfc822msgid:``, quoted phrases and
bare words (matched in subject and body), ``-`` before a term to negate it, and parentheses
(grouping terms that must all hold; ``OR`` is not supported). Words are
case-insensitive and every term must hold, as in Gmail.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from typing import Any

_IN_LABELS = {
    "inbox": "INBOX",
    "sent": "SENT",
    "drafts": "DRAFT",
    "draft": "DRAFT",
    "spam": "SPAM",
    "trash": "TRASH",
}


class QueryError(ValueError):
    pass


def _terms(query: str) -> list[str]:
    """The query's terms; parentheses only group (every term must hold either way)."""
    try:
        terms = shlex.split(query)
    except ValueError as exc:
        raise QueryError(f"Invalid query: {exc}") from exc
    return [stripped for term in terms if (stripped := term.strip("()"))]


def _epoch(value: str) -> float:
    if value.isdigit():
        return float(value)
    try:
        day = dt.datetime.strptime(value.replace("-", "/"), "%Y/%m/%d")
    except ValueError as exc:
        raise QueryError(f"Invalid date {value!r}: use YYYY/MM/DD or seconds since the epoch") from exc
    # Gmail reads a date in the mailbox's time zone; the emulator's mailboxes live in UTC.
    return day.replace(tzinfo=dt.UTC).timestamp()


def received_epoch(message: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(message["received_at"]).timestamp()


def _contains(haystack: str | None, needle: str) -> bool:
    return needle.lower() in (haystack or "").lower()


def _term_holds(message: dict[str, Any], term: str) -> bool:
    operator, sep, value = term.partition(":")
    operator = operator.lower() if sep else ""
    labels = set(message.get("labelIds", []))
    if operator == "from":
        return _contains(message["from"], value)
    if operator == "to":
        return any(_contains(address, value) for address in [*message["to"], *message["cc"], *message["bcc"]])
    if operator == "subject":
        return _contains(message["subject"], value)
    if operator == "after":
        return received_epoch(message) > _epoch(value)
    if operator == "before":
        return received_epoch(message) < _epoch(value)
    if operator == "label":
        return value.upper() in labels or value in labels
    if operator == "in":
        if value.lower() == "anywhere":
            return True
        return _IN_LABELS.get(value.lower(), value.upper()) in labels
    if operator == "rfc822msgid":
        return message["headers"].get("Message-ID", "").strip("<>") == value.strip("<>")
    return any(_contains(message.get(field), term) for field in ("subject", "text", "html", "from"))


def matches(message: dict[str, Any], query: str) -> bool:
    """Whether the stored message is found by the Gmail search ``query`` (empty: every message)."""
    for term in _terms(query or ""):
        negate = term.startswith("-") and len(term) > 1
        if _term_holds(message, term[1:] if negate else term) == negate:
            return False
    return True


def check(query: str) -> None:
    """Raise QueryError for a query Gmail would refuse (an unreadable date, unbalanced quotes)."""
    for term in _terms(query or ""):
        operator, _, value = term.lstrip("-").partition(":")
        if operator.lower() in {"after", "before"}:
            _epoch(value)


_WORD = re.compile(r"\s+")


def snippet(text: str | None) -> str:
    """Gmail's snippet: the start of the plain text, whitespace folded."""
    return _WORD.sub(" ", text or "").strip()[:200]
