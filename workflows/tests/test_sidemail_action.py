"""sidemail.send_email with the workspace's own Sidemail account, connected through the API."""

import io
import json
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import Client

from devtools.sidemail_standin import StandinClient
from integrations.models import Integration, IntegrationStatus, SidemailAccount
from integrations.sidemail.api_client import SidemailClient, SidemailError
from integrations.sidemail.models import WorkflowEmail
from workflows.actions.base import StepContext
from workflows.actions.registry import get_action
from workflows.tests.helpers import create_workflow, execute

# Committed for real: runs are enqueued when their transaction commits.
pytestmark = pytest.mark.django_db(transaction=True)

WORKSPACE_KEY = "workspace-own-sidemail-key"
FROM = "hello@acme.example"
ADA = {"name": "Ada", "email": "ada@example.com"}
TEMPLATED_PARAMS: dict[str, Any] = {
    "to": ["{{ input.email }}", "bob@example.com"],
    "template_name": "welcome",
    "template_props": {"name": "{{ input.name }}", "plan": {"label": "Pro for {{ input.name }}"}},
    "from_name": "Acme",
    "reply_to": "support@acme.example",
}
TEMPLATED = {
    "name": "Welcome through Sidemail",
    "steps": [
        {
            "action": "sidemail.send_email",
            "integration": None,
            "params": TEMPLATED_PARAMS,
        }
    ],
}


@pytest.fixture
def standin(sidemail):
    """The stand-in accepts the workspace's key only: the platform's (settings) is refused there."""
    client = StandinClient(sidemail.url)
    client.set_api_keys([WORKSPACE_KEY])
    return client


def connect(client, workspace, *, api_key=WORKSPACE_KEY, shared=True):
    return client.post(
        f"/api/workspaces/{workspace.pk}/integrations/sidemail/",
        {"api_key": api_key, "from_address": FROM, "shared": shared},
        format="json",
    )


@pytest.fixture
def account(standin, session_client, workspace):
    answer = connect(session_client, workspace)
    assert answer.status_code == 201, answer.json()
    return Integration.objects.unscoped().get(pk=answer.json()["id"])


def test_connecting_checks_the_key_and_stores_it_encrypted_and_never_shows_it(
    standin, session_client, workspace
):
    answer = connect(session_client, workspace)

    assert answer.status_code == 201
    body = answer.json()
    assert body["type"] == "sidemail" and body["email"] == FROM and body["status"] == "active"
    assert body["shared"] is True and body["is_default"] is True
    assert WORKSPACE_KEY not in answer.content.decode()
    assert standin.stats()["contacts.list"] == 1  # one call to check the key
    stored = SidemailAccount.objects.unscoped().get(integration_id=body["id"])
    assert (stored.api_key, stored.from_address) == (WORKSPACE_KEY, FROM)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT api_key, from_address FROM {SidemailAccount._meta.db_table}")
        raw_key, raw_from = cursor.fetchone()
    assert WORKSPACE_KEY not in raw_key and FROM not in raw_from
    listed = session_client.get(f"/api/workspaces/{workspace.pk}/integrations/")
    assert WORKSPACE_KEY not in listed.content.decode()


def test_a_refused_key_answers_400_with_sidemails_reason_and_saves_nothing(
    standin, session_client, workspace
):
    answer = connect(session_client, workspace, api_key="not-a-key")

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "sidemail_key_refused"
    assert "Authorization: Bearer <API key> is missing or not accepted." in error["message"]
    assert not Integration.objects.unscoped().exists()
    assert not SidemailAccount.objects.unscoped().exists()


def test_an_api_key_cannot_connect_a_sidemail_account(standin, key_client, workspace):
    assert connect(key_client, workspace).status_code == 403
    assert not Integration.objects.unscoped().exists()


def test_the_step_sends_each_recipient_its_own_email_with_the_workspaces_key(
    standin, account, workspace, key_client, settings
):
    with pytest.raises(SidemailError):  # the platform's key is refused at the stand-in
        SidemailClient(api_key=settings.SIDEMAIL_API_KEY).check_key()
    workflow_id = create_workflow(key_client, workspace, TEMPLATED)
    answer = execute(key_client, workspace, workflow_id, ADA)

    body = answer.json()
    assert body["success"] is True, body
    [step] = body["run"]["steps"]
    sent = {email["toAddress"]: email for email in standin.emails()}
    assert set(sent) == {"ada@example.com", "bob@example.com"}
    assert step["output"] == {
        "emails": [
            {"to": "ada@example.com", "id": sent["ada@example.com"]["id"], "status": "queued"},
            {"to": "bob@example.com", "id": sent["bob@example.com"]["id"], "status": "queued"},
        ],
        "from": FROM,
    }
    ada = sent["ada@example.com"]
    assert ada["fromAddress"] == FROM and ada["fromName"] == "Acme"
    assert ada["replyToAddress"] == "support@acme.example"
    assert ada["templateName"] == "welcome"
    assert ada["templateProps"] == {"name": "Ada", "plan": {"label": "Pro for Ada"}}


def test_a_subject_and_text_email(standin, account, workspace, key_client):
    definition = {
        "name": "Plain",
        "steps": [
            {
                "action": "sidemail.send_email",
                "params": {"to": ["{{ input.email }}"], "subject": "Hi {{ input.name }}", "text": "Hello."},
            }
        ],
    }
    body = execute(key_client, workspace, create_workflow(key_client, workspace, definition), ADA).json()
    assert body["success"] is True, body
    [email] = standin.emails()
    assert (email["subject"], email["text"], email["fromAddress"]) == ("Hi Ada", "Hello.", FROM)


