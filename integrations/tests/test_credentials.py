from datetime import timedelta

import pytest
from django.utils import timezone

from galaxyco.errors import IntegrationNotConnected, ReauthRequired, RetryableError
from integrations.google.credentials import credentials_for, refresh_credentials
from integrations.models import IntegrationStatus, OAuthToken
from integrations.tests.google_grants import connect

pytestmark = pytest.mark.django_db


def expire(integration) -> OAuthToken:
    token = OAuthToken.objects.unscoped().get(integration=integration)
    token.expires_at = timezone.now() + timedelta(minutes=4)  # inside the 5-minute margin
    token.save()
    integration.token = token  # as a fresh load with select_related("token") would see it
    return token


def test_a_fresh_token_is_used_as_it_is(google, workspace, member):
    integration = connect(google, workspace=workspace, user=member)
    stored = OAuthToken.objects.unscoped().get(integration=integration)
    credentials = credentials_for(integration=integration)
    assert credentials.token == stored.access_token
    assert credentials.expiry is not None
    assert credentials.expiry.tzinfo is None  # google-auth wants naive UTC
    assert not credentials.expired
    assert google.state.stats().get("token.refresh_token", 0) == 0


def test_a_token_expiring_within_five_minutes_is_refreshed_once(google, workspace, member):
    integration = connect(google, workspace=workspace, user=member)
    old = expire(integration)
    credentials = credentials_for(integration=integration)
    again = credentials_for(integration=integration)
    new = OAuthToken.objects.unscoped().get(integration=integration)
    assert google.state.stats()["token.refresh_token"] == 1
    assert credentials.token == again.token == new.access_token != old.access_token
    assert new.refresh_token == old.refresh_token  # Google sent none: ours is kept
    assert new.expires_at > timezone.now() + timedelta(minutes=30)
    integration.refresh_from_db()
    assert integration.last_refreshed_at is not None


def test_a_revoked_grant_asks_the_person_to_reconnect(google, workspace, member):
    integration = connect(google, workspace=workspace, user=member, email="gone@gmail.test")
    expire(integration)
    google.state.revoke_account("gone@gmail.test")
    with pytest.raises(ReauthRequired, match="Reconnect it on the Integrations page"):
        credentials_for(integration=integration)
    integration.refresh_from_db()
    assert integration.status == IntegrationStatus.REAUTH_REQUIRED
    assert integration.last_error_code == "reauth_required"
    assert integration.last_error_at is not None
    with pytest.raises(ReauthRequired):  # and no more calls to Google until reconnected
        credentials_for(integration=integration)
    assert google.state.stats()["token.refresh_token"] == 1


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 429, "retry_after": 7}, {"hang_seconds": 2}])
def test_transient_refresh_failures_are_retryable_and_keep_the_integration_active(
    google, workspace, member, settings, fault
):
    settings.GOOGLE_HTTP_TIMEOUT = 1
    integration = connect(google, workspace=workspace, user=member)
    expire(integration)
    google.state.add_fault("token.refresh_token", **fault)
    with pytest.raises(RetryableError) as caught:
        credentials_for(integration=integration)
    if fault.get("retry_after"):
        assert caught.value.retry_after == 7
    integration.refresh_from_db()
    assert integration.status == IntegrationStatus.ACTIVE
    assert OAuthToken.objects.unscoped().get(integration=integration).refresh_lease_until is None  # released
    assert credentials_for(integration=integration).token  # the next attempt succeeds


def test_a_token_google_rejected_is_refreshed_unless_someone_already_did(google, workspace, member):
    integration = connect(google, workspace=workspace, user=member)
    rejected = OAuthToken.objects.unscoped().get(integration=integration).access_token
    first = refresh_credentials(integration=integration, rejected_token=rejected)
    second = refresh_credentials(integration=integration, rejected_token=rejected)
    assert first.token == second.token != rejected
    assert google.state.stats()["token.refresh_token"] == 1


def test_a_disconnected_integration_is_not_connected(google, workspace, member):
    from integrations.services import disconnect_integration

    integration = connect(google, workspace=workspace, user=member)
    disconnect_integration(workspace=workspace, integration_id=integration.pk)
    integration.refresh_from_db()
    with pytest.raises(IntegrationNotConnected):
        credentials_for(integration=integration)
