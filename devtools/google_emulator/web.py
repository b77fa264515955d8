"""Request/response values shared by the endpoint modules, and Google-shaped replies."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from werkzeug.datastructures import MultiDict
from werkzeug.utils import cached_property
from werkzeug.wrappers import Request as BaseRequest
from werkzeug.wrappers import Response

from .keys import SigningKey
from .state import EmulatorState

__all__ = ["Context", "Request", "Response"]

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
    413: "INVALID_ARGUMENT",
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


class Request(BaseRequest):
    """Werkzeug's request, plus the two body conventions Google's endpoints accept."""

    max_content_length = 64 * 1024 * 1024  # Gmail's own limit is 35 MB of base64

    @cached_property
    def fields(self) -> MultiDict[str, str]:
        """The body as form fields; a JSON object body is accepted too (Google's token endpoint does)."""
        if not self.is_json:
            return self.form
        data = self.get_json(silent=True)
        if not isinstance(data, dict):
            return MultiDict()
        return MultiDict({str(key): str(value) for key, value in data.items() if value is not None})

    def field(self, name: str) -> str | None:
        return self.fields.get(name)

    def json_body(self) -> Any:
        """The body parsed as JSON whatever its Content-Type; raises ValueError when it is not JSON."""
        return json.loads(self.get_data() or b"null")

    def bearer_token(self) -> str | None:
        auth = self.authorization
        if auth is not None and auth.type == "bearer" and auth.token:
            return auth.token
        return self.args.get("access_token")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data, indent=2), status, headers, content_type=JSON_TYPE)


def html_response(markup: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(markup, status, headers, content_type=HTML_TYPE)


def redirect(location: str) -> Response:
    # Not werkzeug.utils.redirect: its HTML body would differ from Google's empty one.
    return Response(status=302, headers={"Location": location})


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
