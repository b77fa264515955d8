"""Secret scan, a pytest plugin: after the suite, no access token, refresh token, authorization code
or API key may appear in a log line, a response the app gave, or the database.

It learns every secret the suite makes: API keys by their stored hash (whoever created them), and
the tokens and codes the Google emulator issues. It keeps the secret-shaped strings found in each
formatted log line, each response (body and headers) and, after each test that used the database,
each row of every table. At the end it fails the run if any of them is a known secret, naming the
kind, a hash prefix and where it was seen, never the secret itself.

The one response allowed to show an API key is the page that shows a new key once: the response to
the request that created it or, as the key page redirects after its POST, the next response in
that same session.
"""

import contextvars
import hashlib
import logging
import re
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

API_KEY = "API key"
ACCESS_TOKEN = "access token"
REFRESH_TOKEN = "refresh token"
AUTHORIZATION_CODE = "authorization code"

# Everything the scan knows how to find starts with one of these (our keys; Google's formats, which the
# emulator copies). Registering a secret of another shape fails loudly, so the scan never silently misses one.
CANDIDATE = re.compile(r"(?:gxy_|ya29\.|1//|4/0)[A-Za-z0-9_\-.~]+")


def fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Finding:
    kind: str
    digest: str
    where: str

    def __str__(self) -> str:
        return f"{self.kind} (sha256 {self.digest[:12]}) in {self.where}"


@dataclass
class SecretScan:
    # Secrets by their SHA-256, so the scan holds no plaintext beyond what the suite already has.
    known: dict[str, str] = field(default_factory=dict)
    lengths: set[int] = field(default_factory=set)
    # (where, secret-shaped string) pairs seen in logs, responses and the database.
    seen: list[tuple[str, str]] = field(default_factory=list)

    def register(self, secret: str, kind: str) -> None:
        if not CANDIDATE.fullmatch(secret):
            raise ValueError(f"The secret scan cannot recognise this {kind}'s format; extend CANDIDATE.")
        self.register_digest(fingerprint(secret), kind, len(secret))

    def register_digest(self, digest: str, kind: str, length: int) -> None:
        self.known[digest] = kind
        self.lengths.add(length)

    def observe(self, where: str, text: str, *, allowed: Iterable[str] = ()) -> None:
        allowed = set(allowed)
        for match in CANDIDATE.finditer(text):
            candidate = match.group()
            if fingerprint(candidate) not in allowed:
                self.seen.append((where, candidate))

    def identify(self, candidate: str) -> tuple[str, str] | None:
        """(kind, digest) when the string is, or starts with, a known secret."""
        for text in (candidate, *(candidate[:length] for length in self.lengths if length < len(candidate))):
            digest = fingerprint(text)
            if digest in self.known:
                return self.known[digest], digest
        return None

    def findings(self) -> list[Finding]:
        found: dict[tuple[str, str], Finding] = {}
        for where, candidate in self.seen:
            if identified := self.identify(candidate):
                kind, digest = identified
                found.setdefault((digest, where), Finding(kind=kind, digest=digest, where=where))
        return list(found.values())


SCAN = SecretScan()
_current_test: contextvars.ContextVar[str] = contextvars.ContextVar("secret_scan_test", default="set-up")
# Hashes of API keys created while a response is being made: that response may show them.
_created_in_request: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar(
    "secret_scan_created", default=None
)
_emulator_states: "weakref.WeakSet[Any]" = weakref.WeakSet()
# Hashes of API keys created by a session's latest request: its next response may show them.
_created_for_session: dict[str, set[str]] = {}


class _LogCapture(logging.Handler):
    """Sees each record as the app's console handler writes it: same filters, same formatter."""

    def emit(self, record: logging.LogRecord) -> None:
        SCAN.observe(f"a log line of {record.name} during {_current_test.get()}", self.format(record))


def _install_log_capture() -> None:
    from galaxyco.logging import JsonFormatter, RequestContextFilter, SecretsFilter

    handler = _LogCapture()
    handler.addFilter(RequestContextFilter())
    handler.addFilter(SecretsFilter())
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)


