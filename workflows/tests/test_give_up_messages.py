"""A step that gives up on a provider's long Retry-After names that provider, whichever it is."""

import pytest

from devtools.sidemail_standin import StandinClient
from integrations.tests.google_grants import connect
from workflows.tests.helpers import create_workflow, execute

pytestmark = pytest.mark.django_db(transaction=True)

ADA = {"name": "Ada", "email": "ada@example.com"}
SIDEMAIL_KEY = "workspace-own-sidemail-key"
SIDEMAIL_WELCOME = {
    "name": "Welcome through Sidemail",
    "steps": [
        {
            "action": "sidemail.send_email",
            "integration": None,
            "params": {"to": ["{{ input.email }}"], "subject": "Hi", "text": "Hello."},
        }
    ],
}


@pytest.fixture
def gmail(google, workspace, member):
    return connect(google, workspace=workspace, user=member, email="sender@gmail.test")


def test_a_long_retry_after_from_gmail_names_gmail(google, gmail, workspace, key_client):
    google.state.add_fault("gmail.send", status=429, count=1, retry_after=7200)

    body = execute(key_client, workspace, create_workflow(key_client, workspace), ADA).json()

    assert body["success"] is False
    assert body["error"]["message"].startswith("Gmail asked us to wait 120 minutes before trying again.")


def test_a_long_retry_after_from_sidemail_names_sidemail(sidemail, session_client, workspace, key_client):
    standin = StandinClient(sidemail.url)
    standin.set_api_keys([SIDEMAIL_KEY])
    connected = session_client.post(
        f"/api/workspaces/{workspace.pk}/integrations/sidemail/",
        {"api_key": SIDEMAIL_KEY, "from_address": "hello@acme.example", "shared": True},
        format="json",
    )
    assert connected.status_code == 201, connected.json()
    standin.fail_next(status=429, retry_after=7200)

    body = execute(
        key_client, workspace, create_workflow(key_client, workspace, SIDEMAIL_WELCOME), ADA
    ).json()

    assert body["success"] is False
    assert body["run"]["steps"][0]["attempts"] == 1
    assert body["error"]["message"].startswith(
        "Sidemail asked us to wait 60 minutes before trying again."
    )  # its client caps it at an hour
    assert "Google" not in body["error"]["message"]
    assert standin.emails() == []
