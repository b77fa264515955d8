"""Abuse limits: API keys and client IPs are throttled, failed logins lock the admin out too,
the counters live in a cache every process shares, and forwarded headers count only from
trusted proxies.

The suite runs with the limits off (galaxyco/test_settings.py); these tests set low rates.
"""

import importlib
import os
import subprocess
import sys
import time
from types import SimpleNamespace
from typing import Any

import pytest
from allauth.account.adapter import get_adapter
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.cache.backends.db import DatabaseCache
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.test import APIClient

from galaxyco import throttling
from galaxyco.client_ip import TrustedProxyMiddleware, client_ip
from workspaces.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CREDENTIAL_RATE = 5
ANONYMOUS_RATE = 3
PROXY = "10.0.0.1"
PASSWORD = "correct-horse-battery"  # the factories' password
CACHE_TABLE = "abuse_limits_test_cache"


@pytest.fixture
def limits(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "credential": f"{CREDENTIAL_RATE}/min",
            "anonymous": f"{ANONYMOUS_RATE}/min",
            "failed_authentication": f"{ANONYMOUS_RATE}/min",
        },
    }
    settings.TRUSTED_PROXIES = [PROXY]
    cache.clear()
    yield
    cache.clear()


def create_cache_table() -> None:
    """What `migrate` does for the database cache (workspaces/migrations/0002_cache_table)."""
    migration = importlib.import_module("workspaces.migrations.0002_cache_table")
    migration.create_cache_table(None, SimpleNamespace(connection=connection))


@pytest.fixture
def database_cache(settings):
    """The production default: the cache is a table in the database."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": CACHE_TABLE}
    }
    create_cache_table()
    return settings


def client_from(ip: str, *, forwarded_for: str | None = None, key: str | None = None) -> APIClient:
    extra = {"REMOTE_ADDR": ip}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    if key is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    client = APIClient()
    client.defaults.update(extra)
    return client


def assert_rate_limited(response: Any) -> None:
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["message"]
    assert body["error"]["request_id"] == response["X-Request-ID"]


BAD_KEY = "gxy_" + "x" * 43


# --- API


def test_an_api_key_past_its_rate_answers_429_with_retry_after(
    limits, workspace, api_key, other_workspace, other_api_key
):
    client = client_from("192.0.2.10", key=api_key)
    url = f"/api/workspaces/{workspace.pk}/"
    for _ in range(CREDENTIAL_RATE):
        assert client.get(url).status_code == 200
    assert_rate_limited(client.get(url))
    # Per key: another key from the same address still gets through.
    other = client_from("192.0.2.10", key=other_api_key)
    assert other.get(f"/api/workspaces/{other_workspace.pk}/").status_code == 200


def test_a_members_session_has_the_same_limit(limits, workspace, member):
    client = client_from("192.0.2.11")
    client.force_login(member)
    for _ in range(CREDENTIAL_RATE):
        assert client.get("/api/workspaces/").status_code == 200
    assert_rate_limited(client.get("/api/workspaces/"))


def test_a_flood_of_bad_keys_from_one_ip_is_refused_until_the_window_ends(
    limits, workspace, api_key, monkeypatch
):
    url = f"/api/workspaces/{workspace.pk}/"
    attacker = client_from("203.0.113.5", key=BAD_KEY)
    for _ in range(ANONYMOUS_RATE):
        response = attacker.get(url)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "authentication_failed"
    assert_rate_limited(attacker.get(url))
    # Like a locked-out login: from that address not even a valid key is looked up (unless this
    # process found it active moments ago: see the tests below)...
    assert_rate_limited(client_from("203.0.113.5", key=api_key).get(url))
    # ...while other addresses are unaffected.
    assert client_from("203.0.113.6", key=api_key).get(url).status_code == 200

    later = time.time() + 61
    monkeypatch.setattr(throttling.FailedAuthenticationThrottle, "timer", lambda self: later)
    assert client_from("203.0.113.5", key=api_key).get(url).status_code == 200


def lock_out(ip: str, url: str) -> None:
    for _ in range(ANONYMOUS_RATE):
        assert client_from(ip, key=BAD_KEY).get(url).status_code == 401
    assert_rate_limited(client_from(ip, key=BAD_KEY).get(url))


def api_key_reads(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if "workspaces_apikey" in query["sql"]]


def test_a_locked_out_address_cannot_tell_a_valid_key_from_a_refused_one(limits, workspace, api_key):
    """Locked out, every key nobody showed valid lately answers the same 429 without being looked
    up, a valid one as a guessed one: the lock still stops the guessing it is there for."""
    url = f"/api/workspaces/{workspace.pk}/"
    lock_out("203.0.113.40", url)

    with CaptureQueriesContext(connection) as captured:
        guessed = client_from("203.0.113.40", key="gxy_" + "y" * 43).get(url)
        valid = client_from("203.0.113.40", key=api_key).get(url)
    assert_rate_limited(guessed)
    assert_rate_limited(valid)
    assert guessed.json()["error"]["message"] == valid.json()["error"]["message"]
    assert guessed["Retry-After"] == valid["Retry-After"]
    assert api_key_reads(captured) == []


def test_a_key_known_valid_skips_the_failed_attempts_counter(limits, workspace, api_key, monkeypatch):
    """A key this process found active moments ago is served without reading the counter of
    refused attempts (a cache round trip per request otherwise), even from a locked-out address,
    whose refused keys are still refused."""
    url = f"/api/workspaces/{workspace.pk}/"
    assert client_from("203.0.113.41", key=api_key).get(url).status_code == 200  # now remembered
    lock_out("203.0.113.42", url)

    counter_reads = []
    read = cache.get

    def counting_get(key: str, *args: Any, **kwargs: Any) -> Any:
        if "failed_authentication" in key:
            counter_reads.append(key)
        return read(key, *args, **kwargs)

    monkeypatch.setattr(cache, "get", counting_get)
    assert client_from("203.0.113.41", key=api_key).get(url).status_code == 200
    assert client_from("203.0.113.42", key=api_key).get(url).status_code == 200
    assert counter_reads == []

    assert_rate_limited(client_from("203.0.113.42", key=BAD_KEY).get(url))
    assert len(counter_reads) == 1


def test_anonymous_requests_are_limited_per_ip(limits):
    """The schema is the API's one open endpoint, and an expensive one to build."""
    client = client_from("198.51.100.20")
    client.defaults["HTTP_ACCEPT"] = "application/vnd.oai.openapi+json"
    for _ in range(ANONYMOUS_RATE):
        assert client.get("/api/schema/").status_code == 200
    assert_rate_limited(client.get("/api/schema/"))
    assert client_from("198.51.100.21").get("/api/schema/").status_code == 200


