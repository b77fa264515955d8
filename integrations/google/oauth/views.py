from typing import Any

from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialLogin
from allauth.socialaccount.providers.google.views import GoogleOAuth2Adapter
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from django.conf import settings
from django.http import HttpRequest


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
