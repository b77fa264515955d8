"""Triggers: the API and the builder's Triggers section, and webhook triggers answering at
/hooks/<token>/ (runs started with the body as input, dedupe, signatures, limits, refusals)."""

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.test import Client
from standardwebhooks.webhooks import Webhook

from hooks.models import Trigger
from integrations.services import update_integration_sharing
from integrations.tests.google_grants import connect
from workflows.models import WorkflowRun
from workflows.services import delete_workflow
from workflows.tests.helpers import create_workflow, workflows_url

pytestmark = pytest.mark.django_db(transaction=True)

ADA = {"name": "Ada", "email": "ada@example.com"}


def triggers_url(workspace, workflow_id: int) -> str:
    return f"{workflows_url(workspace)}{workflow_id}/triggers/"


def add_trigger(client, workspace, workflow_id: int, **body) -> dict:
    response = client.post(triggers_url(workspace, workflow_id), {"type": "webhook", **body}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def hook_path(trigger: dict) -> str:
    return urlsplit(trigger["url"]).path


def call(trigger: dict, body=ADA, **headers):
    """POST to the webhook as another service would: no session, no API key, no CSRF token."""
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return Client(enforce_csrf_checks=True).post(
        hook_path(trigger), data=data, content_type="application/json", headers=headers
    )


def signed_headers(secret: str, body: str, *, message_id: str = "msg_1", at: datetime | None = None) -> dict:
    moment = at or datetime.now(tz=UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id=message_id, timestamp=moment, data=body),
    }


@pytest.fixture
def workflow_id(workspace, key_client) -> int:
    return create_workflow(key_client, workspace)


@pytest.fixture
def hook(workspace, key_client, workflow_id) -> dict:
    return add_trigger(key_client, workspace, workflow_id)


def test_a_webhook_post_starts_a_run_and_the_email_arrives(google, workspace, member, key_client, settings):
    gmail = connect(google, workspace=workspace, user=member, email="sender@gmail.test")
    # A trigger's run has no person behind it: it sends from the workspace's default (shared) account.
    update_integration_sharing(
        workspace=workspace,
        integration_id=gmail.pk,
        role="owner",
        user_id=member.pk,
        shared=True,
        is_default=True,
    )
    workflow_id = create_workflow(key_client, workspace)
    trigger = add_trigger(key_client, workspace, workflow_id)
    assert trigger["url"].startswith(f"{settings.SITE_URL}/hooks/")
    assert trigger["type"] == "webhook" and trigger["enabled"] is True and trigger["signing"] is False
    assert trigger["last_fired_at"] is None and trigger["last_error"] is None

    response = call(trigger)

    assert response.status_code == 202, response.json()
    run_ref = response.json()["run"]
    assert run_ref["url"] == f"/api/workspaces/{workspace.pk}/runs/{run_ref['id']}/"
    run = key_client.get(run_ref["url"]).json()
    assert run["status"] == "succeeded"
    assert run["trigger"] == "webhook"
    assert run["trigger_id"] == trigger["id"]
    assert run["input"] == ADA
    [delivered] = google.state.messages(to="ada@example.com")
    assert run["steps"][0]["output"]["message_id"] == delivered["id"]
    fired = key_client.get(f"{triggers_url(workspace, workflow_id)}{trigger['id']}/").json()
    assert fired["last_fired_at"] is not None


def test_triggers_are_listed_read_disabled_rotated_and_deleted(workspace, key_client, workflow_id, hook):
    detail = f"{triggers_url(workspace, workflow_id)}{hook['id']}/"
    assert [t["id"] for t in key_client.get(triggers_url(workspace, workflow_id)).json()["results"]] == [
        hook["id"]
    ]
    assert key_client.get(detail).json()["url"] == hook["url"]

    disabled = key_client.patch(detail, {"enabled": False}, format="json")
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert call(hook).status_code == 404
    key_client.patch(detail, {"enabled": True}, format="json")
    assert call(hook).status_code == 202

    rotated = key_client.post(f"{detail}rotate/")
    assert rotated.status_code == 200
    assert rotated.json()["url"] != hook["url"]
    assert call(hook).status_code == 404  # the old URL stops answering at once
    assert call(rotated.json()).status_code == 202

    assert key_client.delete(detail).status_code == 204
    assert key_client.get(detail).status_code == 404
    assert call(rotated.json()).status_code == 404


def test_rotating_a_signing_trigger_replaces_its_secret_too_and_shows_it_once(
    workspace, key_client, workflow_id
):
    trigger = add_trigger(key_client, workspace, workflow_id, signing=True)
    detail = f"{triggers_url(workspace, workflow_id)}{trigger['id']}/"
    body = json.dumps(ADA)

    rotated = key_client.post(f"{detail}rotate/")

    assert rotated.status_code == 200
    new_secret = rotated.json()["signing_secret"]
    assert new_secret.startswith("whsec_") and new_secret != trigger["signing_secret"]
    assert "signing_secret" not in key_client.get(detail).json()
    old_signature = signed_headers(trigger["signing_secret"], body, message_id="msg_old")
    assert call(rotated.json(), body, **old_signature).status_code == 401
    assert call(rotated.json(), body, **signed_headers(new_secret, body)).status_code == 202


