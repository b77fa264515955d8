"""A slow token refresh holds no database lock: other writers go on while Google is slow.

The refresh takes a short lease on the token row, calls Google outside any transaction and
then saves the result, so with Google hanging, writes elsewhere (another workspace's API key
or workflow, even the token row itself) complete while the HTTP call is still in flight. Any
number of concurrent callers still cause exactly one request to Google's token endpoint.
"""

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections, transaction
from django.utils import timezone

from integrations.google import oauth_client
from integrations.google.credentials import credentials_for
from integrations.models import Integration, OAuthToken
from integrations.tests.google_grants import connect
from workflows.services import StepSpec, create_workflow
from workspaces.services import create_api_key

pytestmark = pytest.mark.django_db(transaction=True)

GOOGLE_HANGS_SECONDS = 3.0
WAIT_SECONDS = 30.0


def in_thread(target: Callable[[], Any], results: list[Any], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            results.append(target())
        except BaseException as error:  # collected and asserted on by the test
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def expiring(integration: Integration) -> Integration:
    """The integration as a worker loads it, with its token inside the 5-minute refresh margin."""
    OAuthToken.objects.unscoped().filter(integration=integration).update(
        expires_at=timezone.now() + timedelta(minutes=1)
    )
    return Integration.objects.unscoped().select_related("token").get(pk=integration.pk)


@pytest.fixture
def token_http(monkeypatch):
    """Events around the real HTTP call to Google's token endpoint."""
    started, returned = threading.Event(), threading.Event()
    real_refresh = oauth_client.refresh_access_token

    def observed(**kwargs: Any) -> oauth_client.RefreshedToken:
        started.set()
        try:
            return real_refresh(**kwargs)
        finally:
            returned.set()

    monkeypatch.setattr(oauth_client, "refresh_access_token", observed)
    return started, returned


def _create_api_key(other_workspace, integration) -> None:
    create_api_key(workspace=other_workspace, name="written during a refresh")


def _create_workflow(other_workspace, integration) -> None:
    create_workflow(
        workspace=other_workspace,
        created_by=None,
        name="Written during a refresh",
        steps=[
            StepSpec(
                action="gmail.send_email", params={"to": ["a@example.com"], "subject": "Hi", "text": "Hello"}
            )
        ],
    )


def _lock_the_token_row(other_workspace, integration) -> None:
    # On PostgreSQL this fails at once if the refresh holds the row lock; on SQLite, taking any
    # write transaction waits for the one the refresh holds.
    with transaction.atomic():
        OAuthToken.objects.unscoped().select_for_update(nowait=True).get(integration=integration)


@pytest.mark.parametrize("write", [_create_api_key, _create_workflow, _lock_the_token_row])
def test_writes_complete_while_a_refresh_waits_for_google(
    google, workspace, member, other_workspace, token_http, settings, write
):
    settings.GOOGLE_HTTP_TIMEOUT = 10
    http_started, http_returned = token_http
    integration = expiring(connect(google, workspace=workspace, user=member))
    old_token = integration.token.access_token
    google.state.add_fault("token.refresh_token", hang_seconds=GOOGLE_HANGS_SECONDS)

    refreshed: list[Any] = []
    errors: list[BaseException] = []
    refresher = in_thread(lambda: credentials_for(integration=integration), refreshed, errors)
    assert http_started.wait(WAIT_SECONDS), errors

    written: list[Any] = []
    writer = in_thread(lambda: write(other_workspace, integration), written, errors)
    writer.join(WAIT_SECONDS)
    # The write finished while Google had not yet answered the refresh.
    assert written == [None] and not http_returned.is_set(), errors

    refresher.join(WAIT_SECONDS)
    assert errors == []
    assert refreshed[0].token != old_token
    assert OAuthToken.objects.unscoped().get(integration=integration).access_token == refreshed[0].token
    assert google.state.stats()["token.refresh_token"] == 1


CONCURRENT_CALLERS = 8


def test_concurrent_callers_cause_exactly_one_token_request(google, workspace, member, settings):
    settings.GOOGLE_HTTP_TIMEOUT = 10
    integration = connect(google, workspace=workspace, user=member)
    expiring(integration)
    old_token = OAuthToken.objects.unscoped().get(integration=integration).access_token
    google.state.add_fault("token.refresh_token", hang_seconds=1.0)  # so the callers overlap

    start = threading.Barrier(CONCURRENT_CALLERS)

    def call() -> str | None:
        mine = Integration.objects.unscoped().select_related("token").get(pk=integration.pk)
        start.wait(WAIT_SECONDS)
        return credentials_for(integration=mine).token

    tokens: list[str | None] = []
    errors: list[BaseException] = []
    threads = [in_thread(call, tokens, errors) for _ in range(CONCURRENT_CALLERS)]
    for thread in threads:
        thread.join(WAIT_SECONDS)

    assert errors == []
    assert google.state.stats()["token.refresh_token"] == 1
    stored = OAuthToken.objects.unscoped().get(integration=integration)
    assert tokens == [stored.access_token] * CONCURRENT_CALLERS
    assert stored.access_token != old_token
