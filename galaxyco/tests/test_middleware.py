"""What every request passes before and after its view, kept cheap: an API key's request is not
given a session, an authenticated user or message storage (its key alone authenticates it), and
the settings' Content-Security-Policy is built once; the headers stay as they were."""

import pytest
from csp.utils import build_policy
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import get_resolver
from rest_framework.test import APIClient
from rest_framework.views import APIView

from galaxyco.tests.test_tenancy import view_class, walk
from workspaces.authentication import ApiKeyAuthentication

pytestmark = pytest.mark.django_db

SECURITY_HEADERS = (
    "Content-Security-Policy",
    "Cross-Origin-Opener-Policy",
    "Referrer-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
)


def test_every_api_view_tries_the_api_key_first():
    """What lets an API key's request skip the session: its key answers before any other way in."""
    api_views = [
        view_class(pattern)
        for route, pattern in walk(get_resolver().url_patterns)
        if route.startswith("api/")
    ]
    drf_views = [cls for cls in api_views if issubclass(cls, APIView)]
    assert len(drf_views) > 20
    for cls in drf_views:
        assert cls.authentication_classes[0] is ApiKeyAuthentication, cls


def test_an_api_keys_request_reads_no_session(workspace, api_key, page_client):
    """Even with a member's session cookie beside the key, the key alone authenticates the
    request: the session is neither read nor saved, and the headers are those of any API answer."""
    url = f"/api/workspaces/{workspace.pk}/"
    with CaptureQueriesContext(connection) as captured:
        response = page_client.get(url, HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert response.status_code == 200
    assert not [query for query in captured.captured_queries if "django_session" in query["sql"]]
    assert not [query for query in captured.captured_queries if "auth_user" in query["sql"]]
    assert not response.cookies

    by_session = page_client.get(url)
    assert by_session.status_code == 200
    for header in (*SECURITY_HEADERS, "Vary"):
        assert response[header] == by_session[header], header
    assert response["Vary"] == "Accept, Cookie"


def test_a_refused_key_answers_as_before(workspace):
    response = APIClient().get(f"/api/workspaces/{workspace.pk}/", HTTP_AUTHORIZATION="Bearer gxy_unknown")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["error"]["code"] == "authentication_failed"
    for header in SECURITY_HEADERS:
        assert response[header]


def test_an_api_keys_request_to_a_missing_path_answers_the_apis_404(api_key):
    response = APIClient().get("/api/nowhere/", HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response["Vary"] == "Cookie"


def test_other_authorization_schemes_keep_the_session(workspace, page_client):
    """Only the Bearer scheme is the key's: with another, the API falls back to the session."""
    response = page_client.get(f"/api/workspaces/{workspace.pk}/", HTTP_AUTHORIZATION="Basic Zm9vOmJhcg==")
    assert response.status_code == 200


def test_pages_keep_the_session_whatever_the_authorization_header(workspace, page_client, api_key):
    response = page_client.get(f"/w/{workspace.slug}/", HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert response.status_code == 200


def test_session_writes_through_the_api_still_need_the_csrf_token(member, workspace):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(member)
    response = client.post(f"/api/workspaces/{workspace.pk}/workflows/", {}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_the_policy_is_the_settings_and_follows_them(settings, key_client, workspace):
    url = f"/api/workspaces/{workspace.pk}/"
    assert key_client.get(url)["Content-Security-Policy"] == build_policy()
    assert "Content-Security-Policy-Report-Only" not in key_client.get(url)

    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"default-src": ["'self'"]}}
    response = key_client.get(url)
    assert response["Content-Security-Policy"] == "default-src 'none'"
    assert response["Content-Security-Policy-Report-Only"] == "default-src 'self'"

    settings.CONTENT_SECURITY_POLICY = {
        "EXCLUDE_URL_PREFIXES": ["/api/"],
        "DIRECTIVES": {"default-src": ["'none'"]},
    }
    assert "Content-Security-Policy" not in key_client.get(url)


def test_a_views_own_policy_still_applies(client):
    """The API docs page adds Swagger UI's needs to the policy (csp_update): built per response."""
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Security-Policy"] != build_policy()
    assert "'unsafe-inline'" in response["Content-Security-Policy"]
