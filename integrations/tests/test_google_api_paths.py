"""GOOGLE_API_BASE_URL keeps each API's own path: only the scheme and host differ from Google's."""

from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from integrations.google import clients
from integrations.models import OAuthToken
from integrations.tests.google_grants import connect
from workflows.tests.helpers import WELCOME, create_workflow, execute


@pytest.fixture
def requested_paths(monkeypatch) -> list[str]:
    """The path of every request the Google API client sends."""
    paths: list[str] = []
    real_request = clients._PooledHttp.request

    def recorded(self: clients._PooledHttp, uri: str, *args: Any, **kwargs: Any) -> Any:
        paths.append(urlsplit(uri).path)
        return real_request(self, uri, *args, **kwargs)

    monkeypatch.setattr(clients._PooledHttp, "request", recorded)
    return paths


CALENDAR_STEP = {
    "name": "Kick-off",
    "steps": [
        {
            "action": "calendar.create_event",
            "params": {
                "summary": "Kick-off",
                "start": "2026-12-01T09:30:00",
                "end": "2026-12-01T10:00:00",
                "time_zone": "Europe/Paris",
            },
        }
    ],
}


@pytest.mark.django_db(transaction=True)  # the run starts when its transaction commits
def test_a_calendar_step_calls_calendars_own_path(google, workspace, member, key_client, requested_paths):
    connect(google, workspace=workspace, user=member, email="planner@gmail.test", integration_type="calendar")
    workflow_id = create_workflow(key_client, workspace, CALENDAR_STEP)

    body = execute(key_client, workspace, workflow_id, {}).json()

    assert body["success"] is True, body
    assert requested_paths == ["/calendar/v3/calendars/primary/events"]
    assert [event["summary"] for event in google.state.events()] == ["Kick-off"]


@pytest.mark.django_db(transaction=True)
def test_a_gmail_step_calls_gmails_own_path(google, workspace, member, key_client, requested_paths):
    connect(google, workspace=workspace, user=member)
    workflow_id = create_workflow(key_client, workspace, WELCOME)

    body = execute(key_client, workspace, workflow_id, {"name": "Ada", "email": "ada@example.com"}).json()

    assert body["success"] is True, body
    assert requested_paths == ["/gmail/v1/users/me/messages/send"]
    assert len(google.state.messages()) == 1


@pytest.mark.parametrize(
    ("api_base_url", "calendar", "gmail"),
    [
        (  # Google itself: each API on its own host
            "",
            "https://www.googleapis.com/calendar/v3/calendars/primary/events",
            "https://gmail.googleapis.com/gmail/v1/users/me/messages/send",
        ),
        (
            "http://127.0.0.1:8081/",
            "http://127.0.0.1:8081/calendar/v3/calendars/primary/events",
            "http://127.0.0.1:8081/gmail/v1/users/me/messages/send",
        ),
        (  # with or without the trailing slash, and under a path prefix
            "https://proxy.example/google",
            "https://proxy.example/google/calendar/v3/calendars/primary/events",
            "https://proxy.example/google/gmail/v1/users/me/messages/send",
        ),
    ],
)
def test_every_api_keeps_googles_path_under_the_base_url(api_base_url, calendar, gmail):
    calendar_request = clients._calendar_events(api_base_url).insert(calendarId="primary", body={})
    gmail_request = clients._gmail_messages(api_base_url).send(userId="me", body={"raw": ""})
    assert calendar_request.uri.split("?")[0] == calendar
    assert gmail_request.uri.split("?")[0] == gmail


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("integration_type", "wrong_path"),
    [
        ("calendar", "/calendars/primary/events"),  # Calendar without its service path
        ("gmail", "/users/me/messages/send"),  # Gmail without its
    ],
)
def test_the_emulator_refuses_paths_google_does_not_serve(
    google, workspace, member, integration_type, wrong_path
):
    integration = connect(google, workspace=workspace, user=member, integration_type=integration_type)
    token = OAuthToken.objects.unscoped().get(integration=integration).access_token
    response = requests.post(
        f"{google.url}{wrong_path}",
        json={"raw": "", "start": {}, "end": {}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 404
    assert google.state.events() == [] and google.state.messages() == []
