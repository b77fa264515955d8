from django.urls import path

from hooks import api

prefix = "workspaces/<int:workspace_id>/"
triggers = prefix + "workflows/<int:workflow_id>/triggers/"

urlpatterns = [
    path(triggers, api.TriggerListApi.as_view(), name="api_trigger_list"),
    path(triggers + "<int:trigger_id>/", api.TriggerDetailApi.as_view(), name="api_trigger_detail"),
    path(triggers + "<int:trigger_id>/rotate/", api.TriggerRotateApi.as_view(), name="api_trigger_rotate"),
    path(prefix + "webhooks/", api.EndpointListApi.as_view(), name="api_endpoint_list"),
    path(prefix + "webhooks/<int:endpoint_id>/", api.EndpointDetailApi.as_view(), name="api_endpoint_detail"),
    path(
        prefix + "webhooks/<int:endpoint_id>/deliveries/",
        api.DeliveryListApi.as_view(),
        name="api_endpoint_deliveries",
    ),
]
