"""/api/docs/ renders with no internet: Swagger UI's files come from the app itself."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_render_offline(page: Page, live_server):
    app = urlsplit(live_server.url).netloc
    elsewhere: list[str] = []

    def only_the_app(route: Route) -> None:
        if urlsplit(route.request.url).netloc == app:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_app)
    page.goto("/api/docs/")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("GalaxyCo API")
    expect(page.locator(".opblock").first).to_be_visible()
    assert elsewhere == []
