"""The admin site: an integration's status cannot be typed in, actions speak of integrations,
staff sign in with their email, and allauth's unused social-login tables are not offered."""

import pytest
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
from django.contrib import admin

from integrations.models import Integration, IntegrationStatus
from integrations.tests.factories import IntegrationFactory
from workspaces.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(email="staff@galaxyco.test", is_staff=True, is_superuser=True))
    return client


def change_url(integration: Integration) -> str:
    return f"/admin/integrations/integration/{integration.pk}/change/"


def test_status_is_read_only_in_the_change_form(staff_client, workspace):
    integration = IntegrationFactory(workspace=workspace, status=IntegrationStatus.REAUTH_REQUIRED)
    page = staff_client.get(change_url(integration))
    assert page.status_code == 200
    assert 'name="status"' not in page.content.decode()

    staff_client.post(change_url(integration), {"status": IntegrationStatus.ACTIVE, "_save": "Save"})
    integration.refresh_from_db()
    assert integration.status == IntegrationStatus.REAUTH_REQUIRED


def test_refresh_action_message_names_the_integration(staff_client, workspace):
    integration = IntegrationFactory(workspace=workspace, email="ada@gmail.test")  # no token row
    response = staff_client.post(
        "/admin/integrations/integration/",
        {"action": "refresh_now", "_selected_action": [integration.pk]},
        follow=True,
    )
    texts = [str(m) for m in response.context["messages"]]
    assert len(texts) == 1
    assert texts[0].startswith("Integration “Gmail · ada@gmail.test” was not refreshed: ")


def test_disconnect_action_message_names_the_integration(staff_client, workspace, google):
    integration = IntegrationFactory(workspace=workspace, email="ada@gmail.test")
    response = staff_client.post(
        "/admin/integrations/integration/",
        {"action": "disconnect", "_selected_action": [integration.pk]},
        follow=True,
    )
    texts = [str(m) for m in response.context["messages"]]
    assert texts == ["Integration Gmail (ada@gmail.test) was disconnected."]
    integration.refresh_from_db()
    assert integration.status == IntegrationStatus.DISCONNECTED


def test_unused_social_login_models_are_hidden(staff_client):
    for model in (SocialApp, SocialAccount, SocialToken):
        assert not admin.site.is_registered(model)
    index = staff_client.get("/admin/").content.decode()
    assert "Social accounts" not in index
    assert "Social application" not in index


def test_admin_login_asks_for_an_email(client):
    response = client.get("/admin/login/", follow=True)
    assert response.redirect_chain and "/accounts/login/" in response.redirect_chain[-1][0]
    page = response.content.decode()
    assert '<label for="id_login">Email' in page
    assert "Username" not in page


def test_oauth_tokens_are_spelled_so(staff_client):
    index = staff_client.get("/admin/").content.decode()
    assert "OAuth tokens" in index
    assert "O auth tokens" not in index
