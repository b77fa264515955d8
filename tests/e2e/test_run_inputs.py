"""Run now in a browser: a field per input, and a run with an input missing is refused with the
input named, before any run exists."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import BrowserWatch, Screenshots
from tests.e2e.test_gmail_workflow import sign_up
from workflows import services
from workflows.models import WorkflowRun
from workflows.services import StepSpec
from workspaces.models import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_run_with_a_missing_input_is_refused_naming_the_input(
    page: Page, shots: Screenshots, browser_watch: BrowserWatch
):
    workspace = sign_up(page, shots, "owner@galaxyco.test")
    workflow = services.create_workflow(
        workspace=Workspace.objects.get(slug=workspace.slug),
        created_by=None,
        name="Welcome email",
        steps=[
            StepSpec(
                action="gmail.send_email",
                params={
                    "to": ["{{ input.email }}"],
                    "subject": "Thanks for joining {{ input.name }}.",
                    "text": "Hi",
                },
            )
        ],
    )

    page.goto(workspace.url(f"workflows/{workflow.pk}/"))
    expect(page.get_by_label("email", exact=True)).to_be_visible()
    expect(page.get_by_label("name", exact=True)).to_be_visible()
    expect(page.get_by_test_id("run-input")).to_be_hidden()  # the JSON box is "advanced", collapsed
    page.get_by_test_id("run-input-email").fill("ada@example.com")
    page.get_by_test_id("run-now").click()

    errors = page.get_by_test_id("run-input-errors")
    expect(errors).to_contain_text("Missing input: name.")
    expect(page.get_by_test_id("run-field-error")).to_have_text(
        "A value is required: the steps read {{ input.name }}."
    )
    expect(page.get_by_test_id("run-input-email")).to_have_value("ada@example.com")
    shots.step(page, "run-refused-missing-input")
    assert not WorkflowRun.objects.unscoped().exists()
    # The refusal is a 400, which Chromium reports on the console: expected here, and only here.
    browser_watch.problems.remove(
        f"console error at {page.url}: Failed to load resource: the server responded with a status of 400 (Bad Request)"
    )

    page.get_by_test_id("run-input-name").fill("Ada")
    page.get_by_test_id("preview").click()
    expect(page.get_by_test_id("run-preview").locator('pre[data-param="subject"]')).to_have_text(
        "Thanks for joining Ada."
    )
    shots.step(page, "run-preview")
    shots.readme(page, "run-now-inputs")
    assert not WorkflowRun.objects.unscoped().exists()
