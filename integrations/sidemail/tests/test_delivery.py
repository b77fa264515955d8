"""System email through the Sidemail backend, over real HTTP to the stand-in on loopback."""

import logging
import re
from datetime import timedelta

import pytest
from anymail.exceptions import AnymailUnsupportedFeature
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from django.utils import timezone

from integrations.sidemail import services
from integrations.sidemail.models import OutboundEmail

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-Passphrase-42"
LINK = re.compile(r"http://testserver(/accounts/[^\s]+/)")


def link_in(text: str) -> str:
    found = LINK.search(text)
    assert found is not None, text
    return found.group(1)


def test_signup_sends_the_verification_email_through_sidemail(
    sidemail, standin, settings, django_capture_on_commit_callbacks
):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    cache.clear()  # allauth limits confirmation emails per address, in the cache other tests share
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/accounts/signup/", {"email": "signup@example.com", "password1": PASSWORD, "password2": PASSWORD}
        )

    [email] = standin.emails(to="signup@example.com")
    assert email["toAddress"] == "signup@example.com"
    assert email["fromAddress"] == "noreply@galaxyco.example"
    assert email["fromName"] == "GalaxyCo"
    path = link_in(email["text"])
    assert path.startswith("/accounts/confirm-email/")
    row = OutboundEmail.objects.get(to_address="signup@example.com")
    assert (row.status, row.sidemail_id, row.attempts) == ("sent", email["id"], 1)
    assert row.payload == {}  # the one-time link does not outlive its delivery
    assert mail.outbox == []  # nothing went to Django's test outbox: Sidemail had it

    user = get_user_model().objects.get(email="signup@example.com")
    [contact] = standin.contacts()
    assert (contact["emailAddress"], contact["identifier"]) == ("signup@example.com", str(user.pk))

    client.post(path)
    assert user.emailaddress_set.get().verified


def test_password_reset_through_sidemail_end_to_end(
    sidemail, standin, member, django_capture_on_commit_callbacks
):
    cache.clear()  # allauth limits reset emails per address, in the cache other tests share
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/accounts/password/reset/", {"email": member.email}).status_code == 302

    [email] = standin.emails(to=member.email)
    path = link_in(email["text"])
    assert "/accounts/password/reset/key/" in path
    form = client.get(path, follow=True)
    set_password_url = form.redirect_chain[-1][0] if form.redirect_chain else path
    done = client.post(
        set_password_url, {"password1": "Brand-New-Secret-77", "password2": "Brand-New-Secret-77"}
    )
    assert done.status_code == 302

    member.refresh_from_db()
    assert member.check_password("Brand-New-Secret-77")
    assert Client().login(username=member.email, password="Brand-New-Secret-77")


def test_two_503s_then_delivered_once(sidemail, standin, django_capture_on_commit_callbacks):
    standin.fail_next(status=503, count=2)
    with django_capture_on_commit_callbacks(execute=True):
        mail.send_mail("Hello", "Body", None, ["ada@example.com"])

    assert len(standin.emails()) == 1
    assert standin.stats()["email.send"] == 3
    row = OutboundEmail.objects.get()
    assert (row.status, row.attempts) == ("sent", 3)
    assert row.sidemail_id == standin.emails()[0]["id"]
    assert row.error_code == "" and row.error_message == ""


def test_template_not_found_is_recorded_failed_and_not_retried(
    sidemail, standin, caplog, django_capture_on_commit_callbacks, admin_client
):
    standin.fail_next(error_code="template-not-found")
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        email_id = services.send_template(
            to="ada@example.com", template_name="Welcome", props={"name": "Ada"}
        )

    row = OutboundEmail.objects.get(pk=email_id)
    assert (row.status, row.error_code, row.attempts) == ("failed", "template-not-found", 1)
    assert "template-not-found" in row.error_message
    assert standin.stats()["email.send"] == 1
    assert standin.emails() == []
    assert [r for r in caplog.records if getattr(r, "event", None) == "sidemail_send_failed"] != []
    assert len([r for r in caplog.records if getattr(r, "event", None) == "sidemail_send_failed"]) == 1

    page = admin_client.get("/admin/sidemail/outboundemail/", {"q": "Welcome", "status__exact": "failed"})
    assert page.status_code == 200
    assert "ada@example.com" in page.content.decode()
    detail = admin_client.get(f"/admin/sidemail/outboundemail/{row.pk}/change/").content.decode()
    assert "injected by the Sidemail stand-in" in detail


