from typing import Any

from allauth.socialaccount.adapter import get_adapter as get_social_adapter
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialLogin
from allauth.socialaccount.providers.google.views import GoogleOAuth2Adapter
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from integrations.google.scopes import GMAIL_READONLY, scopes_for
from integrations.models import Integration
from workspaces.models import Workspace

READ_ACCESS_INTENT = "read_access_integration_id"


class GoogleIntegrationOAuth2Adapter(GoogleOAuth2Adapter):
    @property
    def access_token_url(self) -> str:
        return settings.GOOGLE_OAUTH_TOKEN_URL

    @property
    def authorize_url(self) -> str:
        return settings.GOOGLE_OAUTH_AUTHORIZE_URL

    @property
    def identity_url(self) -> str:
        return settings.GOOGLE_OAUTH_USERINFO_URL

    @property
    def id_token_issuer(self) -> str:
        return settings.GOOGLE_ID_TOKEN_ISSUER

    def _decode_id_token(self, app: Any, id_token: str) -> dict[str, Any]:
        # As allauth does: the signature check may be skipped only for a token we fetched ourselves.
        return jwtkit.verify_and_decode(
            credential=id_token,
            keys_url=settings.GOOGLE_OAUTH_CERTS_URL,
            issuer=settings.GOOGLE_ID_TOKEN_ISSUER,
            audience=app.client_id,
            lookup_kid=jwtkit.lookup_kid_pem_x509_certificate,
            verify_signature=not self.did_fetch_access_token,
        )

    def complete_login(self, request: HttpRequest, app: Any, token: Any, **kwargs: Any) -> SocialLogin:
        login: SocialLogin = super().complete_login(request, app, token, **kwargs)
        # allauth drops the token response's `scope`: keep what Google actually granted.
        login.granted_scopes = str(kwargs["response"].get("scope", "")).split()
        return login


oauth2_login = OAuth2LoginView.adapter_view(GoogleIntegrationOAuth2Adapter)
oauth2_callback = OAuth2CallbackView.adapter_view(GoogleIntegrationOAuth2Adapter)


def redirect_for_read_access(
    request: HttpRequest, *, workspace: Workspace, integration: Integration, next_url: str
) -> HttpResponse:
    """Incremental consent: ask Google for gmail.readonly on the account already connected
    (include_granted_scopes keeps what it has; login_hint picks the same account). The adapter
    adds the grant to that integration instead of connecting a new one."""
    provider = get_social_adapter(request).get_provider(request, "google")
    return provider.redirect(
        request,
        "connect",
        next_url=next_url,
        data={
            "workspace_id": workspace.pk,
            "integration_type": integration.type,
            READ_ACCESS_INTENT: integration.pk,
            "next_url": next_url,
        },
        scope=[*scopes_for(integration.type), GMAIL_READONLY],
        auth_params={
            "access_type": "offline",
            "prompt": "consent",
            "include_granted_scopes": "true",
            "login_hint": integration.email,
        },
    )
