"""Headers and hygiene: a Content-Security-Policy on every page and no inline script for it to
block, no caching of the page that shows a new API key, HSTS preload only when asked for, and
JSON endpoints that refuse form bodies instead of running with empty input."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from workflows.models import WorkflowRun
from workflows.tests.helpers import WELCOME, create_workflow, execute_url, workflows_url

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]

# A <script> element that runs code in the page (not a JSON data block, which never runs).
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
JAVASCRIPT_URL = re.compile(r"""=\s*["']?\s*javascript:""", re.I)


def directives(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    parsed = {}
    for part in header.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


def assert_strict_policy(response) -> None:
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["default-src"] + policy.get("style-src", [])


def assert_no_inline_script(html: str, where: str) -> None:
    assert not INLINE_SCRIPT.search(html), f"inline <script> on {where}"
    assert not EVENT_HANDLER.search(html), f"inline event handler on {where}"
    assert not JAVASCRIPT_URL.search(html), f"javascript: URL on {where}"


@pytest.fixture
def run(key_client, workspace) -> WorkflowRun:
    workflow_id = create_workflow(key_client, workspace, WELCOME)
    ada = {"name": "Ada", "email": "ada@example.com"}
    key_client.post(execute_url(workspace, workflow_id, wait=False), {"input": ada}, format="json")
    return WorkflowRun.objects.unscoped().get()


def member_pages(workspace, run) -> list[str]:
    base = f"/w/{workspace.slug}/"
    return [
        base,
        base + "integrations/",
        base + "workflows/",
        base + "workflows/new/",
        base + f"workflows/{run.workflow_id}/",
        base + "runs/",
        base + f"runs/{run.pk}/",
        base + "members/",
        base + "settings/",
        "/accounts/password/change/",
        "/accounts/email/",
        base + "workflows/999999/",  # the 404 page
    ]


def test_every_member_page_has_a_strict_policy_and_no_inline_script(page_client, workspace, run):
    for path in member_pages(workspace, run):
        response = page_client.get(path)
        assert response.status_code in (200, 404), path
        assert_strict_policy(response)
        assert_no_inline_script(response.content.decode(), path)


@pytest.mark.parametrize(
    "path",
    ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/", "/admin/login/", "/nowhere/"],
)
def test_every_public_page_has_a_strict_policy_and_no_inline_script(client, path):
    response = client.get(path, follow=True)

    assert response.status_code in (200, 404)
    assert_strict_policy(response)
    assert_no_inline_script(response.content.decode(), path)


def test_no_template_needs_inline_script():
    for template in (ROOT / "templates").rglob("*.html"):
        assert_no_inline_script(template.read_text(), str(template.relative_to(ROOT)))


def test_the_api_docs_load_their_scripts_from_files(client, member):
    client.force_login(member)
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert_no_inline_script(response.content.decode(), "/api/docs/")
    assert "'unsafe-inline'" not in directives(response)["script-src"]


def test_api_responses_carry_the_policy_too(key_client, workspace):
    response = key_client.get(f"/api/workspaces/{workspace.pk}/")

    assert_strict_policy(response)


def test_the_page_that_shows_a_new_api_key_is_never_cached(page_client, workspace):
    response = page_client.post(
        f"/w/{workspace.slug}/settings/", {"name": "CI", "role": "member"}, follow=True
    )

    assert response.status_code == 200
    assert 'data-testid="new-api-key"' in response.content.decode()
    cache_control = {part.strip() for part in response.headers.get("Cache-Control", "").split(",")}
    assert "no-store" in cache_control


def settings_value(name: str, **environ: str) -> str:
    """A setting as the app computes it from this environment, in a fresh interpreter."""
    # DEBUG on spares the production secrets; HTTPS is set as production sets it.
    env = {"PATH": os.environ["PATH"], "READ_DOT_ENV": "false", "DEBUG": "true", "HTTPS": "true", **environ}
    code = f"import galaxyco.settings as s; print(s.{name})"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_hsts_preload_only_when_configured():
    assert settings_value("SECURE_HSTS_SECONDS") == "31536000"
    assert settings_value("SECURE_HSTS_PRELOAD") == "False"
    assert settings_value("SECURE_HSTS_PRELOAD", SECURE_HSTS_PRELOAD="true") == "True"
    assert settings_value("SECURE_HSTS_PRELOAD", HTTPS="false", SECURE_HSTS_PRELOAD="true") == "False"


def test_hsts_header_has_no_preload_by_default(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_PRELOAD = False

    response = client.get("/accounts/login/", secure=True)

    assert "max-age=31536000" in response.headers["Strict-Transport-Security"]
    assert "preload" not in response.headers["Strict-Transport-Security"]


@pytest.mark.parametrize("form", ["urlencoded", "multipart"])
def test_a_form_body_to_execute_answers_415_and_runs_nothing(key_client, workspace, form):
    workflow_id = create_workflow(key_client, workspace, WELCOME)
    url = execute_url(workspace, workflow_id, wait=False)
    if form == "urlencoded":
        response = key_client.post(url, data="input=%7B%7D", content_type="application/x-www-form-urlencoded")
    else:
        response = key_client.post(url, {"input": "{}"}, format="multipart")

    assert response.status_code == 415
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "unsupported_media_type"
    assert not WorkflowRun.objects.unscoped().exists()


def test_a_form_body_to_create_a_workflow_answers_415(key_client, workspace):
    response = key_client.post(workflows_url(workspace), {"name": "Form"}, format="multipart")

    assert response.status_code == 415
