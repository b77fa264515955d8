import logging
from html import unescape
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import pytest
from allauth.socialaccount.models import SocialAccount
from django.db import connection

from integrations.models import Integration, IntegrationStatus, OAuthToken
from integrations.tests.connect_helpers import (
    assert_no_server_error,
    browser_for,
    csrf_token,
    integrations_url,
    start_connect,
)
from workspaces.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)


def connected_failures(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "connect_failed"]


def test_connecting_gmail_saves_the_integration_and_encrypted_tokens(
    live_server, google, workspace, member, key_client
):
    google.state.set_consent(email="alice@gmail.test", name="Alice Example")
    browser = browser_for(live_server, member)

    page = start_connect(browser, live_server, workspace)

    assert_no_server_error(page)
    assert page.url == integrations_url(live_server, workspace)
    assert "Gmail connected as alice@gmail.test." in unescape(page.text)
    assert "Connected as <strong>alice@gmail.test</strong>" in unescape(page.text)
    integration = Integration.objects.unscoped().get()
    assert integration.workspace == workspace
    assert integration.connected_by == member
    assert integration.status == IntegrationStatus.ACTIVE
    assert integration.email == "alice@gmail.test"
    assert integration.display_name == "Alice Example"
    assert "https://www.googleapis.com/auth/gmail.send" in integration.scopes
    token = OAuthToken.objects.unscoped().get(integration=integration)
    assert token.workspace == workspace
    assert token.access_token and token.refresh_token
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM integrations_oauthtoken")
        stored_access, stored_refresh = cursor.fetchone()
    assert token.access_token not in stored_access
    assert token.refresh_token not in stored_refresh
    assert stored_access.startswith("gAAAA")  # Fernet ciphertext

    status = key_client.get(f"/api/workspaces/{workspace.pk}/integrations/status/").json()
    assert status["gmail"]["connected"] is True
    assert status["gmail"]["status"] == "active"
    assert status["gmail"]["email"] == "alice@gmail.test"
    assert status["gmail"]["integration_id"] == integration.pk
    assert status["calendar"]["connected"] is False


def test_connecting_the_same_account_again_updates_instead_of_duplicating(
    live_server, google, workspace, member
):
    browser = browser_for(live_server, member)
    google.state.set_consent(email="alice@gmail.test")
    start_connect(browser, live_server, workspace)
    first_token = OAuthToken.objects.unscoped().get().access_token
    google.state.set_consent(email="alice@gmail.test")
    page = start_connect(browser, live_server, workspace)
    assert_no_server_error(page)
    assert Integration.objects.unscoped().count() == 1
    assert OAuthToken.objects.unscoped().count() == 1
    assert OAuthToken.objects.unscoped().get().access_token != first_token


def test_connecting_calendar_asks_for_the_calendar_scope(live_server, google, workspace, member):
    google.state.set_consent(email="alice@gmail.test")
    page = start_connect(browser_for(live_server, member), live_server, workspace, "calendar")
    assert "Google Calendar connected as alice@gmail.test." in unescape(page.text)
    integration = Integration.objects.unscoped().get()
    assert integration.type == "calendar"
    assert "https://www.googleapis.com/auth/calendar.events" in integration.scopes


def test_the_authorize_request_asks_for_offline_access_with_pkce(live_server, google, workspace, member):
    response = start_connect(browser_for(live_server, member), live_server, workspace, allow_redirects=False)
    assert response.status_code == 302
    location = urlparse(response.headers["Location"])
    query = parse_qs(location.query)
    assert response.headers["Location"].startswith(google.url + "/o/oauth2/v2/auth")
    assert query["access_type"] == ["offline"]
    assert query["prompt"] == ["consent"]
    assert query["include_granted_scopes"] == ["true"]
    assert query["code_challenge_method"] == ["S256"]
    assert set(query["scope"][0].split()) == {
        "openid",
        "email",
        "profile",
        "https://www.googleapis.com/auth/gmail.send",
    }
    assert query["state"][0]


