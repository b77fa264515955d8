"""Gmail's read side in the emulator: profile, history, search, message formats, attachments,
threads, incoming delivery, and all of it kept across a restart."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.google_emulator import EmulatorClient, GoogleEmulator
from devtools.google_emulator.search import matches

READONLY = "https://www.googleapis.com/auth/gmail.readonly"
SEND = "https://www.googleapis.com/auth/gmail.send"
MAILBOX = "ann@example.com"


@pytest.fixture
def emu() -> Iterator[GoogleEmulator]:
    with GoogleEmulator(port=0) as emulator:
        yield emulator


def _token(emu: GoogleEmulator, scopes: list[str]) -> str:
    grant = EmulatorClient(emu.url).issue_grant(email=MAILBOX, scopes=["openid", "email", *scopes])
    return str(grant["access_token"])


def _get(emu: GoogleEmulator, token: str, path: str, **params: Any) -> requests.Response:
    return requests.get(
        f"{emu.url}/gmail/v1/users/me/{path}", params=params, headers={"Authorization": f"Bearer {token}"}
    )


def _deliver(emu: GoogleEmulator, **body: Any) -> dict[str, Any]:
    response = requests.post(f"{emu.url}/_emulator/control/mailboxes/{MAILBOX}/deliver", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_reading_needs_the_read_scope(emu: GoogleEmulator) -> None:
    send_only = _token(emu, [SEND])
    assert _get(emu, send_only, "profile").status_code == 403
    assert _get(emu, "nope", "profile").status_code == 401


def test_profile_history_and_every_page(emu: GoogleEmulator) -> None:
    token = _token(emu, [READONLY])
    start = _get(emu, token, "profile").json()["historyId"]
    delivered = [
        _deliver(emu, **{"from": "orders@shop.test", "subject": f"Order {n}"})["id"] for n in range(7)
    ]

    seen, page_token = [], None
    while True:
        params = {
            "startHistoryId": start,
            "maxResults": 3,
            **({"pageToken": page_token} if page_token else {}),
        }
        page = _get(emu, token, "history", **params).json()
        seen += [
            added["message"]["id"] for item in page.get("history", []) for added in item["messagesAdded"]
        ]
        page_token = page.get("nextPageToken")
        if not page_token:
            break
    assert seen == delivered
    assert int(page["historyId"]) > int(start)
    assert _get(emu, token, "profile").json()["messagesTotal"] == 7


def test_expired_history_answers_404(emu: GoogleEmulator) -> None:
    token = _token(emu, [READONLY])
    start = _get(emu, token, "profile").json()["historyId"]
    _deliver(emu, subject="before")
    requests.post(f"{emu.url}/_emulator/control/mailboxes/{MAILBOX}/history/expire").raise_for_status()
    assert _get(emu, token, "history", startHistoryId=start).status_code == 404
    now = _get(emu, token, "profile").json()["historyId"]
    assert _get(emu, token, "history", startHistoryId=now).status_code == 200


def test_list_with_query_newest_first(emu: GoogleEmulator) -> None:
    token = _token(emu, [READONLY])
    first = _deliver(emu, **{"from": "Shop <orders@shop.test>", "subject": "Order 1"})["id"]
    _deliver(emu, **{"from": "friend@example.com", "subject": "Lunch?"})
    second = _deliver(emu, **{"from": "orders@shop.test", "subject": "Order 2"})["id"]
    _deliver(emu, **{"from": "orders@shop.test", "subject": "Draft", "labels": ["DRAFT"]})

    found = _get(emu, token, "messages", q="from:orders@shop.test subject:order").json()["messages"]
    assert [message["id"] for message in found] == [second, first]
    assert _get(emu, token, "messages", q="label:DRAFT").json()["resultSizeEstimate"] == 1
    assert _get(emu, token, "messages", q=f"after:{int(time.time()) + 60}").json()["resultSizeEstimate"] == 0
    assert _get(emu, token, "messages", q="to:ann@example.com in:inbox").json()["resultSizeEstimate"] == 3
    assert _get(emu, token, "messages", q="after:not-a-date").status_code == 400


def test_message_formats_attachment_and_thread(emu: GoogleEmulator) -> None:
    token = _token(emu, [READONLY])
    pdf = b"%PDF-1.4 invoice" * 100
    delivered = _deliver(
        emu,
        **{
            "from": "orders@shop.test",
            "subject": "Invoice",
            "text": "Your invoice",
            "html": "<p>Your invoice</p>",
        },
        attachments=[
            {
                "filename": "invoice.pdf",
                "content_type": "application/pdf",
                "content_base64": base64.b64encode(pdf).decode(),
            }
        ],
        message_id="<order-1@shop.test>",
    )
    full = _get(emu, token, f"messages/{delivered['id']}", format="full").json()
    assert full["snippet"] == "Your invoice" and full["labelIds"] == ["INBOX", "UNREAD"]
    parts = full["payload"]["parts"]
    [attachment] = [part for part in parts if part["filename"]]
    assert attachment["filename"] == "invoice.pdf" and attachment["body"]["size"] == len(pdf)
    data = _get(
        emu, token, f"messages/{delivered['id']}/attachments/{attachment['body']['attachmentId']}"
    ).json()
    assert base64.urlsafe_b64decode(data["data"]) == pdf

    raw = _get(emu, token, f"messages/{delivered['id']}", format="raw").json()["raw"]
    assert b"Subject: Invoice" in base64.urlsafe_b64decode(raw)
    metadata = _get(
        emu, token, f"messages/{delivered['id']}", format="metadata", metadataHeaders="Subject"
    ).json()
    assert metadata["payload"]["headers"] == [{"name": "Subject", "value": "Invoice"}]
    assert _get(emu, token, "messages/unknown").status_code == 404

    reply = _deliver(emu, subject="Re: Invoice", in_reply_to="<order-1@shop.test>")
    assert reply["threadId"] == delivered["threadId"]
    thread = _get(emu, token, f"threads/{delivered['threadId']}").json()
    assert [message["id"] for message in thread["messages"]] == [delivered["id"], reply["id"]]


def test_history_and_mail_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with GoogleEmulator(port=0, state_file=path) as emu:
        token = _token(emu, [READONLY])
        start = _get(emu, token, "profile").json()["historyId"]
        delivered = _deliver(emu, subject="kept")
    with GoogleEmulator(port=0, state_file=path) as emu:
        page = _get(emu, token, "history", startHistoryId=start).json()
        assert [item["messages"][0]["id"] for item in page["history"]] == [delivered["id"]]
        assert _get(emu, token, f"messages/{delivered['id']}").json()["historyId"] == delivered["historyId"]


def test_search_operators() -> None:
    message = {
        "from": "Shop <orders@shop.test>",
        "to": ["ann@example.com"],
        "cc": [],
        "bcc": [],
        "subject": "Order shipped",
        "text": "Tracking inside",
        "html": None,
        "headers": {"Message-ID": "<abc@shop.test>"},
        "labelIds": ["SENT"],
        "received_at": "2026-03-01T10:00:00+00:00",
    }
    assert matches(message, 'from:orders@shop.test subject:"order shipped" in:sent')
    assert matches(message, "rfc822msgid:<abc@shop.test> after:2026/02/28 before:2026/03/02")
    assert matches(message, "tracking -label:DRAFT")
    assert matches(message, "(from:orders@shop.test) after:1700000000")
    assert not matches(message, "in:inbox") and not matches(message, "-from:shop.test")
