"""Integration health: every status write goes through `integrations.health`, under one guard
against a reconnect that happened while the failing call was in flight."""

import os
import subprocess
import sys
import time
from ast import literal_eval
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from galaxyco.errors import ReauthRequired
from hooks import notifications
from integrations import health
from integrations.google import clients
from integrations.google.credentials import record_rejected
from integrations.models import Integration, IntegrationStatus, IntegrationType, OAuthToken, SidemailAccount
from integrations.services import disconnect_integration
from integrations.sidemail import notices
from integrations.tests.factories import IntegrationFactory, OAuthTokenFactory
from integrations.tests.google_grants import connect
from workflows.tests.helpers import WELCOME, create_workflow, execute

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]

ADA = {"name": "Ada", "email": "ada@example.com"}


@pytest.mark.django_db(transaction=True)
def test_a_reconnect_while_a_failed_refresh_is_reported_survives(
    google, workspace, member, key_client, monkeypatch
):
    gmail = connect(google, workspace=workspace, user=member, email="sender@gmail.test", share=True)
    google.state.revoke_account("sender@gmail.test")
    OAuthToken.objects.unscoped().filter(integration=gmail).update(expires_at=timezone.now())
    real_credentials_for = clients.credentials_for

    def refresh_refused_then_person_reconnects(*, integration: Integration):
        try:
            return real_credentials_for(integration=integration)
        except ReauthRequired:
            # Google refused the old grant; before the run records its failure, the person
            # (told by the Integrations page) connects the mailbox again.
            connect(google, workspace=workspace, user=member, email="sender@gmail.test")
            raise

    monkeypatch.setattr(clients, "credentials_for", refresh_refused_then_person_reconnects)
    workflow_id = create_workflow(key_client, workspace, WELCOME)
    failed = execute(key_client, workspace, workflow_id, ADA).json()
    assert failed["error"]["code"] == "reauth_required"

    gmail.refresh_from_db()
    assert gmail.status == IntegrationStatus.ACTIVE
    assert gmail.last_error_code == ""
    monkeypatch.setattr(clients, "credentials_for", real_credentials_for)
    assert execute(key_client, workspace, workflow_id, ADA).json()["success"] is True
    assert len(google.state.messages(to="ada@example.com")) == 1


@pytest.mark.django_db(transaction=True)
def test_a_gmail_refusal_of_a_renewed_token_asks_for_reconnection(google, workspace, member, key_client):
    gmail = connect(google, workspace=workspace, user=member, email="sender@gmail.test", share=True)
    google.state.add_fault("gmail.send", status=401, count=2)  # the renewed token is refused too
    workflow_id = create_workflow(key_client, workspace, WELCOME)
    assert execute(key_client, workspace, workflow_id, ADA).json()["error"]["code"] == "reauth_required"
    gmail.refresh_from_db()
    assert gmail.status == IntegrationStatus.REAUTH_REQUIRED
    assert gmail.last_error_code == "reauth_required"


def test_a_refusal_of_a_token_a_reconnect_replaced_leaves_the_connection_alone(google, workspace, member):
    gmail = connect(google, workspace=workspace, user=member, email="sender@gmail.test")
    refused = OAuthToken.objects.unscoped().get(integration=gmail).access_token
    connect(google, workspace=workspace, user=member, email="sender@gmail.test")
    record_rejected(integration=gmail, rejected_token=refused, error=ReauthRequired())
    gmail.refresh_from_db()
    assert gmail.status == IntegrationStatus.ACTIVE
    assert gmail.last_error_code == ""


def generation_of(integration: Integration) -> datetime:
    return OAuthToken.objects.unscoped().get(integration=integration).updated_at


@pytest.fixture
def told(monkeypatch) -> list[tuple[str, int]]:
    """Who heard that an account needs reconnecting: the notification endpoints and its owner."""
    heard: list[tuple[str, int]] = []
    monkeypatch.setattr(
        notifications,
        "integration_reauth_required",
        lambda *, integration_id: heard.append(("hooks", integration_id)),
    )
    monkeypatch.setattr(
        notices, "send_reauth_notice", lambda *, integration_id: heard.append(("email", integration_id))
    )
    return heard


def test_reauth_required_moves_only_the_credentials_generation_that_failed_and_tells_once(
    workspace, told, django_capture_on_commit_callbacks
):
    gmail = OAuthTokenFactory(integration__workspace=workspace, workspace=workspace).integration
    failed_generation = generation_of(gmail)
    stale = failed_generation - timedelta(seconds=1)

    with django_capture_on_commit_callbacks(execute=True):
        assert not health.record_reauth_required(
            integration_id=gmail.pk, error=ReauthRequired(), credentials_generation=stale
        )
    gmail.refresh_from_db()
    assert (gmail.status, gmail.last_error_code, told) == (IntegrationStatus.ACTIVE, "", [])

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            health.record_reauth_required(
                integration_id=gmail.pk, error=ReauthRequired(), credentials_generation=failed_generation
            )
    gmail.refresh_from_db()
    assert gmail.status == IntegrationStatus.REAUTH_REQUIRED
    assert gmail.last_error_code == "reauth_required"
    assert told == [("hooks", gmail.pk), ("email", gmail.pk)]


