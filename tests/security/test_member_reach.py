"""Who may use, name and disconnect a connected account, and who may change owner roles.

A removed member's (or deleted user's) accounts stop working at once; a step names only an
account its workflow's creator may use; only an account's owner or an admin disconnects it;
only an owner grants or takes away the owner role.
"""

from html import unescape

import pytest

from integrations.models import Integration, IntegrationStatus, OAuthToken
from integrations.tests.google_grants import connect
from workflows.models import Workflow, WorkflowStep
from workflows.tests.helpers import create_workflow, execute, welcome_with_account, workflows_url
from workspaces.models import Membership, Role
from workspaces.tests.factories import (
    MembershipFactory,
    UserFactory,
    WorkspaceFactory,
    api_client_for,
    page_client_for,
)

ADA = {"name": "Ada", "email": "ada@example.com"}


@pytest.fixture
def colleague(workspace):
    return MembershipFactory(
        workspace=workspace, user=UserFactory(email="colleague@acme.test"), role=Role.MEMBER
    ).user


@pytest.fixture
def colleagues_gmail(google, workspace, colleague):
    return connect(google, workspace=workspace, user=colleague, email="colleague@gmail.test")


def remove_from_page(workspace, remover, user):
    membership = Membership.objects.unscoped().get(workspace=workspace, user=user)
    return page_client_for(remover).post(
        f"/w/{workspace.slug}/members/{membership.pk}/", {"remove": "1"}, follow=True
    )


# --- Item 2: a removed member's mailbox stops working at once.


@pytest.mark.django_db(transaction=True)
def test_removing_a_member_disconnects_and_revokes_their_accounts(
    google, workspace, member, colleague, colleagues_gmail, key_client
):
    # Shared and the workspace's default, so an API key's run of a step naming none sends from it.
    Integration.objects.unscoped().filter(pk=colleagues_gmail.pk).update(shared=True, is_default=True)
    client = api_client_for(colleague)
    by_default = create_workflow(client, workspace)
    by_name = create_workflow(client, workspace, welcome_with_account(colleagues_gmail))
    assert execute(key_client, workspace, by_default, ADA).json()["success"] is True
    assert len(google.state.messages()) == 1

    remove_from_page(workspace, member, colleague)

    colleagues_gmail.refresh_from_db()
    assert colleagues_gmail.status == IntegrationStatus.DISCONNECTED
    assert not OAuthToken.objects.unscoped().filter(integration=colleagues_gmail).exists()
    assert google.state.stats().get("revoke") == 1
    for workflow_id in (by_default, by_name):
        body = execute(key_client, workspace, workflow_id, ADA).json()
        assert body["success"] is False
        assert body["error"]["code"] == "integration_not_connected"
        assert "Integrations page" in body["error"]["message"]
    assert len(google.state.messages()) == 1  # nothing more was sent
    page = unescape(page_client_for(member).get(f"/w/{workspace.slug}/integrations/").content.decode())
    assert "colleague@gmail.test" not in page


@pytest.mark.django_db(transaction=True)
def test_a_removed_members_account_cannot_be_named_by_anyone(
    google, workspace, member, colleague, colleagues_gmail, session_client
):
    remove_from_page(workspace, member, colleague)
    response = session_client.post(
        workflows_url(workspace), welcome_with_account(colleagues_gmail), format="json"
    )
    assert response.status_code == 400
    assert not Workflow.objects.unscoped().exists()


@pytest.mark.django_db(transaction=True)
def test_removing_a_member_keeps_the_grant_their_other_workspace_uses(
    google, workspace, member, colleague, colleagues_gmail
):
    elsewhere = WorkspaceFactory(name="Side project")
    MembershipFactory(workspace=elsewhere, user=colleague)
    other_gmail = connect(google, workspace=elsewhere, user=colleague, email="colleague@gmail.test")

    remove_from_page(workspace, member, colleague)

    colleagues_gmail.refresh_from_db()
    other_gmail.refresh_from_db()
    assert colleagues_gmail.status == IntegrationStatus.DISCONNECTED
    assert other_gmail.status == IntegrationStatus.ACTIVE
    assert OAuthToken.objects.unscoped().filter(integration=other_gmail).exists()
    assert google.state.stats().get("revoke", 0) == 0


