"""The status endpoint's answer, kept by the process for STATUS_CACHE_SECONDS: never stale in the
process that wrote an account, whichever code path wrote it.

The cache is not used inside a transaction, so these tests commit (transaction=True)."""

import re
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from galaxyco.errors import ReauthRequired
from hooks import notifications
from integrations import health, selectors, services, status_cache
from integrations.google import oauth_client
from integrations.google.scopes import scopes_for
from integrations.models import Integration, IntegrationStatus, IntegrationType, OAuthToken
from integrations.selectors import integration_status
from integrations.sidemail import notices
from integrations.tests.factories import IntegrationFactory, OAuthTokenFactory
from workspaces.models import Membership, Role, Workspace
from workspaces.tests.factories import MembershipFactory, UserFactory

committed = pytest.mark.django_db(transaction=True)


def status_url(workspace: Workspace) -> str:
    return f"/api/workspaces/{workspace.pk}/integrations/status/"


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    status_cache.recent_status.drop(None)
    yield
    status_cache.recent_status.drop(None)


@pytest.fixture(autouse=True)
def nobody_told(monkeypatch) -> None:
    """A move to "Reconnect needed" notifies after commit; not the point here."""
    monkeypatch.setattr(notifications, "integration_reauth_required", lambda *, integration_id: None)
    monkeypatch.setattr(notices, "send_reauth_notice", lambda *, integration_id: None)
    monkeypatch.setattr(oauth_client, "revoke_token", lambda *, token: True)


def status_queries(client, workspace: Workspace) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(status_url(workspace)).status_code == 200
    return sum("integration" in query["sql"] for query in queries)


@committed
def test_a_status_is_answered_from_memory_until_it_is_a_second_old(workspace, key_client, monkeypatch):
    IntegrationFactory(workspace=workspace)
    now = [1000.0]
    monkeypatch.setattr(status_cache.recent_status, "clock", lambda: now[0])
    assert status_queries(key_client, workspace) == 1
    now[0] = 1000.0 + status_cache.STATUS_CACHE_SECONDS / 2
    assert status_queries(key_client, workspace) == 0
    now[0] = 1000.0 + status_cache.STATUS_CACHE_SECONDS
    assert status_queries(key_client, workspace) == 1


@committed
def test_a_status_read_inside_a_transaction_is_read_afresh_and_not_kept(workspace):
    gmail = IntegrationFactory(workspace=workspace)
    with transaction.atomic():
        # A QuerySet.update sends no signal: only reading afresh shows this transaction's write.
        Integration.objects.unscoped().filter(pk=gmail.pk).update(email="renamed@gmail.test")
        assert integration_status(workspace=workspace)["gmail"]["email"] == "renamed@gmail.test"
        transaction.set_rollback(True)
    assert integration_status(workspace=workspace)["gmail"]["email"] == gmail.email


@committed
def test_a_status_read_before_a_write_is_not_kept_after_it(workspace, monkeypatch):
    gmail = IntegrationFactory(workspace=workspace)
    read = selectors._read_status

    def read_while_the_account_is_disconnected(*, workspace_id: int) -> dict[str, dict[str, Any]]:
        status = read(workspace_id=workspace_id)
        # Another thread of the process disconnects the account between the read and its keeping.
        services.disconnect_integration(workspace=workspace, integration_id=gmail.pk)
        return status

    monkeypatch.setattr(selectors, "_read_status", read_while_the_account_is_disconnected)
    assert integration_status(workspace=workspace)["gmail"]["status"] == "active"
    monkeypatch.setattr(selectors, "_read_status", read)
    assert integration_status(workspace=workspace)["gmail"]["status"] == "disconnected"


@committed
def test_a_status_another_thread_read_before_the_write_committed_is_dropped_at_commit(workspace):
    gmail = IntegrationFactory(workspace=workspace)

    def read_in_another_thread() -> None:
        # Its own connection: it sees the account as it is until the write commits.
        try:
            assert integration_status(workspace=workspace)["gmail"]["status"] == "active"
        finally:
            connection.close()

    with transaction.atomic():
        services.disconnect_integration(workspace=workspace, integration_id=gmail.pk)
        reader = threading.Thread(target=read_in_another_thread)
        reader.start()
        reader.join()
        assert status_cache.recent_status.get(workspace.pk) is not None
    assert integration_status(workspace=workspace)["gmail"]["status"] == "disconnected"


