"""A new API key is shown once after a redirect, and its Copy buttons put the key and the curl
line on the clipboard (static/js/copy.js: no inline script under the Content-Security-Policy)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.login import log_in
from workspaces.models import ApiKey
from workspaces.tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "owner@acme.test"


def test_copy_buttons_copy_the_key_and_the_curl_line(clipboard_page: Page):
    page = clipboard_page
    MembershipFactory(workspace=WorkspaceFactory(name="Acme", slug="acme"), user=UserFactory(email=EMAIL))
    log_in(page, email=EMAIL)

    page.goto("/w/acme/settings/")
    page.locator("input[name=name]").fill("CI")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_test_id("new-api-key").inner_text().strip()

    page.get_by_test_id("copy-api-key").click()
    expect(page.get_by_test_id("copy-api-key")).to_have_text("Copied")
    copied_key = page.evaluate("navigator.clipboard.readText()") == key
    assert copied_key, "the clipboard does not hold the new key"

    page.get_by_test_id("copy-curl").click()
    curl = page.evaluate("navigator.clipboard.readText()")
    curl_as_expected = curl.startswith("curl ") and key in curl and curl.endswith("/workflows/")
    assert curl_as_expected, "unexpected curl line"  # a boolean: a failure prints no key

    page.reload()  # the redirected page: reloading it creates nothing and shows no key
    expect(page.get_by_test_id("new-api-key")).to_have_count(0)
    assert ApiKey.objects.unscoped().count() == 1
