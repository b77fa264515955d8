"""Refresh, disconnect and reconnect at the same time: no deadlock, no wrong status."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from galaxyco.errors import IntegrationNotConnected, ReauthRequired, RetryableError
from integrations.google import credentials, oauth_client
from integrations.google.credentials import credentials_for, refresh_credentials
from integrations.health import record_reauth_required
from integrations.models import Integration, IntegrationStatus, OAuthToken
from integrations.services import disconnect_integration
from integrations.tests.google_grants import connect

pytestmark = pytest.mark.django_db(transaction=True)


def in_thread(target, errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except BaseException as error:  # collected and asserted on by the test
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_disconnect_during_a_refresh_neither_deadlocks_nor_revives_the_integration(
    google, workspace, member
):
    integration = connect(google, workspace=workspace, user=member)
    google.state.add_fault("token.refresh_token", hang_seconds=1.0)  # the refresh waits on Google a while
    errors: list[BaseException] = []
    refresher = in_thread(lambda: refresh_credentials(integration=integration, force=True), errors)
    threading.Event().wait(0.3)
    disconnector = in_thread(
        lambda: disconnect_integration(workspace=workspace, integration_id=integration.pk), errors
    )
    refresher.join(10)
    disconnector.join(10)

    # The disconnect did not wait for Google; the refresh then learns the account is gone.
    assert [type(error) for error in errors] == [IntegrationNotConnected]
    final = Integration.objects.unscoped().get(pk=integration.pk)
    assert final.status == IntegrationStatus.DISCONNECTED
    assert not OAuthToken.objects.unscoped().filter(integration=integration).exists()


def test_a_lost_grant_does_not_mark_a_connection_that_was_renewed_since(google, workspace, member):
    integration = connect(google, workspace=workspace, user=member)
    seen = OAuthToken.objects.unscoped().get(integration=integration).updated_at
    OAuthToken.objects.unscoped().filter(integration=integration).update(
        updated_at=timezone.now() + timedelta(seconds=1)
    )
    record_reauth_required(integration_id=integration.pk, error=ReauthRequired(), credentials_generation=seen)
    assert Integration.objects.unscoped().get(pk=integration.pk).status == IntegrationStatus.ACTIVE


def test_disconnecting_one_connection_keeps_the_grant_the_accounts_other_connections_use(
    google, workspace, member
):
    gmail = connect(google, workspace=workspace, user=member, email="both@gmail.test")
    calendar = connect(
        google, workspace=workspace, user=member, email="both@gmail.test", integration_type="calendar"
    )

    first = disconnect_integration(workspace=workspace, integration_id=gmail.pk)
    assert first.revocation == "kept"
    assert google.state.stats().get("revoke", 0) == 0
    refresh_credentials(
        integration=Integration.objects.unscoped().get(pk=calendar.pk), force=True
    )  # still works

    second = disconnect_integration(workspace=workspace, integration_id=calendar.pk)
    assert second.revocation == "revoked"
    assert google.state.stats()["revoke"] == 1


def expiring(integration: Integration) -> None:
    OAuthToken.objects.unscoped().filter(integration=integration).update(
        expires_at=timezone.now() + timedelta(minutes=1)
    )


def all_at_once(callers: int, call) -> tuple[list[object], list[BaseException]]:
    """`call` in `callers` threads started together; what they returned and raised."""
    start = threading.Barrier(callers)
    results: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        start.wait(10)
        results.append(call())

    threads = [in_thread(run, errors) for _ in range(callers)]
    for thread in threads:
        thread.join(20)
    return results, errors


def fresh_load(integration: Integration) -> Integration:
    return Integration.objects.unscoped().select_related("token").get(pk=integration.pk)


def test_when_the_refresh_fails_the_workers_waiting_on_it_give_up_without_calling_google(
    google, workspace, member, settings, monkeypatch
):
    settings.GOOGLE_HTTP_TIMEOUT = 1
    integration = connect(google, workspace=workspace, user=member)
    expiring(integration)
    google.state.add_fault("token.refresh_token", hang_seconds=3)  # past the timeout
    # The refresh fails only once the other three wait on it: on a busy machine a thread can
    # start so late that the refresh has already failed, and a worker arriving then rightly tries
    # again. A worker that lost the lease waits on it.
    waiting: set[int] = set()
    all_waiting = threading.Event()
    take_lease = credentials._take_lease
    refresh = oauth_client.refresh_access_token

    def take_lease_or_wait(token, **kwargs):
        lease = take_lease(token, **kwargs)
        if lease is None:
            waiting.add(threading.get_ident())
            if len(waiting) == 3:
                all_waiting.set()
        return lease

    def refresh_once_all_wait(**kwargs):
        assert all_waiting.wait(20), "the other workers never waited on the lease"
        return refresh(**kwargs)

    monkeypatch.setattr(credentials, "_take_lease", take_lease_or_wait)
    monkeypatch.setattr(oauth_client, "refresh_access_token", refresh_once_all_wait)

    results, errors = all_at_once(4, lambda: credentials_for(integration=fresh_load(integration)))

    assert results == []
    assert [type(error) for error in errors] == [RetryableError] * 4
    assert google.state.stats()["token.refresh_token"] == 1
    assert OAuthToken.objects.unscoped().get(integration=integration).refresh_lease_until is None
    assert credentials_for(integration=fresh_load(integration)).token  # the next attempt refreshes


def test_a_worker_that_read_the_lease_just_before_its_holder_gave_up_does_not_refresh(
    google, workspace, member, monkeypatch
):
    integration = connect(google, workspace=workspace, user=member)
    expiring(integration)
    held = OAuthToken.objects.unscoped().filter(integration=integration)
    held.update(refresh_lease_until=timezone.now() + timedelta(seconds=30))  # another worker refreshes
    load_token = credentials._load_token
    reads: list[OAuthToken] = []

    def read_then_the_holder_gives_up(integration):
        token = load_token(integration)
        reads.append(token)
        if len(reads) == 2:  # the waiter has the row with the lease in hand; its holder gives up
            held.update(refresh_lease_until=None)
        return token

    monkeypatch.setattr(credentials, "_load_token", read_then_the_holder_gives_up)

    with pytest.raises(RetryableError):
        credentials_for(integration=fresh_load(integration))
    assert google.state.stats().get("token.refresh_token", 0) == 0  # not refreshed a second time


def test_when_the_grant_is_lost_the_workers_waiting_on_the_refresh_are_told_to_reconnect(
    google, workspace, member
):
    integration = connect(google, workspace=workspace, user=member, email="gone@gmail.test")
    expiring(integration)
    google.state.revoke_account("gone@gmail.test")
    google.state.add_fault("token.refresh_token", hang_seconds=1.0)

    results, errors = all_at_once(4, lambda: credentials_for(integration=fresh_load(integration)))

    assert results == []
    assert [type(error) for error in errors] == [ReauthRequired] * 4
    assert google.state.stats()["token.refresh_token"] == 1
    final = Integration.objects.unscoped().get(pk=integration.pk)
    assert final.status == IntegrationStatus.REAUTH_REQUIRED
    assert OAuthToken.objects.unscoped().get(integration=integration).refresh_lease_until is None


def test_a_reconnect_while_a_refresh_loses_the_old_grant_survives_and_is_used(google, workspace, member):
    integration = connect(google, workspace=workspace, user=member, email="again@gmail.test")
    google.state.revoke_account("again@gmail.test")
    google.state.add_fault("token.refresh_token", hang_seconds=3.0)
    errors: list[BaseException] = []
    results: list[object] = []
    refresher = in_thread(
        lambda: results.append(refresh_credentials(integration=integration, force=True)), errors
    )
    # The reconnect comes while Google holds the refresh (the emulator counts it on arrival).
    deadline = time.monotonic() + 10
    while google.state.stats().get("token.refresh_token", 0) < 1 and time.monotonic() < deadline:
        threading.Event().wait(0.01)
    connect(google, workspace=workspace, user=member, email="again@gmail.test")  # the person reconnects
    refresher.join(10)

    assert errors == []
    final = Integration.objects.unscoped().get(pk=integration.pk)
    assert final.status == IntegrationStatus.ACTIVE
    assert results[0].token == OAuthToken.objects.unscoped().get(integration=integration).access_token


def test_a_lease_left_by_a_worker_that_died_is_taken_over_once_it_runs_out(google, workspace, member):
    integration = connect(google, workspace=workspace, user=member)
    expiring(integration)
    OAuthToken.objects.unscoped().filter(integration=integration).update(
        refresh_lease_until=timezone.now() - timedelta(seconds=1)
    )
    credentials = credentials_for(integration=fresh_load(integration))
    token = OAuthToken.objects.unscoped().get(integration=integration)
    assert credentials.token == token.access_token
    assert token.refresh_lease_until is None
    assert google.state.stats()["token.refresh_token"] == 1
