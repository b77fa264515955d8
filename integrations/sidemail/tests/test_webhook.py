"""POST /webhooks/sidemail/: the shared secret, status updates, replays and malformed events."""

import json
from datetime import UTC, datetime

import pytest
from anymail.signals import tracking
from django.test import Client
from django.utils import timezone

from devtools.sidemail_standin import StandinClient
from integrations.sidemail import services
from integrations.sidemail.api_client import SentEmail
from integrations.sidemail.models import OutboundEmail, WebhookEvent
from workspaces.tests.factories import UserFactory

pytestmark = pytest.mark.django_db
URL = "/webhooks/sidemail/"
SECRET = "sidemail-test-webhook-secret"


@pytest.fixture
def sent_email(settings):
    settings.SIDEMAIL_WEBHOOK_SECRET = SECRET
    return OutboundEmail.objects.create(
        to_address="ada@example.com",
        from_address="noreply@galaxyco.example",
        subject="Hi",
        status="sent",
        sidemail_id="sm_1",
    )


def event(event_type="email.delivered", email_id="sm_1", time="2026-11-26T03:00:00.000Z"):
    """An event in the shape Sidemail documents (https://sidemail.io/docs/webhooks/): the email
    and the event's time under `data`."""
    return {
        "type": event_type,
        "data": {
            "email": {
                "id": email_id,
                "templateName": "Welcome",
                "fromAddress": "noreply@galaxyco.example",
                "toAddress": "ada@example.com",
                "createdAt": "2026-11-26T02:59:00.000Z",
            },
            "time": time,
        },
    }


def post(body, secret=SECRET):
    headers = {"HTTP_SIDEMAIL_SECRET": secret} if secret is not None else {}
    data = body if isinstance(body, str) else json.dumps(body)
    return Client().post(URL, data=data, content_type="application/json", **headers)


def status_of(email):
    email.refresh_from_db()
    return email.status


def test_right_secret_updates_the_status(sent_email):
    received = []

    def receiver(sender, event, esp_name, **kwargs):
        received.append((esp_name, event.event_type, event.message_id, event.recipient, event.timestamp))

    tracking.connect(receiver)
    try:
        answer = post(event("email.delivered"))
    finally:
        tracking.disconnect(receiver)

    assert answer.status_code == 200 and answer.json() == {"success": True, "duplicate": False}
    assert status_of(sent_email) == "delivered"
    assert received == [
        ("Sidemail", "delivered", "sm_1", "ada@example.com", datetime(2026, 11, 26, 3, 0, tzinfo=UTC))
    ]


def test_the_documented_example_event_is_understood(sent_email):
    """Sidemail's own email.bounce example, with our email's id."""
    documented = {
        "type": "email.bounce",
        "data": {
            "email": {
                "id": "sm_1",
                "templateId": "123",
                "templateName": "Welcome",
                "templateProps": {"name": "John"},
                "fromName": "Example App",
                "fromAddress": "hello@example.com",
                "toAddress": "john@example.com",
                "createdAt": "2020-11-07T09:50:09.951Z",
            },
            "time": "2020-11-07T09:50:09.951Z",
            "bounceType": "permanent",
        },
    }
    assert post(documented).status_code == 200
    assert status_of(sent_email) == "bounced"


@pytest.mark.parametrize("secret", ["wrong", "", None, SECRET + "x"])
def test_wrong_or_missing_secret_is_401_and_changes_nothing(sent_email, secret):
    answer = post(event("email.bounce"), secret=secret)
    assert answer.status_code == 401
    assert status_of(sent_email) == "sent"
    assert WebhookEvent.objects.count() == 0


def test_no_secret_configured_refuses_everything(sent_email, settings):
    settings.SIDEMAIL_WEBHOOK_SECRET = ""
    assert post(event(), secret="").status_code == 401
    assert status_of(sent_email) == "sent"


def test_a_replayed_event_changes_nothing_twice(sent_email):
    received = []
    tracking.connect(handler := lambda **kwargs: received.append(kwargs["event"].event_type))
    try:
        assert post(event("email.delivered")).json()["duplicate"] is False
        assert post(event("email.open")).status_code == 200
        replay = post(event("email.delivered"))
    finally:
        tracking.disconnect(handler)

    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    assert status_of(sent_email) == "opened"  # not set back to delivered
    assert WebhookEvent.objects.count() == 2
    assert received == ["delivered", "opened"]


