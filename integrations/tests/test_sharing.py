"""Whose mailbox sends: owners, private and shared accounts, and the workspace default.

Service level (which account a step resolves to, the database's guarantees, the data migration),
API (the contract: owner/shared/is_default, PATCH, the status's default_integration_id) and pages
(the Integrations page, the connect form, the builder)."""

from html import unescape

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.loader import MigrationLoader

from galaxyco.errors import IntegrationNotConnected
from integrations.models import Integration, IntegrationStatus, IntegrationType
from integrations.selectors import integration_for_step
from integrations.tests.connect_helpers import (
    assert_no_server_error,
    browser_for,
    csrf_token,
    integrations_url,
)
from integrations.tests.factories import IntegrationFactory
from integrations.tests.google_grants import connect
from workflows.models import Workflow, WorkflowStep
from workflows.tests.helpers import WELCOME, create_workflow, execute, welcome_with_account, workflows_url
from workspaces.models import Role
from workspaces.tests.factories import MembershipFactory, UserFactory, api_client_for, page_client_for

ADA = {"name": "Ada", "email": "ada@example.com"}


def member_of(workspace, email: str, role: str = Role.MEMBER):
    return MembershipFactory(workspace=workspace, user=UserFactory(email=email), role=role).user


def resolve(workspace, *, named=None, requester=None) -> Integration:
    return integration_for_step(
        workspace=workspace,
        integration_type=IntegrationType.GMAIL,
        named=named,
        requester_id=requester.pk if requester is not None else None,
        step_label="Send an email",
    )


def detail_url(workspace, integration) -> str:
    return f"/api/workspaces/{workspace.pk}/integrations/{integration.pk}/"


# --- Service: which account a step sends from.


@pytest.mark.django_db
def test_a_step_naming_no_account_uses_the_workspace_default_for_everyone(workspace, member):
    teammate = member_of(workspace, "teammate@acme.test")
    own = IntegrationFactory(workspace=workspace, connected_by=teammate)  # the teammate's private one
    default = IntegrationFactory(workspace=workspace, connected_by=member, shared=True, is_default=True)
    assert resolve(workspace, requester=member) == default
    assert resolve(workspace, requester=teammate) == default  # the default, not their own
    assert resolve(workspace, requester=None) == default  # an API key or a trigger
    assert own.pk != default.pk


@pytest.mark.django_db
def test_with_no_default_a_persons_run_uses_their_single_own_account(workspace, member):
    own = IntegrationFactory(workspace=workspace, connected_by=member)
    assert resolve(workspace, requester=member) == own


@pytest.mark.django_db
def test_with_no_default_two_own_accounts_fail_asking_to_choose_never_the_newest(workspace, member):
    IntegrationFactory(workspace=workspace, connected_by=member)
    IntegrationFactory(workspace=workspace, connected_by=member)
    with pytest.raises(IntegrationNotConnected) as raised:
        resolve(workspace, requester=member)
    assert "will not guess" in raised.value.message
    assert "Choose the account in the workflow's step" in raised.value.message


@pytest.mark.django_db
def test_with_no_default_an_api_key_run_fails_asking_to_choose(workspace, member):
    IntegrationFactory(workspace=workspace, connected_by=member, shared=True)
    with pytest.raises(IntegrationNotConnected) as raised:
        resolve(workspace, requester=None)
    assert "no default Gmail account" in raised.value.message


@pytest.mark.django_db
def test_a_private_account_sends_only_for_its_owners_runs(workspace, member):
    teammate = member_of(workspace, "teammate@acme.test")
    private = IntegrationFactory(workspace=workspace, connected_by=member, email="boss@gmail.test")
    assert resolve(workspace, named=private, requester=member) == private
    for requester in (teammate, None):
        with pytest.raises(IntegrationNotConnected) as raised:
            resolve(workspace, named=private, requester=requester)
        assert "private to owner@acme.test" in raised.value.message
        assert "boss@gmail.test" in raised.value.message


@pytest.mark.django_db
def test_a_shared_account_sends_for_any_members_run_and_for_api_keys(workspace, member):
    teammate = member_of(workspace, "teammate@acme.test")
    shared = IntegrationFactory(workspace=workspace, connected_by=member, shared=True)
    for requester in (member, teammate, None):
        assert resolve(workspace, named=shared, requester=requester) == shared


@pytest.mark.django_db(transaction=True)
def test_connecting_a_second_account_does_not_change_which_mailbox_sends(
    google, workspace, member, session_client
):
    connect(google, workspace=workspace, user=member, email="first@gmail.test")  # shared and default
    workflow_id = create_workflow(session_client, workspace)
    connect(google, workspace=workspace, user=member, email="second@gmail.test")
    body = execute(session_client, workspace, workflow_id, ADA).json()
    assert body["success"] is True
    assert body["run"]["steps"][0]["output"]["from"] == "first@gmail.test"


