"""Signing in through the login page, as a person does."""

from playwright.sync_api import Page

PASSWORD = "correct-horse-battery"  # the user factory's


def log_in(page: Page, *, email: str) -> None:
    """Sign in as `email` (a user made by the factory, member of the acme workspace) and wait for
    the workspace's home page."""
    page.goto("/accounts/login/")
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/w/acme/")
