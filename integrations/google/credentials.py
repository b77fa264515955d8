"""Valid Google credentials for an integration, refreshed when they expire within 5 minutes.

No transaction or row lock is held while Google is called: on SQLite that would stop every
writer in the app until Google answered. The refresher leases the token row with one
conditional UPDATE, calls Google, and saves the new token only if it still holds the lease.
Workers that find a live lease wait for the holder's token, so any number of concurrent
workers cause one refresh.
"""

import logging
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from google.oauth2.credentials import Credentials

from galaxyco import context
from galaxyco.errors import IntegrationNotConnected, ReauthRequired
from integrations import health
from integrations.google import errors as google_errors
from integrations.google import oauth_client
from integrations.models import Integration, IntegrationStatus, OAuthToken

logger = logging.getLogger(__name__)

REFRESH_MARGIN = timedelta(minutes=5)


def _as_credentials(token: OAuthToken) -> Credentials:
    return _credentials(access_token=token.access_token, expires_at=token.expires_at, scope=token.scope)


def _credentials(*, access_token: str, expires_at: datetime, scope: str) -> Credentials:
    # google-auth compares `expiry` with a naive UTC datetime.
    expiry = expires_at.astimezone(UTC).replace(tzinfo=None)
    return Credentials(token=access_token, expiry=expiry, scopes=scope.split() or None)


def _fresh_enough(token: OAuthToken) -> bool:
    return token.expires_at - timezone.now() > REFRESH_MARGIN


def _ensure_usable(integration: Integration) -> None:
    if integration.status == IntegrationStatus.REAUTH_REQUIRED:
        raise google_errors.reauth_required(integration)
    if integration.status == IntegrationStatus.DISCONNECTED:
        raise google_errors.disconnected(integration)


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


def _already_refreshed(token: OAuthToken, stale_token: str | None) -> bool:
    if stale_token is not None:  # has the stored token changed since it was found wanting?
        return token.access_token != stale_token
    return _fresh_enough(token)


def _lease_length() -> timedelta:
    # requests applies its timeout to connecting and to reading, each: twice it, and a margin.
    return timedelta(seconds=2 * settings.GOOGLE_HTTP_TIMEOUT + 5)


def _load_token(integration: Integration) -> OAuthToken:
    # The token row of an integration the caller loaded inside its workspace (and updates by id below).
    token = (
        OAuthToken.objects.unscoped()
        .select_related("integration")
        .filter(integration_id=integration.pk)
        .first()
    )
    if token is None:
        raise IntegrationNotConnected()
    return token


def _take_lease(token: OAuthToken, *, waited_on: datetime | None) -> datetime | None:
    """Lease the row for one refresh unless a live lease is held or the row changed since read.
    A worker that `waited_on` another's lease takes over only that lease, once it ran out: a
    lease released meanwhile means its holder gave up, not that the row is free.

    A queryset update leaves `updated_at` alone: it still tells a reconnect from a lease.
    """
    now = timezone.now()
    lease = now + _lease_length()
    if waited_on is None:
        free = Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lt=now)
    else:
        free = Q(refresh_lease_until=waited_on, refresh_lease_until__lt=now)
    taken = (
        OAuthToken.objects.unscoped()
        .filter(free, pk=token.pk, updated_at=token.updated_at)
        .update(refresh_lease_until=lease)
    )
    return lease if taken else None


def _release_lease(token: OAuthToken, lease: datetime) -> None:
    OAuthToken.objects.unscoped().filter(pk=token.pk, refresh_lease_until=lease).update(
        refresh_lease_until=None
    )


