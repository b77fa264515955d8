from django.urls import path

from workspaces import api

urlpatterns = [
    path("workspaces/", api.WorkspaceListApi.as_view(), name="api_workspace_list"),
    path("workspaces/<int:workspace_id>/", api.WorkspaceDetailApi.as_view(), name="api_workspace_detail"),
]
