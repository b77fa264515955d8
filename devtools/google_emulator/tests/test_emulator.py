"""The Google emulator over real HTTP, as the app and its tests will use it."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.x509 import load_pem_x509_certificate

from devtools.google_emulator import EmulatorClient, EmulatorError, GoogleEmulator
from devtools.google_emulator.server import control_endpoints

CLIENT_ID = "galaxyco-dev-client"
CLIENT_SECRET = "galaxyco-dev-secret"
REDIRECT_URI = "http://localhost:8000/accounts/google/login/callback/"
GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
CALENDAR_EVENTS = "https://www.googleapis.com/auth/calendar.events"
ALL_SCOPES = f"openid email profile {GMAIL_SEND} {CALENDAR_EVENTS}"
REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def emu() -> Iterator[GoogleEmulator]:
    with GoogleEmulator(port=0) as emulator:
        yield emulator


# ----------------------------------------------------------------- helpers


class _FormFields(HTMLParser):
    """Collects the consent form's inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden: dict[str, str] = {}
        self.checkboxes: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if "id" in attributes:
            self.ids.add(attributes["id"])
        if tag != "input":
            return
        if attributes.get("type") == "hidden":
            self.hidden[attributes["name"]] = attributes.get("value", "")
        elif attributes.get("type") == "checkbox" and attributes.get("name") == "scope":
            self.checkboxes.append(attributes["value"])


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def consent_page(emu: GoogleEmulator, scope: str = ALL_SCOPES, **params: str) -> requests.Response:
    query = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": scope,
        "state": "state-123",
        "access_type": "offline",
        **params,
    }
    return requests.get(f"{emu.url}/o/oauth2/v2/auth", params=query, allow_redirects=False)


def authorize(
    emu: GoogleEmulator,
    scope: str = ALL_SCOPES,
    *,
    decision: str = "allow",
    untick: tuple[str, ...] = (),
    email: str = "ann@example.com",
    **params: str,
) -> dict[str, str]:
    """Load the consent page, submit it like a browser would, return the redirect's query."""
    page = consent_page(emu, scope, **params)
    assert page.status_code == 200
    form = _FormFields()
    form.feed(page.text)
    data: list[tuple[str, str]] = list(form.hidden.items())
    data += [("scope", value) for value in form.checkboxes if value not in untick]
    data += [("email", email), ("name", "Ann Lee"), ("decision", decision)]
    answer = requests.post(f"{emu.url}/o/oauth2/v2/auth", data=data, allow_redirects=False)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def exchange(emu: GoogleEmulator, code: str, verifier: str | None = None) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    return requests.post(f"{emu.url}/token", data=data)


def refresh(emu: GoogleEmulator, refresh_token: str) -> requests.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return requests.post(f"{emu.url}/token", data=data, auth=(CLIENT_ID, CLIENT_SECRET))


def tokens(emu: GoogleEmulator, scope: str = ALL_SCOPES, **kwargs: Any) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    query = authorize(emu, scope, code_challenge=challenge, code_challenge_method="S256", **kwargs)
    response = exchange(emu, query["code"], verifier)
    assert response.status_code == 200, response.text
    return dict(response.json())


def raw_message(**headers: str) -> str:
    message = EmailMessage()
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Plain text body")
    message.add_alternative("<p>HTML <b>body</b></p>", subtype="html")
    return base64.urlsafe_b64encode(message.as_bytes()).decode()


def send(emu: GoogleEmulator, access_token: str, raw: str | None = None) -> requests.Response:
    raw = raw or raw_message(To="bob@example.com", Subject="Hello")
    return requests.post(
        f"{emu.url}/gmail/v1/users/me/messages/send",
        json={"raw": raw},
        headers={"Authorization": f"Bearer {access_token}"},
    )


def userinfo(emu: GoogleEmulator, access_token: str) -> requests.Response:
    return requests.get(f"{emu.url}/oauth2/v3/userinfo", headers={"Authorization": f"Bearer {access_token}"})


