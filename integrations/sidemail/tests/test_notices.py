"""A connection that needs reconnecting: its owner gets one email per incident, not one per run."""

import pytest
from django.utils import timezone

from integrations.models import IntegrationStatus, OAuthToken
from integrations.sidemail.models import OutboundEmail
from integrations.tests.google_grants import connect
from workflows.tests.helpers import create_workflow, execute

# Committed for real: the notice goes out when the status change commits.
pytestmark = pytest.mark.django_db(transaction=True)
ADA = {"name": "Ada", "email": "ada@example.com"}


def test_a_revoked_grant_hit_by_five_runs_sends_exactly_one_notice(
    standin, google, workspace, member, key_client, settings
):
    settings.SITE_URL = "https://app.galaxyco.example"
    gmail = connect(google, workspace=workspace, user=member, email="sender@gmail.test", share=True)
    google.state.revoke_account("sender@gmail.test")
    OAuthToken.objects.unscoped().filter(integration=gmail).update(expires_at=timezone.now())
    workflow_id = create_workflow(key_client, workspace)

    for _ in range(5):
        answer = execute(key_client, workspace, workflow_id, ADA)
        assert answer.json()["error"]["code"] == "reauth_required"

    gmail.refresh_from_db()
    assert gmail.status == IntegrationStatus.REAUTH_REQUIRED
    notices = standin.emails(to=member.email)
    assert [notice["templateName"] for notice in notices] == ["integration-reauth-required"]
    props = notices[0]["templateProps"]
    assert props["mailbox"] == "sender@gmail.test"
    assert props["integrations_url"] == f"https://app.galaxyco.example/w/{workspace.slug}/integrations/"
    assert OutboundEmail.objects.filter(template_name="integration-reauth-required").count() == 1


def test_a_reconnected_account_that_loses_its_grant_again_is_a_new_incident(
    standin, google, workspace, member, key_client
):
    gmail = connect(google, workspace=workspace, user=member, email="sender@gmail.test", share=True)
    workflow_id = create_workflow(key_client, workspace)
    for _ in range(2):
        google.state.revoke_account("sender@gmail.test")
        OAuthToken.objects.unscoped().filter(integration=gmail).update(expires_at=timezone.now())
        for _ in range(2):
            execute(key_client, workspace, workflow_id, ADA)
        connect(google, workspace=workspace, user=member, email="sender@gmail.test", share=True)

    assert len(standin.emails(to=member.email)) == 2
