import pytest
from django.core import mail
from django.test import Client

from workspaces.models import Membership


@pytest.mark.django_db
def test_mandatory_verification_sends_a_confirmation_email_before_letting_people_in(settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    client = Client()
    response = client.post(
        "/accounts/signup/",
        {
            "email": "careful@example.com",
            "password1": "a-long-Passphrase-42",
            "password2": "a-long-Passphrase-42",
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/accounts/confirm-email/"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["careful@example.com"]
    assert Membership.objects.unscoped().filter(user__email="careful@example.com").exists()
    assert client.get("/").status_code == 302  # not logged in until confirmed


@pytest.mark.django_db
def test_password_reset_sends_an_email_through_djangos_email_api(member):
    response = Client().post("/accounts/password/reset/", {"email": member.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert "/accounts/password/reset/key/" in mail.outbox[0].body


@pytest.mark.django_db
def test_password_change_keeps_the_member_logged_in(member):
    client = Client()
    client.force_login(member)
    response = client.post(
        "/accounts/password/change/",
        {
            "oldpassword": "correct-horse-battery",
            "password1": "New-Passphrase-9876",
            "password2": "New-Passphrase-9876",
        },
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.check_password("New-Passphrase-9876")
    assert client.get("/").status_code == 302  # to the workspace, not to the login page
    assert "/accounts/login/" not in client.get("/")["Location"]
