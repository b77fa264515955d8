"""Sign up, read the verification email in the Sidemail stand-in's inbox, follow its link."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.core.cache import cache
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "newcomer@example.com"
PASSWORD = "a-long-Passphrase-42"


def test_sign_up_then_verify_through_the_standin_inbox(page: Page, sidemail, settings, shots):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    cache.clear()  # allauth limits confirmation emails per address, in the cache other tests share

    page.goto("/accounts/signup/")
    page.locator("input[name=email]").fill(EMAIL)
    page.locator("input[name=password1]").fill(PASSWORD)
    page.locator("input[name=password2]").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/accounts/confirm-email/")
    assert not EmailAddress.objects.get(email=EMAIL).verified

    page.goto(f"{sidemail.url}/_standin/inbox?to={EMAIL}")
    email = page.locator("article.email")
    expect(email).to_have_count(1)
    expect(email.locator("dl.meta")).to_contain_text("GalaxyCo <noreply@galaxyco.example>")
    shots.step(page, "standin-inbox")
    email.get_by_role("link", name="/accounts/confirm-email/").click()

    page.wait_for_url("**/accounts/confirm-email/*/")
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_text(f"You have confirmed {EMAIL}.")).to_be_visible()
    shots.step(page, "confirmed")
    assert EmailAddress.objects.get(email=EMAIL).verified
