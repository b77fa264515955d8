from django.urls import path

from workflows import views

urlpatterns = [
    path("workflows/", views.WorkflowListView.as_view(), name="workflow_list"),
    path("workflows/new/", views.WorkflowCreateView.as_view(), name="workflow_create"),
    path("workflows/<int:workflow_id>/", views.WorkflowEditView.as_view(), name="workflow_edit"),
    path("workflows/<int:workflow_id>/run/", views.WorkflowRunView.as_view(), name="workflow_run"),
    path(
        "workflows/<int:workflow_id>/preview/", views.WorkflowPreviewView.as_view(), name="workflow_preview"
    ),
    path("workflows/<int:workflow_id>/delete/", views.WorkflowDeleteView.as_view(), name="workflow_delete"),
    path("runs/", views.RunListView.as_view(), name="run_list"),
    path("runs/<int:run_id>/", views.RunDetailView.as_view(), name="run_detail"),
    path("runs/<int:run_id>/retry/", views.RunRetryView.as_view(), name="run_retry"),
    path("runs/<int:run_id>/cancel/", views.RunCancelView.as_view(), name="run_cancel"),
    path(
        "runs/<int:run_id>/steps/<int:position>/send-again/",
        views.StepSendAgainView.as_view(),
        name="run_step_send_again",
    ),
]
