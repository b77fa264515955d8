"""Roles: owner, admin, member, viewer, and API keys with a role. One table
(workspaces.permissions) decides for pages and API; these tests walk every write endpoint."""

import io
import re
from html import unescape

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework.views import APIView

from workflows.models import RunTrigger, Workflow, WorkflowRun, WorkflowStep
from workflows.tests.helpers import WELCOME
from workspaces.models import ApiKey, Membership, Role
from workspaces.permissions import MINIMUM_ROLE, WRITE_ENDPOINTS, has_role
from workspaces.tests.factories import MembershipFactory, UserFactory, api_key_for

SAFE = {"get", "head", "options"}
MISSING_ID = 987654
ROLES = [Role.VIEWER, Role.MEMBER, Role.ADMIN, Role.OWNER]
KEY_ROLES = [Role.VIEWER, Role.MEMBER, Role.ADMIN]


def _walk(patterns, prefix=""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def write_endpoints(under: str) -> list[tuple[str, str, str]]:
    """(route, URL name, METHOD) for every non-GET method of every view under `under`."""
    found = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if not route.startswith(under):
            continue
        view = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
        assert view is not None, f"{route}: a workspace endpoint must be a class-based view"
        allowed = getattr(view, "http_method_names", APIView.http_method_names)
        for method in allowed:
            if method not in SAFE and hasattr(view, method):
                found.append((route, pattern.name, method.upper()))
    return found


API_WRITES = write_endpoints("api/workspaces/<int:workspace_id>/")
PAGE_WRITES = write_endpoints("w/<slug:slug>/")


def concrete(route: str, workspace) -> str:
    """The route with this workspace and ids that name nothing: a refusal comes before any lookup,
    and an allowed request gets past the role check to its lookup (404) or its form (400)."""
    path = route.replace("<int:workspace_id>", str(workspace.pk)).replace("<slug:slug>", workspace.slug)
    path = re.sub(r"<int:\w+>", str(MISSING_ID), path)
    path = re.sub(r"<str:integration_type>", "gmail", path)
    assert "<" not in path, path
    return "/" + path


def test_every_write_endpoint_is_in_the_permission_table():
    assert API_WRITES and PAGE_WRITES
    listed = set(WRITE_ENDPOINTS)
    missing = [(name, method) for _, name, method in API_WRITES + PAGE_WRITES if (name, method) not in listed]
    assert missing == [], "add these to workspaces.permissions.WRITE_ENDPOINTS"


def person(workspace, role: str):
    return MembershipFactory(workspace=workspace, user=UserFactory(email=f"{role}@acme.test"), role=role).user


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("route", "name", "method"), API_WRITES, ids=[f"{m} {n}" for _, n, m in API_WRITES])
def test_the_api_answers_each_role_as_the_table_says(workspace, role, route, name, method):
    client = APIClient()
    client.force_login(person(workspace, role))
    response = client.generic(method, concrete(route, workspace), "{}", content_type="application/json")
    if has_role(role, MINIMUM_ROLE[WRITE_ENDPOINTS[(name, method)]]):
        assert response.status_code != 403, response.content
    else:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
        assert (
            f"As {'an' if role in (Role.ADMIN, Role.OWNER) else 'a'} {role}"
            in response.json()["error"]["message"]
        )


@pytest.mark.django_db
@pytest.mark.parametrize("role", KEY_ROLES)
@pytest.mark.parametrize(("route", "name", "method"), API_WRITES, ids=[f"{m} {n}" for _, n, m in API_WRITES])
def test_an_api_key_is_answered_by_its_role(workspace, role, route, name, method):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(workspace, role=role)}")
    response = client.generic(method, concrete(route, workspace), "{}", content_type="application/json")
    if has_role(role, MINIMUM_ROLE[WRITE_ENDPOINTS[(name, method)]]):
        assert response.status_code != 403, response.content
    else:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("route", "name", "method"), PAGE_WRITES, ids=[f"{m} {n}" for _, n, m in PAGE_WRITES]
)
def test_pages_answer_each_role_as_the_table_says(workspace, role, route, name, method):
    client = Client()
    client.force_login(person(workspace, role))
    response = client.generic(method, concrete(route, workspace))
    if has_role(role, MINIMUM_ROLE[WRITE_ENDPOINTS[(name, method)]]):
        assert response.status_code != 403
    else:
        assert response.status_code == 403
        assert "of this workspace you cannot" in unescape(response.content.decode())


