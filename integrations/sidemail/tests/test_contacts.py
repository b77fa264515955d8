"""Users' Sidemail contacts: kept in step on sign-up, change and deletion; resynced by a command."""

import io
import logging

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from devtools.sidemail_standin import DEFAULT_API_KEY
from workspaces.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def contacts(standin):
    return {contact["emailAddress"]: contact for contact in standin.contacts()}


def test_a_new_user_becomes_a_contact_with_their_id(standin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        user = UserFactory(email="ada@example.com")
    assert contacts(standin)["ada@example.com"]["identifier"] == str(user.pk)


def test_a_change_of_name_or_email_updates_the_contact(standin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        user = get_user_model().objects.get(pk=UserFactory(email="ada@example.com").pk)
    with django_capture_on_commit_callbacks(execute=True):
        user.first_name, user.last_name = "Ada", "Lovelace"
        user.save()
    assert contacts(standin)["ada@example.com"]["customProps"] == {"name": "Ada Lovelace"}

    with django_capture_on_commit_callbacks(execute=True):
        user.email = "ada@lovelace.example"
        user.save()
    assert list(contacts(standin)) == ["ada@lovelace.example"]
    assert contacts(standin)["ada@lovelace.example"]["identifier"] == str(user.pk)


def test_a_save_that_changes_neither_sends_nothing(standin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        user = UserFactory(email="ada@example.com")
    calls = standin.stats()["contacts.upsert"]
    with django_capture_on_commit_callbacks(execute=True):
        user.is_staff = True
        user.save()
    assert standin.stats()["contacts.upsert"] == calls


def test_deleting_a_user_deletes_the_contact(standin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        user = UserFactory(email="ada@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    assert contacts(standin) == {}


def test_without_a_key_nothing_is_sent(standin, settings, django_capture_on_commit_callbacks):
    settings.SIDEMAIL_API_KEY = ""
    with django_capture_on_commit_callbacks(execute=True):
        UserFactory(email="ada@example.com").delete()
    assert standin.stats() == {}


def test_sidemail_down_never_fails_a_sign_up(standin, caplog, django_capture_on_commit_callbacks):
    standin.fail_next("contacts.upsert", status=503)
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        UserFactory(email="ada@example.com")
    assert get_user_model().objects.filter(email="ada@example.com").exists()
    assert [r for r in caplog.records if getattr(r, "event", None) == "sidemail_contact_failed"]


def sync(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("sidemail_sync_contacts", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_sync_command_upserts_everyone_and_is_idempotent(standin):
    users = [UserFactory(email=f"p{n}@example.com") for n in range(5)]  # on_commit never ran: no contacts yet
    assert standin.contacts() == []

    out, err = sync("--batch-size", "2")
    assert "5 users synced: 5 created, 0 updated" in out
    assert "[" + "#" * 30 + "] 5/5" in err
    assert {c["emailAddress"]: c["identifier"] for c in standin.contacts()} == {
        user.email: str(user.pk) for user in users
    }

    out, _ = sync()
    assert "5 users synced: 0 created, 5 updated" in out
    assert len(standin.contacts()) == 5


def test_sync_command_names_where_to_resume_after_a_failure(standin):
    users = [UserFactory(email=f"p{n}@example.com") for n in range(3)]
    standin.fail_next("contacts.upsert", status=503)

    with pytest.raises(CommandError) as failure:
        sync("--after-id", str(users[0].pk))
    assert f"user {users[1].pk}" in str(failure.value)
    assert f"--after-id {users[0].pk} " in str(failure.value)

    out, _ = sync("--after-id", str(users[0].pk))
    assert "2 users synced: 2 created, 0 updated" in out
    assert sorted(contacts(standin)) == ["p1@example.com", "p2@example.com"]


def test_sync_command_prunes_contacts_of_users_that_are_gone(sidemail, standin):
    UserFactory(email="kept@example.com")
    for email, identifier in (("gone@example.com", "999999"), ("other@example.com", "not-ours")):
        requests.post(
            f"{sidemail.api_url}/contacts",
            json={"emailAddress": email, "identifier": identifier},
            headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"},
            timeout=10,
        )

    out, _ = sync("--prune")
    assert "1 stale contacts deleted" in out
    assert sorted(contacts(standin)) == ["kept@example.com", "other@example.com"]


def test_sync_command_needs_a_key(settings):
    settings.SIDEMAIL_API_KEY = ""
    with pytest.raises(CommandError, match="SIDEMAIL_API_KEY"):
        sync()
