"""Thread-safe state: accounts, grants, tokens, mail, events, faults.

Everything is guarded by one re-entrant lock (``state.lock``). Endpoint modules
take it around multi-step operations; the public methods take it themselves.

With a ``path`` the durable part (accounts, codes, grants, tokens, mail, events,
settings and the signing key) is loaded from that JSON file at start and written
back by :meth:`EmulatorState.save`, which the server calls after every request
that can change it. Faults, an armed consent answer, request counts and Gmail's
quota buckets are not kept: they describe the moment, not the accounts.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.standin.statefile import reading_state_file, write_atomically

#: Endpoint names accepted by :meth:`EmulatorState.add_fault`.
FAULT_ENDPOINTS = frozenset(
    {
        "authorize",
        "token",
        "token.authorization_code",
        "token.refresh_token",
        "userinfo",
        "certs",
        "revoke",
        "gmail.send",
        "gmail.profile",
        "gmail.history",
        "gmail.list",
        "gmail.get",
        "gmail.attachment",
        "gmail.thread",
        "calendar.insert",
        "calendar.get",
    }
)
#: What a random fault may be: an error answer, a hang before the call is done (then 503, never
#: done), or the call done and its answer held back (``deliver_then_hang``).
RANDOM_FAULT_KINDS = ("500", "429", "hang", "deliver_then_hang")
#: Gmail's per-user limit is a moving average that "allows short bursts": its bucket holds this
#: many seconds of the quota (and at least one send's cost).
QUOTA_BURST_SECONDS = 1.0
QUOTA_SEND_UNITS = 100
STATE_FILE_VERSION = 1
CONSENT_DECISIONS = ("allow", "deny")


def subject_for(email: str) -> str:
    """A stable 21-digit numeric ``sub`` for an email, shaped like Google's account ids."""
    digest = hashlib.sha256(email.strip().lower().encode("utf-8")).digest()
    return "1" + str(int.from_bytes(digest[:16], "big") % 10**20).zfill(20)


@dataclass
class Account:
    email: str
    name: str
    sub: str
    # client_id -> scopes granted so far, for include_granted_scopes=true.
    granted_scopes: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"email": self.email, "name": self.name, "sub": self.sub}


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    email: str
    scopes: list[str]
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None
    access_type: str
    issue_refresh_token: bool
    expires_at: float
    used: bool = False


@dataclass
class Grant:
    """One successful consent: its refresh token and every access token minted from it."""

    id: str
    email: str
    client_id: str
    scopes: list[str]
    refresh_token: str | None = None
    revoked: bool = False
    access_tokens: set[str] = field(default_factory=set)


@dataclass
class AccessToken:
    token: str
    grant_id: str
    issued_at: float
    expires_at: float


@dataclass
class Fault:
    endpoint: str
    status: int | None
    remaining: int
    hang_seconds: float | None
    retry_after: int | None
    # The call is done first, then its answer waits hang_seconds (deliver, then hang).
    hang_after: bool = False

    @property
    def kind(self) -> str:
        if self.hang_after:
            return "deliver_then_hang"
        return "hang" if self.hang_seconds else str(self.status)


@dataclass
class RandomFaults:
    """Fail a share (``rate``) of the calls of ``endpoints`` at random, reproducibly (``seed``)."""

    rate: float
    endpoints: frozenset[str]
    kinds: tuple[str, ...]
    hang_seconds: float
    rng: random.Random


@dataclass(frozen=True)
class ConsentPreset:
    email: str
    name: str
    decision: str
    scopes: tuple[str, ...] | None
    issue_refresh_token: bool


def _check_lifetime(seconds: int) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
        raise ValueError("access_token_lifetime must be a positive integer (seconds)")
    return seconds


def _check_quota(units: int) -> int:
    if isinstance(units, bool) or not isinstance(units, int) or units < 0:
        raise ValueError("gmail_quota_units_per_minute must be a non-negative integer")
    return units


