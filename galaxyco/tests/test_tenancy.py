"""Walks every URL pattern the project registers, so that an endpoint added later without
workspace scoping fails here: API routes answer 401 without a credential and 404 to another
workspace's key; workspace pages send anonymous visitors to log in and answer 404 to non-members.
"""

import re
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from workspaces.scoping import WorkspaceAPIView

# API routes that are not inside a workspace, and why they may be.
UNSCOPED_API_ROUTES = {
    "api/schema/",  # the public OpenAPI document
    "api/docs/",  # Swagger UI for that document
    "api/workspaces/",  # lists only the credential's own workspaces (tested in workspaces)
}
METHODS = ("get", "post", "put", "patch", "delete")
_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def walk(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, route)
        else:
            yield route, entry


def view_class(pattern: URLPattern) -> type:
    callback = pattern.callback
    return getattr(callback, "cls", None) or getattr(callback, "view_class", None) or type(callback)


def allowed_methods(pattern: URLPattern) -> list[str]:
    cls = view_class(pattern)
    methods = [m for m in METHODS if hasattr(cls, m)]
    return methods or ["get"]


def fill(route: str, *, workspace_id: int, slug: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group("name")
        if name == "workspace_id":
            return str(workspace_id)
        if name == "slug":
            return slug
        if match.group("converter") == "int":
            return "1"
        return "x"

    return "/" + _PARAM.sub(value, route)


ALL_ROUTES = list(walk(get_resolver().url_patterns))
API_ROUTES = [(r, p) for r, p in ALL_ROUTES if r.startswith("api/") and r not in UNSCOPED_API_ROUTES]
PAGE_ROUTES = [(r, p) for r, p in ALL_ROUTES if r.startswith("w/")]


def test_the_walk_finds_the_routes():
    assert any(r == "api/workspaces/<int:workspace_id>/" for r, _ in API_ROUTES)
    assert any(r == "w/<slug:slug>/members/" for r, _ in PAGE_ROUTES)


@pytest.mark.parametrize(("route", "pattern"), API_ROUTES, ids=[r for r, _ in API_ROUTES])
def test_every_api_route_is_workspace_scoped(route, pattern):
    assert "<int:workspace_id>" in route, f"{route} is an API route outside /api/workspaces/<id>/"
    assert issubclass(view_class(pattern), WorkspaceAPIView), f"{route} does not use WorkspaceAPIView"


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "pattern"), API_ROUTES, ids=[r for r, _ in API_ROUTES])
def test_api_route_answers_401_without_credential_and_404_to_another_workspace(
    route, pattern, workspace, other_key_client
):
    url = fill(route, workspace_id=workspace.pk, slug=workspace.slug)
    for method in allowed_methods(pattern):
        anonymous = getattr(APIClient(), method)(url, {}, format="json")
        assert anonymous.status_code == 401, f"{method.upper()} {url} without credential"
        assert "WWW-Authenticate" in anonymous
        other = getattr(other_key_client, method)(url, {}, format="json")
        assert other.status_code == 404, f"{method.upper()} {url} with another workspace's key"


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "pattern"), PAGE_ROUTES, ids=[r for r, _ in PAGE_ROUTES])
def test_workspace_page_sends_visitors_to_log_in_and_hides_from_non_members(
    route, pattern, workspace, other_member
):
    url = fill(route, workspace_id=workspace.pk, slug=workspace.slug)
    outsider = Client()
    outsider.force_login(other_member)
    for method in allowed_methods(pattern):
        anonymous = getattr(Client(), method)(url)
        assert anonymous.status_code == 302, f"{method.upper()} {url} anonymous"
        assert anonymous["Location"].startswith("/accounts/login/")
        assert getattr(outsider, method)(url).status_code == 404, f"{method.upper()} {url} non-member"
