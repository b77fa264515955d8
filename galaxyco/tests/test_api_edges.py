"""Every URL under /api/ answers in the API's error shape, DEBUG on as well as off; filters that
name nothing answer 400; the API docs load only files the app serves itself."""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from galaxyco.query import MAX_ID

pytestmark = pytest.mark.django_db


def assert_api_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["request_id"]
    return body


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/",
        "/api/nothing/",
        "/api/workspaces/abc/",
        "/api/workspaces/abc/workflows/",
        "/api/workspaces/{ws}/nothing/",
        "/api/workspaces/{ws}/workflows/abc/",
        f"/api/workspaces/{MAX_ID * 10}/",
        "/api/docs/nothing",
    ],
)
def test_unknown_and_malformed_api_paths_answer_json_404(session_client, workspace, settings, debug, path):
    settings.DEBUG = debug
    url = path.format(ws=workspace.pk)
    assert_api_error(session_client.get(url), 404, "not_found")
    # Any method: no CSRF page, no 405 page, the same JSON 404.
    assert_api_error(session_client.post(url, {}, format="json"), 404, "not_found")


def test_a_missing_trailing_slash_says_so(session_client, workspace, settings):
    settings.DEBUG = True
    body = assert_api_error(session_client.get(f"/api/workspaces/{workspace.pk}"), 404, "not_found")
    assert f"/api/workspaces/{workspace.pk}/" in body["error"]["message"]


def test_pages_keep_their_html_404(client, settings):
    settings.DEBUG = False
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("runs/?status=bogus", "status"),
        ("runs/?workflow=abc", "workflow"),
        (f"runs/?workflow={MAX_ID + 1}", "workflow"),
        ("runs/?workflow=0", "workflow"),
        ("integrations/?type=bogus", "type"),
        ("integrations/?status=bogus", "status"),
        ("integrations/?type=gmail&type=calendar", "type"),
        (f"integrations/?page={MAX_ID + 1}", "page"),
    ],
)
def test_filters_that_name_nothing_answer_400(key_client, workspace, path, field):
    body = assert_api_error(key_client.get(f"/api/workspaces/{workspace.pk}/{path}"), 400, "invalid")
    assert field in body["error"]["fields"]


def test_valid_filters_still_answer_200(key_client, workspace):
    for path in ("runs/?status=failed", "integrations/?type=gmail&status=active"):
        response = key_client.get(f"/api/workspaces/{workspace.pk}/{path}")
        assert response.status_code == 200, path


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.urls.append(values["src"] or "")
        if tag == "link" and values.get("href"):
            self.urls.append(values["href"] or "")


def test_api_docs_load_only_same_origin_assets_that_answer(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    parser = _Assets()
    parser.feed(response.content.decode())
    assert len(parser.urls) >= 4, parser.urls  # stylesheet, favicon, two bundles, the init script
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{url} is not served by the app"
        asset = client.get(url)
        assert asset.status_code == 200, url
    scripts = [url for url in parser.urls if url.endswith(".js") or "script" in url]
    assert any("swagger-ui-bundle" in url for url in scripts)
    # The Content-Security-Policy still forbids script from anywhere else and inline script.
    policy = response["Content-Security-Policy"]
    script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
    assert script_src.split() == ["script-src", "'self'"]
