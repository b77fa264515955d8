"""Fixtures for the browser tests: Playwright (sync API) driving Debian's Chromium against
pytest-django's live server, with Google played by the emulator (the root conftest's `google`).

Every test fails on a browser console error, an uncaught page error, a response >= 500 seen by
the browser, or a log record at ERROR or above from the application. The checks live in
fixtures, so a test gets them by asking for a page.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Response,
    ViewportSize,
    sync_playwright,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
README_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous for a loaded CI machine; a healthy run needs a fraction of this. Not a sleep: waits
# end as soon as their condition holds.
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium, once per test module, closed (and Playwright stopped) at the module's end."""
    # Playwright's sync API runs an asyncio event loop in the main thread (it switches to it with
    # greenlets whenever it talks to the browser). While that loop exists, Django's async-safety
    # guard sees "a running event loop" in the test's thread and refuses every ORM call from the
    # test body and from pytest-django's per-test database flush (SynchronousOnlyOperation), even
    # though those calls are plain synchronous code and no coroutine runs at the time. So allow
    # them while the loop lives: set before Playwright starts, before any test here touches the
    # database, and restored once it stops so the rest of the suite keeps the guard.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
                headless=True,
                args=CHROMIUM_ARGS,
            )
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@dataclass
class BrowserWatch:
    """What the browser saw that should fail the test, collected from every page of the test."""

    problems: list[str] = field(default_factory=list)
    # URLs a test opens on purpose expecting 404: Chromium logs a console error for those.
    expected_not_found: set[str] = field(default_factory=set)

    def expect_not_found(self, url: str) -> None:
        self.expected_not_found.add(url)

    def attach(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)
        page.on("response", self._on_response)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        if url in self.expected_not_found and "status of 404" in message.text:
            return
        self.problems.append(f"console error at {url}: {message.text}")

    def _on_page_error(self, error: Error) -> None:
        self.problems.append(f"uncaught page error: {error.name}: {error.message}\n{error.stack}")

    def _on_response(self, response: Response) -> None:
        if response.status >= 500:
            self.problems.append(f"{response.status} from {response.request.method} {response.url}")


@pytest.fixture
def browser_watch() -> Iterator[BrowserWatch]:
    watch = BrowserWatch()
    yield watch
    assert not watch.problems, "the browser saw problems:\n" + "\n".join(watch.problems)


@pytest.fixture
def new_page(browser: Browser, live_server, browser_watch: BrowserWatch) -> Iterator[Callable[[], Page]]:
    """Make a page in a fresh browser context (its own cookies: one context per person)."""
    contexts: list[BrowserContext] = []

    def make() -> Page:
        context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        browser_watch.attach(page)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[[], Page]) -> Page:
    return new_page()


@pytest.fixture
def clipboard_page(browser: Browser, live_server, browser_watch: BrowserWatch) -> Iterator[Page]:
    """A page whose scripts may read and write the clipboard (for Copy buttons)."""
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    browser_watch.attach(page)
    yield page
    context.close()


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_error_logs() -> Iterator[None]:
    """Fail the test if anything (the app in the live server's thread included) logs at ERROR+."""
    collector = _Collector()
    # The root logger sees everything that propagates; loggers that do not propagate
    # (django.server, the live server's request log, for one) get the handler themselves.
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    for logger in loggers:
        logger.addHandler(collector)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(collector)
    lines = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in collector.records]
    assert not lines, "the application logged errors:\n" + "\n".join(lines)


class Screenshots:
    """Step pictures for the artifacts folder, and the README's pictures on request."""

    def __init__(self, test_name: str) -> None:
        self.folder = Path(os.environ.get("ARTIFACTS_DIR", "artifacts")) / "e2e" / test_name
        shutil.rmtree(self.folder, ignore_errors=True)  # an earlier run's pictures would mislead
        self._numbers = itertools.count(1)

    def step(self, page: Page, name: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=self.folder / f"{next(self._numbers):02d}-{name}.png", full_page=True)

    @staticmethod
    def readme(page: Page, name: str) -> None:
        """docs/screenshots/<name>.png, only with UPDATE_SCREENSHOTS=1 (normal runs leave the tree alone)."""
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=README_SCREENSHOTS / f"{name}.png")


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Screenshots:
    return Screenshots(re.sub(r"[^\w.-]+", "_", request.node.name))
