"""Valid Google credentials for an integration, refreshed when they expire within 5 minutes.

The refresh happens under a row lock on the token and re-checks after taking it, so any
number of concurrent workers cause one refresh: the others find the new token and use it.
"""

import logging
from datetime import UTC, timedelta

from django.db import transaction
from django.utils import timezone
from google.oauth2.credentials import Credentials

from galaxyco import context
from galaxyco.errors import IntegrationNotConnected, ReauthRequired
from integrations.google import oauth_client
from integrations.models import Integration, IntegrationStatus, OAuthToken
from integrations.services import mark_reauth_required, record_refresh

logger = logging.getLogger(__name__)

REFRESH_MARGIN = timedelta(minutes=5)


def _as_credentials(token: OAuthToken) -> Credentials:
    # google-auth compares `expiry` with a naive UTC datetime.
    expiry = token.expires_at.astimezone(UTC).replace(tzinfo=None)
    return Credentials(token=token.access_token, expiry=expiry, scopes=token.scope.split() or None)


def _fresh_enough(token: OAuthToken) -> bool:
    return token.expires_at - timezone.now() > REFRESH_MARGIN


def _reauth_message(integration: Integration) -> str:
    return (
        f"The {integration.get_type_display()} connection for {integration.email} expired or was "
        "revoked. Reconnect it on the Integrations page."
    )


def _ensure_usable(integration: Integration) -> None:
    if integration.status == IntegrationStatus.REAUTH_REQUIRED:
        raise ReauthRequired(_reauth_message(integration))
    if integration.status == IntegrationStatus.DISCONNECTED:
        raise IntegrationNotConnected(
            f"{integration.get_type_display()} ({integration.email}) was disconnected. "
            "Connect it again on the Integrations page."
        )


def _token_of(integration: Integration) -> OAuthToken | None:
    """The integration's token: no query when the caller used select_related("token")."""
    try:
        return integration.token
    except OAuthToken.DoesNotExist:
        return None


def credentials_for(*, integration: Integration) -> Credentials:
    _ensure_usable(integration)
    token = _token_of(integration)
    if token is None:
        raise IntegrationNotConnected()
    if _fresh_enough(token):
        return _as_credentials(token)
    return refresh_credentials(integration=integration)


def _already_refreshed(token: OAuthToken, rejected_token: str | None) -> bool:
    if rejected_token is not None:  # Google answered 401 to it: has the stored token changed since?
        return token.access_token != rejected_token
    return _fresh_enough(token)


def refresh_credentials(
    *, integration: Integration, rejected_token: str | None = None, force: bool = False
) -> Credentials:
    """Refresh unless another worker already did (checked after taking the lock).

    Only the token row is locked here. The integration row is written after that lock is
    released: connect and disconnect lock the integration first and the token second, and
    taking them the other way round here could deadlock with them.
    """
    context.bind(integration_id=integration.pk)
    grant_lost = False
    with transaction.atomic():
        token = OAuthToken.objects.select_for_update().filter(integration_id=integration.pk).first()
        if token is None:
            raise IntegrationNotConnected()
        if not force and _already_refreshed(token, rejected_token):
            return _as_credentials(token)
        try:
            refreshed = oauth_client.refresh_access_token(refresh_token=token.refresh_token)
        except ReauthRequired:
            grant_lost = True
        else:
            token.access_token = refreshed.access_token
            token.expires_at = refreshed.expires_at
            if refreshed.refresh_token:  # Google usually sends none: keep the one we have.
                token.refresh_token = refreshed.refresh_token
            if refreshed.scope:
                token.scope = refreshed.scope
            token.save(update_fields=["access_token", "refresh_token", "expires_at", "scope", "updated_at"])
    if grant_lost:
        error = ReauthRequired(_reauth_message(integration))
        mark_reauth_required(integration=integration, error=error, token_updated_at=token.updated_at)
        logger.warning(
            "Google refused the refresh token: the grant is gone", extra={"event": "reauth_required"}
        )
        raise error
    record_refresh(integration=integration)
    logger.info("Access token refreshed", extra={"event": "token_refreshed"})
    return _as_credentials(token)
