from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from integrations.google.oauth.provider import GoogleIntegrationProvider

urlpatterns = default_urlpatterns(GoogleIntegrationProvider)
