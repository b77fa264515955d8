"""Reading control-API request bodies: a JSON object whose fields are type-checked."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Request


class ControlError(ValueError):
    """A control call's body is not what the endpoint takes (answered 400 with the message)."""


def read_body(req: Request) -> dict[str, Any]:
    """The body as a JSON object; an empty body is an empty object."""
    raw = req.get_data()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ControlError("body must be a JSON object") from exc
    if not isinstance(data, dict):
        raise ControlError("body must be a JSON object")
    return data


def field(body: dict[str, Any], key: str, kinds: tuple[type, ...], default: Any = None) -> Any:
    """body[key] if it has one of ``kinds`` (JSON null means the default)."""
    value = body.get(key)
    if value is None:
        return default
    # bool is an int subclass; only accept it where a bool is wanted.
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(kind.__name__ for kind in kinds)
        raise ControlError(f"{key} must be {names}")
    return value