# ------------------------------------------------------------------- OAuth


def test_consent_page_shows_the_app_and_requested_scopes(emu: GoogleEmulator) -> None:
    page = consent_page(emu, login_hint="zoe@example.com")
    assert page.status_code == 200
    assert "<title>Sign in - Google Accounts (emulator)</title>" in page.text
    assert CLIENT_ID in page.text
    form = _FormFields()
    form.feed(page.text)
    # Identity scopes are fixed text; the API scopes are ticked checkboxes.
    assert form.checkboxes == [GMAIL_SEND, CALENDAR_EVENTS]
    assert {"email", "name"} <= form.ids
    assert 'value="zoe@example.com"' in page.text
    assert '<button type="submit" name="decision" value="allow">Allow</button>' in page.text
    assert '<button type="submit" name="decision" value="deny">Deny</button>' in page.text
    assert form.hidden["state"] == "state-123" and form.hidden["redirect_uri"] == REDIRECT_URI


def test_bad_client_or_missing_redirect_uri_gets_an_error_page(emu: GoogleEmulator) -> None:
    assert consent_page(emu, client_id="someone-else").status_code == 400
    missing = requests.get(
        f"{emu.url}/o/oauth2/v2/auth",
        params={"client_id": CLIENT_ID, "scope": "openid", "response_type": "code"},
        allow_redirects=False,
    )
    assert missing.status_code == 400
    assert "Location" not in missing.headers


def test_code_flow_with_pkce_returns_verifiable_id_token(emu: GoogleEmulator) -> None:
    verifier, challenge = pkce_pair()
    query = authorize(emu, code_challenge=challenge, code_challenge_method="S256", nonce="n-0S6")
    assert query["state"] == "state-123"
    assert query["scope"].split() == ALL_SCOPES.split()

    response = exchange(emu, query["code"], verifier)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["refresh_token"] and body["access_token"]

    certs = requests.get(f"{emu.url}/oauth2/v1/certs").json()
    kid = jwt.get_unverified_header(body["id_token"])["kid"]
    public_key = load_pem_x509_certificate(certs[kid].encode()).public_key()
    claims = jwt.decode(
        body["id_token"], public_key, algorithms=["RS256"], audience=CLIENT_ID, issuer=emu.url
    )
    assert claims["email"] == "ann@example.com" and claims["email_verified"] is True
    assert claims["nonce"] == "n-0S6" and claims["azp"] == CLIENT_ID
    assert claims["sub"].isdigit() and claims["name"] == "Ann Lee"
    assert claims["given_name"] == "Ann" and claims["family_name"] == "Lee"

    jwks = requests.get(f"{emu.url}/oauth2/v3/certs").json()
    assert [key["kid"] for key in jwks["keys"]] == [kid]

    profile = userinfo(emu, body["access_token"]).json()
    assert profile["sub"] == profile["id"] == claims["sub"]
    assert profile["email"] == "ann@example.com" and profile["verified_email"] is True
    assert emu.state.stats()["token.authorization_code"] == 1


def test_wrong_verifier_and_reused_code_are_invalid_grant(emu: GoogleEmulator) -> None:
    verifier, challenge = pkce_pair()
    code = authorize(emu, code_challenge=challenge, code_challenge_method="S256")["code"]
    wrong = exchange(emu, code, "not-the-verifier-" + "x" * 40)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert exchange(emu, code).json()["error"] == "invalid_grant"  # verifier missing
    assert exchange(emu, code, verifier).status_code == 200
    reused = exchange(emu, code, verifier)
    assert reused.status_code == 400
    assert reused.json() == {"error": "invalid_grant", "error_description": "Bad Request"}


def test_bad_client_and_unknown_grant_type(emu: GoogleEmulator) -> None:
    bad = requests.post(f"{emu.url}/token", data={"grant_type": "refresh_token"}, auth=(CLIENT_ID, "nope"))
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    other = requests.post(
        f"{emu.url}/token", data={"grant_type": "password"}, auth=(CLIENT_ID, CLIENT_SECRET)
    )
    assert other.status_code == 400 and other.json()["error"] == "unsupported_grant_type"


