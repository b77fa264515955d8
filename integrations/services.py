import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from galaxyco import context
from galaxyco.errors import (
    AppError,
    ConnectionFailed,
    ErrorCode,
    Forbidden,
    InvalidInput,
    NotFound,
    ScopeNotGranted,
)
from integrations.google import oauth_client
from integrations.google.scopes import PERMISSION_LABEL, REQUIRED_SCOPE
from integrations.models import Integration, IntegrationStatus, IntegrationType, OAuthToken, SidemailAccount
from integrations.selectors import get_integration, may_manage_integration
from integrations.sidemail.api_client import SidemailClient, SidemailError
from workspaces.models import Workspace
from workspaces.permissions import Action, ensure, may
from workspaces.selectors import membership_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GoogleGrant:
    """What one completed consent gave us."""

    account_id: str
    email: str
    display_name: str
    access_token: str
    refresh_token: str
    expires_at: datetime
    granted_scopes: list[str]


def first_shared_account_would_be_default(*, workspace: Workspace, integration_type: str, role: str) -> bool:
    """Whether connecting an account of this type now would share it and make it the default by
    default: the workspace has no shared account of the type yet and the person is an owner or admin."""
    no_shared_yet = (
        not Integration.objects.for_workspace(workspace)
        .filter(type=integration_type, shared=True)
        .exclude(status=IntegrationStatus.DISCONNECTED)
        .exists()
    )
    return no_shared_yet and may(role, Action.MANAGE_ANY_CONNECTION)


@transaction.atomic
def connect_google_integration(
    *, workspace: Workspace, user: User, integration_type: str, grant: GoogleGrant, share: bool = False
) -> Integration:
    """Create or update the integration for this account and store its tokens, in one transaction.

    A new connection (or one reconnected after a disconnect) is shared if the person chose so, and
    becomes the workspace's default when it is the type's first shared account and they are an
    owner or admin. Reconnecting a live account keeps its settings."""
    kind = IntegrationType(integration_type)
    membership = membership_for(user=user, workspace=workspace)
    if membership is None:
        raise NotFound()
    ensure(role=membership.role, action=Action.MANAGE_OWN_CONNECTIONS)
    if REQUIRED_SCOPE[kind] not in grant.granted_scopes:
        raise ScopeNotGranted(
            f"You did not allow “{PERMISSION_LABEL[kind]}”, so {kind.label} was not connected. "
            "Connect again and leave that permission ticked on Google's consent screen."
        )
    if not grant.refresh_token:
        raise ConnectionFailed(
            f"Google did not give GalaxyCo lasting access, so {kind.label} was not connected. "
            "Remove GalaxyCo from your Google Account's third-party access, then connect again.",
            code=ErrorCode.NO_REFRESH_TOKEN,
        )
    now = timezone.now()
    previous = (
        Integration.objects.for_workspace(workspace)
        .select_for_update()
        .filter(provider="google", type=kind, provider_account_id=grant.account_id)
        .first()
    )
    fresh = previous is None or previous.status == IntegrationStatus.DISCONNECTED
    sharing = {}
    if fresh:
        becomes_default = share and first_shared_account_would_be_default(
            workspace=workspace, integration_type=kind, role=membership.role
        )
        sharing = {"shared": share, "is_default": becomes_default}
    integration, created = (
        Integration.objects.for_workspace(workspace)
        .select_for_update()
        .update_or_create(
            workspace=workspace,
            provider="google",
            type=kind,
            provider_account_id=grant.account_id,
            defaults={
                "connected_by": user,
                "status": IntegrationStatus.ACTIVE,
                "email": grant.email,
                "display_name": grant.display_name,
                "scopes": sorted(set(grant.granted_scopes)),
                "connected_at": now,
                "last_refreshed_at": now,
                "last_error_code": "",
                "last_error_message": "",
                "last_error_at": None,
                **sharing,
            },
        )
    )
    OAuthToken.objects.for_workspace(workspace).update_or_create(
        integration=integration,
        defaults={
            "workspace": workspace,
            "access_token": grant.access_token,
            "refresh_token": grant.refresh_token,
            "expires_at": grant.expires_at,
            "scope": " ".join(sorted(set(grant.granted_scopes))),
        },
    )
    context.bind(integration_id=integration.pk)
    logger.info(
        "Integration %s",
        "connected" if created else "reconnected",
        extra={"integration_type": kind.value, "event": "integration_connected"},
    )
    return integration


def _sidemail_account_id(*, api_key: str, from_address: str) -> str:
    """The account a key and from-address make: a digest, so the key itself is never an identifier."""
    return hashlib.sha256(f"{api_key}\n{from_address.lower()}".encode()).hexdigest()


