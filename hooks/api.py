from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from galaxyco.errors import NotFound
from hooks import selectors, services
from hooks.models import NotificationEndpoint, Trigger, WebhookDelivery
from hooks.serializers import (
    DeliverySerializer,
    EndpointSerializer,
    NewEndpointSerializer,
    NewTriggerSerializer,
    TriggerCreateSerializer,
    TriggerSerializer,
    TriggerUpdateSerializer,
)
from workflows.selectors import get_workflow
from workspaces.models import Workspace
from workspaces.scoping import WorkspaceAPIView, WorkspaceGenericAPIView


class _WorkflowTriggersMixin(WorkspaceGenericAPIView):
    def scoped_queryset(self, workspace: Workspace) -> QuerySet[Trigger]:
        workflow_id = int(self.kwargs["workflow_id"])
        if get_workflow(workspace=workspace, workflow_id=workflow_id) is None:
            raise NotFound()
        return selectors.trigger_list(workspace=workspace, workflow_id=workflow_id)


class TriggerListApi(_WorkflowTriggersMixin, generics.ListCreateAPIView):
    serializer_class = TriggerSerializer

    @extend_schema(request=TriggerCreateSerializer, responses={201: NewTriggerSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        workflow_id = int(kwargs["workflow_id"])
        serializer = TriggerCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        trigger = services.create_trigger(
            workspace=self.workspace,
            workflow_id=workflow_id,
            created_by=self.requesting_user,
            trigger_type=serializer.validated_data["type"],
            enabled=serializer.validated_data["enabled"],
            signing=serializer.validated_data["signing"],
            config=serializer.validated_data["config"],
        )
        return Response(NewTriggerSerializer(trigger).data, status=status.HTTP_201_CREATED)


class TriggerDetailApi(_WorkflowTriggersMixin, generics.RetrieveDestroyAPIView):
    serializer_class = TriggerSerializer
    lookup_url_kwarg = "trigger_id"

    @extend_schema(request=TriggerUpdateSerializer, responses=TriggerSerializer)
    def patch(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        trigger = self.get_object()
        serializer = TriggerUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = services.update_trigger(
            workspace=self.workspace,
            workflow_id=int(kwargs["workflow_id"]),
            trigger_id=trigger.pk,
            enabled=serializer.validated_data.get("enabled"),
        )
        return Response(TriggerSerializer(updated).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        trigger = self.get_object()
        services.delete_trigger(
            workspace=self.workspace, workflow_id=int(kwargs["workflow_id"]), trigger_id=trigger.pk
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class TriggerRotateApi(WorkspaceAPIView):
    """A new URL (and, for a signing trigger, a new signing secret, shown only in this answer)."""

    @extend_schema(request=None, responses=NewTriggerSerializer)
    def post(self, request: Request, workspace: Workspace, workflow_id: int, trigger_id: int) -> Response:
        if get_workflow(workspace=workspace, workflow_id=workflow_id) is None:
            raise NotFound()
        trigger = services.rotate_trigger_token(
            workspace=workspace, workflow_id=workflow_id, trigger_id=trigger_id
        )
        return Response(NewTriggerSerializer(trigger).data)


class EndpointListApi(WorkspaceGenericAPIView, generics.ListCreateAPIView):
    serializer_class = EndpointSerializer

    def scoped_queryset(self, workspace: Workspace) -> QuerySet[NotificationEndpoint]:
        return selectors.endpoint_list(workspace=workspace)

    @extend_schema(request=EndpointSerializer, responses={201: NewEndpointSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = EndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.create_endpoint(
            workspace=self.workspace,
            created_by=self.requesting_user,
            url=serializer.validated_data["url"],
            events=serializer.validated_data["events"],
            enabled=serializer.validated_data.get("enabled", True),
        )
        return Response(NewEndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointDetailApi(WorkspaceGenericAPIView, generics.RetrieveDestroyAPIView):
    serializer_class = EndpointSerializer
    lookup_url_kwarg = "endpoint_id"

    def scoped_queryset(self, workspace: Workspace) -> QuerySet[NotificationEndpoint]:
        return selectors.endpoint_list(workspace=workspace)

    @extend_schema(request=EndpointSerializer(partial=True), responses=EndpointSerializer)
    def patch(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        endpoint = self.get_object()
        serializer = EndpointSerializer(endpoint, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        updated = services.update_endpoint(
            workspace=self.workspace,
            endpoint_id=endpoint.pk,
            url=data.get("url"),
            events=data.get("events"),
            enabled=data.get("enabled"),
        )
        return Response(EndpointSerializer(updated).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.delete_endpoint(workspace=self.workspace, endpoint_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryListApi(WorkspaceGenericAPIView, generics.ListAPIView):
    """An endpoint's delivery attempts of the last 30 days, newest first."""

    serializer_class = DeliverySerializer

    def scoped_queryset(self, workspace: Workspace) -> QuerySet[WebhookDelivery]:
        endpoint = selectors.get_endpoint(workspace=workspace, endpoint_id=int(self.kwargs["endpoint_id"]))
        if endpoint is None:
            raise NotFound()
        return selectors.deliveries_of(workspace=workspace, endpoint=endpoint)