def test_sidemail_503_is_retried_and_each_recipient_gets_one_email(standin, account, workspace, key_client):
    standin.fail_next(status=503, count=2)
    body = execute(key_client, workspace, create_workflow(key_client, workspace, TEMPLATED), ADA).json()

    assert body["success"] is True, body
    assert body["run"]["steps"][0]["attempts"] == 3
    assert sorted(email["toAddress"] for email in standin.emails()) == ["ada@example.com", "bob@example.com"]


def test_a_retried_step_skips_the_recipients_already_sent(standin, account, workspace):
    action = get_action("sidemail.send_email")
    assert action is not None
    WorkflowEmail.objects.create(
        workspace=workspace, run_id=7, position=0, to_address="ada@example.com", sidemail_id="sm-earlier"
    )
    params = action.prepare(params=TEMPLATED_PARAMS, run_input=ADA)
    output = action.run(
        params=params, integration=account, step=StepContext(workspace_id=workspace.pk, run_id=7, position=0)
    )

    assert [email["toAddress"] for email in standin.emails()] == ["bob@example.com"]
    assert output["emails"][0] == {"to": "ada@example.com", "id": "sm-earlier", "status": "queued"}


def test_a_permanent_refusal_fails_the_run_with_sidemails_message(standin, account, workspace, key_client):
    standin.fail_next(error_code="template-not-found")
    body = execute(key_client, workspace, create_workflow(key_client, workspace, TEMPLATED), ADA).json()

    assert body["success"] is False
    assert body["error"]["code"] == "provider_rejected"
    assert body["error"]["message"].startswith("Sidemail refused the email:")
    assert body["run"]["steps"][0]["attempts"] == 1


def test_a_key_revoked_at_sidemail_asks_for_a_new_one(standin, account, workspace, key_client):
    standin.set_api_keys(["another-key"])
    body = execute(key_client, workspace, create_workflow(key_client, workspace, TEMPLATED), ADA).json()

    assert body["error"]["code"] == "reauth_required"
    account.refresh_from_db()
    assert account.status == IntegrationStatus.REAUTH_REQUIRED


def test_a_from_address_off_the_accounts_domain_is_refused(standin, account, workspace, key_client):
    definition = {
        "name": "Spoof",
        "steps": [
            {
                "action": "sidemail.send_email",
                "params": {"to": ["a@example.com"], "template_name": "x", "from_address": "ceo@bank.example"},
            }
        ],
    }
    body = execute(key_client, workspace, create_workflow(key_client, workspace, definition), ADA).json()
    assert body["error"]["code"] == "invalid_params"
    assert standin.emails() == []


def test_the_status_api_lists_sidemail_and_disconnect_forgets_the_key(
    standin, account, workspace, session_client
):
    status = session_client.get(f"/api/workspaces/{workspace.pk}/integrations/status/").json()
    assert status["sidemail"]["connected"] is True
    assert status["sidemail"]["email"] == FROM
    assert status["sidemail"]["default_integration_id"] == account.pk

    answer = session_client.post(f"/api/workspaces/{workspace.pk}/integrations/{account.pk}/disconnect/")
    assert answer.status_code == 200
    assert answer.json()["revocation"] == "not_applicable"
    assert answer.json()["revoked_at_google"] is False
    assert not SidemailAccount.objects.unscoped().exists()
    status = session_client.get(f"/api/workspaces/{workspace.pk}/integrations/status/").json()
    assert status["sidemail"]["status"] == "disconnected"


def test_the_integrations_page_connects_sidemail_with_a_form(standin, workspace, member, client):
    client.force_login(member)
    url = f"/w/{workspace.slug}/integrations/sidemail/connect/"
    refused = client.post(url, {"api_key": "wrong", "from_address": FROM}, follow=True)
    assert "Sidemail refused this API key" in refused.content.decode()
    assert not Integration.objects.unscoped().exists()

    page = client.post(url, {"api_key": WORKSPACE_KEY, "from_address": FROM}, follow=True).content.decode()
    assert f"workflow emails can be sent from {FROM}" in page
    assert WORKSPACE_KEY not in page
    assert 'data-testid="sidemail-connect"' in page


def test_a_delivery_webhook_moves_the_steps_recorded_email_on(
    standin, account, workspace, key_client, settings
):
    settings.SIDEMAIL_WEBHOOK_SECRET = "sidemail-test-webhook-secret"
    body = execute(key_client, workspace, create_workflow(key_client, workspace, TEMPLATED), ADA).json()
    email_id = body["run"]["steps"][0]["output"]["emails"][0]["id"]
    for event_type in ("email.open", "email.delivered"):
        answer = Client().post(
            "/webhooks/sidemail/",
            data=json.dumps({"type": event_type, "data": {"email": {"id": email_id}}}),
            content_type="application/json",
            HTTP_SIDEMAIL_SECRET="sidemail-test-webhook-secret",
        )
        assert answer.status_code == 200
    assert (
        WorkflowEmail.objects.get(sidemail_id=email_id).status == "open"
    )  # a late "delivered" hides nothing


def test_rotate_token_keys_moves_sidemail_keys_to_the_new_key_too(standin, account, settings):
    old_key = settings.TOKEN_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_token_keys", stdout=io.StringIO())

    settings.TOKEN_ENCRYPTION_KEYS = [new_key]
    stored = SidemailAccount.objects.unscoped().get(integration=account)
    assert (stored.api_key, stored.from_address) == (WORKSPACE_KEY, FROM)
