"""Request/response values shared by the endpoint modules, and Sidemail-shaped errors."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request as BaseRequest
from werkzeug.wrappers import Response

from .state import StandinState

__all__ = ["Context", "Request", "Response"]

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
MORE_INFO = "https://sidemail.io/docs/"


@dataclass
class Context:
    """What endpoint handlers need to know about the running stand-in."""

    state: StandinState
    stopping: threading.Event
    base_url: str = ""


class Request(BaseRequest):
    max_content_length = 16 * 1024 * 1024

    def json_body(self) -> Any:
        """The body parsed as JSON whatever its Content-Type; raises ValueError when it is not JSON."""
        return json.loads(self.get_data() or b"null")

    def bearer_token(self) -> str | None:
        auth = self.authorization
        if auth is not None and auth.type == "bearer" and auth.token:
            return auth.token
        return None


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data, indent=2), status, headers, content_type=JSON_TYPE)


def html_response(markup: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(markup, status, headers, content_type=HTML_TYPE)


def sidemail_error(
    status: int, error_code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """Sidemail's error body: ``{"developerMessage", "errorCode", "moreInfo"}``."""
    body = {"developerMessage": message, "errorCode": error_code, "moreInfo": MORE_INFO}
    return json_response(body, status, headers)
