"""Thread-safe state of the Sidemail stand-in: accepted emails, contacts, settings, faults.

One re-entrant lock guards everything. With a ``path`` the durable part (emails, contacts and
settings) is read from that JSON file at start and written back by :meth:`StandinState.save`,
which the server calls after every request that can change it. Faults and request counts are
not kept: they describe the moment.
"""

from __future__ import annotations

import copy
import secrets
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools.standin.statefile import reading_state_file, write_atomically

STATE_FILE_VERSION = 1
DEFAULT_API_KEY = "sidemail-dev-key"
#: Endpoint names a fault can target.
FAULT_ENDPOINTS = frozenset(
    {"email.send", "contacts.upsert", "contacts.get", "contacts.list", "contacts.delete"}
)
#: Error codes Sidemail documents, with the HTTP status the stand-in answers them with.
ERROR_STATUS = {
    "authentication-failed": 401,
    "from-address-unverified": 400,
    "parameters-invalid": 400,
    "template-not-found": 400,
    "sending-limit-exhausted": 403,
    "email-sending-paused": 403,
    "contact-not-found": 404,
    "too-many-requests": 429,
    "server-error": 500,
}
WEBHOOK_EVENT_TYPES = ("email.delivered", "email.open", "email.bounce", "email.complaint")
EVENT_STATUS = {
    "email.delivered": "delivered",
    "email.open": "open",
    "email.bounce": "bounce",
    "email.complaint": "complaint",
}


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Fault:
    endpoint: str
    remaining: int
    status: int | None  # an HTTP error answered in Sidemail's shape
    error_code: str | None  # or a given Sidemail errorCode (with its status)
    hang_seconds: float | None
    retry_after: int | None


