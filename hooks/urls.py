from django.urls import path

from hooks import views

urlpatterns = [
    path(
        "workflows/<int:workflow_id>/triggers/",
        views.TriggerCreateView.as_view(),
        name="workflow_trigger_create",
    ),
    path(
        "workflows/<int:workflow_id>/triggers/<int:trigger_id>/",
        views.TriggerChangeView.as_view(),
        name="workflow_trigger_change",
    ),
    path(
        "workflows/<int:workflow_id>/triggers/<int:trigger_id>/read-access/",
        views.TriggerReadAccessView.as_view(),
        name="workflow_trigger_read_access",
    ),
    path("settings/webhooks/", views.EndpointCreateView.as_view(), name="notification_endpoint_create"),
    path(
        "settings/webhooks/<int:endpoint_id>/",
        views.EndpointChangeView.as_view(),
        name="notification_endpoint_change",
    ),
]
