"""The Sidemail stand-in over real HTTP, as the app and its tests use it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.sidemail_standin import DEFAULT_API_KEY, SidemailStandin, StandinClient, StandinError
from devtools.sidemail_standin.server import control_endpoints

AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
TEMPLATE_EMAIL = {
    "toAddress": "ada@example.com",
    "fromAddress": "noreply@galaxyco.example",
    "fromName": "GalaxyCo",
    "templateName": "Welcome",
    "templateProps": {"name": "Ada", "url": "http://127.0.0.1:8000/accounts/confirm-email/abc/"},
}
TEXT_EMAIL = {
    "toAddress": "bob@example.com",
    "fromAddress": "noreply@galaxyco.example",
    "subject": "Reset your password",
    "text": "Open http://127.0.0.1:8000/reset/xyz/ to choose a new one.",
    "html": "<p>Open <a href='http://127.0.0.1:8000/reset/xyz/'>this link</a></p>",
}


@pytest.fixture(scope="module")
def running() -> Iterator[SidemailStandin]:
    with SidemailStandin(port=0) as standin:
        yield standin


@pytest.fixture
def standin(running: SidemailStandin) -> SidemailStandin:
    running.state.reset()
    return running


@pytest.fixture
def client(standin: SidemailStandin) -> StandinClient:
    return StandinClient(standin.url)


def send(standin: SidemailStandin, body: dict[str, Any], headers: dict[str, str] = AUTH) -> requests.Response:
    return requests.post(f"{standin.api_url}/email/send", json=body, headers=headers, timeout=10)


def test_send_accepts_a_template_email_and_the_inbox_lists_it(standin, client):
    answer = send(standin, TEMPLATE_EMAIL)

    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "queued" and body["id"]
    [email] = client.emails()
    assert email["id"] == body["id"]
    assert email["templateName"] == "Welcome"
    assert email["templateProps"] == TEMPLATE_EMAIL["templateProps"]
    assert client.emails(to="nobody@example.com") == []


def test_inbox_page_shows_template_props_and_bodies_with_links(standin):
    send(standin, TEMPLATE_EMAIL)
    text_id = send(standin, TEXT_EMAIL).json()["id"]

    page = requests.get(f"{standin.url}/_standin/inbox", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "Template Welcome" in page.text and "Reset your password" in page.text
    assert '<a href="http://127.0.0.1:8000/accounts/confirm-email/abc/">' in page.text
    assert "script-src 'none'" in page.headers["Content-Security-Policy"]

    detail = requests.get(f"{standin.url}/_standin/inbox/{text_id}", timeout=10)
    assert '<iframe sandbox=""' in detail.text and "&lt;p&gt;Open" in detail.text


def test_inbox_page_escapes_what_it_shows(standin):
    send(standin, {**TEXT_EMAIL, "subject": "<script>alert(1)</script>"})
    page = requests.get(f"{standin.url}/_standin/inbox", timeout=10).text
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"toAddress": None}, "toAddress must be a valid email address."),
        ({"toAddress": "not-an-address"}, "toAddress must be a valid email address."),
        ({"fromAddress": None}, "fromAddress must be a valid email address."),
        ({"templateName": None, "templateProps": None}, "Either templateName"),
        ({"templateId": "tpl_1"}, "Use templateName or templateId, not both."),
        ({"text": "also text"}, "Send a template or html/text content, not both."),
        ({"templateProps": ["a"]}, "templateProps must be an object."),
    ],
)
def test_send_refuses_invalid_parameters_in_sidemails_shape(standin, client, change, message):
    answer = send(standin, {**TEMPLATE_EMAIL, **change})

    assert answer.status_code == 400
    body = answer.json()
    assert body["errorCode"] == "parameters-invalid"
    assert body["developerMessage"].startswith(message)
    assert set(body) == {"developerMessage", "errorCode", "moreInfo"}
    assert client.emails() == []


def test_content_email_needs_a_subject(standin):
    answer = send(standin, {**TEXT_EMAIL, "subject": None})
    assert answer.status_code == 400 and "subject is required" in answer.json()["developerMessage"]


def test_send_refuses_a_missing_or_unknown_key(standin, client):
    assert send(standin, TEMPLATE_EMAIL, headers={}).json()["errorCode"] == "authentication-failed"
    refused = send(standin, TEMPLATE_EMAIL, headers={"Authorization": "Bearer wrong"})
    assert refused.status_code == 401
    client.set_api_keys(["workspace-key"])
    assert send(standin, TEMPLATE_EMAIL).status_code == 401
    assert send(standin, TEMPLATE_EMAIL, headers={"Authorization": "Bearer workspace-key"}).status_code == 200
    assert len(client.emails()) == 1


def test_faults_answer_the_next_sends_then_clear(standin, client):
    client.fail_next(status=503, count=2)
    first, second, third = (send(standin, TEMPLATE_EMAIL) for _ in range(3))

    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]
    assert first.json()["errorCode"] == "server-error"
    assert len(client.emails()) == 1
    assert client.stats()["email.send"] == 3


def test_fault_with_an_error_code_and_retry_after(standin, client):
    client.fail_next(error_code="template-not-found")
    client.fail_next(status=429, retry_after=7)

    missing = send(standin, TEMPLATE_EMAIL)
    assert missing.status_code == 400
    assert missing.json()["errorCode"] == "template-not-found"
    limited = send(standin, TEMPLATE_EMAIL)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert limited.json()["errorCode"] == "too-many-requests"


def test_hang_delays_the_answer(standin, client):
    client.hang(seconds=0.5)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        requests.post(f"{standin.api_url}/email/send", json=TEMPLATE_EMAIL, headers=AUTH, timeout=0.2)
    assert time.monotonic() - started < 0.5
    # The hung request still lands once its wait is over, as a real slow answer would.
    deadline = time.monotonic() + 5
    while not client.emails() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(client.emails()) == 1


def test_a_call_that_hangs_across_a_reset_does_not_land_in_the_new_state(standin, client):
    client.hang(seconds=1)
    answers: list[requests.Response] = []
    call = threading.Thread(target=lambda: answers.append(send(standin, TEMPLATE_EMAIL)))
    call.start()
    deadline = time.monotonic() + 5
    while not client.stats().get("email.send") and time.monotonic() < deadline:
        time.sleep(0.01)
    standin.state.reset()  # the next test begins while the call hangs
    call.join(10)

    assert answers[0].status_code == 503
    assert client.emails() == []


def test_control_refuses_bad_faults(client):
    with pytest.raises(StandinError, match="unknown endpoint"):
        client.fail_next("nope", status=500)
    with pytest.raises(StandinError, match="unknown error_code"):
        client.fail_next(error_code="made-up")


def test_contacts_upsert_get_delete(standin, client):
    url = f"{standin.api_url}/contacts"
    contact = {"emailAddress": "Ada@Example.com", "identifier": "42", "customProps": {"plan": "trial"}}

    assert requests.post(url, json=contact, headers=AUTH, timeout=10).json() == {"status": "created"}
    update = {"emailAddress": "ada@example.com", "isSubscribed": False}
    assert requests.post(url, json=update, headers=AUTH, timeout=10).json() == {"status": "updated"}
    found = requests.get(f"{url}/ada@example.com", headers=AUTH, timeout=10).json()["data"]
    assert found["identifier"] == "42" and found["isSubscribed"] is False
    assert found["customProps"] == {"plan": "trial"}

    assert requests.delete(f"{url}/ada@example.com", headers=AUTH, timeout=10).status_code == 200
    gone = requests.get(f"{url}/ada@example.com", headers=AUTH, timeout=10)
    assert gone.status_code == 404 and gone.json()["errorCode"] == "contact-not-found"
    assert client.contacts() == []


def test_contacts_list_pages_with_a_cursor(standin):
    url = f"{standin.api_url}/contacts"
    for number in range(5):
        requests.post(url, json={"emailAddress": f"p{number}@example.com"}, headers=AUTH, timeout=10)

    seen, cursor = [], None
    while True:
        params = {"limit": "2", **({"paginationCursorNext": cursor} if cursor else {})}
        page = requests.get(url, params=params, headers=AUTH, timeout=10).json()
        seen += [contact["emailAddress"] for contact in page["data"]]
        if not page["hasMore"]:
            break
        cursor = page["paginationCursorNext"]
    assert seen == [f"p{number}@example.com" for number in range(5)]


def test_contact_validation(standin):
    answer = requests.post(
        f"{standin.api_url}/contacts", json={"emailAddress": "x"}, headers=AUTH, timeout=10
    )
    assert answer.status_code == 400 and answer.json()["errorCode"] == "parameters-invalid"


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/sidemail/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_webhook_event_is_posted_with_the_secret(standin, client, receiver):
    email_id = send(standin, TEMPLATE_EMAIL).json()["id"]
    client.set_webhook(url=receiver, secret="whsec-test")

    answer = client.emit_webhook(email_id, "email.bounce")

    assert answer["status_code"] == 200
    [(headers, event)] = _Receiver.received
    assert headers["sidemail-secret"] == "whsec-test"
    assert event["type"] == "email.bounce"
    # The shape Sidemail documents (https://sidemail.io/docs/webhooks/).
    assert set(event) == {"type", "data"}
    email = event["data"]["email"]
    assert email["id"] == email_id and email["toAddress"] == "ada@example.com"
    assert email["templateName"] == "Welcome" and email["createdAt"]
    assert event["data"]["time"] and event["data"]["bounceType"] == "permanent"
    assert client.emails()[0]["status"] == "bounce"


def test_webhook_goes_to_this_machine_only(client):
    with pytest.raises(StandinError, match="on this machine"):
        client.set_webhook(url="http://example.com/hook", secret="s")


def test_control_api_is_listed_on_the_index_page(standin):
    page = requests.get(standin.url + "/", timeout=10).text
    for _methods, path, _doc in control_endpoints():
        assert path in page


def test_state_file_keeps_emails_contacts_and_keys(tmp_path: Path):
    state_file = tmp_path / "sidemail.json"
    with SidemailStandin(port=0, api_keys=["k1"], state_file=state_file) as first:
        send(first, TEMPLATE_EMAIL, headers={"Authorization": "Bearer k1"})
        requests.post(
            f"{first.api_url}/contacts",
            json={"emailAddress": "ada@example.com"},
            headers={"Authorization": "Bearer k1"},
            timeout=10,
        )
    with SidemailStandin(port=0, state_file=state_file) as second:
        client = StandinClient(second.url)
        assert [email["templateName"] for email in client.emails()] == ["Welcome"]
        assert [contact["emailAddress"] for contact in client.contacts()] == ["ada@example.com"]
        assert send(second, TEMPLATE_EMAIL, headers={"Authorization": "Bearer k1"}).status_code == 200


def test_a_stopped_standin_answers_nothing():
    standin = SidemailStandin(port=0).start()
    url = standin.url
    standin.stop()
    standin.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/", timeout=2)