def test_connect_is_post_only(live_server, google, workspace, member):
    browser = browser_for(live_server, member)
    response = browser.get(f"{live_server.url}/w/{workspace.slug}/integrations/google/gmail/connect/")
    assert response.status_code == 405


def test_a_declined_consent_saves_nothing(live_server, google, workspace, member, caplog):
    google.state.set_consent(email="alice@gmail.test", decision="deny")
    page = start_connect(browser_for(live_server, member), live_server, workspace)
    assert_no_server_error(page)
    assert page.url == integrations_url(live_server, workspace)
    assert "You declined Google's consent screen, so nothing was connected." in unescape(page.text)
    assert Integration.objects.unscoped().count() == 0 and OAuthToken.objects.unscoped().count() == 0
    assert [r.error_code for r in connected_failures(caplog)] == ["consent_denied"]


def test_an_unticked_scope_saves_nothing(live_server, google, workspace, member, caplog):
    google.state.set_consent(email="alice@gmail.test", scopes=["openid", "email", "profile"])
    page = start_connect(browser_for(live_server, member), live_server, workspace)
    assert_no_server_error(page)
    assert "You did not allow “Send email on your behalf”" in unescape(page.text)
    assert Integration.objects.unscoped().count() == 0 and OAuthToken.objects.unscoped().count() == 0
    assert [r.error_code for r in connected_failures(caplog)] == ["scope_not_granted"]


def test_no_refresh_token_saves_nothing(live_server, google, workspace, member, caplog):
    google.state.set_consent(email="alice@gmail.test", issue_refresh_token=False)
    page = start_connect(browser_for(live_server, member), live_server, workspace)
    assert_no_server_error(page)
    assert "Google did not give GalaxyCo lasting access" in unescape(page.text)
    assert Integration.objects.unscoped().count() == 0 and OAuthToken.objects.unscoped().count() == 0
    assert [r.error_code for r in connected_failures(caplog)] == ["no_refresh_token"]


@pytest.mark.parametrize("fault", [{"status": 400}, {"status": 500}, {"status": 503}, {"hang_seconds": 2.5}])
def test_a_failing_token_endpoint_saves_nothing(
    live_server, google, workspace, member, caplog, settings, fault
):
    settings.SOCIALACCOUNT_REQUESTS_TIMEOUT = 1
    google.state.set_consent(email="alice@gmail.test")
    google.state.add_fault("token.authorization_code", **fault)
    page = start_connect(browser_for(live_server, member), live_server, workspace)
    assert_no_server_error(page)
    assert page.url == integrations_url(live_server, workspace)
    assert "Google did not complete the connection, so nothing was saved." in unescape(page.text)
    assert Integration.objects.unscoped().count() == 0 and OAuthToken.objects.unscoped().count() == 0
    assert [r.error_code for r in connected_failures(caplog)] == ["connection_failed"]


def _callback_url(browser, live_server, google, workspace) -> str:
    """Stop at the emulator's redirect back to us, returning the callback URL it carries."""
    authorize = start_connect(browser, live_server, workspace, allow_redirects=False).headers["Location"]
    return browser.get(authorize, allow_redirects=False).headers["Location"]


def _with_state(url: str, state: str | None) -> str:
    parts = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    if state is None:
        query.pop("state")
    else:
        query["state"] = state
    return urlunparse(parts._replace(query=urlencode(query)))


@pytest.mark.parametrize("state", [None, "tampered-state-value"])
def test_a_missing_or_tampered_state_saves_nothing(live_server, google, workspace, member, caplog, state):
    browser = browser_for(live_server, member)
    google.state.set_consent(email="alice@gmail.test")
    callback = _callback_url(browser, live_server, google, workspace)
    page = browser.get(_with_state(callback, state))
    assert_no_server_error(page)
    assert page.url == integrations_url(live_server, workspace)
    assert "We could not verify that Google sign-in" in unescape(page.text)
    assert Integration.objects.unscoped().count() == 0 and OAuthToken.objects.unscoped().count() == 0
    assert [r.error_code for r in connected_failures(caplog)] == ["state_invalid"]


