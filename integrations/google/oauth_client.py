"""Google's token endpoint (refresh) and revoke endpoint; integrations.google.errors says what
a failure means."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.utils import timezone

from galaxyco.errors import ErrorCode
from integrations.google import errors as google_errors

logger = logging.getLogger(__name__)

# One pooled session per process: keep-alive to Google's token endpoint.
_session = requests.Session()


@dataclass(frozen=True)
class RefreshedToken:
    access_token: str
    expires_at: datetime
    refresh_token: str | None
    scope: str | None


def refresh_access_token(*, refresh_token: str) -> RefreshedToken:
    try:
        response = _session.post(
            settings.GOOGLE_OAUTH_TOKEN_URL,
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": settings.GOOGLE_CLIENT_ID,
                "client_secret": settings.GOOGLE_CLIENT_SECRET,
            },
            timeout=settings.GOOGLE_HTTP_TIMEOUT,
        )
    except requests.RequestException as exc:
        raise google_errors.token_service_unreachable(exc) from exc

    if response.status_code == 200:
        data = response.json()
        return RefreshedToken(
            access_token=data["access_token"],
            expires_at=timezone.now() + timedelta(seconds=int(data.get("expires_in", 3600))),
            refresh_token=data.get("refresh_token"),
            scope=data.get("scope"),
        )
    error = google_errors.from_token_response(response)
    if error.code == ErrorCode.TOKEN_REFRESH_FAILED:
        logger.error(
            "Google's token endpoint refused a refresh: status %s, error %s",
            response.status_code,
            google_errors.token_error_code(response),
        )
    raise error


def revoke_token(*, token: str) -> bool:
    """Revoke a grant at Google. True when revoked (or already gone), False when Google was unreachable."""
    try:
        response = _session.post(
            settings.GOOGLE_OAUTH_REVOKE_URL, data={"token": token}, timeout=settings.GOOGLE_HTTP_TIMEOUT
        )
    except requests.RequestException as exc:
        logger.warning("Could not reach Google to revoke a token: %s", type(exc).__name__)
        return False
    if response.status_code == 200 or google_errors.token_error_code(response) == "invalid_token":
        return True
    logger.warning("Google did not revoke a token: status %s", response.status_code)
    return False
