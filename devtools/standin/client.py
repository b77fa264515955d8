"""HTTP plumbing for the clients of a running stand-in's control API."""

from __future__ import annotations

from typing import Any, ClassVar

import requests


class ControlClient:
    """GET/POST JSON against ``url``; an answer of 400 or more raises ``error``."""

    error: ClassVar[type[Exception]] = RuntimeError

    def __init__(self, url: str, *, timeout: float = 10.0, session: requests.Session | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self._json(self.session.get(self.url + path, params=params, timeout=self.timeout))

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._json(self.session.post(self.url + path, json=body or {}, timeout=self.timeout))

    def _json(self, response: requests.Response) -> Any:
        if response.status_code >= 400:
            raise self.error(
                f"{response.request.method} {response.url} answered {response.status_code}: {response.text[:300]}"
            )
        return response.json()
