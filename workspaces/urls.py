from django.urls import path

from workspaces import views

urlpatterns = [
    path("", views.WorkspaceHomeView.as_view(), name="workspace_home"),
    path("members/", views.MembersView.as_view(), name="workspace_members"),
    path("members/<int:membership_id>/", views.MemberChangeView.as_view(), name="workspace_member_change"),
    path("settings/", views.SettingsView.as_view(), name="workspace_settings"),
    path(
        "settings/api-keys/<int:api_key_id>/revoke/",
        views.ApiKeyRevokeView.as_view(),
        name="workspace_api_key_revoke",
    ),
]