def _lease_or_refreshed_token(
    integration: Integration, rejected_token: str | None, force: bool
) -> tuple[OAuthToken, datetime | None]:
    """The token row and this worker's lease on it; no lease when another worker refreshed it.

    A worker that finds a live lease polls the row until the holder saves its token. If the
    holder gives up instead (Google failed), so does the worker, without calling Google again;
    if the lease runs out (its holder died), the worker takes over.
    """
    token = _load_token(integration)
    stale_token = token.access_token if force else rejected_token
    waiting = False  # on another worker's lease, `lease_seen`
    lease_seen: datetime | None = None
    pause = 0.02
    while True:
        _ensure_usable(token.integration)
        if _already_refreshed(token, stale_token):
            return token, None
        if waiting and (lease_seen is None or token.refresh_lease_until != lease_seen):
            raise google_errors.refresh_abandoned()
        lease = _take_lease(token, waited_on=lease_seen if waiting else None)
        if lease is not None:
            return token, lease
        read, token = token, _load_token(integration)
        if not waiting and token.updated_at == read.updated_at:
            # The row did not change, so the lease went to another worker: wait on the one the
            # row holds now. The row read before the loss may not show it, and if it is already
            # gone without a new token, its holder gave up, and so does this worker.
            waiting, lease_seen = True, token.refresh_lease_until
            continue
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def _saved_since(integration: Integration, token: OAuthToken) -> Credentials | None:
    """The token stored since `token` was leased (a reconnect), if any; raises if disconnected."""
    current = _load_token(integration)
    _ensure_usable(current.integration)
    return None if current.access_token == token.access_token else _as_credentials(current)


def record_rejected(*, integration: Integration, rejected_token: str | None, error: ReauthRequired) -> None:
    """Google refused a token it had just renewed: the person must reconnect, unless the stored
    token is no longer the one refused (a reconnect or another refresh replaced it)."""
    token = OAuthToken.objects.unscoped().filter(integration_id=integration.pk).first()
    if token is not None and token.access_token == rejected_token:
        health.record_reauth_required(
            integration_id=integration.pk, error=error, credentials_generation=token.updated_at
        )


def refresh_credentials(
    *, integration: Integration, rejected_token: str | None = None, force: bool = False
) -> Credentials:
    """Refresh unless another worker already did, or is doing it: then use the token it saves."""
    context.bind(integration_id=integration.pk)
    token, lease = _lease_or_refreshed_token(integration, rejected_token, force)
    if lease is None:
        return _as_credentials(token)
    try:
        refreshed = oauth_client.refresh_access_token(refresh_token=token.refresh_token)
    except ReauthRequired as refused:
        error = google_errors.reauth_required(integration)
        # Marked before the lease is released, so the workers waiting on it see the status.
        health.record_reauth_required(
            integration_id=integration.pk, error=error, credentials_generation=token.updated_at
        )
        _release_lease(token, lease)
        logger.warning(
            "Google refused to renew access: the grant is gone", extra={"event": "reauth_required"}
        )
        replacement = _saved_since(integration, token)
        if replacement is None:
            raise error from refused
        return replacement
    except BaseException:
        _release_lease(token, lease)
        raise
    generation = timezone.now()
    fields = {
        "access_token": refreshed.access_token,
        "expires_at": refreshed.expires_at,
        "refresh_lease_until": None,
        "updated_at": generation,
    }
    if refreshed.refresh_token:  # Google usually sends none: keep the one we have.
        fields["refresh_token"] = refreshed.refresh_token
    if refreshed.scope:
        fields["scope"] = refreshed.scope
    # Not if the lease ran out, or the row was replaced (a reconnect) or deleted (a disconnect).
    saved = (
        OAuthToken.objects.unscoped()
        .filter(pk=token.pk, refresh_lease_until=lease, updated_at=token.updated_at)
        .update(**fields)
    )
    fresh = _credentials(
        access_token=refreshed.access_token,
        expires_at=refreshed.expires_at,
        scope=refreshed.scope or token.scope,
    )
    if not saved:
        return _saved_since(integration, token) or fresh
    health.record_refresh(integration_id=integration.pk, credentials_generation=generation)
    logger.info("Access token refreshed", extra={"event": "token_refreshed"})
    return fresh