def test_a_late_delivered_never_hides_a_bounce(sent_email):
    post(event("email.bounce"))
    post(event("email.delivered"))
    assert status_of(sent_email) == "bounced"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        json.dumps({"data": {"email": {"id": "sm_1"}}}),
        json.dumps({"type": 7, "data": {"email": {"id": "sm_1"}}}),
        json.dumps({"type": "", "data": {"email": {"id": "sm_1"}}}),
        json.dumps({"type": "email.delivered"}),
        json.dumps({"type": "email.delivered", "data": "sm_1"}),
        json.dumps({"type": "email.delivered", "data": {}}),
        json.dumps({"type": "email.delivered", "data": {"email": {"id": 7}}}),
        json.dumps({"type": "email.delivered", "data": {"email": "sm_1"}}),
        json.dumps({"type": "email.delivered", "data": {"email": {"id": "x" * 101}}}),
        # Not Sidemail's shape: the email at the top level, as no Sidemail event has it.
        json.dumps({"type": "email.delivered", "email": {"id": "sm_1"}}),
        "\udcff",
    ],
)
def test_malformed_or_unknown_events_are_400_and_change_nothing(sent_email, body):
    answer = Client().post(
        URL,
        data=body.encode("utf-8", "surrogatepass"),
        content_type="application/json",
        HTTP_SIDEMAIL_SECRET=SECRET,
    )
    assert answer.status_code == 400
    assert status_of(sent_email) == "sent"
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize("event_type", ["email.sent", "domain.verified", "inbound.email"])
def test_an_event_type_we_do_not_act_on_is_acknowledged_and_changes_nothing(sent_email, event_type):
    # Sidemail counts any answer but 200 as a failed delivery and sends it again: events we have
    # no use for (other email events, sending domains, inbound email) are taken and dropped.
    answer = post({"type": event_type, "data": {"domain": "example.com"}})
    assert answer.status_code == 200
    assert answer.json() == {"success": True, "ignored": True}
    assert status_of(sent_email) == "sent"
    assert WebhookEvent.objects.count() == 0


def test_an_event_for_an_email_we_did_not_send_is_recorded_and_changes_nothing(sent_email):
    assert post(event(email_id="sm_unknown")).status_code == 200
    assert status_of(sent_email) == "sent"
    assert WebhookEvent.objects.get().outbound_email is None


def test_get_is_not_allowed(sent_email):
    assert Client().get(URL).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_the_standin_emits_a_real_webhook_to_the_app(
    sidemail, live_server, django_capture_on_commit_callbacks
):
    from django.core import mail

    mail.send_mail("Hello", "Body", None, ["ada@example.com"])
    row = OutboundEmail.objects.get()
    assert row.status == "sent"
    standin = StandinClient(sidemail.url)
    standin.set_webhook(url=f"{live_server.url}{URL}", secret=SECRET)

    answer = standin.emit_webhook(row.sidemail_id, "email.delivered")

    assert answer["status_code"] == 200
    assert status_of(row) == "delivered"
    assert standin.emit_webhook(row.sidemail_id, "email.delivered", secret="wrong")["status_code"] == 401


@pytest.mark.parametrize("event_type", ["email.bounce", "email.complaint"])
def test_a_bounce_or_complaint_unsubscribes_the_contact(
    sidemail, sent_email, event_type, django_capture_on_commit_callbacks
):
    user = UserFactory(email="ada@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        assert post(event(event_type)).status_code == 200
    [contact] = StandinClient(sidemail.url).contacts()
    assert (contact["emailAddress"], contact["identifier"], contact["isSubscribed"]) == (
        "ada@example.com",
        str(user.pk),
        False,
    )


def test_a_delivery_leaves_the_contact_alone(sidemail, sent_email, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(event("email.delivered"))
    assert StandinClient(sidemail.url).contacts() == []


@pytest.mark.parametrize("time", ["2026-13-45T99:00:00Z", "yesterday", 12, None])
def test_an_odd_timestamp_is_no_reason_to_fail(sent_email, time):
    seen = []
    tracking.connect(handler := lambda **kwargs: seen.append(kwargs["event"].timestamp))
    try:
        answer = post(event("email.delivered", time=time))
    finally:
        tracking.disconnect(handler)
    assert answer.status_code == 200
    assert status_of(sent_email) == "delivered"
    assert seen == [None]


class _AcceptingClient:
    """Sidemail accepting the email as "early-id": its webhook already came in."""

    def send_email(self, payload):
        return SentEmail(id="early-id", status="queued")


def test_an_event_that_arrives_before_the_send_is_recorded_counts_once_it_is(settings):
    settings.SIDEMAIL_WEBHOOK_SECRET = SECRET
    row = OutboundEmail.objects.create(
        to_address="ada@example.com",
        from_address="noreply@galaxyco.example",
        subject="Hi",
        payload={"toAddress": "ada@example.com", "subject": "Hi", "text": "Hi"},
        next_attempt_at=timezone.now(),
    )
    assert post(event("email.open", email_id="early-id")).status_code == 200
    assert post(event("email.delivered", email_id="early-id")).status_code == 200

    services.deliver(email_id=row.pk, client=_AcceptingClient())

    row.refresh_from_db()
    assert (row.sidemail_id, row.status) == ("early-id", "opened")
    assert {event.outbound_email for event in WebhookEvent.objects.all()} == {row}