def test_deny_redirects_with_access_denied(emu: GoogleEmulator) -> None:
    query = authorize(emu, decision="deny")
    assert query == {"error": "access_denied", "state": "state-123"}


def test_unticked_scope_is_not_granted(emu: GoogleEmulator) -> None:
    body = tokens(emu, untick=(GMAIL_SEND,))
    assert GMAIL_SEND not in body["scope"].split()
    assert {"openid", "email", "profile", CALENDAR_EVENTS} <= set(body["scope"].split())
    denied = send(emu, body["access_token"])
    assert denied.status_code == 403
    assert denied.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"


def test_set_consent_answers_the_next_authorize_without_a_page(emu: GoogleEmulator) -> None:
    emu.state.set_consent(email="Kim@Example.com", name="Kim Park", scopes=[CALENDAR_EVENTS])
    first = consent_page(emu)
    assert first.status_code == 302
    query = parse_qs(urlsplit(first.headers["Location"]).query)
    assert query["scope"][0].split() == ["openid", "email", "profile", CALENDAR_EVENTS]
    assert exchange(emu, query["code"][0]).json()["scope"].split()[-1] == CALENDAR_EVENTS
    assert consent_page(emu).status_code == 200  # disarmed after one use
    emu.state.set_consent(email="kim@example.com", decision="deny")
    assert "error=access_denied" in consent_page(emu).headers["Location"]


def test_refresh_issues_a_new_access_token(emu: GoogleEmulator) -> None:
    body = tokens(emu)
    renewed = refresh(emu, body["refresh_token"])
    assert renewed.status_code == 200
    fresh = renewed.json()
    assert fresh["access_token"] != body["access_token"]
    assert fresh["scope"] == body["scope"] and "refresh_token" not in fresh
    assert userinfo(emu, fresh["access_token"]).status_code == 200
    assert emu.state.stats()["token.refresh_token"] == 1


def test_no_refresh_token_without_offline_access(emu: GoogleEmulator) -> None:
    assert "refresh_token" not in tokens(emu, access_type="online")


def test_revoke_kills_the_whole_grant(emu: GoogleEmulator) -> None:
    body = tokens(emu)
    assert requests.post(f"{emu.url}/revoke", data={"token": body["access_token"]}).json() == {}
    gone = refresh(emu, body["refresh_token"])
    assert gone.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    assert send(emu, body["access_token"]).status_code == 401
    again = requests.post(f"{emu.url}/revoke", params={"token": body["refresh_token"]})
    assert again.status_code == 400 and again.json()["error"] == "invalid_token"


def test_revoke_account_from_control_api(emu: GoogleEmulator) -> None:
    body = tokens(emu)
    answer = requests.post(f"{emu.url}/_emulator/control/accounts/ann%40example.com/revoke")
    assert answer.json() == {"ok": True, "revoked": 1}
    assert refresh(emu, body["refresh_token"]).json()["error"] == "invalid_grant"
    assert requests.post(f"{emu.url}/_emulator/control/accounts/nobody@example.com/revoke").status_code == 404


def test_expired_token_is_rejected_until_refreshed(emu: GoogleEmulator) -> None:
    body = tokens(emu)
    assert emu.state.expire_account("ann@example.com") == 1
    rejected = send(emu, body["access_token"])
    assert rejected.status_code == 401
    error = rejected.json()["error"]
    assert error["status"] == "UNAUTHENTICATED" and error["errors"][0]["reason"] == "authError"
    assert userinfo(emu, body["access_token"]).status_code == 401
    fresh = refresh(emu, body["refresh_token"]).json()
    assert send(emu, fresh["access_token"]).status_code == 200


# ------------------------------------------------------------------- Gmail


