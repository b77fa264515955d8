import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.test import Client
from rest_framework.exceptions import ValidationError

from galaxyco import context
from galaxyco.api import exception_handler
from galaxyco.errors import ReauthRequired
from galaxyco.logging import JsonFormatter, RequestContextFilter, SecretsFilter

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, "READ_DOT_ENV": "false", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_healthz(db):
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_the_database(db):
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok"}


def test_production_refuses_to_start_without_secrets():
    result = manage("check", env={"DEBUG": "false"})
    assert result.returncode != 0
    assert "set SECRET_KEY, ALLOWED_HOSTS, TOKEN_ENCRYPTION_KEYS" in result.stderr


def test_check_deploy_is_clean_under_production_settings():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={
            "DEBUG": "false",
            "SECRET_KEY": Fernet.generate_key().decode() * 2,
            "ALLOWED_HOSTS": "app.galaxyco.example",
            "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        },
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_unknown_pages_use_the_layout():
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    assert 'class="topbar"' in response.content.decode()


@pytest.mark.django_db
def test_unknown_api_urls_answer_json():
    response = Client().get("/api/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_unexpected_api_error_is_logged_and_answered_generically(caplog):
    with caplog.at_level(logging.ERROR):
        response = exception_handler(RuntimeError("SELECT secret FROM tokens"), {"view": None})
    assert response.status_code == 500
    assert response.data["error"]["code"] == "server_error"
    assert "SELECT" not in json.dumps(response.data)
    assert "SELECT secret" in caplog.text


def test_app_errors_and_validation_errors_use_the_one_shape():
    response = exception_handler(ReauthRequired(), {})
    assert response.status_code == 409
    assert response.data["error"]["code"] == "reauth_required"
    assert "Reconnect it on the Integrations page" in response.data["error"]["message"]
    invalid = exception_handler(ValidationError({"name": ["This field is required."]}), {})
    assert invalid.status_code == 400
    assert invalid.data["error"]["fields"] == {"name": ["This field is required."]}


def test_log_lines_are_json_with_context_and_without_secrets():
    context.clear()
    context.bind(request_id="req-1", user_id=7, workspace_id=3)
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "refreshing with %s", ("ya29.a0AfH6SMB-secret",), None
    )
    RequestContextFilter().filter(record)
    SecretsFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    context.clear()
    assert line["request_id"] == "req-1"
    assert line["user_id"] == 7
    assert line["workspace_id"] == 3
    assert "secret" not in line["message"]
    assert "ya29.[redacted]" in line["message"]
