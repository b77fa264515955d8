import io

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from integrations.admin import mask
from integrations.models import OAuthToken
from integrations.tests.factories import OAuthTokenFactory


def stored_ciphertext(token_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM integrations_oauthtoken WHERE id = %s", [token_id])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_rotation_moves_every_token_to_the_new_key(settings):
    old_key = settings.TOKEN_ENCRYPTION_KEYS[0]
    tokens = [OAuthTokenFactory() for _ in range(3)]
    new_key = Fernet.generate_key().decode()

    settings.TOKEN_ENCRYPTION_KEYS = [new_key, old_key]
    assert OAuthToken.objects.unscoped().get(pk=tokens[0].pk).access_token == tokens[0].access_token
    before = stored_ciphertext(tokens[0].pk)
    out = io.StringIO()
    call_command("rotate_token_keys", stdout=out)
    assert "Re-encrypted 3 token(s)" in out.getvalue()
    assert stored_ciphertext(tokens[0].pk) != before

    settings.TOKEN_ENCRYPTION_KEYS = [new_key]
    for token in tokens:
        reloaded = OAuthToken.objects.unscoped().get(pk=token.pk)
        assert reloaded.access_token == token.access_token
        assert reloaded.refresh_token == token.refresh_token


@pytest.mark.django_db
def test_a_removed_key_fails_with_an_operator_message(settings):
    token = OAuthTokenFactory()
    settings.TOKEN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ImproperlyConfigured, match="rotate_token_keys"):
        OAuthToken.objects.unscoped().get(pk=token.pk)


def test_admin_masks_tokens():
    assert mask("ya29.a0AfH6SMBx-long-token-3f9c") == "ya29…3f9c"
    assert mask("") == "—"
    assert "short" not in mask("short")


@pytest.mark.django_db
def test_admin_pages_show_only_masked_tokens(admin_client):
    token = OAuthTokenFactory()
    for url in (
        f"/admin/integrations/integration/{token.integration_id}/change/",
        f"/admin/integrations/oauthtoken/{token.pk}/change/",
        "/admin/integrations/oauthtoken/",
        f"/admin/integrations/integration/?q={token.integration.email}",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert token.access_token not in response.content.decode()
        assert token.refresh_token not in response.content.decode()


@pytest.mark.django_db
def test_admin_actions_refresh_now_and_disconnect(admin_client, google, workspace, member):
    from integrations.models import Integration, IntegrationStatus
    from integrations.tests.google_grants import connect

    integration = connect(google, workspace=workspace, user=member)
    before = OAuthToken.objects.unscoped().get(integration=integration).access_token
    changelist = "/admin/integrations/integration/"
    admin_client.post(changelist, {"action": "refresh_now", "_selected_action": [integration.pk]})
    assert google.state.stats()["token.refresh_token"] == 1
    assert OAuthToken.objects.unscoped().get(integration=integration).access_token != before

    admin_client.post(changelist, {"action": "disconnect", "_selected_action": [integration.pk]})
    assert Integration.objects.unscoped().get(pk=integration.pk).status == IntegrationStatus.DISCONNECTED
    assert not OAuthToken.objects.unscoped().filter(integration=integration).exists()
    assert google.state.stats()["revoke"] == 1