class StandinState:
    """All mutable stand-in data. Safe to use from tests while the server runs."""

    api_keys: list[str]
    webhook_url: str | None
    webhook_secret: str | None
    _emails: list[dict[str, Any]]
    _contacts: dict[str, dict[str, Any]]
    _faults: list[Fault]
    _stats: Counter[str]

    def __init__(self, *, api_keys: list[str] | None = None, path: Path | None = None) -> None:
        self.lock = threading.RLock()
        self.path = path
        # Counts resets: a call that waited out a hang across one must not land in the new state.
        self.generation = 0
        self._initial_keys = list(api_keys) if api_keys else [DEFAULT_API_KEY]
        self._clear()
        if path is not None and path.exists():
            self._load(path)

    # ----------------------------------------------------------------- public API

    def reset(self) -> None:
        """Forget every email, contact, fault and count; restore the keys given at construction."""
        with self.lock:
            self.generation += 1
            self._clear()

    def save(self) -> None:
        """Write the durable state to ``path`` atomically (nothing to do without a path)."""
        if self.path is None:
            return
        with self.lock:
            write_atomically(self.path, self._snapshot())

    def accepts_key(self, key: str | None) -> bool:
        with self.lock:
            return bool(key) and any(secrets.compare_digest(key or "", known) for known in self.api_keys)

    def set_api_keys(self, keys: list[str]) -> None:
        if not keys or not all(isinstance(key, str) and key for key in keys):
            raise ValueError("api_keys must be a non-empty list of non-empty strings")
        with self.lock:
            self.api_keys = list(keys)

    def set_webhook(self, *, url: str | None, secret: str | None) -> None:
        with self.lock:
            self.webhook_url = url or None
            self.webhook_secret = secret or None

    def add_fault(
        self,
        endpoint: str,
        *,
        count: int = 1,
        status: int | None = None,
        error_code: str | None = None,
        hang_seconds: float | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Make the next ``count`` calls of ``endpoint`` hang and/or fail."""
        if endpoint not in FAULT_ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {sorted(FAULT_ENDPOINTS)}")
        if status is None and error_code is None and hang_seconds is None:
            raise ValueError("a fault needs a status, an error_code, hang_seconds, or a mix")
        if status is not None and (isinstance(status, bool) or not 400 <= status <= 599):
            raise ValueError("status must be an HTTP error status (400-599)")
        if error_code is not None and error_code not in ERROR_STATUS:
            raise ValueError(f"unknown error_code {error_code!r}; expected one of {sorted(ERROR_STATUS)}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError("count must be a positive integer")
        if hang_seconds is not None and hang_seconds < 0:
            raise ValueError("hang_seconds must not be negative")
        if retry_after is not None and retry_after < 0:
            raise ValueError("retry_after must not be negative")
        with self.lock:
            self._faults.append(Fault(endpoint, count, status, error_code, hang_seconds, retry_after))

    def take_fault(self, endpoint: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.endpoint == endpoint:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return copy.copy(fault)
            return None

    def record(self, endpoint: str) -> None:
        with self.lock:
            self._stats[endpoint] += 1

    def stats(self) -> dict[str, int]:
        with self.lock:
            return dict(self._stats)

    # ------------------------------------------------------------------ emails

    def add_email(self, email: dict[str, Any]) -> dict[str, Any]:
        """Keep an accepted email; returns it with its new ``id``, ``status`` and ``createdAt``."""
        with self.lock:
            stored = {"id": secrets.token_hex(12), "status": "queued", "createdAt": now_iso(), **email}
            self._emails.append(stored)
            return copy.deepcopy(stored)

    def emails(self, to: str | None = None) -> list[dict[str, Any]]:
        """Accepted emails, oldest first; ``to`` keeps those sent to that address."""
        wanted = to.strip().lower() if to else None
        with self.lock:
            return [
                copy.deepcopy(e) for e in self._emails if wanted is None or e["toAddress"].lower() == wanted
            ]

    def email(self, email_id: str) -> dict[str, Any] | None:
        with self.lock:
            for email in self._emails:
                if email["id"] == email_id:
                    return email
            return None

    def set_email_status(self, email_id: str, status: str) -> None:
        with self.lock:
            email = self.email(email_id)
            if email is not None:
                email["status"] = status

    # ---------------------------------------------------------------- contacts

    def upsert_contact(self, contact: dict[str, Any]) -> str:
        """Create or update the contact keyed by ``emailAddress``; returns "created" or "updated"."""
        key = contact["emailAddress"].strip().lower()
        with self.lock:
            existing = self._contacts.get(key)
            if existing is None:
                self._contacts[key] = {
                    "createdAt": now_iso(),
                    "isSubscribed": True,
                    **contact,
                    "emailAddress": key,
                }
                return "created"
            existing.update({**contact, "emailAddress": key})
            return "updated"

    def contact(self, email: str) -> dict[str, Any] | None:
        with self.lock:
            found = self._contacts.get(email.strip().lower())
            return copy.deepcopy(found) if found is not None else None

    def delete_contact(self, email: str) -> bool:
        with self.lock:
            return self._contacts.pop(email.strip().lower(), None) is not None

    def contacts(self) -> list[dict[str, Any]]:
        """Every contact, in the order they were first created."""
        with self.lock:
            return copy.deepcopy(list(self._contacts.values()))

    # ----------------------------------------------------------------- internals

    def _clear(self) -> None:
        with self.lock:
            self.api_keys = list(self._initial_keys)
            self.webhook_url = None
            self.webhook_secret = None
            self._emails = []
            self._contacts = {}
            self._faults = []
            self._stats = Counter()

    def _snapshot(self) -> dict[str, Any]:
        return {
            "version": STATE_FILE_VERSION,
            "settings": {
                "api_keys": self.api_keys,
                "webhook_url": self.webhook_url,
                "webhook_secret": self.webhook_secret,
            },
            "emails": self._emails,
            "contacts": list(self._contacts.values()),
        }

    def _load(self, path: Path) -> None:
        with reading_state_file(
            path, version=STATE_FILE_VERSION, kind="Sidemail stand-in", empty="an empty stand-in"
        ) as document:
            settings = document["settings"]
            emails = list(document["emails"])
            contacts = {contact["emailAddress"]: contact for contact in document["contacts"]}
            keys = list(settings["api_keys"])
        with self.lock:
            self.set_api_keys(keys)
            self.webhook_url = settings.get("webhook_url")
            self.webhook_secret = settings.get("webhook_secret")
            self._emails = emails
            self._contacts = contacts