@committed
def test_callers_cannot_change_the_kept_status(workspace):
    IntegrationFactory(workspace=workspace)
    integration_status(workspace=workspace)["gmail"]["email"] = "changed@gmail.test"
    assert integration_status(workspace=workspace)["gmail"]["email"] != "changed@gmail.test"


# Every code path that writes Integration rows, each changing what the status shows: a write and,
# where the state it changes must come first, what comes before it. `world` is a workspace, its
# owner, their shared default Gmail account (with a token) and an older private one.
WRITE = re.compile(r'^\s*(UPDATE|INSERT INTO|DELETE FROM)\s+"?integrations_integration"?\s', re.IGNORECASE)
SET_COLUMNS = re.compile(r"\bSET\s+(.*?)\s+WHERE\b", re.IGNORECASE | re.DOTALL)
# Columns the status never shows (use and send pacing): writing only these needs no drop.
UNSHOWN = {"last_used_at", "paced_until", "sent_until", "updated_at"}

World = dict[str, Any]


def shows_in_status(sql: str) -> bool:
    if not sql.lstrip().upper().startswith("UPDATE"):
        return True
    found = SET_COLUMNS.search(sql)
    assert found, sql
    return not set(re.findall(r'"?(\w+)"?\s*=', found.group(1))) <= UNSHOWN


def set_status(world: World, status: IntegrationStatus) -> None:
    Integration.objects.unscoped().filter(pk=world["default"].pk).update(status=status)


def grant(email: str, kind: IntegrationType = IntegrationType.GMAIL) -> services.GoogleGrant:
    return services.GoogleGrant(
        account_id=f"google-{email}",
        email=email,
        display_name=email.split("@")[0],
        access_token=f"ya29.access-{email}",
        refresh_token=f"1//refresh-{email}",
        expires_at=timezone.now() + timedelta(hours=1),
        granted_scopes=scopes_for(kind),
    )


def connect_new_account(world: World) -> None:
    services.connect_google_integration(
        workspace=world["workspace"],
        user=world["owner"],
        integration_type=IntegrationType.CALENDAR,
        grant=grant("diary@gmail.test", IntegrationType.CALENDAR),
        share=True,
    )


def reconnect(world: World) -> None:
    services.connect_google_integration(
        workspace=world["workspace"],
        user=world["owner"],
        integration_type=IntegrationType.GMAIL,
        grant=grant("owner@gmail.test"),
    )


class AcceptingSidemail:
    def check_key(self) -> None:
        pass


def connect_sidemail(world: World) -> None:
    services.connect_sidemail_integration(
        workspace=world["workspace"],
        user=world["owner"],
        api_key="sm_key",
        from_address="news@acme.test",
        share=True,
        client=AcceptingSidemail(),
    )


def sharing(**change: bool) -> Callable[[World], None]:
    def change_sharing(world: World) -> None:
        services.update_integration_sharing(
            workspace=world["workspace"],
            integration_id=world["default"].pk,
            role=Role.OWNER,
            user_id=world["owner"].pk,
            **change,
        )

    return change_sharing


def move_the_default(world: World) -> None:
    services.update_integration_sharing(
        workspace=world["workspace"],
        integration_id=world["other"].pk,
        role=Role.OWNER,
        user_id=world["owner"].pk,
        shared=True,
        is_default=True,
    )


def disconnect(world: World) -> None:
    services.disconnect_integration_as(
        workspace=world["workspace"], integration_id=world["default"].pk, role=Role.OWNER, user_id=None
    )


def owner_leaves(world: World) -> None:
    Membership.objects.for_workspace(world["workspace"]).filter(user=world["owner"]).delete()


def owner_is_deleted(world: World) -> None:
    get_user_model().objects.filter(pk=world["owner"].pk).delete()


def generation(world: World) -> Any:
    return OAuthToken.objects.unscoped().get(integration=world["default"]).updated_at


def refresh(world: World) -> None:
    health.record_refresh(integration_id=world["default"].pk, credentials_generation=generation(world))


def refusal(world: World, message: str = "Google refused the grant.") -> None:
    health.record_reauth_required(
        integration_id=world["default"].pk,
        error=ReauthRequired(message),
        credentials_generation=generation(world),
    )


def refused_and_alone(world: World) -> None:
    refusal(world)
    # With no active account left, the status reports the default, with its message.
    Integration.objects.unscoped().filter(pk=world["other"].pk).update(status=IntegrationStatus.DISCONNECTED)


def refusal_again(world: World) -> None:
    # Already "Reconnect needed": only the message changes.
    refusal(world, message="Google refused the grant again.")


