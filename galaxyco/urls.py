from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from galaxyco import views
from hooks.receive_api import WebhookReceiveApi
from integrations.sidemail.views import SidemailTrackingWebhookView
from workspaces.views import home

api_workspace_patterns = [
    path("", include("workspaces.api_urls")),
    path("", include("integrations.api_urls")),
    path("", include("workflows.api_urls")),
    path("", include("hooks.api_urls")),
]

page_workspace_patterns = [
    path("", include("workspaces.urls")),
    path("", include("integrations.urls")),
    path("", include("workflows.urls")),
    path("", include("hooks.urls")),
]

# The admin's own login form has no limit on failed attempts: staff log in on the app's
# login page instead, whose failed-login limits (ACCOUNT_RATE_LIMITS) then apply to them too.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

urlpatterns = [
    path("", home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", views.api_docs, name="api_docs"),
    path("webhooks/sidemail/", SidemailTrackingWebhookView.as_view(), name="sidemail_webhook"),
    path("api/", include(api_workspace_patterns)),
    # Last under /api/: every other path there answers the API's 404, DEBUG on as well as off.
    re_path(r"^api/", views.api_not_found, name="api_not_found"),
    # A webhook trigger's URL: the token is the credential (no session, API key or CSRF).
    path("hooks/<str:token>/", WebhookReceiveApi.as_view(), name="webhook_receive"),
    path("w/<slug:slug>/", include(page_workspace_patterns)),
]

handler400 = "galaxyco.views.bad_request"
handler403 = "galaxyco.views.permission_denied"
handler404 = "galaxyco.views.page_not_found"
handler500 = "galaxyco.views.server_error"