@pytest.mark.django_db(transaction=True)
def test_a_teammate_runs_a_workflow_on_the_shared_default(google, workspace, member, key_client):
    connect(google, workspace=workspace, user=member, email="team@gmail.test")  # the owner's first: default
    teammate = member_of(workspace, "teammate@acme.test")
    client = api_client_for(teammate)
    workflow_id = create_workflow(client, workspace)
    for runner in (client, key_client):
        body = execute(runner, workspace, workflow_id, ADA).json()
        assert body["success"] is True, body
        assert body["run"]["steps"][0]["output"]["from"] == "team@gmail.test"


# --- Service: the database keeps the rules even when code forgets them.


@pytest.mark.django_db
def test_the_database_allows_one_default_per_type_and_only_a_shared_one(workspace):
    IntegrationFactory(workspace=workspace, shared=True, is_default=True)
    IntegrationFactory(workspace=workspace, type=IntegrationType.CALENDAR, shared=True, is_default=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        IntegrationFactory(workspace=workspace, shared=True, is_default=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        IntegrationFactory(workspace=workspace, type=IntegrationType.CALENDAR, shared=False, is_default=True)


# --- Saving: a step names only an account its author may use.


@pytest.mark.django_db
def test_a_step_may_name_the_authors_own_or_a_shared_account_not_anothers_private_one(workspace, member):
    teammate = member_of(workspace, "teammate@acme.test")
    private = IntegrationFactory(workspace=workspace, connected_by=member, email="boss@gmail.test")
    shared = IntegrationFactory(workspace=workspace, connected_by=member, shared=True)
    own = IntegrationFactory(workspace=workspace, connected_by=teammate)
    client = api_client_for(teammate)
    refused = client.post(workflows_url(workspace), welcome_with_account(private), format="json")
    assert refused.status_code == 400
    assert "boss@gmail.test" in refused.json()["error"]["message"]
    for allowed in (shared, own):
        assert (
            client.post(workflows_url(workspace), welcome_with_account(allowed), format="json").status_code
            == 201
        )


# --- API contract.


@pytest.mark.django_db
def test_an_integration_in_the_api_carries_owner_shared_and_is_default(workspace, member, session_client):
    integration = IntegrationFactory(workspace=workspace, connected_by=member, shared=True, is_default=True)
    body = session_client.get(detail_url(workspace, integration)).json()
    assert body["owner"] == {"id": member.pk, "email": "owner@acme.test"}
    assert body["shared"] is True
    assert body["is_default"] is True


@pytest.mark.django_db
def test_patch_shares_and_makes_default_and_the_status_reports_it(workspace, member, session_client):
    first = IntegrationFactory(workspace=workspace, connected_by=member, shared=True, is_default=True)
    second = IntegrationFactory(workspace=workspace, connected_by=member)

    response = session_client.patch(
        detail_url(workspace, second), {"shared": True, "is_default": True}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["shared"] is True and response.json()["is_default"] is True
    first.refresh_from_db()
    assert first.is_default is False and first.shared is True  # one default per type
    status = session_client.get(f"/api/workspaces/{workspace.pk}/integrations/status/").json()
    assert status["gmail"]["default_integration_id"] == second.pk
    assert status["calendar"]["default_integration_id"] is None


@pytest.mark.django_db
def test_patch_refuses_making_a_private_account_the_default(workspace, member, session_client):
    private = IntegrationFactory(workspace=workspace, connected_by=member)
    response = session_client.patch(detail_url(workspace, private), {"is_default": True}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "private" in response.json()["error"]["message"]
    private.refresh_from_db()
    assert private.is_default is False


@pytest.mark.django_db
def test_unsharing_the_default_clears_the_default(workspace, member, session_client):
    default = IntegrationFactory(workspace=workspace, connected_by=member, shared=True, is_default=True)
    body = session_client.patch(detail_url(workspace, default), {"shared": False}, format="json").json()
    assert body["shared"] is False and body["is_default"] is False


@pytest.mark.django_db
def test_only_the_owner_or_an_admin_changes_sharing(workspace, member):
    teammate = member_of(workspace, "teammate@acme.test")
    admin = member_of(workspace, "admin@acme.test", role=Role.ADMIN)
    viewer = member_of(workspace, "viewer@acme.test", role=Role.VIEWER)
    owners = IntegrationFactory(workspace=workspace, connected_by=member)
    teammates = IntegrationFactory(workspace=workspace, connected_by=teammate)

    refused = api_client_for(teammate).patch(detail_url(workspace, owners), {"shared": True}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert (
        api_client_for(viewer)
        .patch(detail_url(workspace, owners), {"shared": True}, format="json")
        .status_code
        == 403
    )
    mine = api_client_for(teammate).patch(detail_url(workspace, teammates), {"shared": True}, format="json")
    assert mine.status_code == 200
    assert (
        api_client_for(admin)
        .patch(detail_url(workspace, owners), {"shared": True}, format="json")
        .status_code
        == 200
    )
    owners.refresh_from_db()
    assert owners.shared is True


@pytest.mark.django_db
def test_patch_with_nothing_to_change_answers_400(workspace, member, session_client):
    integration = IntegrationFactory(workspace=workspace, connected_by=member)
    response = session_client.patch(detail_url(workspace, integration), {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


@pytest.mark.django_db
def test_disconnecting_the_default_clears_it(workspace, member, session_client, google):
    default = connect(google, workspace=workspace, user=member, email="team@gmail.test")
    assert default.is_default
    session_client.post(f"/api/workspaces/{workspace.pk}/integrations/{default.pk}/disconnect/")
    default.refresh_from_db()
    assert default.status == IntegrationStatus.DISCONNECTED and default.is_default is False


# --- Connecting: the share choice.


@pytest.mark.django_db
def test_the_connect_form_pre_ticks_sharing_for_an_admin_when_no_account_is_shared_yet(workspace, member):
    teammate = member_of(workspace, "teammate@acme.test")
    owner_page = unescape(page_client_for(member).get(f"/w/{workspace.slug}/integrations/").content.decode())
    assert 'data-testid="share-gmail" checked' in owner_page
    assert "Share with the workspace and make it the default" in owner_page
    member_page = page_client_for(teammate).get(f"/w/{workspace.slug}/integrations/").content.decode()
    assert 'data-testid="share-gmail">' in member_page  # offered, not ticked

    IntegrationFactory(workspace=workspace, connected_by=member, shared=True)
    again = page_client_for(member).get(f"/w/{workspace.slug}/integrations/").content.decode()
    assert 'data-testid="share-gmail">' in again  # a shared Gmail account exists already


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("role", "ticked", "shared", "is_default"),
    [
        (Role.OWNER, True, True, True),
        (Role.OWNER, False, False, False),
        (Role.MEMBER, True, True, False),
        (Role.MEMBER, False, False, False),
    ],
)
def test_the_share_choice_travels_in_the_connect_intent(
    live_server, google, workspace, role, ticked, shared, is_default
):
    person = member_of(workspace, "person@acme.test", role=role)
    google.state.set_consent(email="alice@gmail.test", name="Alice")
    browser = browser_for(live_server, person)
    page = browser.get(integrations_url(live_server, workspace))
    data = {"csrfmiddlewaretoken": csrf_token(page.text)} | ({"share": "1"} if ticked else {})
    landed = browser.post(
        f"{live_server.url}/w/{workspace.slug}/integrations/google/gmail/connect/",
        data=data,
        headers={"Referer": integrations_url(live_server, workspace)},
        timeout=30,
    )
    assert_no_server_error(landed)
    integration = Integration.objects.unscoped().get()
    assert (integration.connected_by, integration.shared, integration.is_default) == (
        person,
        shared,
        is_default,
    )


# --- Pages.


@pytest.mark.django_db
def test_the_integrations_page_shows_owner_sharing_and_default_and_makes_a_default(workspace, member):
    first = IntegrationFactory(
        workspace=workspace, connected_by=member, email="first@gmail.test", shared=True, is_default=True
    )
    second = IntegrationFactory(
        workspace=workspace, connected_by=member, email="second@gmail.test", shared=True
    )
    client = page_client_for(member)
    page = unescape(client.get(f"/w/{workspace.slug}/integrations/").content.decode())
    assert "Workspace default: first@gmail.test." in page
    assert "Owner: owner@acme.test" in page
    assert "Make default" in page

    response = client.post(
        f"/w/{workspace.slug}/integrations/{second.pk}/sharing/", {"change": "make_default"}, follow=True
    )
    assert "second@gmail.test) is now the workspace's default" in unescape(response.content.decode())
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_default, second.is_default) == (False, True)

    client.post(f"/w/{workspace.slug}/integrations/{second.pk}/sharing/", {"change": "unshare"})
    second.refresh_from_db()
    assert (second.shared, second.is_default) == (False, False)


@pytest.mark.django_db
def test_a_member_cannot_change_anothers_account_from_the_page(workspace, member):
    teammate = member_of(workspace, "teammate@acme.test")
    owners = IntegrationFactory(workspace=workspace, connected_by=member)
    page = page_client_for(teammate).get(f"/w/{workspace.slug}/integrations/").content.decode()
    assert f"/integrations/{owners.pk}/sharing/" not in page
    response = page_client_for(teammate).post(
        f"/w/{workspace.slug}/integrations/{owners.pk}/sharing/", {"change": "share"}
    )
    assert response.status_code == 403
    owners.refresh_from_db()
    assert owners.shared is False


@pytest.mark.django_db
def test_the_builder_shows_which_mailbox_sends_and_warns_a_teammate_who_may_not_use_it(workspace, member):
    teammate = member_of(workspace, "teammate@acme.test")
    default = IntegrationFactory(
        workspace=workspace, connected_by=member, email="team@gmail.test", shared=True, is_default=True
    )
    private = IntegrationFactory(workspace=workspace, connected_by=member, email="boss@gmail.test")
    workflow = Workflow.objects.create(workspace=workspace, created_by=member, name="Welcome")
    WorkflowStep.objects.create(
        workspace=workspace,
        workflow=workflow,
        position=0,
        action="gmail.send_email",
        params=WELCOME["steps"][0]["params"],
    )
    WorkflowStep.objects.create(
        workspace=workspace,
        workflow=workflow,
        position=1,
        action="gmail.send_email",
        integration=private,
        params=WELCOME["steps"][0]["params"],
    )
    url = f"/w/{workspace.slug}/workflows/{workflow.pk}/"

    as_owner = unescape(page_client_for(member).get(url).content.decode())
    assert "Sends from the workspace default (team@gmail.test)." in as_owner
    assert "Sends from boss@gmail.test (private to you)." in as_owner
    assert 'data-testid="step-account-warning"' not in as_owner
    assert "Workspace default (team@gmail.test)" in as_owner  # the empty choice, by name

    as_teammate = unescape(page_client_for(teammate).get(url).content.decode())
    assert "Sends from the workspace default (team@gmail.test)." in as_teammate
    assert as_teammate.count('data-testid="step-account-warning"') == 1
    assert "is private to owner@acme.test" in as_teammate
    assert default.pk != private.pk


@pytest.mark.django_db
def test_the_builder_offers_only_accounts_the_person_may_use(workspace, member):
    teammate = member_of(workspace, "teammate@acme.test")
    IntegrationFactory(workspace=workspace, connected_by=member, email="boss@gmail.test")
    IntegrationFactory(workspace=workspace, connected_by=member, email="team@gmail.test", shared=True)
    IntegrationFactory(workspace=workspace, connected_by=teammate, email="mine@gmail.test")
    page = page_client_for(teammate).get(f"/w/{workspace.slug}/workflows/new/").content.decode()
    assert "team@gmail.test" in page and "mine@gmail.test" in page
    assert "boss@gmail.test" not in page


# --- The data migration: what worked before sharing existed keeps working.


@pytest.mark.django_db
def test_the_migration_shares_what_runs_used_and_sets_a_default_where_there_was_one_account(
    workspace, member
):
    from importlib import import_module

    migration = import_module("integrations.migrations.0004_share_accounts_in_use")
    teammate = member_of(workspace, "teammate@acme.test")
    calendar = IntegrationFactory(workspace=workspace, connected_by=member, type=IntegrationType.CALENDAR)
    owners = IntegrationFactory(workspace=workspace, connected_by=member, email="owner@gmail.test")
    teammates = IntegrationFactory(workspace=workspace, connected_by=teammate, email="teammate@gmail.test")
    untouched = IntegrationFactory(workspace=workspace, connected_by=teammate, email="spare@gmail.test")
    owners_workflow = Workflow.objects.create(workspace=workspace, created_by=member, name="Welcome")
    unnamed = WorkflowStep.objects.create(
        workspace=workspace, workflow=owners_workflow, position=0, action="gmail.send_email"
    )
    named = WorkflowStep.objects.create(
        workspace=workspace,
        workflow=owners_workflow,
        position=1,
        action="gmail.send_email",
        integration=teammates,
    )

    # The models as that migration sees them: historical models have plain managers.
    state = MigrationLoader(connection).project_state(("integrations", "0004_share_accounts_in_use"))
    migration.share_accounts_in_use(state.apps, None)

    for integration in (calendar, owners, teammates, untouched):
        integration.refresh_from_db()
    unnamed.refresh_from_db()
    named.refresh_from_db()
    # The one Calendar account: shared and the default, so steps naming none keep using it.
    assert (calendar.shared, calendar.is_default) == (True, True)
    # Several Gmail accounts: no default guessed; the step naming none is pinned to the creator's.
    assert unnamed.integration_id == owners.pk
    assert named.integration_id == teammates.pk
    assert (owners.shared, owners.is_default) == (True, False)
    assert (teammates.shared, teammates.is_default) == (True, False)
    assert (untouched.shared, untouched.is_default) == (False, False)