def test_send_template_sends_name_and_props(sidemail, standin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.send_template(to="ada@example.com", template_name="Welcome", props={"name": "Ada"})

    [email] = standin.emails()
    assert email["templateName"] == "Welcome" and email["templateProps"] == {"name": "Ada"}
    assert "text" not in email and "html" not in email
    assert OutboundEmail.objects.get().template_name == "Welcome"


def test_a_refused_key_is_a_permanent_failure(
    sidemail, standin, settings, django_capture_on_commit_callbacks
):
    settings.SIDEMAIL_API_KEY = "not-the-key"
    with django_capture_on_commit_callbacks(execute=True):
        mail.send_mail("Hello", "Body", None, ["ada@example.com"])
    row = OutboundEmail.objects.get()
    assert (row.status, row.error_code, row.attempts) == ("failed", "authentication-failed", 1)


def test_a_timeout_is_retried(sidemail, standin, settings, django_capture_on_commit_callbacks):
    settings.SIDEMAIL_HTTP_TIMEOUT = 0.3
    standin.hang(seconds=2, count=1)
    with django_capture_on_commit_callbacks(execute=True):
        mail.send_mail("Hello", "Body", None, ["ada@example.com"])
    row = OutboundEmail.objects.get()
    assert (row.status, row.attempts) == ("sent", 2)


def test_out_of_attempts_is_failed_with_the_last_reason(
    sidemail, standin, settings, django_capture_on_commit_callbacks
):
    settings.SIDEMAIL_MAX_ATTEMPTS = 2
    standin.fail_next(status=500, count=5)
    with django_capture_on_commit_callbacks(execute=True):
        mail.send_mail("Hello", "Body", None, ["ada@example.com"])
    row = OutboundEmail.objects.get()
    assert (row.status, row.attempts, row.error_code) == ("failed", 2, "server-error")
    assert row.error_message.startswith("Gave up after 2 attempts")
    assert standin.stats()["email.send"] == 2


def test_each_recipient_is_its_own_email_and_bodies_go_along(
    sidemail, standin, django_capture_on_commit_callbacks
):
    message = mail.EmailMultiAlternatives(
        "Report",
        "Plain",
        "Reports <reports@galaxyco.example>",
        ["a@example.com", "b@example.com"],
        reply_to=["help@galaxyco.example"],
    )
    message.attach_alternative("<p>Rich</p>", "text/html")
    message.attach("report.txt", b"numbers", "text/plain")
    with django_capture_on_commit_callbacks(execute=True):
        assert message.send() == 1

    emails = sorted(standin.emails(), key=lambda e: e["toAddress"])
    assert [e["toAddress"] for e in emails] == ["a@example.com", "b@example.com"]
    first = emails[0]
    assert (first["fromAddress"], first["fromName"], first["replyToAddress"]) == (
        "reports@galaxyco.example",
        "Reports",
        "help@galaxyco.example",
    )
    assert (first["subject"], first["text"], first["html"]) == ("Report", "Plain", "<p>Rich</p>")
    assert first["attachments"] == [{"name": "report.txt", "content": "bnVtYmVycw=="}]
    assert message.anymail_status.status == {"queued"}
    assert OutboundEmail.objects.count() == 2


def test_cc_is_refused_rather_than_sent_as_a_plain_copy(sidemail):
    with pytest.raises(AnymailUnsupportedFeature):
        mail.EmailMessage("Hi", "Body", None, ["a@example.com"], cc=["c@example.com"]).send()
    assert OutboundEmail.objects.count() == 0


def test_an_email_the_queue_lost_is_sent_by_the_sweep(sidemail, standin, monkeypatch):
    monkeypatch.setattr(services, "enqueue", lambda **kwargs: None)  # the broker lost the task
    mail.send_mail("Hello", "Body", None, ["ada@example.com"])
    row = OutboundEmail.objects.get()
    assert row.status == "pending"
    monkeypatch.undo()

    assert services.requeue_due() == 0  # its own task still has the grace period
    OutboundEmail.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=5))
    assert services.requeue_due() == 1

    row.refresh_from_db()
    assert row.status == "sent"
    assert len(standin.emails()) == 1


def test_an_attempt_whose_worker_died_is_retried_after_its_lease(sidemail, standin):
    row = OutboundEmail.objects.create(
        to_address="ada@example.com",
        from_address="noreply@galaxyco.example",
        subject="Hello",
        payload={
            "toAddress": "ada@example.com",
            "fromAddress": "noreply@galaxyco.example",
            "subject": "Hello",
            "text": "Hi",
        },
        status="sending",
        attempts=1,
        lease_until=timezone.now() + timedelta(seconds=30),
    )
    assert services.requeue_due() == 0
    assert services.deliver(email_id=row.pk).retry_in is None  # another attempt holds it
    assert standin.emails() == []

    OutboundEmail.objects.filter(pk=row.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert services.requeue_due() == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 2)


def test_two_failed_answers_still_deliver_within_a_minute(settings):
    settings.SIDEMAIL_RETRY_DELAYS = [5, 15, 60, 300, 900, 3600]
    worst = [services.retry_delay(attempt=attempt) for attempt in (1, 2) for _ in range(50)]
    assert max(worst) <= 18  # 15 s plus at most 20 % jitter
    assert sum(max(services.retry_delay(attempt=a) for _ in range(50)) for a in (1, 2)) < 60
    assert services.retry_delay(attempt=1, retry_after=40) >= 40  # Sidemail's Retry-After wins
    assert 3600 <= services.retry_delay(attempt=99) <= 3600 * 1.2  # the last delay repeats


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"SIDEMAIL_WEBHOOK_SECRET": ""}, "SIDEMAIL_WEBHOOK_SECRET"),
        ({"DEFAULT_FROM_EMAIL": ""}, "DEFAULT_FROM_EMAIL"),
        ({"DEFAULT_FROM_EMAIL": "GalaxyCo"}, "DEFAULT_FROM_EMAIL"),
    ],
)
def test_check_fails_in_production_without_webhook_secret_or_from_address(settings, change, named):
    settings.DEBUG = False
    settings.SIDEMAIL_API_KEY = "live-key"
    settings.SIDEMAIL_WEBHOOK_SECRET = "whsec"
    settings.DEFAULT_FROM_EMAIL = "GalaxyCo <noreply@galaxyco.example>"
    call_command("check")
    for name, value in change.items():
        setattr(settings, name, value)
    with pytest.raises(SystemCheckError, match=named):
        call_command("check")


def test_check_passes_in_development_or_without_a_key(settings):
    settings.SIDEMAIL_WEBHOOK_SECRET = ""
    settings.DEBUG = True
    settings.SIDEMAIL_API_KEY = "key"
    call_command("check")
    settings.DEBUG = False
    settings.SIDEMAIL_API_KEY = ""
    call_command("check")
