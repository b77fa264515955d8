"""A client for a running stand-in's control API and inbox, over HTTP.

standin = StandinClient("http://127.0.0.1:8082")
standin.fail_next(status=503, count=2)
standin.emails(to="bob@example.com")
"""

from __future__ import annotations

from typing import Any

from devtools.standin.client import ControlClient


class StandinError(RuntimeError):
    """The stand-in refused a control call (the message carries its answer)."""


class StandinClient(ControlClient):
    error = StandinError

    # ------------------------------------------------------------------ reading

    def emails(self, to: str | None = None) -> list[dict[str, Any]]:
        """Accepted emails, oldest first; ``to`` keeps those sent to that address."""
        params = {"to": to} if to else None
        return list(self._get("/_standin/inbox.json", params=params)["emails"])

    def contacts(self) -> list[dict[str, Any]]:
        return list(self._get("/_standin/contacts.json")["contacts"])

    def stats(self) -> dict[str, int]:
        return dict(self._get("/_standin/control/stats"))

    # ------------------------------------------------------------------ steering

    def fail_next(
        self,
        endpoint: str = "email.send",
        *,
        status: int | None = None,
        error_code: str | None = None,
        count: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """The next ``count`` calls of ``endpoint`` answer ``status`` (default 500) or ``error_code``."""
        self._post(
            "/_standin/control/faults",
            {
                "endpoint": endpoint,
                "status": status if status is not None or error_code is not None else 500,
                "error_code": error_code,
                "count": count,
                "retry_after": retry_after,
            },
        )

    def hang(self, endpoint: str = "email.send", *, seconds: float, count: int = 1) -> None:
        """The next ``count`` calls of ``endpoint`` wait ``seconds`` before answering."""
        self._post(
            "/_standin/control/faults", {"endpoint": endpoint, "hang_seconds": seconds, "count": count}
        )

    def set_api_keys(self, keys: list[str]) -> None:
        self._post("/_standin/control/settings", {"api_keys": keys})

    def set_webhook(self, *, url: str, secret: str | None) -> None:
        self._post("/_standin/control/settings", {"webhook_url": url, "webhook_secret": secret})

    def emit_webhook(
        self,
        email_id: str,
        event_type: str = "email.delivered",
        *,
        url: str | None = None,
        secret: str | None = None,
    ) -> dict[str, Any]:
        """POST an event about an accepted email to the webhook URL; returns the event and the
        receiver's status code."""
        body = {"email_id": email_id, "type": event_type, "url": url, "secret": secret}
        return dict(self._post("/_standin/control/webhook", {k: v for k, v in body.items() if v is not None}))

    def reset(self) -> None:
        """Forget every email, contact, fault and count; restore the keys it started with."""
        self._post("/_standin/control/reset")