def test_gmail_send_stores_multipart_message(emu: GoogleEmulator) -> None:
    access = tokens(emu)["access_token"]
    raw = raw_message(
        From="GalaxyCo <ann@example.com>",
        To="Bob <bob@example.com>",
        Cc="carol@example.com",
        Subject="Quote <script>alert(1)</script>",
        Reply_To="help@example.com",
    )
    sent = send(emu, access, raw)
    assert sent.status_code == 200
    assert sent.json()["labelIds"] == ["SENT"]

    [message] = emu.state.messages(to="carol@example.com")
    assert message["id"] == sent.json()["id"] and len(message["id"]) == 16
    assert message["mailbox"] == "ann@example.com"
    assert message["to"] == ["bob@example.com"] and message["cc"] == ["carol@example.com"]
    assert message["reply_to"] == "help@example.com"
    assert message["text"].strip() == "Plain text body"
    assert message["html"].strip() == "<p>HTML <b>body</b></p>"
    assert emu.state.messages(to="nobody@example.com") == []

    listed = requests.get(f"{emu.url}/_emulator/inbox.json", params={"to": "bob@example.com"}).json()
    assert [m["id"] for m in listed["messages"]] == [message["id"]]
    page = requests.get(f"{emu.url}/_emulator/inbox").text
    assert "Emulator inbox" in page and f'data-id="{message["id"]}"' in page
    assert "<script>alert(1)</script>" not in page
    assert "Quote &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<pre>Plain text body" in page and "<iframe sandbox" in page


def test_gmail_send_requires_a_recipient(emu: GoogleEmulator) -> None:
    access = tokens(emu)["access_token"]
    response = send(emu, access, raw_message(Subject="Nobody"))
    assert response.status_code == 400
    assert response.json()["error"]["errors"][0]["reason"] == "invalidArgument"
    assert send(emu, access, "%%%").status_code == 400


def test_gmail_quota_gives_429_with_retry_after(emu: GoogleEmulator) -> None:
    access = tokens(emu)["access_token"]
    emu.state.set_gmail_quota(300)  # 5 units a second: one send, then 20 s until the next
    assert send(emu, access).status_code == 200
    limited = send(emu, access)
    assert limited.status_code == 429
    assert 19 <= int(limited.headers["Retry-After"]) <= 20
    error = limited.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert error["errors"][0]["reason"] == "rateLimitExceeded"
    assert error["message"].startswith("User-rate limit exceeded.  Retry after ")
    assert len(emu.state.messages()) == 1


