"""Refresh, disconnect and reconnect at the same time: no deadlock, no wrong status."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from galaxyco.errors import ReauthRequired
from integrations.google.credentials import refresh_credentials
from integrations.models import Integration, IntegrationStatus, OAuthToken
from integrations.services import disconnect_integration, mark_reauth_required
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
    google.state.add_fault(
        "token.refresh_token", hang_seconds=1.0
    )  # the refresh holds the token's lock a while
    errors: list[BaseException] = []
    refresher = in_thread(lambda: refresh_credentials(integration=integration, force=True), errors)
    threading.Event().wait(0.3)
    disconnector = in_thread(
        lambda: disconnect_integration(workspace=workspace, integration_id=integration.pk), errors
    )
    refresher.join(10)
    disconnector.join(10)

    assert errors == []
    final = Integration.objects.get(pk=integration.pk)
    assert final.status == IntegrationStatus.DISCONNECTED
    assert not OAuthToken.objects.filter(integration=integration).exists()


def test_a_lost_grant_does_not_mark_a_connection_that_was_renewed_since(google, workspace, member):
    integration = connect(google, workspace=workspace, user=member)
    seen = OAuthToken.objects.get(integration=integration).updated_at
    OAuthToken.objects.filter(integration=integration).update(
        updated_at=timezone.now() + timedelta(seconds=1)
    )
    mark_reauth_required(integration=integration, error=ReauthRequired(), token_updated_at=seen)
    assert Integration.objects.get(pk=integration.pk).status == IntegrationStatus.ACTIVE


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
    refresh_credentials(integration=Integration.objects.get(pk=calendar.pk), force=True)  # still works

    second = disconnect_integration(workspace=workspace, integration_id=calendar.pk)
    assert second.revocation == "revoked"
    assert google.state.stats()["revoke"] == 1