def test_a_refused_sidemail_key_moves_the_account_only_until_a_new_key_is_saved(workspace):
    sidemail = IntegrationFactory(workspace=workspace, provider="sidemail", type=IntegrationType.SIDEMAIL)
    account = SidemailAccount.objects.create(
        workspace=workspace, integration=sidemail, api_key="old-key", from_address="hello@acme.example"
    )
    refused_generation = account.updated_at
    account.api_key = "new-key"
    account.save()  # the person connected Sidemail again meanwhile

    health.record_reauth_required(
        integration_id=sidemail.pk, error=ReauthRequired(), credentials_generation=refused_generation
    )
    sidemail.refresh_from_db()
    assert sidemail.status == IntegrationStatus.ACTIVE

    health.record_reauth_required(
        integration_id=sidemail.pk, error=ReauthRequired(), credentials_generation=account.updated_at
    )
    sidemail.refresh_from_db()
    assert sidemail.status == IntegrationStatus.REAUTH_REQUIRED


def test_a_refresh_marks_the_connection_healthy_only_for_the_token_it_saved(workspace):
    gmail = OAuthTokenFactory(
        integration__workspace=workspace,
        integration__status=IntegrationStatus.REAUTH_REQUIRED,
        workspace=workspace,
    ).integration
    saved = generation_of(gmail)

    health.record_refresh(integration_id=gmail.pk, credentials_generation=saved - timedelta(seconds=1))
    gmail.refresh_from_db()
    assert (gmail.status, gmail.last_refreshed_at) == (IntegrationStatus.REAUTH_REQUIRED, None)

    health.record_refresh(integration_id=gmail.pk, credentials_generation=saved)
    gmail.refresh_from_db()
    assert gmail.status == IntegrationStatus.ACTIVE
    assert gmail.last_refreshed_at is not None


def test_a_disconnected_account_is_not_revived_by_a_late_refresh_or_refusal(google, workspace, member):
    gmail = connect(google, workspace=workspace, user=member)
    generation = generation_of(gmail)
    disconnect_integration(workspace=workspace, integration_id=gmail.pk)

    health.record_refresh(integration_id=gmail.pk, credentials_generation=generation)
    health.record_reauth_required(
        integration_id=gmail.pk, error=ReauthRequired(), credentials_generation=generation
    )
    gmail.refresh_from_db()
    assert gmail.status == IntegrationStatus.DISCONNECTED


def test_use_is_written_at_most_once_a_minute(workspace, django_assert_num_queries):
    gmail = IntegrationFactory(workspace=workspace)
    with django_assert_num_queries(1):
        health.record_use(integration=gmail)
        first = gmail.last_used_at
        health.record_use(integration=gmail)
    assert Integration.objects.unscoped().get(pk=gmail.pk).last_used_at == first
    gmail.last_used_at = first - health.LAST_USED_RESOLUTION
    with django_assert_num_queries(1):
        health.record_use(integration=gmail)
    assert Integration.objects.unscoped().get(pk=gmail.pk).last_used_at > first


def test_send_slots_are_booked_one_interval_apart(workspace):
    gmail = IntegrationFactory(workspace=workspace)
    waits = [health.reserve_send_slot(integration_id=gmail.pk, interval=10.0) for _ in range(3)]
    assert waits[0] == 0.0
    assert waits[1] == pytest.approx(10.0, abs=1.0)
    assert waits[2] == pytest.approx(20.0, abs=1.0)
    assert health.reserve_send_slot(integration_id=gmail.pk + 1000, interval=10.0) == 0.0  # no such account


# Django's setup loads the admin and the signal receivers, which use integrations.services; so
# every module of ours except models and app configs is dropped, and integrations.google loaded
# afresh with everything it imports.
IMPORT_GOOGLE_ALONE = """
import pkgutil, sys
import django
django.setup()
ours = ("galaxyco", "workspaces", "integrations", "workflows", "hooks")
kept = (".models", ".apps", ".settings", ".test_settings")
for name in [n for n in sys.modules if n.split(".")[0] in ours and not n.endswith(kept)]:
    del sys.modules[name]
import integrations.google
for module in pkgutil.walk_packages(integrations.google.__path__, "integrations.google."):
    __import__(module.name)
print(sorted(n for n in sys.modules if n.startswith("integrations.")))
"""


def test_integrations_google_does_not_import_integrations_services():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_GOOGLE_ALONE],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "galaxyco.test_settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    imported = set(literal_eval(result.stdout.strip().splitlines()[-1]))
    assert {
        "integrations.google.clients",
        "integrations.google.credentials",
        "integrations.health",
    } <= imported
    assert "integrations.services" not in imported


def test_send_moments_are_one_interval_apart_from_the_sends_not_from_late_slots():
    integration = IntegrationFactory()
    now = time.time()
    late_slot = now - 10  # executors that came back ten seconds late for their slots

    waits = [
        health.reserve_send_moment(
            integration_id=integration.pk, interval=0.4, earliest=late_slot, within=2.0
        )
        for _ in range(6)
    ]

    # one now, then one every 0.4 s: never several at once for having been late
    assert [round(wait, 1) for wait in waits[:5]] == [0.0, 0.4, 0.8, 1.2, 1.6]
    assert waits[5] is not None and 1.9 <= waits[5] <= 2.0
    # the next is more than 2 s away: not taken, and the step is told when to come back
    assert (
        health.reserve_send_moment(integration_id=integration.pk, interval=0.4, earliest=now, within=2.0)
        is None
    )
    assert 0.1 <= health.send_moment_wait(integration_id=integration.pk, within=2.0) <= 0.4
    # never before a step's slot
    later = health.reserve_send_moment(
        integration_id=integration.pk, interval=0.4, earliest=now + 60, within=61
    )
    assert later is not None and 59.5 <= later <= 60.0