@pytest.mark.django_db(transaction=True)
def test_deleting_a_user_disconnects_and_revokes_their_accounts(
    google, workspace, colleague, colleagues_gmail, key_client
):
    workflow_id = create_workflow(key_client, workspace)  # no creator: the workspace's only account

    colleague.delete()

    colleagues_gmail.refresh_from_db()
    assert colleagues_gmail.status == IntegrationStatus.DISCONNECTED
    assert colleagues_gmail.connected_by is None
    assert not OAuthToken.objects.unscoped().filter(integration=colleagues_gmail).exists()
    assert google.state.stats().get("revoke") == 1
    body = execute(key_client, workspace, workflow_id, ADA).json()
    assert body["error"]["code"] == "integration_not_connected"
    assert google.state.messages() == []


# --- Item 3: a step names only an account its creator may use; disconnect is the owner's or an admin's.


@pytest.mark.django_db
def test_a_member_cannot_name_another_members_account(workspace, colleague, member, google):
    owners_gmail = connect(google, workspace=workspace, user=member, email="owner@gmail.test", share=False)
    response = api_client_for(colleague).post(
        workflows_url(workspace), welcome_with_account(owners_gmail), format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "invalid"
    assert "owner@gmail.test" in body["error"]["message"]
    assert not Workflow.objects.unscoped().exists()


@pytest.mark.django_db
def test_the_builder_page_refuses_another_members_account(workspace, colleague, member, google):
    import json

    owners_gmail = connect(google, workspace=workspace, user=member, email="owner@gmail.test", share=False)
    response = page_client_for(colleague).post(
        f"/w/{workspace.slug}/workflows/new/", {"definition": json.dumps(welcome_with_account(owners_gmail))}
    )
    assert response.status_code == 400
    assert "owner@gmail.test" in unescape(response.content.decode())
    assert not Workflow.objects.unscoped().exists()


@pytest.mark.django_db
def test_a_member_cannot_put_a_private_account_of_another_into_a_workflow(
    workspace, colleague, member, google, session_client
):
    owners_gmail = connect(google, workspace=workspace, user=member, email="owner@gmail.test", share=False)
    workflow_id = create_workflow(session_client, workspace)  # created by the owner
    response = api_client_for(colleague).put(
        f"{workflows_url(workspace)}{workflow_id}/", welcome_with_account(owners_gmail), format="json"
    )
    assert response.status_code == 400
    assert WorkflowStep.objects.unscoped().get(workflow_id=workflow_id).integration is None


@pytest.mark.django_db
def test_an_api_key_names_only_shared_accounts(
    workspace, colleague, member, google, session_client, key_client
):
    owners_gmail = connect(google, workspace=workspace, user=member, email="owner@gmail.test", share=True)
    colleagues_gmail = connect(google, workspace=workspace, user=colleague, email="colleague@gmail.test")
    workflow_id = create_workflow(session_client, workspace)  # created by the owner
    url = f"{workflows_url(workspace)}{workflow_id}/"

    assert key_client.put(url, welcome_with_account(colleagues_gmail), format="json").status_code == 400
    assert key_client.put(url, welcome_with_account(owners_gmail), format="json").status_code == 200
    assert WorkflowStep.objects.unscoped().get(workflow_id=workflow_id).integration == owners_gmail
    # A key has no person behind it: it may name shared accounts only.
    assert (
        key_client.post(
            workflows_url(workspace), welcome_with_account(owners_gmail), format="json"
        ).status_code
        == 201
    )
    assert (
        key_client.post(
            workflows_url(workspace), welcome_with_account(colleagues_gmail), format="json"
        ).status_code
        == 400
    )


@pytest.mark.django_db(transaction=True)
def test_a_run_fails_when_a_step_names_an_account_its_creator_may_not_use(
    google, workspace, member, colleague, colleagues_gmail, session_client, key_client
):
    workflow_id = create_workflow(session_client, workspace)  # the owner's workflow
    # A step saved before ownership was checked, naming the colleague's mailbox.
    WorkflowStep.objects.unscoped().filter(workflow_id=workflow_id).update(integration=colleagues_gmail)

    for client in (key_client, session_client):
        body = execute(client, workspace, workflow_id, ADA).json()
        assert body["success"] is False
        assert body["error"]["code"] == "integration_not_connected"
        assert "colleague@gmail.test" in body["error"]["message"]
    assert google.state.messages() == []


def disconnect_url(workspace, integration) -> str:
    return f"/api/workspaces/{workspace.pk}/integrations/{integration.pk}/disconnect/"


@pytest.mark.django_db
def test_a_member_cannot_disconnect_another_members_account(workspace, member, colleague, google):
    owners_gmail = connect(google, workspace=workspace, user=member, email="owner@gmail.test")

    response = api_client_for(colleague).post(disconnect_url(workspace, owners_gmail))
    assert response.status_code == 403
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "forbidden"
    assert "owner@gmail.test" in body["error"]["message"]

    page = page_client_for(colleague).post(f"/w/{workspace.slug}/integrations/{owners_gmail.pk}/disconnect/")
    assert page.status_code == 403
    assert "owner@gmail.test" in unescape(page.content.decode())

    owners_gmail.refresh_from_db()
    assert owners_gmail.status == IntegrationStatus.ACTIVE
    assert OAuthToken.objects.unscoped().filter(integration=owners_gmail).exists()
    assert google.state.stats().get("revoke", 0) == 0


@pytest.mark.django_db
def test_the_page_offers_disconnect_only_to_who_may(workspace, member, colleague, google):
    owners_gmail = connect(google, workspace=workspace, user=member, email="owner@gmail.test")
    action = f"/w/{workspace.slug}/integrations/{owners_gmail.pk}/disconnect/"
    for user, offered in ((member, True), (colleague, False)):
        page = page_client_for(user).get(f"/w/{workspace.slug}/integrations/").content.decode()
        assert "owner@gmail.test" in page
        assert (action in page) is offered


@pytest.mark.django_db
def test_an_api_key_cannot_disconnect_a_persons_account(workspace, member, google, key_client):
    owners_gmail = connect(google, workspace=workspace, user=member, email="owner@gmail.test")
    response = key_client.post(disconnect_url(workspace, owners_gmail))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert OAuthToken.objects.unscoped().filter(integration=owners_gmail).exists()


@pytest.mark.django_db
def test_the_accounts_owner_and_an_admin_may_disconnect_it(workspace, colleague, google):
    admin = MembershipFactory(workspace=workspace, role=Role.ADMIN).user
    first = connect(google, workspace=workspace, user=colleague, email="first@gmail.test")
    second = connect(google, workspace=workspace, user=colleague, email="second@gmail.test")

    assert api_client_for(colleague).post(disconnect_url(workspace, first)).status_code == 200
    assert api_client_for(admin).post(disconnect_url(workspace, second)).status_code == 200
    statuses = set(
        Integration.objects.unscoped().filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)
    )
    assert statuses == {IntegrationStatus.DISCONNECTED}


