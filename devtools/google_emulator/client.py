"""A client for a running emulator's control API and inbox, over HTTP.

Tests, ``bench/`` and anything in another process use it rather than the emulator's
Python objects:

    emulator = EmulatorClient("http://127.0.0.1:8081")
    emulator.fail_next("gmail.send", status=500, count=2)
    emulator.inbox(to="bob@example.com")
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from devtools.standin.client import ControlClient

from .server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

GRANT_REDIRECT_URI = "http://127.0.0.1/callback"


class EmulatorError(RuntimeError):
    """The emulator refused a control call (the message carries its answer)."""


class EmulatorClient(ControlClient):
    error = EmulatorError

    # ------------------------------------------------------------------ reading

    def inbox(self, to: str | None = None) -> list[dict[str, Any]]:
        """Delivered messages, oldest first; ``to`` keeps those addressed (To/Cc/Bcc) to it."""
        params = {"to": to} if to else None
        return list(self._get("/_emulator/inbox.json", params=params)["messages"])

    def events(self) -> list[dict[str, Any]]:
        return list(self._get("/_emulator/calendar/events.json")["events"])

    def accounts(self) -> list[dict[str, Any]]:
        return list(self._get("/_emulator/control/accounts")["accounts"])

    def stats(self) -> dict[str, int]:
        return dict(self._get("/_emulator/control/stats"))

    def settings(self) -> dict[str, int]:
        return dict(self._get("/_emulator/control/settings"))

    # ------------------------------------------------------------------ steering

    def fail_next(
        self, endpoint: str, *, status: int = 500, count: int = 1, retry_after: int | None = None
    ) -> None:
        """The next ``count`` calls of ``endpoint`` (e.g. "gmail.send", "token.refresh_token") fail."""
        self._post(
            "/_emulator/control/faults",
            {"endpoint": endpoint, "status": status, "count": count, "retry_after": retry_after},
        )

    def hang(
        self,
        endpoint: str,
        seconds: float,
        *,
        count: int = 1,
        status: int | None = None,
        after_delivering: bool = False,
    ) -> None:
        """The next ``count`` calls of ``endpoint`` wait ``seconds`` first (then fail with ``status``,
        and are never done); ``after_delivering``: each is done first (an email delivered), then its
        answer waits ``seconds``, so a client that gives up cannot tell."""
        self._post(
            "/_emulator/control/faults",
            {
                "endpoint": endpoint,
                "hang_seconds": seconds,
                "count": count,
                "status": status,
                "hang_after": after_delivering,
            },
        )

    def random_faults(
        self,
        *,
        rate: float,
        seed: int = 0,
        endpoints: Iterable[str] = ("token", "gmail.send"),
        kinds: Iterable[str] = ("500", "429", "hang", "deliver_then_hang"),
        hang_seconds: float = 2.0,
    ) -> None:
        """From now on fail ``rate`` of the calls of ``endpoints`` at random (seeded); rate 0 stops.
        "hang" waits ``hang_seconds`` then answers 503 (not done); "deliver_then_hang" does the call
        and holds its answer back ``hang_seconds``."""
        self._post(
            "/_emulator/control/random-faults",
            {
                "rate": rate,
                "seed": seed,
                "endpoints": list(endpoints),
                "kinds": list(kinds),
                "hang_seconds": hang_seconds,
            },
        )

    def set_consent(
        self,
        *,
        email: str,
        name: str = "",
        decision: str = "allow",
        scopes: Iterable[str] | None = None,
        issue_refresh_token: bool = True,
    ) -> None:
        """Answer the next consent screen at once, as ``email``."""
        self._post(
            "/_emulator/control/consent",
            {
                "email": email,
                "name": name,
                "decision": decision,
                "scopes": None if scopes is None else list(scopes),
                "issue_refresh_token": issue_refresh_token,
            },
        )

    def expire(self, email: str) -> int:
        """Expire the account's access tokens; returns how many. Refreshing still works."""
        return int(self._post(f"/_emulator/control/accounts/{quote(email, safe='')}/expire")["expired"])

    def revoke(self, email: str) -> int:
        """Revoke the account's grants; returns how many. Refreshing answers invalid_grant."""
        return int(self._post(f"/_emulator/control/accounts/{quote(email, safe='')}/revoke")["revoked"])

    def update_settings(
        self,
        *,
        access_token_lifetime: int | None = None,
        gmail_quota_units_per_minute: int | None = None,
        rewrite_message_ids: bool | None = None,
    ) -> dict[str, int]:
        """``rewrite_message_ids``: sends get a Message-ID of Gmail's own, as Gmail's API gives them."""
        return dict(
            self._post(
                "/_emulator/control/settings",
                {
                    "access_token_lifetime": access_token_lifetime,
                    "gmail_quota_units_per_minute": gmail_quota_units_per_minute,
                    "rewrite_message_ids": rewrite_message_ids,
                },
            )
        )

    def reset(self) -> None:
        """Forget every account, grant, token, message, event, fault and count."""
        self._post("/_emulator/control/reset")

    # ------------------------------------------------------------------ grants

    def issue_grant(
        self,
        *,
        email: str,
        scopes: Iterable[str],
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
    ) -> dict[str, Any]:
        """A real offline grant for ``email`` without a browser: Google's token response,
        plus the account's ``sub`` as ``account_id``."""
        self.set_consent(email=email, name=email.split("@")[0].title())
        authorize = self.session.get(
            f"{self.url}/o/oauth2/v2/auth",
            params={
                "client_id": client_id,
                "redirect_uri": GRANT_REDIRECT_URI,
                "response_type": "code",
                "scope": " ".join(scopes),
                "state": "grant",
                "access_type": "offline",
            },
            allow_redirects=False,
            timeout=self.timeout,
        )
        if authorize.status_code != 302:
            raise EmulatorError(f"authorize answered {authorize.status_code}: {authorize.text[:200]}")
        code = parse_qs(urlsplit(authorize.headers["Location"]).query)["code"][0]
        token = self.session.post(
            f"{self.url}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": GRANT_REDIRECT_URI,
                "client_id": client_id,
                "client_secret": client_secret,
            },
            timeout=self.timeout,
        )
        body = self._json(token)
        account = next(account for account in self.accounts() if account["email"] == email.strip().lower())
        return {**body, "account_id": str(account["sub"])}