def test_processes_share_the_counts(limits, database_cache):
    """Two cache objects stand for two worker processes: their counts add up."""
    request = Request(RequestFactory().get("/api/workspaces/", REMOTE_ADDR="203.0.113.7"))

    def worker_throttle() -> throttling.FailedAuthenticationThrottle:
        throttle = throttling.FailedAuthenticationThrottle()
        throttle.cache = DatabaseCache(CACHE_TABLE, {})
        return throttle

    first_worker, second_worker = worker_throttle(), worker_throttle()
    assert first_worker.cache is not second_worker.cache
    for attempt in range(ANONYMOUS_RATE):
        worker = first_worker if attempt % 2 else second_worker
        worker.refuse_if_exhausted(request)
        worker.record_failure()
    with pytest.raises(Throttled):
        first_worker.refuse_if_exhausted(request)
    with pytest.raises(Throttled):
        second_worker.refuse_if_exhausted(request)


@pytest.mark.parametrize(
    ("cache_url", "backend"),
    [
        (None, "django.core.cache.backends.db.DatabaseCache"),
        ("redis://127.0.0.1:6379/3", "galaxyco.cache.RedisCache"),
    ],
)
def test_the_cache_is_shared_by_default_and_redis_when_configured(cache_url, backend):
    env = {
        key: value for key, value in os.environ.items() if key not in ("CACHE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env |= {"READ_DOT_ENV": "false", "DEBUG": "true"}
    if cache_url:
        env["CACHE_URL"] = cache_url
    printed = subprocess.run(
        [sys.executable, "-c", "from galaxyco import settings; print(settings.CACHES['default']['BACKEND'])"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert printed == backend


def test_migrate_creates_the_database_cache_table(database_cache):
    assert CACHE_TABLE in connection.introspection.table_names()


# --- The admin site


@pytest.fixture
def staff():
    return UserFactory(email="admin@galaxyco.test", is_staff=True, is_superuser=True)


def log_in(client: Any, password: str) -> Any:
    return client.post("/accounts/login/", {"login": "admin@galaxyco.test", "password": password})


def test_the_admin_login_form_no_longer_checks_passwords(staff, client):
    response = client.post("/admin/login/?next=/admin/", {"username": staff.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert client.get("/admin/").status_code == 302


def test_failed_logins_lock_staff_out_of_the_admin_until_the_window_ends(
    staff, client, database_cache, settings, monkeypatch
):
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,3/5m/key"}
    for _ in range(3):
        assert (
            "The email address and/or password you specified are not correct."
            in log_in(client, "wrong-password").content.decode()
        )
    refused = log_in(client, PASSWORD)
    assert refused.status_code == 200
    assert "Too many failed login attempts" in refused.content.decode()
    assert client.get("/admin/").status_code == 302

    later = time.time() + 301
    monkeypatch.setattr("allauth.core.internal.ratelimit.time.time", lambda: later)
    assert log_in(client, PASSWORD).status_code == 302
    assert client.get("/admin/").status_code == 200


# --- Trusted proxies


def test_forwarded_for_from_an_untrusted_peer_is_ignored(limits, workspace):
    url = f"/api/workspaces/{workspace.pk}/"
    for attempt in range(ANONYMOUS_RATE):
        spoofed = client_from("203.0.113.9", forwarded_for=f"198.51.100.{attempt}", key=BAD_KEY)
        assert spoofed.get(url).status_code == 401
    assert_rate_limited(client_from("203.0.113.9", forwarded_for="198.51.100.99", key=BAD_KEY).get(url))


def test_behind_a_trusted_proxy_each_client_counts_apart(limits, workspace):
    url = f"/api/workspaces/{workspace.pk}/"
    for _ in range(ANONYMOUS_RATE):
        assert client_from(PROXY, forwarded_for="198.51.100.7", key=BAD_KEY).get(url).status_code == 401
    assert_rate_limited(client_from(PROXY, forwarded_for="198.51.100.7", key=BAD_KEY).get(url))
    # A client spoofing an address in front of its own is still counted by its own.
    spoofed = client_from(PROXY, forwarded_for="198.51.100.8, 198.51.100.7", key=BAD_KEY)
    assert_rate_limited(spoofed.get(url))
    assert client_from(PROXY, forwarded_for="198.51.100.8", key=BAD_KEY).get(url).status_code == 401


def test_login_limits_per_ip_count_the_client_behind_the_proxy(settings, client):
    settings.TRUSTED_PROXIES = [PROXY]
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "2/m/ip"}
    cache.clear()
    UserFactory(email="admin@galaxyco.test")

    def attempt(client_ip: str, password: str) -> str:
        response = client.post(
            "/accounts/login/",
            {"login": "admin@galaxyco.test", "password": password},
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=client_ip,
        )
        return response.content.decode() if response.status_code == 200 else "logged in"

    assert "not correct" in attempt("198.51.100.30", "wrong")
    assert "not correct" in attempt("198.51.100.30", "wrong")
    assert "Too many failed login attempts" in attempt("198.51.100.30", "wrong")
    assert attempt("198.51.100.31", PASSWORD) == "logged in"


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # untrusted peer: header ignored
        (PROXY, "198.51.100.1", "198.51.100.1"),
        (PROXY, "198.51.100.2, 198.51.100.1", "198.51.100.1"),  # the left one is the client's word
        (PROXY, "198.51.100.1, 10.0.0.1", "198.51.100.1"),  # trusted hops are skipped
        (PROXY, "198.51.100.1:4711", "198.51.100.1"),
        (PROXY, "[2001:db8::1]:443", "2001:db8::1"),
        (PROXY, "not-an-ip", PROXY),
        (PROXY, "", PROXY),
        ("::ffff:10.0.0.1", "198.51.100.1", "198.51.100.1"),
    ],
)
def test_the_client_ip(settings, peer, forwarded_for, expected):
    settings.TRUSTED_PROXIES = ["10.0.0.0/29"]
    request = RequestFactory().get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded_for)
    assert client_ip(request) == expected
    assert get_adapter().get_client_ip(request) == expected  # allauth counts the same client


def test_a_malformed_trusted_proxy_stops_start_up(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "proxy.internal"]
    with pytest.raises(ImproperlyConfigured, match=r"proxy\.internal"):
        TrustedProxyMiddleware(lambda request: HttpResponse())


def test_forwarded_proto_counts_only_from_a_trusted_proxy(settings, client):
    settings.TRUSTED_PROXIES = [PROXY]
    settings.SECURE_SSL_REDIRECT = True
    untrusted = client.get("/healthz", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_PROTO="https")
    assert untrusted.status_code == 301
    assert untrusted["Location"].startswith("https://")
    trusted = client.get("/healthz", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="https")
    assert trusted.status_code == 200


def test_without_trusted_proxies_no_peer_is_believed(settings, client):
    settings.TRUSTED_PROXIES = []
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/healthz", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 301
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.1")
    TrustedProxyMiddleware(lambda request: HttpResponse())(request)
    assert "HTTP_X_FORWARDED_FOR" not in request.META
    assert client_ip(request) == PROXY
