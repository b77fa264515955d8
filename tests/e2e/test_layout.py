"""The main pages work on a phone, 390 px wide: the header wraps, tables scroll inside their card,
and nothing makes the page itself scroll sideways."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, ViewportSize

from galaxyco.errors import ReauthRequired
from integrations.models import IntegrationStatus
from integrations.tests.factories import IntegrationFactory
from tests.e2e.conftest import TIMEOUT_MS, BrowserWatch, Screenshots
from tests.e2e.login import log_in
from workflows import services
from workflows.models import RunStatus, WorkflowRun
from workflows.services import StepSpec
from workspaces.models import Role
from workspaces.tests.factories import MembershipFactory, UserFactory, WorkspaceFactory, api_key_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE: ViewportSize = {"width": 390, "height": 844}
EMAIL = "a.person.with.a.rather.long.address@galaxyco-example.test"


@pytest.fixture
def phone(browser: Browser, live_server, browser_watch: BrowserWatch) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    browser_watch.attach(page)
    yield page
    context.close()


@pytest.fixture
def busy_workspace():
    """A workspace with something in every table, long values included."""
    workspace = WorkspaceFactory(name="Acme Intergalactic Shipping and Receiving", slug="acme")
    user = UserFactory(email=EMAIL)
    MembershipFactory(workspace=workspace, user=user, role=Role.OWNER)
    MembershipFactory(workspace=workspace, user=UserFactory(email="second.member.of.the.team@example.test"))
    IntegrationFactory(workspace=workspace, connected_by=user, email="team.mailbox.for.sales@gmail.test")
    error = ReauthRequired()
    IntegrationFactory(
        workspace=workspace,
        connected_by=user,
        email="calendar.of.the.whole.company@gmail.test",
        type="calendar",
        status=IntegrationStatus.REAUTH_REQUIRED,
        last_error_code=error.code,
        last_error_message=error.message,
    )
    workflow = services.create_workflow(
        workspace=workspace,
        created_by=user,
        name="Welcome every new customer with a friendly note",
        steps=[
            StepSpec(
                action="gmail.send_email",
                params={"to": ["ada@example.com"], "subject": "Welcome aboard", "text": "Hello"},
            )
        ],
    )
    for status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
        run, _ = services.start_run(workspace=workspace, workflow_id=workflow.pk, run_input={}, trigger="api")
        now = timezone.now()
        WorkflowRun.objects.unscoped().filter(pk=run.pk).update(
            status=status,
            started_at=now,
            finished_at=now,
            error_code=error.code if status == RunStatus.FAILED else "",
            error_message=error.message if status == RunStatus.FAILED else "",
        )
    api_key_for(workspace)
    return workspace, workflow, run


def overflow(page: Page) -> int:
    """How far the document is wider than the window (0: no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_the_main_pages_fit_a_phone(phone: Page, busy_workspace, shots: Screenshots):
    _, workflow, run = busy_workspace
    log_in(phone, email=EMAIL)
    pages = {
        "home": "/w/acme/",
        "integrations": "/w/acme/integrations/",
        "workflows": "/w/acme/workflows/",
        "builder": f"/w/acme/workflows/{workflow.pk}/",
        "new-workflow": "/w/acme/workflows/new/",
        "runs": "/w/acme/runs/",
        "run": f"/w/acme/runs/{run.pk}/",
        "members": "/w/acme/members/",
        "settings": "/w/acme/settings/",
    }
    too_wide = {}
    for name, path in pages.items():
        phone.goto(path)
        phone.wait_for_load_state("load")
        shots.step(phone, f"phone-{name}")
        width = phone.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"] or overflow(phone) > 0:
            too_wide[path] = width
    assert not too_wide, f"pages wider than {PHONE['width']} px: {too_wide}"


def test_wide_tables_scroll_inside_their_card(phone: Page, busy_workspace):
    log_in(phone, email=EMAIL)
    phone.goto("/w/acme/runs/")
    scroller = phone.locator(".table-scroll").first
    sizes = scroller.evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert sizes[0] > sizes[1], "the run table should be wider than the phone and scroll inside its card"
    assert overflow(phone) == 0


def test_the_header_wraps_and_keeps_every_item_visible(phone: Page, busy_workspace):
    log_in(phone, email=EMAIL)
    phone.goto("/w/acme/runs/")
    for name in ("Home", "Integrations", "Workflows", "Runs", "Members", "Settings"):
        link = phone.locator("nav.mainnav a", has_text=name)
        box = link.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], name
    assert phone.locator('nav.mainnav a[aria-current="page"]').inner_text() == "Runs"