def _install_response_capture() -> None:
    from django.core.handlers.base import BaseHandler

    original = BaseHandler.get_response

    def get_response(self: BaseHandler, request: Any) -> Any:
        from django.conf import settings

        created: set[str] = set()
        session_before = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
        allowed = _created_for_session.pop(session_before, set()) if session_before else set()
        token = _created_in_request.set(created)
        try:
            response = original(self, request)
        finally:
            _created_in_request.reset(token)
        session = getattr(request, "session", None)
        if created and session is not None and session.session_key:
            _created_for_session[session.session_key] = set(created)
        allowed |= created
        where = f"the response to {request.method} {request.path} during {_current_test.get()}"
        headers = "\n".join(f"{name}: {value}" for name, value in response.items())
        SCAN.observe(where, headers, allowed=allowed)
        if not response.streaming:
            SCAN.observe(where, response.content.decode("utf-8", "replace"), allowed=allowed)
        return response

    BaseHandler.get_response = get_response  # type: ignore[method-assign]


def _install_api_key_capture() -> None:
    from django.db.models.signals import post_save

    from workspaces.models import ApiKey
    from workspaces.services import API_KEY_PREFIX

    key_length = len(API_KEY_PREFIX) + 43  # secrets.token_urlsafe(32)

    def remember(sender: type, instance: ApiKey, created: bool, **kwargs: Any) -> None:
        if created:
            SCAN.register_digest(instance.key_hash, API_KEY, key_length)
            if (in_request := _created_in_request.get()) is not None:
                in_request.add(instance.key_hash)

    post_save.connect(remember, sender=ApiKey, weak=False, dispatch_uid="secret_scan_api_keys")


def _install_emulator_capture() -> None:
    from devtools.google_emulator.state import EmulatorState

    original_init = EmulatorState.__init__
    original_issue = EmulatorState.issue_access_token
    original_grant = EmulatorState.create_grant

    def __init__(self: EmulatorState, *args: Any, **kwargs: Any) -> None:
        _emulator_states.add(self)
        original_init(self, *args, **kwargs)

    def issue_access_token(self: EmulatorState, *args: Any, **kwargs: Any) -> Any:
        access = original_issue(self, *args, **kwargs)
        SCAN.register(access.token, ACCESS_TOKEN)
        return access

    def create_grant(self: EmulatorState, *args: Any, **kwargs: Any) -> Any:
        grant = original_grant(self, *args, **kwargs)
        if grant.refresh_token:
            SCAN.register(grant.refresh_token, REFRESH_TOKEN)
        return grant

    EmulatorState.__init__ = __init__  # type: ignore[method-assign]
    EmulatorState.issue_access_token = issue_access_token  # type: ignore[method-assign]
    EmulatorState.create_grant = create_grant  # type: ignore[method-assign]


def _harvest_emulator_codes() -> None:
    """Authorization codes are minted inside the emulator's request handler: read them from its state."""
    for state in list(_emulator_states):
        with state.lock:
            codes = list(state.codes)
        for code in codes:
            SCAN.register(code, AUTHORIZATION_CODE)


def _dump_database(nodeid: str) -> None:
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            for table in connection.introspection.table_names(cursor):
                cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
                for row in cursor.fetchall():
                    text = " ".join(str(value) for value in row if value is not None)
                    SCAN.observe(f"the database table {table} after {nodeid}", text)
    except DatabaseError:
        # A test that left its transaction broken (it expected a database error) cannot be read:
        # only that test's rows are left out of the scan.
        return


def pytest_configure(config: pytest.Config) -> None:
    _install_log_capture()
    _install_response_capture()
    _install_api_key_capture()
    _install_emulator_capture()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    token = _current_test.set(item.nodeid)
    try:
        yield
    finally:
        _harvest_emulator_codes()
        # Before the test's transaction is rolled back or its tables flushed: what it left in the database.
        if "_django_db_helper" in getattr(item, "fixturenames", ()):
            _dump_database(item.nodeid)
        _current_test.reset(token)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _harvest_emulator_codes()
    findings = SCAN.findings()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    kinds = sorted(set(SCAN.known.values()))
    summary = (
        f"Secret scan: {len(SCAN.known)} secrets known ({', '.join(kinds) or 'none'}), "
        f"{len(SCAN.seen)} secret-shaped strings checked"
    )
    if not findings:
        if reporter is not None:
            reporter.write_line(f"\n{summary}: none is a secret.")
        return
    lines = [f"\n{summary}: {len(findings)} secret(s) found where none may be:"]
    lines += [f"  {finding}" for finding in findings[:50]]
    if reporter is not None:
        reporter.write_line("\n".join(lines), red=True, bold=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