# --- Item 4: only an owner changes owner roles.


@pytest.fixture
def admin(workspace):
    return MembershipFactory(
        workspace=workspace, user=UserFactory(email="admin@acme.test"), role=Role.ADMIN
    ).user


@pytest.mark.django_db
def test_an_admin_cannot_make_themselves_owner(workspace, admin):
    own = Membership.objects.unscoped().get(workspace=workspace, user=admin)
    response = page_client_for(admin).post(
        f"/w/{workspace.slug}/members/{own.pk}/", {"role": "owner"}, follow=True
    )
    own.refresh_from_db()
    assert own.role == Role.ADMIN
    assert "Only an owner" in unescape(response.content.decode())


@pytest.mark.django_db
def test_an_admin_cannot_demote_or_remove_an_owner(workspace, member, admin):
    owner = Membership.objects.unscoped().get(workspace=workspace, user=member)
    MembershipFactory(workspace=workspace, role=Role.OWNER)  # so "the last owner" is not the reason
    client = page_client_for(admin)

    demoted = client.post(f"/w/{workspace.slug}/members/{owner.pk}/", {"role": "member"}, follow=True)
    assert "Only an owner" in unescape(demoted.content.decode())
    removed = client.post(f"/w/{workspace.slug}/members/{owner.pk}/", {"remove": "1"}, follow=True)
    assert "Only an owner" in unescape(removed.content.decode())

    owner.refresh_from_db()
    assert owner.role == Role.OWNER


@pytest.mark.django_db
def test_an_admin_cannot_add_someone_as_owner(workspace, admin):
    UserFactory(email="friend@example.com")
    response = page_client_for(admin).post(
        f"/w/{workspace.slug}/members/", {"email": "friend@example.com", "role": "owner"}
    )
    assert response.status_code == 400
    assert "Only an owner" in unescape(response.content.decode())
    assert not Membership.objects.unscoped().filter(user__email="friend@example.com").exists()


@pytest.mark.django_db
def test_an_admin_still_manages_members_and_an_owner_manages_owners(workspace, member, admin):
    plain = MembershipFactory(workspace=workspace, role=Role.MEMBER)
    page_client_for(admin).post(f"/w/{workspace.slug}/members/{plain.pk}/", {"role": "viewer"})
    plain.refresh_from_db()
    assert plain.role == Role.VIEWER

    promoted = Membership.objects.unscoped().get(workspace=workspace, user=admin)
    page_client_for(member).post(f"/w/{workspace.slug}/members/{promoted.pk}/", {"role": "owner"})
    promoted.refresh_from_db()
    assert promoted.role == Role.OWNER
