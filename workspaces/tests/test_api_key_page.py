"""Creating an API key: POST, then redirect to the page that shows the key once, with a copy
button and a ready curl line; reloading that page neither shows it again nor makes another key."""

from html import unescape

import pytest

from workspaces.models import ApiKey
from workspaces.services import hash_api_key

pytestmark = pytest.mark.django_db


def shown_key(content: str) -> str:
    return content.split('data-testid="new-api-key">')[1].split("<")[0]


def test_creating_a_key_redirects_and_shows_it_once(page_client, workspace):
    url = f"/w/{workspace.slug}/settings/"

    created = page_client.post(url, {"name": "CRM sync", "role": "member"})

    assert created.status_code == 302
    assert created["Location"] == url
    assert "gxy_" not in created.content.decode()
    shown = page_client.get(url)
    content = shown.content.decode()
    raw_key = shown_key(content)
    assert hash_api_key(raw_key) == ApiKey.objects.unscoped().get(workspace=workspace).key_hash
    assert "no-store" in shown["Cache-Control"]
    # The ready curl line names the key and this workspace's API.
    curl = unescape(content.split('data-testid="new-api-key-curl">')[1].split("<")[0])
    api = f"http://testserver/api/workspaces/{workspace.pk}/workflows/"
    # Compared as a boolean: a failure must not print the key.
    as_expected = curl == f'curl -sS -H "Authorization: Bearer {raw_key}" {api}'
    assert as_expected, "unexpected curl line"
    assert 'data-copy="#new-api-key"' in content and 'data-copy="#new-api-key-curl"' in content
    assert "/static/js/copy.js" in content

    reloaded = page_client.get(url).content.decode()
    assert raw_key not in reloaded
    assert 'data-testid="new-api-key"' not in reloaded
    assert ApiKey.objects.unscoped().filter(workspace=workspace).count() == 1


def test_the_key_is_not_left_in_the_session(page_client, workspace):
    page_client.post(f"/w/{workspace.slug}/settings/", {"name": "CI", "role": "member"})
    assert "new_api_key" in page_client.session
    page_client.get(f"/w/{workspace.slug}/settings/")
    assert "new_api_key" not in page_client.session


def test_an_invalid_name_shows_the_form_again_without_a_key(page_client, workspace):
    response = page_client.post(f"/w/{workspace.slug}/settings/", {"name": ""})
    assert response.status_code == 400
    assert 'data-testid="new-api-key"' not in response.content.decode()
    assert not ApiKey.objects.unscoped().filter(workspace=workspace).exists()


def test_the_copy_script_is_a_static_file(client):
    response = client.get("/static/js/copy.js")
    assert response.status_code == 200
    assert b"data-copy" in b"".join(response.streaming_content)
