"""One mapping from an exception to (status, code, message), and one list of codes: the API
handler, the page middleware and the 4xx/5xx views answer alike; every code the app emits is
an ErrorCode member, and the OpenAPI error shape lists them."""

import ast
import json
from pathlib import Path

import pytest
import requests
from django.core.exceptions import BadRequest, PermissionDenied, RequestDataTooBig
from django.db import OperationalError
from django.http import Http404, HttpResponse
from django.test import RequestFactory
from rest_framework import exceptions

from galaxyco import views
from galaxyco.api import exception_handler
from galaxyco.errors import (
    AppError,
    Conflict,
    ErrorCode,
    NotFound,
    PermanentError,
    ReauthRequired,
    RefusedInput,
    RetryableError,
    StepGaveUp,
    error_payload,
    message_for_page,
)
from galaxyco.middleware import AppErrorPageMiddleware
from integrations.google import errors as google_errors
from integrations.tests.google_grants import connect
from workflows import engine
from workflows.tests.helpers import create_workflow, execute

ADA = {"name": "Ada <Lovelace>", "email": "ada@example.com"}

ROOT = Path(__file__).resolve().parents[2]
# The project package and every Django app of ours (a folder with apps.py), new ones included.
APP_PACKAGES = ["galaxyco", *sorted(path.parent.name for path in ROOT.glob("*/apps.py"))]

MAPPED = [
    (ReauthRequired(), 409, ErrorCode.REAUTH_REQUIRED),
    (NotFound("That workflow is gone."), 404, ErrorCode.NOT_FOUND),
    (Http404(), 404, ErrorCode.NOT_FOUND),
    (PermissionDenied(), 403, ErrorCode.FORBIDDEN),
    (RequestDataTooBig(), 413, ErrorCode.REQUEST_TOO_LARGE),
    (RefusedInput("No NUL, please."), 400, ErrorCode.MALFORMED_REQUEST),
    (BadRequest(), 400, ErrorCode.BAD_REQUEST),
    (OperationalError("server closed the connection"), 503, ErrorCode.DATABASE_UNAVAILABLE),
    (exceptions.ValidationError({"name": ["Required."]}), 400, ErrorCode.INVALID),
    (exceptions.NotAuthenticated(), 401, ErrorCode.NOT_AUTHENTICATED),
    (exceptions.Throttled(wait=7), 429, ErrorCode.RATE_LIMITED),
    (exceptions.UnsupportedMediaType("text/plain"), 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
    (KeyError("anything we did not expect"), 500, ErrorCode.SERVER_ERROR),
]


@pytest.mark.parametrize(("exc", "status", "code"), MAPPED, ids=lambda value: type(value).__name__)
def test_error_payload_maps_each_exception_to_status_code_and_message(exc, status, code):
    payload = error_payload(exc, request_id="req-1")
    assert (payload.status, payload.code) == (status, code)
    assert payload.message.endswith(".")
    body = payload.body
    assert body["success"] is False
    assert body["error"]["code"] == code.value
    assert body["error"]["request_id"] == "req-1"
    assert json.loads(json.dumps(body))["error"]["code"] == code.value


def test_an_app_errors_own_message_and_details_are_kept():
    payload = error_payload(
        AppError("Pick another name.", code=ErrorCode.CONFLICT, status=409, details={"field": "name"}),
        request_id=None,
    )
    assert payload.message == "Pick another name."
    assert payload.body["error"]["field"] == "name"


def test_throttled_answers_retry_after():
    assert error_payload(exceptions.Throttled(wait=7), request_id=None).headers == {"Retry-After": "7"}


@pytest.mark.parametrize(("exc", "status", "code"), MAPPED, ids=lambda value: type(value).__name__)
def test_the_api_handler_and_the_error_views_answer_the_same(exc, status, code, rf_api_request):
    api_response = exception_handler(exc, {"view": None})
    assert (api_response.status_code, api_response.data["error"]["code"]) == (status, code)
    if isinstance(exc, exceptions.APIException | KeyError):
        return  # only DRF views raise these; Django never hands them to the error views
    view_response = views.bad_request(rf_api_request, exc)
    assert view_response.status_code == status
    assert json.loads(view_response.content)["error"]["code"] == code


@pytest.mark.django_db
def test_pages_show_the_mapped_message_for_app_and_database_errors(rf):
    middleware = AppErrorPageMiddleware(lambda request: HttpResponse())
    request = rf.get("/w/acme/")
    page = middleware.process_exception(request, OperationalError("gone"))
    assert page is not None and page.status_code == 503
    assert error_payload(OperationalError(), request_id=None).message in page.content.decode()
    page = middleware.process_exception(request, NotFound("That workflow is gone."))
    assert page is not None and page.status_code == 404
    assert "That workflow is gone." in page.content.decode()
    assert middleware.process_exception(request, KeyError("x")) is None


@pytest.fixture
def rf_api_request():
    return RequestFactory().get("/api/workspaces/")


def _app_sources() -> list[Path]:
    return [
        path
        for package in APP_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "tests" not in path.parts and "migrations" not in path.parts
    ]


# A provider's own error vocabulary, kept as that provider spells it (Sidemail's errorCode values).
PROVIDER_VOCABULARY = {Path("integrations/sidemail/api_client.py")}


def _literal_codes() -> list[str]:
    """Every place app code writes an error code as a string literal: `code="..."` in a call,
    `code = "..."` on a class, `"code": "..."` in a dict."""
    found = []
    for path in _app_sources():
        if path.relative_to(ROOT) in PROVIDER_VOCABULARY:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            pairs: list[tuple[str, ast.AST]] = []
            if isinstance(node, ast.Call):
                pairs = [(kw.arg or "", kw.value) for kw in node.keywords]
            elif isinstance(node, ast.Assign):
                pairs = [(t.id, node.value) for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.Dict):
                pairs = [
                    (k.value, v)
                    for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant) and isinstance(k.value, str)
                ]
            for name, value in pairs:
                if name in {"code", "error_code"} and isinstance(value, ast.Constant) and value.value:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {value.value!r}")
    return found


