import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from workspaces.key_cache import API_KEY_CACHE_SECONDS, recent_keys
from workspaces.models import ApiKey
from workspaces.services import authenticate_api_key, hash_api_key, revoke_api_key


def detail_url(workspace):
    return f"/api/workspaces/{workspace.pk}/"


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.mark.django_db
def test_the_workspace_key_reads_its_workspace(workspace, key_client):
    response = key_client.get(detail_url(workspace))
    assert response.status_code == 200
    assert response.json()["slug"] == "acme"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header", ["Bearer gxy_not-a-real-key-at-all", "Bearer nonsense", "Bearer", "Bearer a b"]
)
def test_a_wrong_key_answers_401_with_a_challenge(workspace, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(detail_url(workspace))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "authentication_failed"
    assert body["error"]["request_id"] == response["X-Request-ID"]


@pytest.mark.django_db
def test_a_revoked_key_answers_401(workspace, api_key):
    key_row = ApiKey.objects.unscoped().get(key_hash=hash_api_key(api_key))
    revoke_api_key(workspace=workspace, api_key_id=key_row.pk)
    response = bearer(api_key).get(detail_url(workspace))
    assert response.status_code == 401


@pytest.mark.django_db
def test_a_key_revoked_after_use_is_refused_at_once_by_the_revoking_process(workspace, api_key):
    client = bearer(api_key)
    assert client.get(detail_url(workspace)).status_code == 200  # now remembered by this process
    revoke_api_key(
        workspace=workspace, api_key_id=ApiKey.objects.unscoped().get(key_hash=hash_api_key(api_key)).pk
    )
    assert client.get(detail_url(workspace)).status_code == 401


@pytest.mark.django_db
def test_a_deleted_workspaces_key_is_refused_at_once_by_the_deleting_process(workspace, api_key):
    client = bearer(api_key)
    url = detail_url(workspace)
    assert client.get(url).status_code == 200
    workspace.delete()
    assert client.get(url).status_code == 401


@pytest.mark.django_db
def test_a_key_revoked_by_another_process_is_refused_within_seconds(workspace, api_key, monkeypatch):
    """A key found in the database is remembered by the process for API_KEY_CACHE_SECONDS: a
    revocation in another process, which cannot reach this one's memory, takes effect within them."""
    now = 1000.0
    monkeypatch.setattr(recent_keys, "clock", lambda: now)
    client = bearer(api_key)
    assert client.get(detail_url(workspace)).status_code == 200
    ApiKey.objects.unscoped().filter(key_hash=hash_api_key(api_key)).update(revoked_at=timezone.now())

    now += API_KEY_CACHE_SECONDS - 0.1
    assert client.get(detail_url(workspace)).status_code == 200  # remembered, not read again
    now += 0.1
    assert client.get(detail_url(workspace)).status_code == 401


@pytest.mark.django_db
def test_a_remembered_key_is_not_looked_up_again(workspace, api_key):
    client = bearer(api_key)
    assert client.get(detail_url(workspace)).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        assert client.get(detail_url(workspace)).status_code == 200
    assert not [query for query in captured.captured_queries if "workspaces_apikey" in query["sql"]]
    # and the key's own workspace is the one the URL names: no second read of it
    assert not [query for query in captured.captured_queries if "workspaces_workspace" in query["sql"]]


@pytest.mark.django_db
def test_a_remembered_key_still_answers_only_for_its_workspace(workspace, other_workspace, api_key):
    client = bearer(api_key)
    assert client.get(detail_url(workspace)).status_code == 200
    assert client.get(detail_url(other_workspace)).status_code == 404


@pytest.mark.django_db
def test_another_workspaces_key_answers_404(workspace, other_key_client):
    response = other_key_client.get(detail_url(workspace))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_use_records_last_used_at(workspace, api_key):
    key_row = ApiKey.objects.unscoped().get(key_hash=hash_api_key(api_key))
    assert key_row.last_used_at is None
    before = timezone.now()
    bearer(api_key).get(detail_url(workspace))
    key_row.refresh_from_db()
    assert key_row.last_used_at is not None
    assert key_row.last_used_at >= before


@pytest.mark.django_db
def test_only_a_hash_and_a_prefix_are_stored(workspace, api_key):
    key_row = ApiKey.objects.unscoped().get(workspace=workspace)
    assert api_key not in {key_row.key_hash, key_row.prefix, key_row.name}
    assert key_row.key_hash == hash_api_key(api_key)
    assert api_key.startswith(key_row.prefix)


@pytest.mark.django_db
def test_a_key_cannot_list_other_workspaces(workspace, other_workspace, key_client):
    response = key_client.get("/api/workspaces/")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [workspace.pk]


@pytest.mark.django_db
def test_each_request_gets_its_own_copy_of_a_remembered_key(workspace, api_key):
    key_hash = hash_api_key(api_key)
    found = authenticate_api_key(raw_key=api_key)
    assert found is not None
    recent_keys.add(key_hash, found)
    found.role = "viewer"  # the request that found it changes its own instances only
    found.workspace.name = "Changed by the finding request"
    first, second = recent_keys.get(key_hash), recent_keys.get(key_hash)
    assert first is not None and second is not None
    assert first is not second and first.workspace is not second.workspace
    role = ApiKey.objects.unscoped().get(pk=found.pk).role
    assert (first.pk, first.role, first.workspace.pk, first.workspace.name) == (
        found.pk,
        role,
        workspace.pk,
        "Acme",
    )
    assert (first._state.db, first._state.adding) == ("default", False)

    first.role = "viewer"
    first.workspace.name = "Changed by one request"
    assert (second.role, second.workspace.name) == (role, "Acme")
    third = recent_keys.get(key_hash)
    assert third is not None
    assert (third.role, third.workspace.name) == (role, "Acme")
    third.workspace.refresh_from_db()  # a row like any other
    assert third.workspace.name == "Acme"