def connect_sidemail_integration(
    *,
    workspace: Workspace,
    user: User,
    api_key: str,
    from_address: str,
    share: bool = False,
    client: SidemailClient | None = None,
) -> Integration:
    """Check the key with one call to Sidemail, then save the workspace's Sidemail account with its
    key and from-address encrypted. A refused key saves nothing and says Sidemail's reason.
    Sharing and the default follow the rules of a Google connection."""
    membership = membership_for(user=user, workspace=workspace)
    if membership is None:
        raise NotFound()
    ensure(role=membership.role, action=Action.MANAGE_OWN_CONNECTIONS)
    try:
        (client or SidemailClient(api_key=api_key)).check_key()
    except SidemailError as error:
        if error.retryable:
            raise AppError(
                "Sidemail could not be reached to check the API key, so nothing was saved. "
                "Try again in a minute.",
                code=ErrorCode.SIDEMAIL_UNAVAILABLE,
                status=503,
            ) from error
        raise InvalidInput(
            f"Sidemail refused this API key, so nothing was saved: {error.message}",
            code=ErrorCode.SIDEMAIL_KEY_REFUSED,
            details={"fields": {"api_key": [error.message]}},
        ) from error
    with transaction.atomic():
        account_id = _sidemail_account_id(api_key=api_key, from_address=from_address)
        previous = (
            Integration.objects.for_workspace(workspace)
            .select_for_update()
            .filter(provider="sidemail", type=IntegrationType.SIDEMAIL, provider_account_id=account_id)
            .first()
        )
        sharing = {}
        if previous is None or previous.status == IntegrationStatus.DISCONNECTED:
            becomes_default = share and first_shared_account_would_be_default(
                workspace=workspace, integration_type=IntegrationType.SIDEMAIL, role=membership.role
            )
            sharing = {"shared": share, "is_default": becomes_default}
        now = timezone.now()
        integration, created = Integration.objects.for_workspace(workspace).update_or_create(
            workspace=workspace,
            provider="sidemail",
            type=IntegrationType.SIDEMAIL,
            provider_account_id=account_id,
            defaults={
                "connected_by": user,
                "status": IntegrationStatus.ACTIVE,
                # The from-address is the account's public name (it heads every email it sends).
                "email": from_address,
                "display_name": "",
                "scopes": [],
                "connected_at": now,
                "last_error_code": "",
                "last_error_message": "",
                "last_error_at": None,
                **sharing,
            },
        )
        SidemailAccount.objects.for_workspace(workspace).update_or_create(
            integration=integration,
            defaults={"workspace": workspace, "api_key": api_key, "from_address": from_address},
        )
    context.bind(integration_id=integration.pk)
    logger.info(
        "Integration %s",
        "connected" if created else "reconnected",
        extra={"integration_type": IntegrationType.SIDEMAIL.value, "event": "integration_connected"},
    )
    return integration


def _get_for_update(*, workspace: Workspace, integration_id: int) -> Integration:
    integration = (
        Integration.objects.for_workspace(workspace).select_for_update().filter(pk=integration_id).first()
    )
    if integration is None:
        raise NotFound()
    return integration


@dataclass(frozen=True)
class Disconnection:
    integration: Integration
    # "revoked", "kept" (other connections of the same Google account use the grant),
    # "unreachable" (Google could not be reached; the grant lapses when it goes unused),
    # "not_applicable" (a Sidemail key: GalaxyCo forgets it; Sidemail has no revoke call).
    revocation: str

    @property
    def message(self) -> str:
        label = f"{self.integration.get_type_display()} ({self.integration.email})"
        if self.revocation == "not_applicable":
            return (
                f"{label} was disconnected and its API key deleted here. The key itself still works at "
                "Sidemail: delete it in Sidemail's dashboard if nothing else should use it."
            )
        if self.revocation == "unreachable":
            return (
                f"{label} was disconnected here, but Google could not be reached to revoke access. "
                "You can remove GalaxyCo in your Google Account's third-party access settings."
            )
        if self.revocation == "kept":
            return f"{label} was disconnected. The account's other GalaxyCo connections keep working."
        return f"{label} was disconnected."


def _detach(*, integration: Integration) -> str:
    """Delete the token and mark the integration disconnected (the caller holds the integration's
    row lock, in a transaction). Returns the token to revoke at Google, or "" when there was none."""
    # Rows of one integration the caller locked inside its workspace.
    token = OAuthToken.objects.unscoped().select_for_update().filter(integration=integration).first()
    secret = (token.refresh_token or token.access_token) if token else ""
    if token is not None:
        token.delete()
    SidemailAccount.objects.unscoped().filter(integration=integration).delete()
    integration.status = IntegrationStatus.DISCONNECTED
    # A disconnected account cannot be the default: steps naming none then ask for a choice.
    integration.is_default = False
    integration.save(update_fields=["status", "is_default", "updated_at"])
    return secret