def test_a_replayed_callback_saves_nothing_more(live_server, google, workspace, member, caplog):
    browser = browser_for(live_server, member)
    google.state.set_consent(email="alice@gmail.test")
    callback = _callback_url(browser, live_server, google, workspace)
    assert "Gmail connected" in unescape(browser.get(callback).text)
    token_before = OAuthToken.objects.unscoped().get().access_token
    replay = browser.get(callback)
    assert_no_server_error(replay)
    assert "We could not verify that Google sign-in" in unescape(replay.text)
    assert Integration.objects.unscoped().count() == 1
    assert OAuthToken.objects.unscoped().get().access_token == token_before


def test_a_callback_in_another_persons_session_saves_nothing(
    live_server, google, workspace, member, other_member
):
    google.state.set_consent(email="alice@gmail.test")
    callback = _callback_url(browser_for(live_server, member), live_server, google, workspace)
    page = browser_for(live_server, other_member).get(callback)
    assert_no_server_error(page)
    assert Integration.objects.unscoped().count() == 0


def test_google_login_without_a_connect_intent_is_refused(live_server, google, workspace, member):
    browser = browser_for(live_server, member)
    google.state.set_consent(email="alice@gmail.test")
    login_page = browser.get(f"{live_server.url}/accounts/google/login/")
    token = csrf_token(login_page.text)
    page = browser.post(
        f"{live_server.url}/accounts/google/login/",
        data={"csrfmiddlewaretoken": token},
        headers={"Referer": login_page.url},
    )
    assert_no_server_error(page)
    assert "Google is used to connect Gmail and Calendar, not to log in." in unescape(page.text)
    assert Integration.objects.unscoped().count() == 0
    assert not SocialAccount.objects.exists()


# --- Every outcome lands on the Integrations page


def test_a_reused_consent_link_lands_on_the_integrations_page(live_server, google, workspace, member):
    browser = browser_for(live_server, member)
    google.state.set_consent(email="alice@gmail.test")
    authorize = start_connect(browser, live_server, workspace, allow_redirects=False).headers["Location"]
    first = browser.get(authorize)
    assert first.url == integrations_url(live_server, workspace)
    assert "Gmail connected" in unescape(first.text)

    google.state.set_consent(email="alice@gmail.test")  # the person consents again...
    again = browser.get(authorize)  # ...on the same consent link, from the browser's history

    assert_no_server_error(again)
    assert again.url == integrations_url(live_server, workspace)
    assert "We could not verify that Google sign-in" in unescape(again.text)
    assert Integration.objects.unscoped().count() == 1


def test_a_replayed_callback_lands_on_the_workspace_it_came_from(
    live_server, google, workspace, member, other_workspace
):
    # Connecting from Globex, a second workspace; Acme comes first by name.
    MembershipFactory(workspace=other_workspace, user=member)
    browser = browser_for(live_server, member)
    google.state.set_consent(email="alice@gmail.test")
    callback = _callback_url(browser, live_server, google, other_workspace)
    browser.get(callback)
    replay = browser.get(callback)
    assert replay.url == integrations_url(live_server, other_workspace)
    assert "We could not verify that Google sign-in" in unescape(replay.text)


def test_failures_without_a_connect_in_this_session_land_on_the_persons_integrations_page(
    live_server, google, workspace, member, other_workspace, other_member
):
    google.state.set_consent(email="alice@gmail.test")
    callback = _callback_url(browser_for(live_server, member), live_server, google, workspace)
    page = browser_for(live_server, other_member).get(callback)
    assert_no_server_error(page)
    assert page.url == integrations_url(live_server, other_workspace)

    browser = browser_for(live_server, member)
    google.state.set_consent(email="alice@gmail.test")
    login_page = browser.get(f"{live_server.url}/accounts/google/login/")
    page = browser.post(
        f"{live_server.url}/accounts/google/login/",
        data={"csrfmiddlewaretoken": csrf_token(login_page.text)},
        headers={"Referer": login_page.url},
    )
    assert page.url == integrations_url(live_server, workspace)
    assert "not to log in" in unescape(page.text)