def test_no_app_code_writes_an_error_code_as_a_string():
    assert _literal_codes() == []


def test_every_error_code_is_used_by_the_app():
    source = "\n".join(path.read_text() for path in _app_sources())
    unused = [code.name for code in ErrorCode if f"ErrorCode.{code.name}" not in source]
    assert unused == []


def test_the_openapi_error_shape_lists_every_error_code(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert schema["components"]["schemas"]["ErrorCodeEnum"]["enum"] == [code.value for code in ErrorCode]
    error = schema["components"]["schemas"]["Error"]["properties"]["code"]
    assert "ErrorCodeEnum" in json.dumps(error)


@pytest.fixture
def gmail(google, workspace, member):
    return connect(google, workspace=workspace, user=member, email="sender@gmail.test")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"status": 500, "count": 5}, ErrorCode.PROVIDER_UNAVAILABLE),
        ({"status": 429, "count": 1, "retry_after": 7200}, ErrorCode.RATE_LIMITED),
    ],
    ids=["attempts-exhausted", "retry-after-too-long"],
)
def test_a_step_that_gave_up_is_a_permanent_error_that_keeps_its_code(
    google, gmail, workspace, key_client, monkeypatch, fault, code
):
    finished: list[Exception | None] = []
    finish_step = engine._finish_step

    def spy(**kwargs):
        finished.append(kwargs.get("error"))
        return finish_step(**kwargs)

    monkeypatch.setattr(engine, "_finish_step", spy)
    google.state.add_fault("gmail.send", **fault)
    body = execute(key_client, workspace, create_workflow(key_client, workspace), ADA).json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    (gave_up,) = finished
    assert isinstance(gave_up, StepGaveUp) and isinstance(gave_up, PermanentError)
    assert not isinstance(gave_up, RetryableError) and gave_up.status != 503
    assert gave_up.code == code


def test_a_page_shows_a_caught_errors_message_and_answers_not_found_with_the_404_page():
    assert message_for_page(Conflict("Turn the workflow on first.")) == "Turn the workflow on first."
    gone = NotFound("That endpoint was deleted.")
    with pytest.raises(NotFound) as raised:
        message_for_page(gone)
    assert raised.value is gone


def _token_response(status: int, body: dict) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    return response


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (400, {"error": "invalid_grant"}, ReauthRequired, ErrorCode.REAUTH_REQUIRED),
        (503, {}, RetryableError, ErrorCode.PROVIDER_UNAVAILABLE),
        (400, {"error": "invalid_client"}, PermanentError, ErrorCode.TOKEN_REFRESH_FAILED),
    ],
)
def test_googles_token_answers_are_translated_in_its_package(status, body, expected, code):
    error = google_errors.from_token_response(_token_response(status, body))
    assert isinstance(error, expected) and error.code == code
