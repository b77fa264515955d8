from datetime import timedelta
from itertools import product

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations import selectors
from integrations.models import Integration, IntegrationStatus, IntegrationType, OAuthToken
from integrations.selectors import integration_status
from integrations.serializers import IntegrationStatusSerializer, status_representation
from integrations.tests.factories import IntegrationFactory, OAuthTokenFactory
from workspaces.models import Membership, Workspace
from workspaces.tests.factories import MembershipFactory, UserFactory


def status_url(workspace):
    return f"/api/workspaces/{workspace.pk}/integrations/status/"


@pytest.mark.django_db
def test_status_needs_a_credential(workspace, anon_client):
    response = anon_client.get(status_url(workspace))
    assert response.status_code == 401
    assert "WWW-Authenticate" in response


@pytest.mark.django_db
def test_status_answers_a_members_session_and_the_workspace_key(workspace, session_client, key_client):
    OAuthTokenFactory(integration__workspace=workspace, integration__email="team@gmail.test")
    for client in (session_client, key_client):
        response = client.get(status_url(workspace))
        assert response.status_code == 200
        body = response.json()
        assert body["gmail"]["connected"] is True
        assert body["gmail"]["email"] == "team@gmail.test"
        assert body["calendar"] == {
            "default_integration_id": None,
            "connected": False,
            "status": "not_connected",
            "email": None,
            "integration_id": None,
            "display_name": "",
            "connected_at": None,
            "last_refreshed_at": None,
            "message": None,
        }


@pytest.mark.django_db
def test_status_hides_from_another_workspaces_key(workspace, other_key_client):
    assert other_key_client.get(status_url(workspace)).status_code == 404


@pytest.mark.django_db
def test_status_reports_a_connection_needing_reauthorization(workspace, key_client):
    integration = IntegrationFactory(workspace=workspace, status=IntegrationStatus.REAUTH_REQUIRED)
    gmail = key_client.get(status_url(workspace)).json()["gmail"]
    assert gmail["connected"] is False
    assert gmail["status"] == "reauth_required"
    assert gmail["integration_id"] == integration.pk


@pytest.mark.django_db
def test_status_prefers_an_active_integration(workspace, key_client):
    IntegrationFactory(workspace=workspace, status=IntegrationStatus.DISCONNECTED)
    active = IntegrationFactory(workspace=workspace)
    IntegrationFactory(workspace=workspace, status=IntegrationStatus.REAUTH_REQUIRED)
    assert key_client.get(status_url(workspace)).json()["gmail"]["integration_id"] == active.pk


@pytest.mark.django_db
def test_status_reports_the_newest_account_of_the_best_status_of_each_type(workspace, member):
    now = timezone.now()
    gmail = {
        status: [
            IntegrationFactory(
                workspace=workspace,
                status=status,
                connected_at=now - timedelta(days=days),
                connected_by=member,
            )
            for days in (3, 1, 2)
        ]
        for status in IntegrationStatus
    }
    IntegrationFactory(workspace=workspace, type=IntegrationType.CALENDAR, status=IntegrationStatus.ERROR)
    needs_reconnecting = IntegrationFactory(
        workspace=workspace, type=IntegrationType.CALENDAR, status=IntegrationStatus.REAUTH_REQUIRED
    )
    status = integration_status(workspace=workspace)
    assert status["gmail"]["integration_id"] == gmail[IntegrationStatus.ACTIVE][1].pk
    assert status["calendar"]["integration_id"] == needs_reconnecting.pk
    assert status["sidemail"]["status"] == "not_connected"
    for active in gmail[IntegrationStatus.ACTIVE]:
        active.delete()
    assert integration_status(workspace=workspace)["gmail"]["integration_id"] == (
        gmail[IntegrationStatus.REAUTH_REQUIRED][1].pk
    )


@pytest.mark.django_db
def test_status_names_the_default_only_while_its_owner_is_a_member(workspace, member):
    default = IntegrationFactory(workspace=workspace, connected_by=member, shared=True, is_default=True)
    newer = IntegrationFactory(workspace=workspace, connected_at=timezone.now() + timedelta(minutes=1))
    gmail = integration_status(workspace=workspace)["gmail"]
    assert (gmail["integration_id"], gmail["default_integration_id"]) == (newer.pk, default.pk)
    Membership.objects.for_workspace(workspace).filter(user=member).delete()
    assert integration_status(workspace=workspace)["gmail"]["default_integration_id"] is None


@pytest.mark.django_db
def test_status_body_is_what_its_serializer_describes(workspace):
    IntegrationFactory(workspace=workspace, last_refreshed_at=timezone.now(), last_error_message="")
    IntegrationFactory(workspace=workspace, type=IntegrationType.CALENDAR, status=IntegrationStatus.ERROR)
    status = integration_status(workspace=workspace)
    assert status_representation(status) == IntegrationStatusSerializer(status).data


@pytest.mark.django_db
def test_status_is_one_query_whatever_the_number_of_integrations(workspace, key_client):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert key_client.get(status_url(workspace)).status_code == 200
        return len(queries)

    IntegrationFactory(workspace=workspace)
    key_client.get(status_url(workspace))  # the key's last_used_at is written once a minute, not per call
    one = count_queries()
    IntegrationFactory.create_batch(
        250, workspace=workspace, type=IntegrationType.CALENDAR, status=IntegrationStatus.REAUTH_REQUIRED
    )
    IntegrationFactory.create_batch(250, workspace=workspace)
    assert count_queries() == one
    with CaptureQueriesContext(connection) as queries:
        integration_status(workspace=workspace)
    assert len(queries) == 1