def _revoke_unless_used(*, integration: Integration, secret: str) -> str:
    """Revoke the grant at Google unless another connection of the same Google account still
    uses it. Never inside a transaction: it is an HTTP call. A Sidemail key has nothing to revoke."""
    # Across workspaces on purpose: only whether the same Google account is still connected anywhere.
    still_used = (
        Integration.objects.unscoped()
        .filter(provider=integration.provider, provider_account_id=integration.provider_account_id)
        .exclude(status=IntegrationStatus.DISCONNECTED)
        .exists()
    )
    if integration.provider != "google":
        revocation = "not_applicable"
    elif not secret:
        revocation = "revoked"
    elif still_used:
        revocation = "kept"
    else:
        revocation = "revoked" if oauth_client.revoke_token(token=secret) else "unreachable"
    logger.info(
        "Integration disconnected",
        extra={
            "event": "integration_disconnected",
            "revocation": revocation,
            "integration_id": integration.pk,
        },
    )
    return revocation


def disconnect_integration(*, workspace: Workspace, integration_id: int) -> Disconnection:
    """Delete the token, mark the integration disconnected, then revoke the grant at Google.

    The local token is deleted whatever Google says: a person who disconnects wants GalaxyCo to
    stop using the account. Google's grant is per account and app, shared by every connection
    of that account (include_granted_scopes), so it is kept while another connection uses it.
    """
    with transaction.atomic():
        integration = _get_for_update(workspace=workspace, integration_id=integration_id)
        secret = _detach(integration=integration)
    context.bind(integration_id=integration.pk)
    return Disconnection(
        integration=integration, revocation=_revoke_unless_used(integration=integration, secret=secret)
    )


def _ensure_may_manage(*, integration: Integration, role: str, user_id: int | None, doing: str) -> None:
    if not may_manage_integration(integration=integration, role=role, user_id=user_id):
        raise Forbidden(
            f"Only the person who connected {integration.get_type_display()} ({integration.email}), "
            f"or a workspace owner or admin, can {doing} it."
        )


def disconnect_integration_as(
    *, workspace: Workspace, integration_id: int, role: str, user_id: int | None
) -> Disconnection:
    """`disconnect_integration` for a request: only the account's owner or an admin may."""
    integration = get_integration(workspace=workspace, integration_id=integration_id)
    if integration is None:
        raise NotFound()
    _ensure_may_manage(integration=integration, role=role, user_id=user_id, doing="disconnect")
    return disconnect_integration(workspace=workspace, integration_id=integration_id)


@transaction.atomic
def update_integration_sharing(
    *,
    workspace: Workspace,
    integration_id: int,
    role: str,
    user_id: int | None,
    shared: bool | None = None,
    is_default: bool | None = None,
) -> Integration:
    """Share or unshare an account, or make it the workspace's default of its type (the owner of
    the account or an admin). Unsharing the default clears the default; a private account cannot
    be the default. Taking the default from another account is one transaction, under row locks."""
    integration = _get_for_update(workspace=workspace, integration_id=integration_id)
    _ensure_may_manage(integration=integration, role=role, user_id=user_id, doing="change")
    label = f"{integration.get_type_display()} account {integration.email}"
    if integration.status == IntegrationStatus.DISCONNECTED and (shared or is_default):
        raise InvalidInput(f"The {label} is disconnected. Connect it again first.")
    if shared is not None:
        integration.shared = shared
        if not shared:
            integration.is_default = False
    if is_default is not None:
        if is_default and not integration.shared:
            raise InvalidInput(
                f"The {label} is private, so it cannot be the workspace's default. Share it with the "
                "workspace first (or in the same request)."
            )
        if is_default:
            # Lock order: the account being changed, then the one that loses the default.
            Integration.objects.for_workspace(workspace).select_for_update().filter(
                type=integration.type, is_default=True
            ).exclude(pk=integration.pk).update(is_default=False)
        integration.is_default = is_default
    integration.save(update_fields=["shared", "is_default", "updated_at"])
    context.bind(integration_id=integration.pk)
    logger.info(
        "Integration sharing changed",
        extra={
            "event": "integration_sharing_changed",
            "shared": integration.shared,
            "is_default": integration.is_default,
        },
    )
    return integration


def disconnect_integrations_of(*, user_id: int, workspace: Workspace | None = None) -> list[Integration]:
    """Make every account this person connected (in `workspace`, or everywhere) unusable at once:
    their member left, or their user is being deleted. Joins the caller's transaction; the grants
    are revoked at Google (where no other connection uses them) once it commits."""
    with transaction.atomic():
        # Every workspace unless one is given: a deleted user's accounts go wherever they are.
        found = Integration.objects.unscoped().select_for_update().filter(connected_by_id=user_id)
        if workspace is not None:
            found = found.for_workspace(workspace)
        detached = [
            (integration, _detach(integration=integration))
            for integration in found.exclude(status=IntegrationStatus.DISCONNECTED).order_by("pk")
        ]

        def revoke() -> None:
            revoked_accounts: set[tuple[str, str]] = set()
            for integration, secret in detached:
                account = (integration.provider, integration.provider_account_id)
                if account in revoked_accounts:
                    continue  # one grant per Google account: revoking one token revokes them all
                if _revoke_unless_used(integration=integration, secret=secret) == "revoked":
                    revoked_accounts.add(account)

        transaction.on_commit(revoke)
    return [integration for integration, _ in detached]