def test_rotating_an_unsigned_trigger_gives_it_no_secret(workspace, key_client, workflow_id, hook):
    rotated = key_client.post(f"{triggers_url(workspace, workflow_id)}{hook['id']}/rotate/")
    assert rotated.status_code == 200
    assert rotated.json()["signing"] is False and rotated.json()["signing_secret"] is None
    assert call(rotated.json()).status_code == 202


def test_the_token_is_stored_encrypted_and_looked_up_by_its_hash(hook):
    token = hook_path(hook).split("/")[2]
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT token, token_hash FROM hooks_trigger")
        [(stored, stored_hash)] = cursor.fetchall()
    assert token not in stored and token not in stored_hash


def test_bad_trigger_input_and_another_workspace_are_refused(
    workspace, other_workspace, key_client, other_key_client, workflow_id, hook
):
    bad = key_client.post(triggers_url(workspace, workflow_id), {"type": "carrier_pigeon"}, format="json")
    assert bad.status_code == 400
    assert "type" in bad.json()["error"]["fields"]
    assert (
        key_client.post(triggers_url(workspace, 999999), {"type": "webhook"}, format="json").status_code
        == 404
    )
    theirs = f"{triggers_url(other_workspace, workflow_id)}{hook['id']}/"
    assert other_key_client.get(theirs).status_code == 404
    assert other_key_client.delete(theirs).status_code == 404
    assert other_key_client.post(f"{theirs}rotate/").status_code == 404
    assert Trigger.objects.unscoped().filter(pk=hook["id"]).exists()


def test_a_repeated_webhook_id_starts_one_run(hook):
    first = call(hook, **{"webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"})
    again = call(hook, **{"webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"})
    other = call(hook, **{"webhook-id": "msg_other"})
    assert first.status_code == again.status_code == other.status_code == 202
    assert first.json()["run"]["id"] == again.json()["run"]["id"] != other.json()["run"]["id"]
    assert WorkflowRun.objects.unscoped().count() == 2


def test_an_idempotency_key_dedupes_too_and_is_scoped_to_the_trigger(
    workspace, key_client, workflow_id, hook
):
    second_hook = add_trigger(key_client, workspace, workflow_id)
    first = call(hook, **{"Idempotency-Key": "order-42"})
    again = call(hook, **{"Idempotency-Key": "order-42"})
    elsewhere = call(second_hook, **{"Idempotency-Key": "order-42"})
    assert first.json()["run"]["id"] == again.json()["run"]["id"] != elsewhere.json()["run"]["id"]
    assert WorkflowRun.objects.unscoped().count() == 2


def test_a_signing_trigger_requires_a_valid_standard_webhooks_signature(workspace, key_client, workflow_id):
    trigger = add_trigger(key_client, workspace, workflow_id, signing=True)
    secret = trigger["signing_secret"]
    assert secret.startswith("whsec_") and trigger["signing"] is True
    detail = key_client.get(f"{triggers_url(workspace, workflow_id)}{trigger['id']}/").json()
    assert "signing_secret" not in detail
    body = json.dumps(ADA)

    assert call(trigger, body).status_code == 401
    forged = signed_headers("whsec_" + "A" * 43, body)
    refused = call(trigger, body, **forged)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_signature"
    stale = signed_headers(secret, body, at=datetime.now(tz=UTC) - timedelta(minutes=10))
    assert call(trigger, body, **stale).status_code == 401
    tampered = signed_headers(secret, body)
    assert call(trigger, json.dumps({**ADA, "name": "Mallory"}), **tampered).status_code == 401
    garbage = {"webhook-id": "x", "webhook-timestamp": "now", "webhook-signature": "v1,%%%"}
    assert call(trigger, body, **garbage).status_code == 401
    assert not WorkflowRun.objects.unscoped().exists()
    refused_health = key_client.get(f"{triggers_url(workspace, workflow_id)}{trigger['id']}/").json()
    assert "signature" in refused_health["last_error"]["message"]

    accepted = call(trigger, body, **signed_headers(secret, body))
    assert accepted.status_code == 202
    assert WorkflowRun.objects.unscoped().get().input == ADA


