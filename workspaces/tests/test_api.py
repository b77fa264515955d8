import pytest

from workspaces.tests.factories import MembershipFactory


@pytest.mark.django_db
def test_a_member_lists_only_their_workspaces(member, workspace, other_workspace, session_client):
    second = MembershipFactory(user=member).workspace
    response = session_client.get("/api/workspaces/")
    assert response.status_code == 200
    assert sorted(row["id"] for row in response.json()["results"]) == sorted([workspace.pk, second.pk])


@pytest.mark.django_db
def test_a_member_reads_their_workspace_and_not_anothers(workspace, other_workspace, session_client):
    assert session_client.get(f"/api/workspaces/{workspace.pk}/").status_code == 200
    response = session_client.get(f"/api/workspaces/{other_workspace.pk}/")
    assert response.status_code == 404
    missing = session_client.get("/api/workspaces/999999/")
    assert missing.status_code == 404
    assert missing.json() == response.json() | {
        "error": response.json()["error"] | {"request_id": missing.json()["error"]["request_id"]}
    }


@pytest.mark.django_db
def test_no_credential_answers_401_not_403(workspace, anon_client):
    for url in ("/api/workspaces/", f"/api/workspaces/{workspace.pk}/"):
        response = anon_client.get(url)
        assert response.status_code == 401
        assert "WWW-Authenticate" in response
        assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.django_db
def test_the_request_id_is_taken_from_the_request(workspace, key_client):
    response = key_client.get(f"/api/workspaces/{workspace.pk}/", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    unsafe = key_client.get(f"/api/workspaces/{workspace.pk}/", HTTP_X_REQUEST_ID="bad id\n")
    assert unsafe["X-Request-ID"] != "bad id\n"
    assert len(unsafe["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_session_writes_need_the_csrf_token(member, workspace):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(member)
    response = client.post("/api/workspaces/", {})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_the_schema_and_docs_are_served(db, anon_client):
    assert anon_client.get("/api/schema/").status_code == 200
    assert anon_client.get("/api/docs/").status_code == 200
