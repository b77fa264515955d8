"""allauth hooks: a completed Google consent becomes an integration, never a login.

The connect intent (workspace and type) travels inside allauth's one-shot state, so it
cannot be replayed or forged. Every outcome lands on the integrations page with a message.
"""

import logging
from datetime import timedelta
from typing import Any

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from allauth.socialaccount.providers.base import AuthError
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone

from galaxyco.errors import AppError, ErrorCode, NotFound, ScopeNotGranted
from integrations import services
from integrations.google.oauth.views import READ_ACCESS_INTENT
from integrations.google.scopes import GMAIL_READONLY
from integrations.models import Integration, IntegrationType
from workspaces.models import Workspace
from workspaces.selectors import workspaces_for_user

logger = logging.getLogger(__name__)

PENDING_CONNECT_SESSION_KEY = "integrations_pending_connect"


def _integrations_page(request: HttpRequest, intent: dict[str, Any] | None) -> str:
    """Where every outcome lands: the Integrations page of the intent's workspace, else of the last
    one a connect started from (a reused consent link has no intent left), else of the person's
    first workspace; home only for someone with no workspace (or not signed in)."""
    slug = None
    if intent and intent.get("workspace_id"):
        workspace = Workspace.objects.filter(pk=intent["workspace_id"]).first()
        slug = workspace.slug if workspace else None
    slug = slug or request.session.get(PENDING_CONNECT_SESSION_KEY)
    if not slug:
        first = workspaces_for_user(user=request.user).first()
        slug = first.slug if first else None
    return reverse("integrations_page", kwargs={"slug": slug}) if slug else reverse("home")


def connected_message(*, kind: IntegrationType, integration: Integration) -> str:
    if integration.is_default:
        sharing = "It is shared with the workspace and is its default."
    elif integration.shared:
        sharing = "It is shared with the workspace."
    else:
        sharing = "It is private: only your runs send from it."
    return f"{kind.label} connected as {integration.email}. {sharing}"


class IntegrationSocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return False

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        intent = (sociallogin.state or {}).get("data") or {}
        target = _integrations_page(request, intent)
        if not intent.get("integration_type") or not request.user.is_authenticated:
            logger.warning(
                "Google consent completed without a connect intent", extra={"event": "connect_rejected"}
            )
            messages.error(request, "Google is used to connect Gmail and Calendar, not to log in.")
            raise ImmediateHttpResponse(HttpResponseRedirect(target))

        kind = IntegrationType(intent["integration_type"])
        token = sociallogin.token
        extra = sociallogin.account.extra_data or {}
        grant = services.GoogleGrant(
            account_id=str(sociallogin.account.uid),
            email=extra.get("email", ""),
            display_name=extra.get("name", ""),
            access_token=token.token,
            refresh_token=token.token_secret or "",
            expires_at=token.expires_at or timezone.now() + timedelta(hours=1),
            granted_scopes=getattr(sociallogin, "granted_scopes", []),
        )
        workspace = Workspace.objects.filter(pk=int(intent.get("workspace_id") or 0)).first()
        if intent.get(READ_ACCESS_INTENT):
            self._grant_read_access(
                request, user=request.user, workspace=workspace, intent=intent, grant=grant, fallback=target
            )
        try:
            if workspace is None:
                raise NotFound("That workspace no longer exists, so nothing was connected.")
            integration = services.connect_google_integration(
                workspace=workspace,
                user=request.user,
                integration_type=kind,
                grant=grant,
                share=intent.get("share") is True,
            )
        except AppError as error:
            logger.warning(
                "Google connection not saved: %s",
                error.code,
                extra={"event": "connect_failed", "integration_type": kind.value, "error_code": error.code},
            )
            messages.error(request, error.message)
        else:
            messages.success(request, connected_message(kind=kind, integration=integration))
        # The workspace stays in the session: a reused consent link lands on its page too.
        raise ImmediateHttpResponse(HttpResponseRedirect(target))

    def _grant_read_access(
        self,
        request: HttpRequest,
        *,
        user: User,
        workspace: Workspace | None,
        intent: dict[str, Any],
        grant: services.GoogleGrant,
        fallback: str,
    ) -> None:
        """Incremental consent for a Gmail trigger: the same account's integration gains read
        access (its scopes and token are updated); never a new integration."""
        target = str(intent.get("next_url") or fallback)
        integration = (
            Integration.objects.for_workspace(workspace).filter(pk=int(intent[READ_ACCESS_INTENT])).first()
            if workspace is not None
            else None
        )
        try:
            if integration is None:
                raise NotFound("That Gmail account is no longer connected, so nothing was changed.")
            if grant.account_id != integration.provider_account_id:
                raise ScopeNotGranted(
                    f"You chose a different Google account. Choose {integration.email} to let "
                    "GalaxyCo read that mailbox.",
                    code=ErrorCode.WRONG_ACCOUNT,
                )
            if GMAIL_READONLY not in grant.granted_scopes:
                raise ScopeNotGranted(
                    "You did not allow GalaxyCo to read this mailbox, so the trigger cannot see new "
                    "email. Try again and leave “Read your email” ticked on Google's consent screen."
                )
            services.connect_google_integration(
                workspace=integration.workspace,
                user=user,
                integration_type=integration.type,
                grant=grant,
            )
        except AppError as error:
            logger.warning(
                "Read access not granted: %s",
                error.code,
                extra={"event": "read_access_failed", "error_code": error.code},
            )
            messages.error(request, error.message)
        else:
            messages.success(
                request,
                f"GalaxyCo may now read {integration.email}: the trigger starts checking it within a minute.",
            )
        raise ImmediateHttpResponse(HttpResponseRedirect(target))

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: Any = None,
        exception: Exception | None = None,
        extra_context: dict[str, Any] | None = None,
    ) -> None:
        extra_context = extra_context or {}
        state = extra_context.get("state")
        intent = (state or {}).get("data") if isinstance(state, dict) else None
        if error == AuthError.CANCELLED:
            code, message = (
                ErrorCode.CONSENT_DENIED,
                "You declined Google's consent screen, so nothing was connected.",
            )
        elif state is None:
            code = ErrorCode.STATE_INVALID
            message = (
                "We could not verify that Google sign-in (the link expired or was already used), "
                "so nothing was connected. Please start again with the Connect button."
            )
        else:
            code = ErrorCode.CONNECTION_FAILED
            message = (
                "Google did not complete the connection, so nothing was saved. Please try again in a moment."
            )
        logger.warning(
            "Google connection failed: %s",
            code,
            extra={
                "event": "connect_failed",
                "error_code": code,
                "allauth_error": str(error),
                "exception": type(exception).__name__ if exception else None,
                "integration_type": (intent or {}).get("integration_type"),
            },
        )
        messages.error(request, message)
        target = _integrations_page(request, intent)
        raise ImmediateHttpResponse(HttpResponseRedirect(target))
