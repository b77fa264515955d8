"""Fixtures shared by every app's tests: two workspaces, a member of each, API clients for each."""

import os
from collections.abc import Callable
from datetime import datetime

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests.clock import FrozenClock
from workspaces.tests.factories import (
    MembershipFactory,
    UserFactory,
    WorkspaceFactory,
    api_key_for,
    page_client_for,
)

# After the suite, no token, code or API key may appear in logs, responses or the database.
pytest_plugins = ["tests.secret_scan"]


@pytest.fixture
def workspace(db):
    return WorkspaceFactory(name="Acme", slug="acme")


@pytest.fixture
def other_workspace(db):
    return WorkspaceFactory(name="Globex", slug="globex")


@pytest.fixture
def member(workspace):
    return MembershipFactory(workspace=workspace, user=UserFactory(email="owner@acme.test")).user


@pytest.fixture
def page_client(member):
    """A browser-like client signed in as ``member``."""
    return page_client_for(member)


@pytest.fixture
def other_member(other_workspace):
    return MembershipFactory(workspace=other_workspace, user=UserFactory(email="owner@globex.test")).user


@pytest.fixture
def api_key(workspace):
    return api_key_for(workspace)


@pytest.fixture
def other_api_key(other_workspace):
    return api_key_for(other_workspace)


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def session_client(member):
    client = APIClient()
    client.force_login(member)
    return client


@pytest.fixture
def key_client(api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


@pytest.fixture
def other_key_client(other_api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {other_api_key}")
    return client


@pytest.fixture
def admin_key_client(workspace):
    """An API key with the admin role (the default key is a member's)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(workspace, role='admin')}")
    return client


@pytest.fixture
def other_admin_key_client(other_workspace):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(other_workspace, role='admin')}")
    return client


@pytest.fixture
def other_session_client(other_member):
    client = APIClient()
    client.force_login(other_member)
    return client


@pytest.fixture(scope="session")
def redis_url():
    """A Redis for the session: CELERY_TEST_BROKER_URL's, else a private redis-server on a free
    loopback port, stopped when the session ends. Without redis-server the test fails, never skips."""
    if url := os.environ.get("CELERY_TEST_BROKER_URL"):
        yield url
        return
    from devtools.redis_server import RedisServerMissing, private_redis_server

    try:
        with private_redis_server() as url:
            yield url
    except RedisServerMissing as missing:
        pytest.fail(str(missing))


@pytest.fixture(scope="session")
def emulator_server():
    """One Google emulator for the session, on a free port, over real HTTP."""
    from devtools.google_emulator import GoogleEmulator

    with GoogleEmulator(port=0) as emulator:
        yield emulator


@pytest.fixture
def google(emulator_server, settings):
    """The emulator, reset, with the app's Google settings pointing at it."""
    from devtools.google_endpoints import emulator_settings

    emulator_server.state.reset()
    for name, value in emulator_settings(emulator_server.url).items():
        setattr(settings, name, value)
    return emulator_server


@pytest.fixture(scope="session")
def sidemail_server():
    """One Sidemail stand-in for the session, on a free port, over real HTTP."""
    from devtools.sidemail_standin import SidemailStandin

    with SidemailStandin(port=0) as standin:
        yield standin


@pytest.fixture
def sidemail(sidemail_server, settings):
    """The stand-in, reset, with the app sending its email through Sidemail at it."""
    from devtools.sidemail_standin import DEFAULT_API_KEY

    sidemail_server.state.reset()
    settings.EMAIL_BACKEND = "integrations.sidemail.backend.EmailBackend"
    settings.SIDEMAIL_API_KEY = DEFAULT_API_KEY
    settings.SIDEMAIL_API_URL = sidemail_server.api_url
    settings.SIDEMAIL_WEBHOOK_SECRET = "sidemail-test-webhook-secret"
    settings.SIDEMAIL_RETRY_DELAYS = [0.01, 0.02, 0.04]
    return sidemail_server


@pytest.fixture
def standin(sidemail):
    """The stand-in's own client: what it received, its counters, its steering."""
    from devtools.sidemail_standin import StandinClient

    return StandinClient(sidemail.url)


@pytest.fixture
def freeze_time(monkeypatch) -> Callable[[datetime], FrozenClock]:
    """freeze_time(start): timezone.now() answers the returned clock's `now` for this test."""

    def freeze(start: datetime) -> FrozenClock:
        frozen = FrozenClock(start)
        monkeypatch.setattr(timezone, "now", frozen)
        return frozen

    return freeze