@pytest.mark.django_db
def test_a_viewer_reads_everything_and_changes_nothing(workspace, member):
    viewer = person(workspace, Role.VIEWER)
    client = Client()
    client.force_login(viewer)
    for page in ("", "members/", "settings/", "integrations/", "workflows/", "runs/"):
        assert client.get(f"/w/{workspace.slug}/{page}").status_code == 200
    api = APIClient()
    api.force_login(viewer)
    assert api.get(f"/api/workspaces/{workspace.pk}/workflows/").status_code == 200
    refused = api.post(f"/api/workspaces/{workspace.pk}/workflows/", WELCOME, format="json")
    assert refused.status_code == 403
    assert (
        "As a viewer of this workspace you cannot create or change workflows"
        in refused.json()["error"]["message"]
    )
    assert not Workflow.objects.unscoped().exists()


# --- Owners manage admins; admins manage members.


@pytest.mark.django_db
def test_only_an_owner_makes_someone_an_admin(workspace, member):
    admin = person(workspace, Role.ADMIN)
    plain = person(workspace, Role.MEMBER)
    client = Client()
    client.force_login(admin)
    response = client.post(
        f"/w/{workspace.slug}/members/{Membership.objects.unscoped().get(user=plain).pk}/",
        {"role": "admin"},
        follow=True,
    )
    assert "Only an owner" in unescape(response.content.decode())
    assert Membership.objects.unscoped().get(user=plain).role == Role.MEMBER

    owner = Client()
    owner.force_login(member)
    owner.post(
        f"/w/{workspace.slug}/members/{Membership.objects.unscoped().get(user=plain).pk}/", {"role": "admin"}
    )
    assert Membership.objects.unscoped().get(user=plain).role == Role.ADMIN


# --- API keys carry a role.


@pytest.mark.django_db
def test_an_api_key_is_a_member_unless_chosen_otherwise_and_the_keys_page_shows_it(workspace, member):
    client = Client()
    client.force_login(member)
    client.post(f"/w/{workspace.slug}/settings/", {"name": "Zapier"})
    client.post(f"/w/{workspace.slug}/settings/", {"name": "Dashboard", "role": "viewer"})
    assert dict(ApiKey.objects.unscoped().values_list("name", "role")) == {
        "Zapier": "member",
        "Dashboard": "viewer",
    }
    page = client.get(f"/w/{workspace.slug}/settings/").content.decode()
    assert page.count('data-testid="api-key-role"') == 2
    assert '<td data-testid="api-key-role">Viewer</td>' in page


@pytest.mark.django_db
def test_a_viewer_key_reads_but_cannot_run(workspace, member):
    workflow = Workflow.objects.create(workspace=workspace, created_by=member, name="Welcome")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(workspace, role=Role.VIEWER)}")
    assert client.get(f"/api/workspaces/{workspace.pk}/workflows/{workflow.pk}/").status_code == 200
    response = client.post(
        f"/api/workspaces/{workspace.pk}/workflows/{workflow.pk}/execute/", {}, format="json"
    )
    assert response.status_code == 403
    assert not WorkflowRun.objects.unscoped().exists()


