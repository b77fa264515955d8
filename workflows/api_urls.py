from django.urls import path

from workflows import api

prefix = "workspaces/<int:workspace_id>/"

urlpatterns = [
    path(prefix + "workflows/", api.WorkflowListApi.as_view(), name="api_workflow_list"),
    path(
        prefix + "workflows/<int:workflow_id>/", api.WorkflowDetailApi.as_view(), name="api_workflow_detail"
    ),
    path(
        prefix + "workflows/<int:workflow_id>/execute/",
        api.WorkflowExecuteApi.as_view(),
        name="api_workflow_execute",
    ),
    path(
        prefix + "workflows/<int:workflow_id>/preview/",
        api.WorkflowPreviewApi.as_view(),
        name="api_workflow_preview",
    ),
    path(prefix + "runs/", api.RunListApi.as_view(), name="api_run_list"),
    path(prefix + "runs/<int:run_id>/", api.RunDetailApi.as_view(), name="api_run_detail"),
    path(prefix + "runs/<int:run_id>/retry/", api.RunRetryApi.as_view(), name="api_run_retry"),
    path(prefix + "runs/<int:run_id>/cancel/", api.RunCancelApi.as_view(), name="api_run_cancel"),
    path(
        prefix + "runs/<int:run_id>/steps/<int:position>/send-again/",
        api.StepSendAgainApi.as_view(),
        name="api_step_send_again",
    ),
]
