"""The emails the platform sends about accounts carry the product's name, not the host's."""

import pytest
from django.core import mail

pytestmark = pytest.mark.django_db


def test_password_reset_email_names_the_product(client, member):
    response = client.post("/accounts/password/reset/", {"email": member.email}, HTTP_HOST="127.0.0.1:8000")
    assert response.status_code == 302
    (message,) = mail.outbox
    assert message.subject.startswith("[GalaxyCo] ")
    assert "127.0.0.1:8000]" not in message.subject
    assert message.body.startswith("Hello from GalaxyCo!")
    assert "Thank you for using GalaxyCo!" in message.body