def saved_by_the_admin(world: World) -> None:
    integration = Integration.objects.unscoped().get(pk=world["default"].pk)
    integration.display_name = "Renamed in the admin"
    integration.save()


def deleted(world: World) -> None:
    Integration.objects.unscoped().filter(pk=world["default"].pk).delete()


def workspace_deleted(world: World) -> None:
    Workspace.objects.filter(pk=world["workspace"].pk).delete()


def needs_reconnecting(world: World) -> None:
    set_status(world, IntegrationStatus.REAUTH_REQUIRED)


WRITERS: dict[str, tuple[Callable[[World], None] | None, Callable[[World], None]]] = {
    "connect a new account": (None, connect_new_account),
    "reconnect": (needs_reconnecting, reconnect),
    "connect Sidemail": (None, connect_sidemail),
    "unshare": (None, sharing(shared=False)),
    "clear the default": (None, sharing(is_default=False)),
    "move the default": (None, move_the_default),
    "disconnect": (None, disconnect),
    "the owner leaves": (None, owner_leaves),
    "the owner is deleted": (None, owner_is_deleted),
    "a refresh": (lambda world: set_status(world, IntegrationStatus.ERROR), refresh),
    "a refusal": (None, refusal),
    "a refusal again": (refused_and_alone, refusal_again),
    "saved in the admin": (None, saved_by_the_admin),
    "deleted": (None, deleted),
    "the workspace is deleted": (None, workspace_deleted),
}


@pytest.fixture
def world(workspace) -> World:
    owner = MembershipFactory(workspace=workspace, user=UserFactory(email="owner@acme.test")).user
    default = OAuthTokenFactory(
        workspace=workspace,
        integration__workspace=workspace,
        integration__connected_by=owner,
        integration__email="owner@gmail.test",
        integration__provider_account_id="google-owner@gmail.test",
        integration__shared=True,
        integration__is_default=True,
    ).integration
    other = IntegrationFactory(
        workspace=workspace, connected_by=owner, connected_at=timezone.now() - timedelta(days=2)
    )
    return {"workspace": workspace, "owner": owner, "default": default, "other": other}


@pytest.fixture
def writes_and_drops(monkeypatch) -> Iterator[list[tuple[str, Any]]]:
    """In order: each statement that writes Integration rows, and each drop of a status."""
    seen: list[tuple[str, Any]] = []
    drop = status_cache.recent_status.drop

    def drop_and_note(workspace_id: int | None) -> None:
        seen.append(("drop", workspace_id))
        drop(workspace_id)

    def note_writes(execute, sql, params, many, context):
        if WRITE.match(sql):
            seen.append(("write", sql))
        return execute(sql, params, many, context)

    monkeypatch.setattr(status_cache.recent_status, "drop", drop_and_note)
    with connection.execute_wrapper(note_writes):
        yield seen


@committed
@pytest.mark.parametrize(("before", "write"), WRITERS.values(), ids=WRITERS.keys())
def test_every_write_of_an_account_drops_the_status_in_the_writing_process(
    world, before, write, writes_and_drops
):
    workspace = world["workspace"]
    if before is not None:
        before(world)
    status_cache.recent_status.drop(None)
    kept = integration_status(workspace=workspace)
    writes_and_drops.clear()

    write(world)

    status = integration_status(workspace=workspace)
    assert status != kept, "the write changes the status (else this case proves nothing)"
    assert status == selectors._read_status(workspace_id=workspace.pk)
    # Each write of a shown column is followed by a drop of the workspace's status (or all).
    drops = [
        i
        for i, (kind, value) in enumerate(writes_and_drops)
        if kind == "drop" and value in (workspace.pk, None)
    ]
    writes = [
        i for i, (kind, value) in enumerate(writes_and_drops) if kind == "write" and shows_in_status(value)
    ]
    assert writes, writes_and_drops
    assert all(drops and max(drops) > i for i in writes), writes_and_drops


@committed
def test_writing_only_the_use_and_pacing_columns_keeps_the_status(world, writes_and_drops):
    integration = Integration.objects.unscoped().get(pk=world["default"].pk)
    health.record_use(integration=integration)
    health.reserve_send_slot(integration_id=integration.pk, interval=1.0)
    health.book_send(integration=integration, interval=1.0, slot=None, within=60.0)
    assert [kind for kind, _ in writes_and_drops] == ["write", "write", "write"]
    assert not any(shows_in_status(sql) for _, sql in writes_and_drops)
