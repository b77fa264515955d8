"""Drive the connect flow over real HTTP: the app on pytest-django's live server, Google's
part on the emulator. requests follows every redirect across the two, like a browser."""

import re

import requests
from django.conf import settings
from django.test import Client

CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def browser_for(live_server, user) -> requests.Session:
    client = Client()
    client.force_login(user)
    session = requests.Session()
    session.cookies.set(settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value)
    return session


def integrations_url(live_server, workspace) -> str:
    return f"{live_server.url}/w/{workspace.slug}/integrations/"


def start_connect(
    browser: requests.Session, live_server, workspace, integration_type: str = "gmail", **kwargs
):
    page = browser.get(integrations_url(live_server, workspace))
    token = csrf_token(page.text)
    return browser.post(
        f"{live_server.url}/w/{workspace.slug}/integrations/google/{integration_type}/connect/",
        data={"csrfmiddlewaretoken": token},
        headers={"Referer": integrations_url(live_server, workspace)},
        timeout=30,
        **kwargs,
    )


def assert_no_server_error(response: requests.Response) -> None:
    for hop in [*response.history, response]:
        assert hop.status_code < 500, f"{hop.status_code} from {hop.url}"
