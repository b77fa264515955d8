"""Notifications out: endpoints through the API and the settings page, signed deliveries to a
real HTTP server on 127.0.0.1, retries through the task queue, the address rules, the log."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from hooks.models import DeliveryOutcome, NotificationEndpoint, WebhookDelivery
from hooks.notifications import delete_old_deliveries
from hooks.tests.receiver import start_receiver
from integrations.models import IntegrationStatus, OAuthToken
from integrations.tests.google_grants import connect
from workflows.tests.helpers import create_workflow, execute

pytestmark = pytest.mark.django_db(transaction=True)

ADA = {"name": "Ada", "email": "ada@example.com"}


def endpoints_url(workspace) -> str:
    return f"/api/workspaces/{workspace.pk}/webhooks/"


def register(client, workspace, url: str, events: list[str]) -> dict:
    response = client.post(endpoints_url(workspace), {"url": url, "events": events}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_an_endpoint_is_created_listed_changed_and_deleted(workspace, session_client, receiver):
    created = register(session_client, workspace, receiver.url, ["run.failed", "run.succeeded"])
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["run.failed", "run.succeeded"]
    detail = f"{endpoints_url(workspace)}{created['id']}/"

    listed = session_client.get(endpoints_url(workspace)).json()["results"]
    assert [e["id"] for e in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in session_client.get(detail).json()
    # Stored encrypted: the database row does not hold the key as given.
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM hooks_notificationendpoint")
        [(stored,)] = cursor.fetchall()
    assert created["secret"] not in stored

    changed = session_client.patch(detail, {"events": ["run.failed"], "enabled": False}, format="json")
    assert changed.status_code == 200
    assert changed.json()["events"] == ["run.failed"] and changed.json()["enabled"] is False

    assert session_client.delete(detail).status_code == 204
    assert session_client.get(detail).status_code == 404


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/hook", "invalid_url"),
        ("http://127.0.0.1:8000/hook", "private_url"),
        ("http://10.1.2.3/hook", "private_url"),
        ("http://169.254.169.254/latest/meta-data/", "private_url"),
        ("http://[::1]/hook", "private_url"),
        ("http://localhost/hook", "private_url"),
    ],
)
def test_only_public_http_urls_are_accepted(workspace, session_client, url, code):
    response = session_client.post(
        endpoints_url(workspace), {"url": url, "events": ["run.failed"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert not NotificationEndpoint.objects.unscoped().exists()


def test_unknown_events_and_another_workspaces_endpoint_are_refused(
    workspace, other_workspace, session_client, other_session_client, receiver
):
    bad = session_client.post(
        endpoints_url(workspace), {"url": receiver.url, "events": ["run.exploded"]}, format="json"
    )
    assert bad.status_code == 400
    assert "events" in bad.json()["error"]["fields"]
    created = register(session_client, workspace, receiver.url, ["run.failed"])
    theirs = f"{endpoints_url(other_workspace)}{created['id']}/"
    assert other_session_client.get(theirs).status_code == 404
    assert other_session_client.delete(theirs).status_code == 404
    assert NotificationEndpoint.objects.unscoped().filter(pk=created["id"]).exists()


def failing_run(key_client, workspace) -> dict:
    """No Gmail account is connected, so the run fails at its first step."""
    workflow_id = create_workflow(key_client, workspace)
    run = execute(key_client, workspace, workflow_id, ADA).json()["run"]
    assert run["status"] == "failed"
    return run


def test_a_failed_run_is_delivered_signed_and_verifies_with_standardwebhooks(
    workspace, key_client, receiver, session_client
):
    endpoint = register(session_client, workspace, receiver.url, ["run.failed"])
    run = failing_run(key_client, workspace)

    [request] = receiver.requests
    assert request.path == "/hooks/galaxyco"
    message = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert message["type"] == "run.failed"
    assert message["data"]["id"] == run["id"]
    assert message["data"]["status"] == "failed"
    assert message["data"]["steps"][0]["error"]["code"] == run["steps"][0]["error"]["code"]
    assert message["data"] == json.loads(json.dumps(run))  # the run as the API shows it
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43).verify(request.body, request.headers)

    [delivery] = WebhookDelivery.objects.unscoped().all()
    assert delivery.outcome == DeliveryOutcome.DELIVERED
    assert delivery.response_status == 200
    assert delivery.message_id == request.headers["webhook-id"]
    assert delivery.attempt == 1


def test_an_endpoint_gets_only_the_events_it_chose(workspace, key_client, receiver, session_client):
    register(session_client, workspace, receiver.url, ["run.succeeded"])
    failing_run(key_client, workspace)
    assert receiver.requests == []
    assert not WebhookDelivery.objects.unscoped().exists()


def test_an_endpoint_failing_twice_then_answering_gets_the_message_once(
    workspace, key_client, receiver, session_client
):
    register(session_client, workspace, receiver.url, ["run.failed"])
    receiver.statuses = [500, 503]
    failing_run(key_client, workspace)

    assert len(receiver.requests) == 3
    message_ids = {request.headers["webhook-id"] for request in receiver.requests}
    assert len(message_ids) == 1  # one message, retried: the receiver can tell
    assert len({request.body for request in receiver.requests}) == 1
    attempts = list(
        WebhookDelivery.objects.unscoped()
        .order_by("attempt")
        .values_list("attempt", "outcome", "response_status")
    )
    assert attempts == [
        (1, DeliveryOutcome.FAILED, 500),
        (2, DeliveryOutcome.FAILED, 503),
        (3, DeliveryOutcome.DELIVERED, 200),
    ]
    assert WebhookDelivery.objects.unscoped().filter(outcome=DeliveryOutcome.DELIVERED).count() == 1
    assert WebhookDelivery.objects.unscoped().get(attempt=1).response_body == "temporarily broken"


def test_an_endpoint_that_never_answers_2xx_is_given_up_after_its_attempts(
    workspace, key_client, receiver, settings, session_client
):
    settings.NOTIFICATION_RETRY_DELAYS = [0.01, 0.01]
    register(session_client, workspace, receiver.url, ["run.failed"])
    receiver.statuses = [500] * 10
    failing_run(key_client, workspace)
    assert len(receiver.requests) == 3
    assert not WebhookDelivery.objects.unscoped().filter(outcome=DeliveryOutcome.DELIVERED).exists()


def test_a_private_address_is_refused_at_send_time_too(
    workspace, key_client, receiver, settings, session_client
):
    register(session_client, workspace, receiver.url, ["run.failed"])
    settings.NOTIFICATION_ALLOW_PRIVATE_URLS = False  # saved while allowed; no longer
    settings.NOTIFICATION_RETRY_DELAYS = []
    failing_run(key_client, workspace)
    assert receiver.requests == []
    [delivery] = WebhookDelivery.objects.unscoped().all()
    assert delivery.outcome == DeliveryOutcome.FAILED
    assert "private address" in delivery.error


def test_an_account_needing_reconnection_is_notified_once(
    google, workspace, member, key_client, receiver, session_client
):
    gmail = connect(google, workspace=workspace, user=member, email="sender@gmail.test")
    endpoint = register(session_client, workspace, receiver.url, ["integration.reauth_required"])
    google.state.revoke_account("sender@gmail.test")
    OAuthToken.objects.unscoped().filter(integration=gmail).update(expires_at=timezone.now())
    # The owner runs it, so the run sends from their own (private) account.
    workflow_id = create_workflow(session_client, workspace)
    execute(session_client, workspace, workflow_id, ADA)
    execute(session_client, workspace, workflow_id, ADA)

    gmail.refresh_from_db()
    assert gmail.status == IntegrationStatus.REAUTH_REQUIRED
    [request] = receiver.requests
    message = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert message["type"] == "integration.reauth_required"
    assert message["data"]["integration"]["id"] == gmail.pk
    assert message["data"]["integration"]["status"] == "reauth_required"


def test_delivery_logs_are_kept_thirty_days(workspace, key_client, receiver, session_client):
    register(session_client, workspace, receiver.url, ["run.failed"])
    failing_run(key_client, workspace)
    failing_run(key_client, workspace)
    old, recent = WebhookDelivery.objects.unscoped().order_by("id")
    WebhookDelivery.objects.unscoped().filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=31)
    )
    assert delete_old_deliveries() == 1
    assert list(WebhookDelivery.objects.unscoped().values_list("pk", flat=True)) == [recent.pk]


def test_the_settings_page_adds_an_endpoint_shows_its_secret_once_and_lists_deliveries(
    workspace, member, receiver
):
    page = Client()
    page.force_login(member)
    settings_url = f"/w/{workspace.slug}/settings/"
    created = page.post(
        f"/w/{workspace.slug}/settings/webhooks/", {"url": receiver.url, "events": ["run.failed"]}
    )
    assert created.status_code == 200
    endpoint = NotificationEndpoint.objects.unscoped().get()
    assert endpoint.secret in created.content.decode()
    assert "no-store" in created["Cache-Control"]

    shown = page.get(settings_url).content.decode()
    assert receiver.url in shown
    assert endpoint.secret not in shown

    refused = page.post(f"/w/{workspace.slug}/settings/webhooks/", {"url": "gopher://x", "events": []})
    assert refused.status_code == 400
    assert NotificationEndpoint.objects.unscoped().count() == 1

    WebhookDelivery.objects.create(
        workspace=workspace,
        endpoint=endpoint,
        message_id="msg_1",
        event="run.failed",
        attempt=1,
        outcome=DeliveryOutcome.FAILED,
        response_status=502,
        error="The endpoint answered 502; it must answer 2xx.",
    )
    assert "answered 502" in page.get(settings_url).content.decode()

    disabled = page.post(f"/w/{workspace.slug}/settings/webhooks/{endpoint.pk}/", {"action": "disable"})
    assert disabled.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    page.post(f"/w/{workspace.slug}/settings/webhooks/{endpoint.pk}/", {"action": "delete"})
    assert not NotificationEndpoint.objects.unscoped().exists()


def test_a_second_receiver_on_another_workspace_hears_nothing(
    workspace, other_workspace, key_client, other_key_client, receiver, session_client, other_session_client
):
    other, server = start_receiver()
    try:
        register(other_session_client, other_workspace, other.url, ["run.failed"])
        register(session_client, workspace, receiver.url, ["run.failed"])
        failing_run(key_client, workspace)
        assert len(receiver.requests) == 1
        assert other.requests == []
    finally:
        server.shutdown()
        server.server_close()