class EmulatorState:
    """All mutable emulator data. Safe to use from tests while the server runs."""

    accounts_by_email: dict[str, Account]
    codes: dict[str, AuthCode]
    grants: dict[str, Grant]
    refresh_tokens: dict[str, str]  # refresh token -> grant id
    access_tokens: dict[str, AccessToken]
    _messages: list[dict[str, Any]]
    _history: list[dict[str, Any]]
    _history_floor: dict[str, int]
    _next_history_id: int
    _events: list[dict[str, Any]]
    _faults: list[Fault]
    _random_faults: RandomFaults | None
    _applied_faults: list[dict[str, Any]]
    _consent: ConsentPreset | None
    _stats: Counter[str]
    _quota_buckets: dict[str, tuple[float, float]]  # mailbox -> (units left, when counted)

    def __init__(
        self,
        *,
        access_token_lifetime: int = 3600,
        gmail_quota_units_per_minute: int = 15000,
        rewrite_message_ids: bool = False,
        path: Path | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.path = path
        #: Counts resets: a call that waited out a hang across one must not land in the new state.
        self.generation = 0
        #: PEM of the id_token signing key, kept with the state so tokens outlive a restart.
        self.signing_key_pem: str | None = None
        self._initial_settings = (
            _check_lifetime(access_token_lifetime),
            _check_quota(gmail_quota_units_per_minute),
            bool(rewrite_message_ids),
        )
        self._clear()
        if path is not None and path.exists():
            self._load(path)

    # ----------------------------------------------------------------- public API

    def reset(self) -> None:
        """Forget everything and restore the settings given at construction."""
        with self.lock:
            self.generation += 1
            self._clear()

    def save(self) -> None:
        """Write the durable state to ``path`` atomically (nothing to do without a path)."""
        if self.path is None:
            return
        with self.lock:
            write_atomically(self.path, self._snapshot())

    def set_access_token_lifetime(self, seconds: int) -> None:
        """Lifetime of access tokens issued from now on."""
        with self.lock:
            self.access_token_lifetime = _check_lifetime(seconds)

    def set_gmail_quota(self, units_per_minute: int) -> None:
        """Per-mailbox Gmail quota; each send costs 100 units."""
        with self.lock:
            self.gmail_quota_units_per_minute = _check_quota(units_per_minute)

    def set_rewrite_message_ids(self, rewrite: bool) -> None:
        """Whether a send replaces the message's Message-ID with one of Gmail's own, as Gmail's API
        does (the original is not kept in any header)."""
        with self.lock:
            self.rewrite_message_ids = bool(rewrite)

    def expire_account(self, email: str) -> int:
        """Expire every live access token of the account; refresh tokens keep working.

        Returns how many tokens were expired.
        """
        now = time.time()
        expired = 0
        with self.lock:
            for grant in self._grants_of(email):
                for token in grant.access_tokens:
                    access = self.access_tokens[token]
                    if access.expires_at > now:
                        access.expires_at = now - 1
                        expired += 1
        return expired

    def revoke_account(self, email: str) -> int:
        """Revoke every grant of the account (as if the user removed the app's access).

        Returns how many grants were revoked.
        """
        with self.lock:
            live = [grant for grant in self._grants_of(email) if not grant.revoked]
            for grant in live:
                grant.revoked = True
            return len(live)

    def add_fault(
        self,
        endpoint: str,
        *,
        status: int | None = None,
        count: int = 1,
        hang_seconds: float | None = None,
        retry_after: int | None = None,
        hang_after: bool = False,
    ) -> None:
        """Make the next ``count`` calls of ``endpoint`` hang and/or fail; ``hang_after``: do the
        call, then hold its answer back ``hang_seconds`` (deliver, then hang)."""
        if hang_after and (not hang_seconds or status is not None):
            raise ValueError("hang_after needs hang_seconds and no status (the call is done, then hangs)")
        if endpoint not in FAULT_ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {sorted(FAULT_ENDPOINTS)}")
        if status is None and hang_seconds is None:
            raise ValueError("a fault needs a status, hang_seconds, or both")
        if status is not None and (isinstance(status, bool) or not 400 <= status <= 599):
            raise ValueError("status must be an HTTP error status (400-599)")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError("count must be a positive integer")
        if hang_seconds is not None and hang_seconds < 0:
            raise ValueError("hang_seconds must not be negative")
        if retry_after is not None and retry_after < 0:
            raise ValueError("retry_after must not be negative")
        with self.lock:
            self._faults.append(Fault(endpoint, status, count, hang_seconds, retry_after, hang_after))

    def set_random_faults(
        self,
        *,
        rate: float,
        seed: int = 0,
        endpoints: Iterable[str] = ("token", "gmail.send"),
        kinds: Iterable[str] = RANDOM_FAULT_KINDS,
        hang_seconds: float = 2.0,
    ) -> None:
        """From now on fail ``rate`` (0-1) of the calls of ``endpoints`` with one of ``kinds``,
        chosen by a generator seeded with ``seed``; rate 0 stops. Armed faults go first."""
        names, chosen = frozenset(endpoints), tuple(kinds)
        if not 0 <= rate <= 1:
            raise ValueError("rate must be between 0 and 1")
        if not names <= FAULT_ENDPOINTS:
            raise ValueError(f"unknown endpoints {sorted(names - FAULT_ENDPOINTS)}")
        if not chosen or not set(chosen) <= set(RANDOM_FAULT_KINDS):
            raise ValueError(f"kinds must be some of {list(RANDOM_FAULT_KINDS)}")
        if hang_seconds <= 0:
            raise ValueError("hang_seconds must be positive")
        with self.lock:
            self._random_faults = (
                RandomFaults(rate, names, chosen, float(hang_seconds), random.Random(seed)) if rate else None
            )

    def record_applied_fault(self, endpoint: str, kind: str, message_id: str | None) -> None:
        """Keep what a fault did to which call (``message_id``: the sent email's Message-ID)."""
        with self.lock:
            self._applied_faults.append({"endpoint": endpoint, "kind": kind, "message_id": message_id})

    def applied_faults(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self._applied_faults)

    def set_consent(
        self,
        *,
        email: str,
        name: str = "",
        decision: str = "allow",
        scopes: Iterable[str] | None = None,
        issue_refresh_token: bool = True,
    ) -> None:
        """Answer the NEXT authorize request at once, without showing the consent page.

        ``scopes=None`` grants everything requested; otherwise only the requested
        scopes listed here are granted (openid/email/profile are always granted).
        """
        if "@" not in email:
            raise ValueError("email must be an email address")
        if decision not in CONSENT_DECISIONS:
            raise ValueError("decision must be 'allow' or 'deny'")
        if isinstance(scopes, str):
            scopes = scopes.split()
        preset = ConsentPreset(
            email=email.strip().lower(),
            name=name,
            decision=decision,
            scopes=None if scopes is None else tuple(scopes),
            issue_refresh_token=bool(issue_refresh_token),
        )
        with self.lock:
            self._consent = preset

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        """Delivered messages, oldest first; ``to`` filters on To/Cc/Bcc."""
        with self.lock:
            found = [m for m in self._messages if to is None or _addressed_to(m, to)]
            return copy.deepcopy(found)

    def events(self) -> list[dict[str, Any]]:
        """Inserted calendar events, oldest first."""
        with self.lock:
            return copy.deepcopy(self._events)

    def stats(self) -> dict[str, int]:
        """Request counts per endpoint name (faulted requests included)."""
        with self.lock:
            return dict(self._stats)

    def accounts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [account.as_dict() for account in self.accounts_by_email.values()]

    # ------------------------------------------------- used by the endpoint modules

    def account(self, email: str) -> Account | None:
        with self.lock:
            return self.accounts_by_email.get(email.strip().lower())

    def get_or_create_account(self, email: str, name: str) -> Account:
        key = email.strip().lower()
        with self.lock:
            account = self.accounts_by_email.get(key)
            if account is None:
                account = Account(email=key, name=name or key.split("@")[0], sub=subject_for(key))
                self.accounts_by_email[key] = account
            elif name:
                account.name = name
            return account

    def create_grant(
        self, *, email: str, client_id: str, scopes: list[str], with_refresh_token: bool
    ) -> Grant:
        with self.lock:
            grant = Grant(id=secrets.token_hex(8), email=email, client_id=client_id, scopes=list(scopes))
            if with_refresh_token:
                grant.refresh_token = "1//" + secrets.token_urlsafe(48)
                self.refresh_tokens[grant.refresh_token] = grant.id
            self.grants[grant.id] = grant
            return grant

    def issue_access_token(self, grant: Grant) -> AccessToken:
        now = time.time()
        with self.lock:
            access = AccessToken(
                token="ya29." + secrets.token_urlsafe(64),
                grant_id=grant.id,
                issued_at=now,
                expires_at=now + self.access_token_lifetime,
            )
            self.access_tokens[access.token] = access
            grant.access_tokens.add(access.token)
            return access

    def grant_for_token(self, token: str) -> Grant | None:
        """The grant behind an access or refresh token (revoked or not)."""
        with self.lock:
            grant_id = self.refresh_tokens.get(token)
            if grant_id is None and token in self.access_tokens:
                grant_id = self.access_tokens[token].grant_id
            return None if grant_id is None else self.grants[grant_id]

    def authenticate(self, token: str | None) -> tuple[Account, Grant] | None:
        """The account and grant for a live (known, unexpired, unrevoked) access token."""
        if not token:
            return None
        with self.lock:
            access = self.access_tokens.get(token)
            if access is None or access.expires_at <= time.time():
                return None
            grant = self.grants[access.grant_id]
            if grant.revoked:
                return None
            return self.accounts_by_email[grant.email], grant

    def record(self, names: Iterable[str]) -> None:
        with self.lock:
            self._stats.update(names)

    def take_fault(self, names: Iterable[str]) -> Fault | None:
        """Consume one use of the first armed fault matching ``names`` (most specific first)."""
        with self.lock:
            for name in names:
                for fault in self._faults:
                    if fault.endpoint == name:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                        return copy.copy(fault)
            return self._random_fault(names)

    def _random_fault(self, names: Iterable[str]) -> Fault | None:
        chaos = self._random_faults
        matched = [name for name in names if chaos is not None and name in chaos.endpoints]
        if chaos is None or not matched or chaos.rng.random() >= chaos.rate:
            return None
        kind = chaos.rng.choice(chaos.kinds)
        if kind == "hang":
            return Fault(matched[0], 503, 1, chaos.hang_seconds, None)
        if kind == "deliver_then_hang":
            return Fault(matched[0], None, 1, chaos.hang_seconds, None, hang_after=True)
        return Fault(matched[0], int(kind), 1, None, None)

    def pop_consent(self) -> ConsentPreset | None:
        with self.lock:
            preset, self._consent = self._consent, None
            return preset

    def charge_gmail_quota(self, mailbox: str, units: int) -> int | None:
        """Charge ``units`` to the mailbox's Gmail quota, as Google states it: 250 units a second per
        user (15,000 a minute), a moving average that allows short bursts. A bucket per mailbox
        fills at a sixtieth of the per-minute quota each second and holds ``QUOTA_BURST_SECONDS``
        of it (at least one send), so calls at the limit pass however their arrival jitters, and a
        burst beyond it is refused.

        Returns None when allowed, else the whole seconds until enough units are back.
        """
        now = time.monotonic()
        with self.lock:
            rate = self.gmail_quota_units_per_minute / 60.0
            capacity = max(rate * QUOTA_BURST_SECONDS, QUOTA_SEND_UNITS) if rate else 0.0
            left, counted_at = self._quota_buckets.get(mailbox, (capacity, now))
            left = min(capacity, left + (now - counted_at) * rate)
            if units <= left:
                self._quota_buckets[mailbox] = (left - units, now)
                return None
            self._quota_buckets[mailbox] = (left, now)
            if units > capacity:
                return 60
            return max(1, math.ceil((units - left) / rate))

    def add_message(self, message: dict[str, Any]) -> None:
        """Store a message in its mailbox and record it in that mailbox's history."""
        with self.lock:
            self._next_history_id += 1
            message["historyId"] = str(self._next_history_id)
            self._messages.append(message)
            self._history.append(
                {"id": self._next_history_id, "mailbox": message["mailbox"], "message": message["id"]}
            )

    def mailbox_messages(self, mailbox: str) -> list[dict[str, Any]]:
        """The mailbox's messages, oldest first (the stored dicts: read them under ``lock``)."""
        with self.lock:
            return [message for message in self._messages if message["mailbox"] == mailbox]

    def mailbox_message(self, mailbox: str, message_id: str) -> dict[str, Any] | None:
        with self.lock:
            for message in self._messages:
                if message["mailbox"] == mailbox and message["id"] == message_id:
                    return copy.deepcopy(message)
            return None

    def history_id(self) -> int:
        with self.lock:
            return self._next_history_id

    def history_since(self, mailbox: str, start: int) -> list[dict[str, Any]] | None:
        """The mailbox's history records after ``start``, oldest first; None when ``start`` is
        older than the history kept (Gmail answers 404 and the client must do a full sync)."""
        with self.lock:
            if start < self._history_floor.get(mailbox, 0):
                return None
            return [
                dict(record)
                for record in self._history
                if record["mailbox"] == mailbox and record["id"] > start
            ]

    def expire_history(self, mailbox: str) -> int:
        """Forget the mailbox's history so far: a start id older than now answers 404."""
        with self.lock:
            self._history_floor[mailbox] = self._next_history_id
            return self._next_history_id

    def has_thread(self, mailbox: str, thread_id: str) -> bool:
        with self.lock:
            return any(m["mailbox"] == mailbox and m["threadId"] == thread_id for m in self._messages)

    def thread_id_for(self, mailbox: str, message_ids: Iterable[str]) -> str | None:
        """The thread of an earlier message in this mailbox with one of these Message-IDs."""
        wanted = set(message_ids)
        with self.lock:
            for message in reversed(self._messages):
                if message["mailbox"] == mailbox and message["headers"].get("Message-ID") in wanted:
                    return str(message["threadId"])
            return None

    def add_event(self, event: dict[str, Any]) -> None:
        with self.lock:
            self._events.append(event)

    def calendar_event(self, mailbox: str, event_id: str) -> dict[str, Any] | None:
        """The event with this id on the mailbox's calendar (ids are unique per calendar)."""
        with self.lock:
            for event in self._events:
                if event["mailbox"] == mailbox and event["id"] == event_id:
                    return copy.deepcopy(event)
            return None

    def event(self, event_id: str) -> dict[str, Any] | None:
        with self.lock:
            for event in self._events:
                if event["id"] == event_id:
                    return copy.deepcopy(event)
            return None

    def _clear(self) -> None:
        with self.lock:
            (
                self.access_token_lifetime,
                self.gmail_quota_units_per_minute,
                self.rewrite_message_ids,
            ) = self._initial_settings
            self.accounts_by_email = {}
            self.codes = {}
            self.grants = {}
            self.refresh_tokens = {}
            self.access_tokens = {}
            self._messages = []
            self._history = []
            self._history_floor = {}
            self._next_history_id = 1000
            self._events = []
            self._faults = []
            self._random_faults = None
            self._applied_faults = []
            self._consent = None
            self._stats = Counter()
            self._quota_buckets = {}

    def _snapshot(self) -> dict[str, Any]:
        return {
            "version": STATE_FILE_VERSION,
            "signing_key_pem": self.signing_key_pem,
            "settings": {
                "access_token_lifetime": self.access_token_lifetime,
                "gmail_quota_units_per_minute": self.gmail_quota_units_per_minute,
                "rewrite_message_ids": self.rewrite_message_ids,
            },
            "accounts": [dataclasses.asdict(account) for account in self.accounts_by_email.values()],
            "codes": [dataclasses.asdict(code) for code in self.codes.values()],
            "grants": [
                {**dataclasses.asdict(grant), "access_tokens": sorted(grant.access_tokens)}
                for grant in self.grants.values()
            ],
            "access_tokens": [dataclasses.asdict(access) for access in self.access_tokens.values()],
            "messages": self._messages,
            "history": self._history,
            "history_floor": self._history_floor,
            "next_history_id": self._next_history_id,
            "events": self._events,
        }

    def _load(self, path: Path) -> None:
        with reading_state_file(
            path, version=STATE_FILE_VERSION, kind="Google emulator", empty="an empty emulator"
        ) as document:
            settings = document["settings"]
            accounts = [Account(**item) for item in document["accounts"]]
            codes = [AuthCode(**item) for item in document["codes"]]
            grants = [
                Grant(**{**item, "access_tokens": set(item["access_tokens"])}) for item in document["grants"]
            ]
            access_tokens = [AccessToken(**item) for item in document["access_tokens"]]
            messages, events = list(document["messages"]), list(document["events"])
            # Files written before Gmail's history was kept have none: start it after them.
            history = list(document.get("history", []))
            history_floor = dict(document.get("history_floor", {}))
            next_history_id = int(document.get("next_history_id", 1000))
            lifetime = _check_lifetime(settings["access_token_lifetime"])
            quota = _check_quota(settings["gmail_quota_units_per_minute"])
            rewrite = bool(settings.get("rewrite_message_ids", False))
        with self.lock:
            self.signing_key_pem = document.get("signing_key_pem")
            self.access_token_lifetime, self.gmail_quota_units_per_minute = lifetime, quota
            self.rewrite_message_ids = rewrite
            self.accounts_by_email = {account.email: account for account in accounts}
            self.codes = {code.code: code for code in codes}
            self.grants = {grant.id: grant for grant in grants}
            self.refresh_tokens = {grant.refresh_token: grant.id for grant in grants if grant.refresh_token}
            self.access_tokens = {access.token: access for access in access_tokens}
            self._messages, self._events = messages, events
            self._history, self._history_floor = history, history_floor
            self._next_history_id = next_history_id

    def _grants_of(self, email: str) -> list[Grant]:
        key = email.strip().lower()
        return [grant for grant in self.grants.values() if grant.email == key]


def _addressed_to(message: dict[str, Any], address: str) -> bool:
    wanted = address.strip().lower()
    recipients = [*message["to"], *message["cc"], *message["bcc"]]
    return any(recipient.lower() == wanted for recipient in recipients)
