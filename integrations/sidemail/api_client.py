"""Sidemail's HTTP API, called with requests. Every failure becomes one SidemailError that says
whether trying again can help (429, 5xx, timeouts, connection errors) or not (any other refusal)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings

from galaxyco.http import parse_retry_after

MAX_RETRY_AFTER_SECONDS = 3600


class SidemailError(Exception):
    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int | None,
        retryable: bool,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class SentEmail:
    id: str
    status: str


def _retry_after(response: requests.Response) -> float | None:
    seconds = parse_retry_after(response.headers.get("Retry-After"))
    return None if seconds is None else min(seconds, MAX_RETRY_AFTER_SECONDS)


def _error_from(response: requests.Response) -> SidemailError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    status = response.status_code
    code = str(body.get("errorCode") or f"http-{status}")
    message = str(body.get("developerMessage") or f"Sidemail answered {status}.")
    retryable = status == 429 or status >= 500
    return SidemailError(
        message, code=code, status=status, retryable=retryable, retry_after=_retry_after(response)
    )


class SidemailClient:
    def __init__(
        self,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        timeout: float | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.api_key = settings.SIDEMAIL_API_KEY if api_key is None else api_key
        self.api_url = (settings.SIDEMAIL_API_URL if api_url is None else api_url).rstrip("/")
        self.timeout = settings.SIDEMAIL_HTTP_TIMEOUT if timeout is None else timeout
        self.session = session or requests.Session()

    def send_email(self, payload: dict[str, Any]) -> SentEmail:
        body = self._request("POST", "/email/send", json=payload)
        if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
            raise SidemailError(
                "Sidemail accepted the email but its answer had no id.",
                code="invalid-response",
                status=200,
                retryable=False,
            )
        return SentEmail(id=body["id"], status=str(body.get("status") or "queued"))

    def upsert_contact(self, contact: dict[str, Any]) -> str:
        """Create or update the contact with ``contact["emailAddress"]``; "created" or "updated"."""
        body = self._request("POST", "/contacts", json=contact)
        return str(body.get("status", "")) if isinstance(body, dict) else ""

    def get_contact(self, email: str) -> dict[str, Any] | None:
        """The contact with this address, or None when Sidemail has no such contact."""
        try:
            body = self._request("GET", f"/contacts/{quote(email, safe='@')}")
        except SidemailError as error:
            if error.status == 404:
                return None
            raise
        contact = body.get("data") if isinstance(body, dict) else None
        if not isinstance(contact, dict):
            raise SidemailError(
                "Sidemail's contact had no data.", code="invalid-response", status=200, retryable=False
            )
        return contact

    def delete_contact(self, email: str) -> bool:
        """False when Sidemail has no such contact."""
        try:
            self._request("DELETE", f"/contacts/{quote(email, safe='@')}")
        except SidemailError as error:
            if error.status == 404:
                return False
            raise
        return True

    def list_contacts(self, *, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of contacts and the cursor of the next page (None after the last)."""
        params = {"paginationCursorNext": cursor} if cursor else None
        body = self._request("GET", "/contacts", params=params)
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise SidemailError(
                "Sidemail's contact list had no data.", code="invalid-response", status=200, retryable=False
            )
        next_cursor = body.get("paginationCursorNext") if body.get("hasMore") else None
        return [item for item in body["data"] if isinstance(item, dict)], next_cursor or None

    def check_key(self) -> None:
        """One cheap authenticated read (a page of one contact): raises SidemailError when
        Sidemail refuses the key."""
        self._request("GET", "/contacts", params={"limit": 1})

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        if not self.api_key:
            raise SidemailError(
                "SIDEMAIL_API_KEY is not set.", code="authentication-failed", status=None, retryable=False
            )
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        try:
            response = self.session.request(
                method, self.api_url + path, headers=headers, timeout=self.timeout, **kwargs
            )
        except requests.Timeout as exc:
            raise SidemailError(
                "Sidemail did not answer in time.", code="timeout", status=None, retryable=True
            ) from exc
        except requests.RequestException as exc:
            raise SidemailError(
                f"Could not reach Sidemail ({type(exc).__name__}).",
                code="connection-error",
                status=None,
                retryable=True,
            ) from exc
        if response.status_code >= 400:
            raise _error_from(response)
        try:
            return response.json()
        except ValueError as exc:
            raise SidemailError(
                "Sidemail answered with something that is not JSON.",
                code="invalid-response",
                status=response.status_code,
                retryable=response.status_code >= 500,
            ) from exc
