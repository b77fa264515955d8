from django.urls import path

from integrations import views

urlpatterns = [
    path("integrations/", views.IntegrationsPageView.as_view(), name="integrations_page"),
    path(
        "integrations/google/<str:integration_type>/connect/",
        views.GoogleConnectView.as_view(),
        name="integrations_google_connect",
    ),
    path(
        "integrations/sidemail/connect/",
        views.SidemailConnectView.as_view(),
        name="integrations_sidemail_connect",
    ),
    path(
        "integrations/<int:integration_id>/sharing/",
        views.SharingView.as_view(),
        name="integrations_update",
    ),
    path(
        "integrations/<int:integration_id>/disconnect/",
        views.DisconnectView.as_view(),
        name="integrations_disconnect",
    ),
]
