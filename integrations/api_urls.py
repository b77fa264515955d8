from django.urls import path

from integrations import api

urlpatterns = [
    path(
        "workspaces/<int:workspace_id>/integrations/",
        api.IntegrationListApi.as_view(),
        name="api_integration_list",
    ),
    path(
        "workspaces/<int:workspace_id>/integrations/status/",
        api.IntegrationStatusApi.as_view(),
        name="api_integration_status",
    ),
    path(
        "workspaces/<int:workspace_id>/integrations/sidemail/",
        api.SidemailConnectApi.as_view(),
        name="api_integration_sidemail_connect",
    ),
    path(
        "workspaces/<int:workspace_id>/integrations/<int:integration_id>/",
        api.IntegrationDetailApi.as_view(),
        name="api_integration_detail",
    ),
    path(
        "workspaces/<int:workspace_id>/integrations/<int:integration_id>/disconnect/",
        api.IntegrationDisconnectApi.as_view(),
        name="api_integration_disconnect",
    ),
]
