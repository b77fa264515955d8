import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from workspaces.models import ApiKey, Membership, Role
from workspaces.services import hash_api_key
from workspaces.tests.factories import MembershipFactory, UserFactory


@pytest.mark.django_db
def test_signing_up_creates_a_personal_workspace():
    client = Client()
    response = client.post(
        "/accounts/signup/",
        {
            "email": "new@example.com",
            "password1": "a-long-Passphrase-42",
            "password2": "a-long-Passphrase-42",
        },
    )
    assert response.status_code == 302
    user = get_user_model().objects.get(email="new@example.com")
    membership = Membership.objects.unscoped().get(user=user)
    assert membership.role == Role.OWNER
    assert membership.workspace.name == "new's workspace"
    home = client.get("/", follow=True)
    assert home.redirect_chain[-1][0] == f"/w/{membership.workspace.slug}/"


@pytest.mark.django_db
def test_pages_use_the_app_layout_and_the_switcher_lists_only_my_workspaces(
    page_client, workspace, other_workspace
):
    response = page_client.get(f"/w/{workspace.slug}/")
    content = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="workspace-switcher"' in content
    assert f"/w/{workspace.slug}/" in content
    assert f"/w/{other_workspace.slug}/" not in content


@pytest.mark.django_db
def test_the_login_page_is_in_the_app_layout_without_google_login():
    content = Client().get("/accounts/login/").content.decode()
    assert 'class="topbar"' in content
    assert "/accounts/google/login/" not in content


@pytest.mark.django_db
def test_an_owner_adds_changes_and_removes_a_member(page_client, workspace):
    UserFactory(email="colleague@example.com")
    response = page_client.post(
        f"/w/{workspace.slug}/members/", {"email": "Colleague@example.com", "role": "member"}
    )
    assert response.status_code == 302
    membership = Membership.objects.unscoped().get(workspace=workspace, user__email="colleague@example.com")
    page_client.post(f"/w/{workspace.slug}/members/{membership.pk}/", {"role": "admin"})
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    page_client.post(f"/w/{workspace.slug}/members/{membership.pk}/", {"remove": "1"})
    assert not Membership.objects.unscoped().filter(pk=membership.pk).exists()


@pytest.mark.django_db
def test_adding_an_unknown_email_explains_what_to_do(page_client, workspace):
    response = page_client.post(
        f"/w/{workspace.slug}/members/", {"email": "nobody@example.com", "role": "member"}
    )
    assert response.status_code == 400
    assert "Ask them to sign up first" in response.content.decode()


@pytest.mark.django_db
def test_the_last_owner_cannot_be_removed_or_demoted(page_client, workspace, member):
    own = Membership.objects.unscoped().get(workspace=workspace, user=member)
    response = page_client.post(f"/w/{workspace.slug}/members/{own.pk}/", {"remove": "1"}, follow=True)
    assert Membership.objects.unscoped().filter(pk=own.pk).exists()
    assert "at least one owner" in response.content.decode()
    page_client.post(f"/w/{workspace.slug}/members/{own.pk}/", {"role": "member"})
    own.refresh_from_db()
    assert own.role == Role.OWNER


@pytest.mark.django_db
def test_a_plain_member_cannot_change_members(workspace):
    plain = MembershipFactory(workspace=workspace, role=Role.MEMBER).user
    client = Client()
    client.force_login(plain)
    assert (
        client.post(f"/w/{workspace.slug}/members/", {"email": plain.email, "role": "owner"}).status_code
        == 403
    )
    assert client.post(f"/w/{workspace.slug}/settings/", {"name": "sneaky"}).status_code == 403


@pytest.mark.django_db
def test_a_member_of_another_workspace_cannot_touch_this_ones_members(
    workspace, other_workspace, other_member
):
    target = MembershipFactory(workspace=workspace, role=Role.MEMBER)
    client = Client()
    client.force_login(other_member)
    response = client.post(f"/w/{other_workspace.slug}/members/{target.pk}/", {"remove": "1"})
    assert response.status_code == 404
    assert Membership.objects.unscoped().filter(pk=target.pk).exists()


@pytest.mark.django_db
def test_an_api_key_is_shown_once_and_can_be_revoked(page_client, workspace):
    response = page_client.post(
        f"/w/{workspace.slug}/settings/", {"name": "CRM sync", "role": "member"}, follow=True
    )
    content = response.content.decode()
    key_row = ApiKey.objects.unscoped().get(workspace=workspace)
    raw_key = content.split('data-testid="new-api-key">')[1].split("<")[0]
    assert hash_api_key(raw_key) == key_row.key_hash
    assert raw_key not in page_client.get(f"/w/{workspace.slug}/settings/").content.decode()
    page_client.post(f"/w/{workspace.slug}/settings/api-keys/{key_row.pk}/revoke/")
    key_row.refresh_from_db()
    assert key_row.revoked_at is not None
