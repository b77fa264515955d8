"""Forms that ask before they act, now that the Content-Security-Policy forbids inline script:
the question comes from static/js/app.js, and answering "Cancel" sends nothing."""

from __future__ import annotations

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.e2e.login import log_in
from workspaces.models import ApiKey
from workspaces.tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "owner@acme.test"


def test_revoking_a_key_asks_first_and_cancel_keeps_it(page: Page):
    MembershipFactory(workspace=WorkspaceFactory(name="Acme", slug="acme"), user=UserFactory(email=EMAIL))
    log_in(page, email=EMAIL)
    page.goto("/w/acme/settings/")
    page.locator("input[name=name]").fill("CI")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_test_id("new-api-key")).to_be_visible()

    questions: list[str] = []

    def answer(accept: bool):
        def handle(dialog: Dialog) -> None:
            questions.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        return handle

    page.once("dialog", answer(False))
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("button", name="Revoke")).to_be_visible()
    assert questions == ["Revoke this key? Services using it will stop working."]
    assert ApiKey.objects.unscoped().get().is_active

    page.once("dialog", answer(True))
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator(".badge.disconnected")).to_have_text("revoked")
    assert len(questions) == 2
    assert not ApiKey.objects.unscoped().get().is_active
