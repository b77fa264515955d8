"""Per-request (or per-task) context that every log line carries."""

from contextvars import ContextVar
from typing import Any

_context: ContextVar[dict[str, Any] | None] = ContextVar("galaxyco_log_context", default=None)


def current() -> dict[str, Any]:
    return dict(_context.get() or {})


def bind(**values: Any) -> None:
    """Add values (request_id, user_id, workspace_id, integration_id, run_id) to the context."""
    merged = current()
    merged.update({key: value for key, value in values.items() if value is not None})
    _context.set(merged)


def clear() -> None:
    _context.set(None)


def request_id() -> str | None:
    value = (_context.get() or {}).get("request_id")  # read, not copied as current() does
    return str(value) if value is not None else None
