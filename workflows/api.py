from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from galaxyco.errors import NotFound
from workflows import selectors, services
from workflows.models import RunStatus, RunTrigger, Workflow, WorkflowRun
from workflows.serializers import (
    ExecuteParameters,
    ExecuteResponseSerializer,
    ExecuteSerializer,
    PreviewResponseSerializer,
    PreviewSerializer,
    RunFilters,
    RunSerializer,
    WorkflowSerializer,
    run_data,
)
from workspaces.models import Workspace
from workspaces.scoping import WorkspaceAPIView, WorkspaceGenericAPIView


class WorkflowListApi(WorkspaceGenericAPIView, generics.ListCreateAPIView):
    serializer_class = WorkflowSerializer

    def scoped_queryset(self, workspace: Workspace) -> QuerySet[Workflow]:
        return selectors.workflow_list(workspace=workspace)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = WorkflowSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        workflow = services.create_workflow(
            workspace=self.workspace,
            created_by=self.requesting_user,
            name=serializer.validated_data["name"],
            description=serializer.validated_data.get("description", ""),
            is_active=serializer.validated_data.get("is_active", True),
            steps=serializer.step_specs() or [],
        )
        fresh = selectors.get_workflow(workspace=self.workspace, workflow_id=workflow.pk)
        return Response(self.get_serializer(fresh).data, status=status.HTTP_201_CREATED)


class WorkflowDetailApi(WorkspaceGenericAPIView, generics.RetrieveUpdateDestroyAPIView):
    serializer_class = WorkflowSerializer
    lookup_url_kwarg = "workflow_id"

    def scoped_queryset(self, workspace: Workspace) -> QuerySet[Workflow]:
        return selectors.workflow_list(workspace=workspace)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        workflow = self.get_object()
        serializer = WorkflowSerializer(
            workflow,
            data=request.data,
            partial=kwargs.get("partial", False),
            context=self.get_serializer_context(),
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.update_workflow(
            workspace=self.workspace,
            workflow_id=workflow.pk,
            saved_by=self.requesting_user,
            name=data.get("name"),
            description=data.get("description"),
            is_active=data.get("is_active"),
            steps=serializer.step_specs(),
        )
        return Response(
            self.get_serializer(
                selectors.get_workflow(workspace=self.workspace, workflow_id=workflow.pk)
            ).data
        )

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.delete_workflow(workspace=self.workspace, workflow_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


def run_response(run: WorkflowRun) -> Response:
    """200 with the outcome once finished; 202 pointing at the run while it is under way."""
    body: dict[str, Any] = {"success": run.status == RunStatus.SUCCEEDED, "run": run_data(run)}
    if not run.is_finished:
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["run"]["url"]})
    if run.status != RunStatus.SUCCEEDED:
        body["error"] = {"code": run.error_code, "message": run.error_message}
    return Response(body, status=status.HTTP_200_OK)


IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "maxLength": 255},
    OpenApiParameter.HEADER,
    description="Send the same key again to get the first run back instead of a second one.",
)


def answer_started(*, workspace: Workspace, run: WorkflowRun, wait: bool) -> Response:
    """Wait up to WORKFLOW_EXECUTE_WAIT_SECONDS (not at all with `?wait=0`) and answer as the run stands."""
    timeout = settings.WORKFLOW_EXECUTE_WAIT_SECONDS if wait else 0.0
    return started_response(
        services.wait_for_started_run(workspace=workspace, run_id=run.pk, timeout=timeout)
    )


def started_response(found: WorkflowRun | services.UnreadRun | None) -> Response:
    """A run this request started or found: as `run_response`; one the database could not give
    back is still under way, so 202 with its id and `Location` (never an error that would invite
    a second run)."""
    if found is None:
        raise NotFound()
    if isinstance(found, services.UnreadRun):
        url = reverse("api_run_detail", kwargs={"workspace_id": found.workspace_id, "run_id": found.pk})
        return Response(
            {"success": False, "run": {"id": found.pk, "url": url}},
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": url},
        )
    return run_response(found)