@pytest.mark.django_db
def test_the_create_api_key_command_takes_a_role(workspace):
    out = io.StringIO()
    call_command(
        "create_api_key", "--workspace", workspace.slug, "--name", "ops", "--role", "admin", stdout=out
    )
    assert ApiKey.objects.unscoped().get(name="ops").role == Role.ADMIN
    call_command("create_api_key", "--workspace", workspace.slug, "--name", "plain", stdout=out)
    assert ApiKey.objects.unscoped().get(name="plain").role == Role.MEMBER


# --- Deleting a workflow that has runs archives it: its history stays.


def workflow_with_run(workspace, member) -> tuple[Workflow, WorkflowRun]:
    workflow = Workflow.objects.create(workspace=workspace, created_by=member, name="Welcome")
    WorkflowStep.objects.create(
        workspace=workspace,
        workflow=workflow,
        position=0,
        action="gmail.send_email",
        params=WELCOME["steps"][0]["params"],
    )
    run = WorkflowRun.objects.create(
        workspace=workspace, workflow=workflow, trigger=RunTrigger.UI, requested_by=member
    )
    return workflow, run


@pytest.mark.django_db
def test_deleting_a_workflow_with_runs_archives_it_and_keeps_its_runs(workspace, member, admin_key_client):
    workflow, run = workflow_with_run(workspace, member)
    base = f"/api/workspaces/{workspace.pk}/"
    assert admin_key_client.delete(f"{base}workflows/{workflow.pk}/").status_code == 204

    workflow.refresh_from_db()
    assert workflow.archived_at is not None
    assert admin_key_client.get(f"{base}workflows/").json()["results"] == []
    assert admin_key_client.get(f"{base}workflows/{workflow.pk}/").status_code == 404
    assert (
        admin_key_client.post(f"{base}workflows/{workflow.pk}/execute/", {}, format="json").status_code == 404
    )
    assert [r["id"] for r in admin_key_client.get(f"{base}runs/").json()["results"]] == [run.pk]
    assert admin_key_client.get(f"{base}runs/{run.pk}/").status_code == 200


@pytest.mark.django_db
def test_deleting_from_the_page_asks_first_and_says_the_history_stays(workspace, member):
    workflow, run = workflow_with_run(workspace, member)
    client = Client()
    client.force_login(member)
    builder = unescape(client.get(f"/w/{workspace.slug}/workflows/{workflow.pk}/").content.decode())
    assert "its runs stay in Run history" in builder  # the confirmation's text
    response = client.post(f"/w/{workspace.slug}/workflows/{workflow.pk}/delete/", follow=True)
    assert "Its runs stay in Run history." in unescape(response.content.decode())
    run_page = client.get(f"/w/{workspace.slug}/runs/{run.pk}/").content.decode()
    assert 'data-testid="workflow-deleted"' in run_page  # named, not linked to a page that is gone
    assert f"/workflows/{workflow.pk}/" not in client.get(f"/w/{workspace.slug}/runs/").content.decode()
    assert "Welcome" not in client.get(f"/w/{workspace.slug}/workflows/").content.decode()


@pytest.mark.django_db
def test_deleting_a_workflow_that_never_ran_removes_it(workspace, member, admin_key_client):
    workflow = Workflow.objects.create(workspace=workspace, created_by=member, name="Draft")
    assert (
        admin_key_client.delete(f"/api/workspaces/{workspace.pk}/workflows/{workflow.pk}/").status_code == 204
    )
    assert not Workflow.objects.unscoped().exists()


@pytest.mark.django_db
def test_a_member_cannot_delete_a_workflow(workspace, member):
    workflow, _ = workflow_with_run(workspace, member)
    plain = person(workspace, Role.MEMBER)
    client = Client()
    client.force_login(plain)
    assert (
        'data-testid="delete-workflow"'
        not in client.get(f"/w/{workspace.slug}/workflows/{workflow.pk}/").content.decode()
    )
    assert client.post(f"/w/{workspace.slug}/workflows/{workflow.pk}/delete/").status_code == 403
    workflow.refresh_from_db()
    assert workflow.archived_at is None
