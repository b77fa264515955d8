"""Request/response values shared by the endpoint modules, and Google-shaped replies."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from email.message import Message
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from .keys import SigningKey
from .state import EmulatorState

JSON_TYPE = "application/json; charset=UTF-8"
HTML_TYPE = "text/html; charset=utf-8"

# Google's "status" strings for its JSON API errors.
API_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass
class Context:
    """What endpoint handlers need to know about the running emulator."""

    state: EmulatorState
    keys: SigningKey
    client_id: str
    client_secret: str
    issuer_override: str | None
    stopping: threading.Event
    base_url: str = ""

    @property
    def issuer(self) -> str:
        return self.issuer_override or self.base_url


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # from the route pattern

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    @cached_property
    def form(self) -> dict[str, list[str]]:
        """The body as form fields; a JSON object body is accepted too (Google does)."""
        content_type = self.headers.get("Content-Type", "")
        text = self.body.decode("utf-8", "replace")
        if content_type.startswith("application/json"):
            try:
                data = json.loads(text or "{}")
            except ValueError:
                return {}
            if not isinstance(data, dict):
                return {}
            return {str(key): [str(value)] for key, value in data.items() if value is not None}
        return parse_qs(text, keep_blank_values=True)

    def form_value(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError when it is not JSON."""
        return json.loads(self.body.decode("utf-8") or "null")

    def bearer_token(self) -> str | None:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return self.arg("access_token")


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, indent=2).encode("utf-8")
    return Response(status, body, JSON_TYPE, dict(headers or {}))


def html_response(markup: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, markup.encode("utf-8"), HTML_TYPE, dict(headers or {}))


def redirect(location: str) -> Response:
    return Response(302, headers={"Location": location})


def add_query(url: str, params: dict[str, str | None]) -> str:
    """Append parameters to a URL that may already have a query string."""
    parts = urlsplit(url)
    extra = urlencode({key: value for key, value in params.items() if value is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def oauth_error(
    status: int, error: str, description: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """The flat error body of Google's OAuth endpoints."""
    body = {"error": error}
    if description is not None:
        body["error_description"] = description
    return json_response(body, status, headers)


def api_error(
    code: int,
    message: str,
    reason: str,
    *,
    domain: str = "global",
    detail: str | None = None,
    extra: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The nested error body of Google's JSON APIs (Gmail, Calendar, userinfo)."""
    item = {"message": detail or message, "domain": domain, "reason": reason, **(extra or {})}
    status = API_STATUS.get(code, "INTERNAL" if code >= 500 else "INVALID_ARGUMENT")
    body = {"error": {"code": code, "message": message, "errors": [item], "status": status}}
    return json_response(body, code, headers)