class WorkflowExecuteApi(WorkspaceAPIView):
    @extend_schema(
        request=ExecuteSerializer,
        parameters=[ExecuteParameters, IDEMPOTENCY_KEY_PARAMETER],
        responses={200: ExecuteResponseSerializer, 202: ExecuteResponseSerializer},
    )
    def post(self, request: Request, workspace: Workspace, workflow_id: int) -> Response:
        wait = ExecuteParameters.read(request)["wait"]
        run_input = ExecuteSerializer.read_input(request.data)
        # With a wait, the run executes in this request (its task's own loop, handed the rows it
        # just wrote); without, it goes to the worker and the answer is 202 at once.
        run, created = services.start_run(
            workspace=workspace,
            workflow_id=workflow_id,
            run_input=run_input,
            trigger=RunTrigger.API,
            requested_by=self.requesting_user,
            api_key=self.api_key,
            idempotency_key=request.headers.get("Idempotency-Key", "").strip(),
            run_here=wait,
        )
        if not created or not wait:
            # As the database has it: a repeat's run, or a new one the broker may have refused.
            return answer_started(workspace=workspace, run=run, wait=wait)
        return started_response(
            services.run_now_and_wait(
                workspace=workspace, run=run, timeout=settings.WORKFLOW_EXECUTE_WAIT_SECONDS
            )
        )


class WorkflowPreviewApi(WorkspaceAPIView):
    @extend_schema(
        request=PreviewSerializer,
        responses={200: PreviewResponseSerializer},
        description="Each step's params as a run with this input would send them. Nothing is sent "
        "and no run is created; the input is checked as for execute.",
    )
    def post(self, request: Request, workspace: Workspace, workflow_id: int) -> Response:
        serializer = PreviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        previews = services.preview_run(
            workspace=workspace, workflow_id=workflow_id, run_input=serializer.validated_data["input"]
        )
        return Response(PreviewResponseSerializer({"steps": previews}).data)


class StepSendAgainApi(WorkspaceAPIView):
    @extend_schema(
        request=None,
        responses={200: ExecuteResponseSerializer, 202: ExecuteResponseSerializer},
        description="Send again a step whose outcome is unknown (error code outcome_unknown: Gmail "
        "did not answer after the email went out). Check the mailbox's Sent folder first: this "
        "sends the email once more. The run then carries on; 409 when the step is not in that state.",
    )
    def post(self, request: Request, workspace: Workspace, run_id: int, position: int) -> Response:
        run = services.send_step_again(workspace=workspace, run_id=run_id, position=position)
        return run_response(run)


class RunListApi(WorkspaceGenericAPIView, generics.ListAPIView):
    serializer_class = RunSerializer

    def scoped_queryset(self, workspace: Workspace) -> QuerySet[WorkflowRun]:
        filters = RunFilters.read(self.request)
        return selectors.run_list(
            workspace=workspace,
            workflow_id=filters.get("workflow"),
            status=filters.get("status"),
            since=filters.get("since"),
            until=filters.get("until"),
        )

    @extend_schema(parameters=[RunFilters])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class RunDetailApi(WorkspaceGenericAPIView, generics.RetrieveAPIView):
    serializer_class = RunSerializer
    lookup_url_kwarg = "run_id"

    def scoped_queryset(self, workspace: Workspace) -> QuerySet[WorkflowRun]:
        return selectors.run_list(workspace=workspace)


class RunRetryApi(WorkspaceAPIView):
    @extend_schema(
        request=None,
        parameters=[ExecuteParameters, IDEMPOTENCY_KEY_PARAMETER],
        responses={200: ExecuteResponseSerializer, 202: ExecuteResponseSerializer},
        description="Run a failed or canceled run again: a new run (`retry_of` this one) with its input "
        "and its steps as they were when it ran. Steps that had succeeded are carried over (`carried_over`, "
        "their output kept), not run again. Answers like execute; 409 for a run that succeeded, is under "
        "way, or was already re-run by a run that has not failed; 409 `outcome_unknown` for a run with a "
        "step whose email may have gone out: check the Sent folder, then use that step's send-again.",
    )
    def post(self, request: Request, workspace: Workspace, run_id: int) -> Response:
        wait = ExecuteParameters.read(request)["wait"]
        run, _ = services.rerun(
            workspace=workspace,
            run_id=run_id,
            trigger=RunTrigger.API,
            requested_by=self.requesting_user,
            api_key=self.api_key,
            idempotency_key=request.headers.get("Idempotency-Key", "").strip(),
        )
        return answer_started(workspace=workspace, run=run, wait=wait)


class RunCancelApi(WorkspaceAPIView):
    @extend_schema(
        request=None,
        responses={200: RunSerializer},
        description="Cancel a queued run, or one waiting to retry a step or for its send slot: its "
        "remaining steps are skipped. 409 for a run that has finished, is running a step right now, or is "
        "finding out whether an email it sent went out.",
    )
    def post(self, request: Request, workspace: Workspace, run_id: int) -> Response:
        services.cancel_run(workspace=workspace, run_id=run_id)
        run = selectors.get_run(workspace=workspace, run_id=run_id)
        return Response(RunSerializer(run).data)