@pytest.mark.django_db
def test_list_and_detail_never_show_token_material(workspace, key_client):
    token = OAuthTokenFactory(integration__workspace=workspace)
    listing = key_client.get(f"/api/workspaces/{workspace.pk}/integrations/")
    detail = key_client.get(f"/api/workspaces/{workspace.pk}/integrations/{token.integration_id}/")
    assert listing.status_code == 200 and detail.status_code == 200
    assert listing.json()["results"][0]["id"] == token.integration_id
    for body in (listing.content.decode(), detail.content.decode()):
        assert token.access_token not in body
        assert token.refresh_token not in body
        assert "token" not in detail.json()


@pytest.mark.django_db
def test_list_filters_by_type_and_status(workspace, key_client):
    IntegrationFactory(workspace=workspace)
    calendar = IntegrationFactory(workspace=workspace, type=IntegrationType.CALENDAR)
    response = key_client.get(f"/api/workspaces/{workspace.pk}/integrations/?type=calendar&status=active")
    assert [row["id"] for row in response.json()["results"]] == [calendar.pk]


@pytest.mark.django_db
def test_another_workspaces_integration_answers_404(workspace, other_workspace, key_client):
    foreign = OAuthTokenFactory(integration__workspace=other_workspace).integration
    base = f"/api/workspaces/{workspace.pk}/integrations/{foreign.pk}/"
    assert key_client.get(base).status_code == 404
    assert key_client.post(base + "disconnect/").status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == IntegrationStatus.ACTIVE
    assert OAuthToken.objects.unscoped().filter(integration=foreign).exists()


@pytest.mark.django_db
def test_disconnect_revokes_at_google_deletes_the_token_and_marks_it(
    workspace, session_client, key_client, google
):
    token = OAuthTokenFactory(integration__workspace=workspace)
    response = session_client.post(
        f"/api/workspaces/{workspace.pk}/integrations/{token.integration_id}/disconnect/"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["integration"]["status"] == "disconnected"
    assert google.state.stats().get("revoke") == 1
    assert not OAuthToken.objects.unscoped().filter(pk=token.pk).exists()
    status = key_client.get(status_url(workspace)).json()["gmail"]
    assert status["connected"] is False and status["status"] == "disconnected"


@pytest.mark.django_db
def test_disconnect_still_disconnects_when_google_is_unreachable(workspace, session_client, google):
    token = OAuthTokenFactory(integration__workspace=workspace)
    google.state.add_fault("revoke", status=503)
    response = session_client.post(
        f"/api/workspaces/{workspace.pk}/integrations/{token.integration_id}/disconnect/"
    )
    assert response.status_code == 200
    assert response.json()["revoked_at_google"] is False
    assert not OAuthToken.objects.unscoped().filter(pk=token.pk).exists()


def expected_status(workspace: Workspace) -> dict[str, tuple[int | None, int | None]]:
    """What the status reports per type, worked out in Python: (its account, its default)."""
    now = timezone.now()
    order = list(selectors._STATUS_ORDER)
    members = set(Membership.objects.for_workspace(workspace).values_list("user_id", flat=True))
    found = {}
    for kind in IntegrationType:
        accounts = list(Integration.objects.for_workspace(workspace).filter(type=kind))
        # Every account here has its connected_at: the newest within a status is the largest.
        best = min(
            accounts,
            key=lambda a: (
                order.index(IntegrationStatus(a.status)),
                -(a.connected_at or now).timestamp(),
                -a.pk,
            ),
            default=None,
        )
        default = next(
            (
                a.pk
                for a in accounts
                if a.is_default
                and a.status != IntegrationStatus.DISCONNECTED
                and a.connected_by_id in members
            ),
            None,
        )
        found[kind.value] = (best.pk if best else None, default)
    return found


@pytest.mark.django_db
def test_the_status_reports_the_best_account_and_the_default_of_every_type(workspace):
    """Every combination of statuses present, on the database at hand (PostgreSQL: its function;
    SQLite: the statement), and on PostgreSQL the statement too, against the rule worked out in Python."""
    owner = MembershipFactory(workspace=workspace, user=UserFactory(email="owner@acme.test")).user
    now = timezone.now()
    for present in product((False, True), repeat=len(IntegrationStatus)):
        Integration.objects.for_workspace(workspace).delete()
        for kind, (status, here) in product(IntegrationType, zip(IntegrationStatus, present, strict=True)):
            # Gmail has the statuses present, Calendar the others, Sidemail all of them.
            if (kind == IntegrationType.GMAIL and not here) or (kind == IntegrationType.CALENDAR and here):
                continue
            for days in (2, 1, 3):
                IntegrationFactory(
                    workspace=workspace,
                    type=kind,
                    status=status,
                    connected_by=owner,
                    connected_at=now - timedelta(days=days),
                )
        # The default: Gmail's oldest account whatever its status, Calendar's owned by a non-member.
        for kind, owner_id in ((IntegrationType.GMAIL, owner.pk), (IntegrationType.CALENDAR, None)):
            oldest = (
                Integration.objects.for_workspace(workspace)
                .filter(type=kind)
                .order_by("connected_at")
                .first()
            )
            if oldest is not None:
                Integration.objects.unscoped().filter(pk=oldest.pk).update(
                    shared=True, is_default=True, connected_by_id=owner_id or UserFactory().pk
                )
        expected = expected_status(workspace)
        answers = [selectors._read_status(workspace_id=workspace.pk)]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(selectors._STATUS_SQL, {"workspace": workspace.pk})
                answers.append(
                    {
                        row[0]: {"integration_id": row[1], "default_integration_id": row[-1]}
                        for row in cursor.fetchall()
                    }
                )
        for answer in answers:
            assert {
                kind: (summary["integration_id"], summary["default_integration_id"])
                for kind, summary in answer.items()
            } == expected, present
