from html import unescape

import pytest

from integrations.models import IntegrationStatus, OAuthToken
from integrations.tests.factories import IntegrationFactory, OAuthTokenFactory


@pytest.mark.django_db
def test_the_page_shows_each_type_and_how_to_connect(page_client, workspace):
    content = unescape(page_client.get(f"/w/{workspace.slug}/integrations/").content.decode())
    assert "Connect Gmail" in content
    assert "Connect Google Calendar" in content
    assert "Connect Sidemail" in content
    assert content.count("Not connected.") == 3


@pytest.mark.django_db
def test_a_connection_needing_reauthorization_offers_reconnect(page_client, workspace):
    IntegrationFactory(workspace=workspace, email="lost@gmail.test", status=IntegrationStatus.REAUTH_REQUIRED)
    content = unescape(page_client.get(f"/w/{workspace.slug}/integrations/").content.decode())
    assert "Reconnect needed" in content
    assert "Your Gmail connection expired or was revoked" in content
    assert 'name="login_hint" value="lost@gmail.test"' in content
    assert ">Reconnect</button>" in content


@pytest.mark.django_db
def test_disconnecting_from_the_page(page_client, workspace, google):
    token = OAuthTokenFactory(integration__workspace=workspace, integration__email="team@gmail.test")
    response = page_client.post(
        f"/w/{workspace.slug}/integrations/{token.integration_id}/disconnect/", follow=True
    )
    assert "Gmail (team@gmail.test) was disconnected." in unescape(response.content.decode())
    assert not OAuthToken.objects.unscoped().filter(pk=token.pk).exists()
    token.integration.refresh_from_db()
    assert token.integration.status == IntegrationStatus.DISCONNECTED


@pytest.mark.django_db
def test_another_workspaces_integration_cannot_be_disconnected_from_this_one(
    page_client, workspace, other_workspace
):
    foreign = OAuthTokenFactory(integration__workspace=other_workspace)
    response = page_client.post(f"/w/{workspace.slug}/integrations/{foreign.integration_id}/disconnect/")
    assert response.status_code == 404
    assert OAuthToken.objects.unscoped().filter(pk=foreign.pk).exists()


@pytest.mark.django_db
def test_an_unknown_integration_type_is_not_found(page_client, workspace):
    assert page_client.post(f"/w/{workspace.slug}/integrations/google/slack/connect/").status_code == 404
