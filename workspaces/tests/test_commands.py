import io
import json

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from workspaces.models import Membership, Role


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


@pytest.mark.django_db
def test_create_workspace_user_creates_then_updates():
    first = json.loads(
        run(
            "create_workspace_user",
            "--email",
            "Ops@Example.com",
            "--password",
            "pw-one-1234",
            "--workspace",
            "Ops Team",
        )
    )
    user = get_user_model().objects.get(pk=first["user_id"])
    assert user.email == "ops@example.com"
    assert first["workspace_slug"] == "ops-team"
    assert EmailAddress.objects.get(user=user).verified
    assert Membership.objects.unscoped().get(user=user, workspace_id=first["workspace_id"]).role == Role.OWNER

    second = json.loads(
        run(
            "create_workspace_user",
            "--email",
            "ops@example.com",
            "--password",
            "pw-two-5678",
            "--workspace",
            "Ops Team",
        )
    )
    assert second == first
    user.refresh_from_db()
    assert user.check_password("pw-two-5678")
    assert get_user_model().objects.count() == 1


@pytest.mark.django_db
def test_create_api_key_prints_a_working_key(workspace):
    key = run("create_api_key", "--workspace", workspace.slug, "--name", "CI")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get(f"/api/workspaces/{workspace.pk}/").status_code == 200


@pytest.mark.django_db
def test_create_api_key_for_an_unknown_workspace_fails_clearly():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No workspace has the slug"):
        run("create_api_key", "--workspace", "nope", "--name", "CI")


@pytest.mark.django_db
def test_create_workspace_user_never_joins_someone_elses_workspace(workspace, member):
    result = json.loads(
        run(
            "create_workspace_user",
            "--email",
            "ops@example.com",
            "--password",
            "pw-one-1234",
            "--workspace",
            workspace.name,
        )
    )
    assert result["workspace_id"] != workspace.pk
    assert (
        not Membership.objects.unscoped().filter(workspace=workspace, user__email="ops@example.com").exists()
    )
