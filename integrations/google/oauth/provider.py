from allauth.socialaccount.providers.google.provider import GoogleProvider

from integrations.google.oauth.views import GoogleIntegrationOAuth2Adapter


class GoogleIntegrationProvider(GoogleProvider):
    """Google as allauth knows it, with endpoints from settings (see the package docstring)."""

    oauth2_adapter_class = GoogleIntegrationOAuth2Adapter
    package = "integrations.google.oauth"