def test_gmail_quota_is_a_moving_average_that_allows_short_bursts(emu: GoogleEmulator) -> None:
    access = tokens(emu)["access_token"]
    # 15,000 units a minute: 250 a second, a send costs 100. Two at once pass, a third is refused;
    # sends at 2.5 a second keep passing even when one arrives late and the next on time.
    assert [send(emu, access).status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(0.8)
    for gap in (0.4, 0.7, 0.1, 0.4, 0.4):
        time.sleep(gap)
        assert send(emu, access).status_code == 200


def test_gmail_can_replace_the_message_id_of_a_send_as_gmail_does(emu: GoogleEmulator) -> None:
    access = tokens(emu)["access_token"]
    EmulatorClient(emu.url).update_settings(rewrite_message_ids=True)
    headers = {"To": "bob@example.com", "Message-ID": "<ours-1@galaxyco.app>", "X-Mark": "kept"}
    assert send(emu, access, raw_message(**headers)).status_code == 200
    [stored] = emu.state.messages()
    assert stored["headers"]["Message-ID"].endswith("@mail.gmail.com>")
    assert "ours-1@galaxyco.app" not in base64.urlsafe_b64decode(stored["raw"]).decode()
    assert stored["headers"]["X-Mark"] == "kept"  # other headers are kept


# ------------------------------------------------------------------ faults


def test_fault_fails_twice_then_succeeds(emu: GoogleEmulator) -> None:
    access = tokens(emu)["access_token"]
    emu.state.add_fault("gmail.send", status=500, count=2)
    first, second, third = (send(emu, access) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (500, 500, 200)
    assert first.json()["error"]["errors"][0]["reason"] == "backendError"
    assert emu.state.stats()["gmail.send"] == 3
    assert len(emu.state.messages()) == 1


def test_token_fault_uses_oauth_error_shape(emu: GoogleEmulator) -> None:
    body = tokens(emu)
    control = requests.post(
        f"{emu.url}/_emulator/control/faults",
        json={"endpoint": "token.refresh_token", "status": 429, "count": 1, "retry_after": 7},
    )
    assert control.json() == {"ok": True}
    limited = refresh(emu, body["refresh_token"])
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limit_exceeded"
    assert limited.headers["Retry-After"] == "7"
    assert refresh(emu, body["refresh_token"]).status_code == 200


def test_hang_does_not_block_other_requests(emu: GoogleEmulator) -> None:
    emu.state.add_fault("userinfo", hang_seconds=1.5)
    access = tokens(emu)["access_token"]
    result: dict[str, Any] = {}

    def slow_call() -> None:
        started = time.monotonic()
        result["status"] = userinfo(emu, access).status_code
        result["elapsed"] = time.monotonic() - started

    worker = threading.Thread(target=slow_call)
    worker.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert requests.get(f"{emu.url}/_emulator/control/stats").json()["userinfo"] == 1
    assert time.monotonic() - started < 0.5
    worker.join(timeout=5)
    assert result["status"] == 200 and result["elapsed"] >= 1.4


def test_stop_does_not_wait_for_a_hanging_request() -> None:
    emulator = GoogleEmulator().start()
    emulator.state.add_fault("certs", hang_seconds=30)
    worker = threading.Thread(target=lambda: _ignore_errors(f"{emulator.url}/oauth2/v1/certs"), daemon=True)
    worker.start()
    time.sleep(0.2)
    started = time.monotonic()
    emulator.stop()
    assert time.monotonic() - started < 2
    worker.join(timeout=2)
    assert not worker.is_alive()


def _ignore_errors(url: str) -> None:
    with contextlib.suppress(requests.RequestException):
        requests.get(url, timeout=5)


def _hung_across_a_reset(
    emu: GoogleEmulator,
    endpoint: str,
    call: Callable[[], requests.Response],
    *,
    next_test: Callable[[], object] = lambda: None,
) -> requests.Response:
    """Make ``call`` hang, reset the emulator while it does (the next test begins, and
    ``next_test`` steers the new state), and return the call's late answer."""
    emu.state.add_fault(endpoint, hang_seconds=1)
    answers: list[requests.Response] = []
    worker = threading.Thread(target=lambda: answers.append(call()))
    worker.start()
    deadline = time.monotonic() + 5
    while not emu.state.stats().get(endpoint) and time.monotonic() < deadline:
        time.sleep(0.01)
    EmulatorClient(emu.url).reset()
    next_test()
    worker.join(timeout=10)
    return answers[0]


def test_a_send_that_hangs_across_a_reset_answers_503(emu: GoogleEmulator) -> None:
    access = tokens(emu)["access_token"]
    late = _hung_across_a_reset(emu, "gmail.send", lambda: send(emu, access))

    assert late.status_code == 503 and late.json()["error"]["errors"][0]["reason"] == "backendError"
    assert emu.state.messages() == []


def test_a_consent_that_hangs_across_a_reset_does_not_land_in_the_new_state(emu: GoogleEmulator) -> None:
    emu.state.set_consent(email="ann@example.com")
    late = _hung_across_a_reset(
        emu,
        "authorize",
        lambda: consent_page(emu),
        next_test=lambda: emu.state.set_consent(email="bob@example.com"),
    )

    assert late.status_code == 503
    assert emu.state.accounts() == [] and emu.state.codes == {}
    # The next test's own consent is still armed for it.
    assert consent_page(emu).status_code == 302
    assert [account["email"] for account in emu.state.accounts()] == ["bob@example.com"]


# ----------------------------------------------------------------- Calendar


def test_calendar_insert_is_stored_with_html_link(emu: GoogleEmulator) -> None:
    access = tokens(emu)["access_token"]
    event = {
        "summary": "Site visit",
        "description": "Bring the <plans>",
        "start": {"dateTime": "2030-05-01T10:00:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2030-05-01T09:30:00Z"},
        "attendees": [{"email": "bob@example.com"}],
    }
    response = requests.post(
        f"{emu.url}/calendar/v3/calendars/primary/events",
        params={"sendUpdates": "all"},
        json=event,
        headers={"Authorization": f"Bearer {access}"},
    )
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["status"] == "confirmed"
    assert created["htmlLink"] == f"{emu.url}/_emulator/calendar/event?eid={created['id']}"
    assert created["organizer"] == {"email": "ann@example.com", "self": True}
    assert created["attendees"] == [{"email": "bob@example.com", "responseStatus": "needsAction"}]
    [stored] = requests.get(f"{emu.url}/_emulator/calendar/events.json").json()["events"]
    assert stored["id"] == created["id"] and stored["sendUpdates"] == "all"
    page = requests.get(created["htmlLink"])
    assert page.status_code == 200 and "Site visit" in page.text and "&lt;plans&gt;" in page.text

    event["end"] = {"dateTime": "2030-05-01T07:00:00Z"}  # before the start (08:00Z)
    empty = requests.post(
        f"{emu.url}/calendar/v3/calendars/primary/events",
        json=event,
        headers={"Authorization": f"Bearer {access}"},
    )
    assert empty.status_code == 400
    assert empty.json()["error"]["message"] == "The specified time range is empty."


def test_calendar_event_with_its_own_id_is_made_once_and_read_back(emu: GoogleEmulator) -> None:
    access = tokens(emu)["access_token"]
    auth = {"Authorization": f"Bearer {access}"}
    events = f"{emu.url}/calendar/v3/calendars/primary/events"
    body = {"id": "step0123abcv", "start": {"date": "2030-01-01"}, "end": {"date": "2030-01-02"}}

    created = requests.post(events, json=body, headers=auth)
    again = requests.post(events, json=body, headers=auth)

    assert created.status_code == 200 and created.json()["id"] == "step0123abcv"
    assert again.status_code == 409
    assert again.json()["error"]["errors"][0]["reason"] == "duplicate"
    read = requests.get(f"{events}/step0123abcv", headers=auth)
    assert read.status_code == 200 and read.json() == created.json()
    assert requests.get(f"{events}/nosuchevent", headers=auth).status_code == 404
    assert len(emu.state.events()) == 1
    # ids are unique per calendar: another account's calendar may use the same one
    other = tokens(emu, email="zed@example.com")["access_token"]
    assert requests.post(events, json=body, headers={"Authorization": f"Bearer {other}"}).status_code == 200
    assert requests.post(events, json={**body, "id": "UPPER"}, headers=auth).status_code == 400


def test_calendar_insert_needs_calendar_scope(emu: GoogleEmulator) -> None:
    access = tokens(emu, f"openid email {GMAIL_SEND}")["access_token"]
    response = requests.post(
        f"{emu.url}/calendar/v3/calendars/primary/events",
        json={"start": {"date": "2030-01-01"}, "end": {"date": "2030-01-02"}},
        headers={"Authorization": f"Bearer {access}"},
    )
    assert response.status_code == 403


# ----------------------------------------------------- real Google client


def test_google_api_client_paths_line_up(emu: GoogleEmulator) -> None:
    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import build

    credentials = Credentials(tokens(emu)["access_token"])
    # api_endpoint replaces rootUrl + servicePath: Gmail's paths carry "gmail/v1/", Calendar's
    # servicePath is "calendar/v3/".
    gmail = build(
        "gmail",
        "v1",
        credentials=credentials,
        static_discovery=True,
        client_options={"api_endpoint": emu.url + "/"},
    )
    raw = raw_message(To="dan@example.com")
    sent = gmail.users().messages().send(userId="me", body={"raw": raw}).execute()
    assert emu.state.messages(to="dan@example.com")[0]["id"] == sent["id"]

    options = {"api_endpoint": emu.url + "/calendar/v3/"}
    calendar = build("calendar", "v3", credentials=credentials, static_discovery=True, client_options=options)
    body = {"summary": "Call", "start": {"date": "2030-01-01"}, "end": {"date": "2030-01-02"}}
    created = calendar.events().insert(calendarId="primary", body=body, sendUpdates="all").execute()
    assert emu.state.events()[0]["id"] == created["id"]
    assert emu.state.stats()["calendar.insert"] == 1


def test_only_googles_own_api_paths_are_served(emu: GoogleEmulator) -> None:
    headers = {"Authorization": f"Bearer {tokens(emu)['access_token']}"}
    body = {"start": {"date": "2030-01-01"}, "end": {"date": "2030-01-02"}}
    for wrong in ("/calendars/primary/events", "/v3/calendars/primary/events", "/users/me/messages/send"):
        answer = requests.post(emu.url + wrong, json=body, headers=headers)
        assert answer.status_code == 404, wrong
        assert answer.json()["error"]["errors"][0]["reason"] == "notFound"
    assert emu.state.events() == []
    assert "calendar.insert" not in emu.state.stats() and "gmail.send" not in emu.state.stats()
    wrong_method = requests.get(f"{emu.url}/gmail/v1/users/me/messages/send", headers=headers)
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"


# ---------------------------------------------------------- control and CLI


def test_control_api_settings_reset_and_pages(emu: GoogleEmulator) -> None:
    control = f"{emu.url}/_emulator/control"
    settings = requests.post(f"{control}/settings", json={"access_token_lifetime": 5}).json()
    assert settings == {
        "access_token_lifetime": 5,
        "gmail_quota_units_per_minute": 15000,
        "rewrite_message_ids": False,
    }
    assert tokens(emu)["expires_in"] == 5
    bad = requests.post(f"{control}/faults", json={"endpoint": "nope", "status": 500})
    assert bad.status_code == 400
    consent = requests.post(f"{control}/consent", json={"email": "eve@example.com", "decision": "deny"})
    assert consent.json() == {"ok": True}
    assert "error=access_denied" in consent_page(emu).headers["Location"]
    assert requests.post(f"{control}/reset").json() == {"ok": True}
    assert requests.get(f"{control}/stats").json() == {}
    assert emu.state.access_token_lifetime == 3600
    index = requests.get(emu.url + "/")
    assert index.status_code == 200 and "/_emulator/inbox" in index.text


def test_index_page_and_readme_list_every_control_endpoint(emu: GoogleEmulator) -> None:
    index = requests.get(emu.url + "/").text
    readme = (REPO_ROOT / "README.md").read_text()
    listed = control_endpoints()
    assert {path for _, path, _ in listed} >= {
        "/_emulator/inbox.json",
        "/_emulator/control/faults",
        "/_emulator/control/reset",
        "/_emulator/control/accounts/<email>/revoke",
    }
    for methods, path, summary in listed:
        assert f"<code>{html.escape(path)}</code></td><td>{html.escape(summary)}</td>" in index
        for method in methods.split(", "):
            assert f"| `{method}` | `{path}` |" in readme, f"README does not document {method} {path}"


def test_client_steers_and_reads_the_emulator(emu: GoogleEmulator) -> None:
    client = EmulatorClient(emu.url)
    grant = client.issue_grant(email="Ann@Example.com", scopes=["openid", "email", GMAIL_SEND])
    assert grant["refresh_token"] and grant["account_id"] == client.accounts()[0]["sub"]
    access = grant["access_token"]

    client.fail_next("gmail.send", status=503, retry_after=3)
    failed = send(emu, access)
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "3"
    assert send(emu, access).status_code == 200
    [message] = client.inbox(to="bob@example.com")
    assert message["mailbox"] == "ann@example.com" and client.inbox(to="nobody@example.com") == []
    assert client.stats()["gmail.send"] == 2

    client.hang("userinfo", 0.3)
    started = time.monotonic()
    assert userinfo(emu, access).status_code == 200
    assert time.monotonic() - started >= 0.3

    assert client.expire("ann@example.com") == 1
    assert send(emu, access).status_code == 401
    assert client.revoke("ann@example.com") == 1
    assert refresh(emu, grant["refresh_token"]).json()["error"] == "invalid_grant"
    assert client.update_settings(gmail_quota_units_per_minute=100)["gmail_quota_units_per_minute"] == 100

    with pytest.raises(EmulatorError, match="404"):
        client.expire("nobody@example.com")
    with pytest.raises(EmulatorError, match="unknown endpoint"):
        client.fail_next("nope")
    client.reset()
    assert client.inbox() == [] and client.accounts() == [] and client.stats() == {}
    assert client.settings()["gmail_quota_units_per_minute"] == 15000


def test_state_file_keeps_grants_and_mail_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "google_emulator.json"
    with GoogleEmulator(state_file=path) as first:
        body = tokens(first)
        assert send(first, body["access_token"]).status_code == 200
        requests.post(f"{first.url}/_emulator/control/settings", json={"gmail_quota_units_per_minute": 900})
        kid = jwt.get_unverified_header(body["id_token"])["kid"]
    assert [entry.name for entry in tmp_path.iterdir()] == [path.name]  # no temporary files left

    with GoogleEmulator(state_file=path) as second:
        renewed = refresh(second, body["refresh_token"])
        assert renewed.status_code == 200, renewed.text
        assert userinfo(second, body["access_token"]).json()["email"] == "ann@example.com"
        assert send(second, renewed.json()["access_token"]).status_code == 200
        assert [m["subject"] for m in EmulatorClient(second.url).inbox(to="bob@example.com")] == ["Hello"] * 2
        assert requests.get(f"{second.url}/oauth2/v1/certs").json().keys() == {kid}
        assert second.state.gmail_quota_units_per_minute == 900

    with GoogleEmulator() as in_memory:
        assert refresh(in_memory, body["refresh_token"]).json()["error"] == "invalid_grant"


def test_unreadable_state_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "google_emulator.json"
    path.write_text('{"version": 99}')
    with pytest.raises(ValueError, match="move it away to start with an empty emulator"):
        GoogleEmulator(state_file=path)


def test_cli_with_a_state_file_survives_a_restart(tmp_path: Path) -> None:
    """What `make run` does: the emulator process stops and starts again with the same file."""
    path = tmp_path / "google_emulator.json"
    with _cli("--state-file", str(path)) as url:
        client = EmulatorClient(url)
        grant = client.issue_grant(email="ann@example.com", scopes=["openid", "email", GMAIL_SEND])
        assert send_to(url, grant["access_token"]).status_code == 200
    with _cli("--state-file", str(path)) as url:
        renewed = requests.post(
            f"{url}/token",
            data={"grant_type": "refresh_token", "refresh_token": grant["refresh_token"]},
            auth=(CLIENT_ID, CLIENT_SECRET),
        )
        assert renewed.status_code == 200, renewed.text
        assert [m["mailbox"] for m in EmulatorClient(url).inbox()] == ["ann@example.com"]


def send_to(url: str, access_token: str) -> requests.Response:
    return requests.post(
        f"{url}/gmail/v1/users/me/messages/send",
        json={"raw": raw_message(To="bob@example.com", Subject="Hello")},
        headers={"Authorization": f"Bearer {access_token}"},
    )


@contextlib.contextmanager
def _cli(*args: str) -> Iterator[str]:
    """The emulator as a process on a free port; yields its URL and stops it with SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.google_emulator", "--port", "0", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().split()[4]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_prints_its_url_and_stops_on_sigterm() -> None:
    env = {**os.environ, "GOOGLE_CLIENT_ID": "cli-client"}
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.google_emulator", "--port", "0"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split()[4]
        assert url.startswith("http://127.0.0.1:") and "client_id=cli-client" in line
        assert requests.get(f"{url}/oauth2/v1/certs").status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