def test_a_body_over_256_kb_answers_413(hook):
    response = call(hook, {"blob": "x" * 300 * 1024})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert not WorkflowRun.objects.unscoped().exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{not json", "malformed_request"),
        ("[1, 2]", "malformed_request"),
        ('{"a": "\\u0000"}', "malformed_request"),
    ],
)
def test_a_body_that_is_not_a_json_object_answers_400(hook, body, code):
    response = call(hook, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["success"] is False


def test_an_unknown_token_answers_404(hook):
    response = call({"url": "http://testserver/hooks/not-a-real-token/"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_paused_or_deleted_workflow_answers_409(workspace, key_client, workflow_id, hook):
    key_client.patch(f"{workflows_url(workspace)}{workflow_id}/", {"is_active": False}, format="json")
    paused = call(hook)
    assert paused.status_code == 409
    assert paused.json()["error"]["code"] == "workflow_inactive"

    key_client.patch(f"{workflows_url(workspace)}{workflow_id}/", {"is_active": True}, format="json")
    assert call(hook).status_code == 202
    delete_workflow(workspace=workspace, workflow_id=workflow_id)  # it has a run: archived, not deleted
    archived = call(hook)
    assert archived.status_code == 409
    assert archived.json()["error"]["code"] == "workflow_archived"


def test_a_flood_answers_429_with_retry_after_per_token(workspace, key_client, workflow_id, hook, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "webhook_trigger": "3/min",
        },
    }
    cache.clear()
    other_hook = add_trigger(key_client, workspace, workflow_id)
    statuses = [call(hook).status_code for _ in range(5)]
    assert statuses == [202, 202, 202, 429, 429]
    flooded = call(hook)
    assert flooded.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(flooded["Retry-After"]) <= 60
    assert call(other_hook).status_code == 202  # each URL has its own window
    assert WorkflowRun.objects.unscoped().count() == 4
    cache.clear()


def test_the_builder_lists_adds_and_changes_triggers(workspace, member, key_client, workflow_id):
    page = Client()
    page.force_login(member)
    edit_url = f"/w/{workspace.slug}/workflows/{workflow_id}/"
    assert 'data-testid="no-triggers"' in page.get(edit_url).content.decode()

    added = page.post(f"{edit_url}triggers/", {"signing": "on"})
    assert added.status_code == 302 and added["Location"].endswith("#triggers")
    trigger = Trigger.objects.unscoped().get()
    shown = page.get(edit_url).content.decode()
    assert f"/hooks/{trigger.token}/" in shown
    assert trigger.signing_secret in shown
    assert "Copy URL" in shown

    old_token, old_secret = trigger.token, trigger.signing_secret
    rotated = page.post(f"{edit_url}triggers/{trigger.pk}/", {"action": "rotate"}, follow=True)
    trigger.refresh_from_db()
    assert trigger.token != old_token and trigger.signing_secret != old_secret
    assert "new signing secret" in rotated.content.decode()
    page.post(f"{edit_url}triggers/{trigger.pk}/", {"action": "disable"})
    trigger.refresh_from_db()
    assert trigger.enabled is False
    page.post(f"{edit_url}triggers/{trigger.pk}/", {"action": "delete"})
    assert not Trigger.objects.unscoped().exists()


def test_a_run_from_the_api_records_no_trigger(workspace, key_client, workflow_id):
    response = key_client.post(
        f"{workflows_url(workspace)}{workflow_id}/execute/", {"input": ADA}, format="json"
    )
    assert response.json()["run"]["trigger"] == "api"
    assert response.json()["run"]["trigger_id"] is None


def test_webhook_runs_use_the_same_input_checks_as_execute(hook):
    deep: dict = {}
    node = deep
    for _ in range(70):
        node["a"] = {}
        node = node["a"]
    response = call(hook, deep)
    assert response.status_code == 400
    assert not WorkflowRun.objects.unscoped().exists()


def test_hostile_calls_never_answer_500(workspace, key_client, workflow_id, hook):
    signed = add_trigger(key_client, workspace, workflow_id, signing=True)
    client = Client()
    for trigger in (hook, signed):
        path = hook_path(trigger)
        assert client.post(path, data=b"\xff\xfe{", content_type="application/json").status_code in (400, 401)
        assert client.post(
            path, data="a=1", content_type="application/x-www-form-urlencoded"
        ).status_code in (
            400,
            401,
        )
        assert client.get(path).status_code == 405
        long_id = {"webhook-id": "x" * 300, "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"}
        assert call(trigger, **long_id).status_code in (400, 401)
    assert (
        client.post("/hooks/" + "a" * 5000 + "/", data="{}", content_type="application/json").status_code
        == 404
    )
    assert not WorkflowRun.objects.unscoped().exists()


def test_a_webhook_missing_an_input_the_workflow_reads_answers_400_like_execute(key_client, workspace, hook):
    response = call(hook, {"name": "Ada"})
    execute = key_client.post(
        f"{workflows_url(workspace)}{hook['workflow']}/execute/", {"input": {"name": "Ada"}}, format="json"
    )
    assert response.status_code == execute.status_code == 400
    assert response.json()["error"]["code"] == execute.json()["error"]["code"] == "invalid_input"
    assert "email" in json.dumps(response.json()["error"]["fields"]["input"])
    assert not WorkflowRun.objects.unscoped().exists()
