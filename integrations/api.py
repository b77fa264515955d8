from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from galaxyco.errors import Forbidden
from integrations import services
from integrations.models import Integration
from integrations.selectors import integration_list, integration_status
from integrations.serializers import (
    DisconnectResponseSerializer,
    IntegrationFilters,
    IntegrationSerializer,
    IntegrationStatusSerializer,
    IntegrationUpdateSerializer,
    SidemailConnectSerializer,
    status_representation,
)
from workspaces.models import Workspace
from workspaces.scoping import WorkspaceAPIView, WorkspaceGenericAPIView


class IntegrationListApi(WorkspaceGenericAPIView, generics.ListAPIView):
    serializer_class = IntegrationSerializer

    def scoped_queryset(self, workspace: Workspace) -> QuerySet[Integration]:
        queryset = integration_list(workspace=workspace)
        filters = IntegrationFilters.read(self.request)
        for field in ("type", "status"):
            if field in filters:
                queryset = queryset.filter(**{field: filters[field]})
        return queryset

    @extend_schema(parameters=[IntegrationFilters])
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)


class IntegrationDetailApi(WorkspaceGenericAPIView, generics.RetrieveAPIView):
    serializer_class = IntegrationSerializer
    lookup_url_kwarg = "integration_id"

    def scoped_queryset(self, workspace: Workspace) -> QuerySet[Integration]:
        return integration_list(workspace=workspace)

    @extend_schema(request=IntegrationUpdateSerializer, responses=IntegrationSerializer)
    def patch(self, request: Request, workspace: Workspace, integration_id: int) -> Response:
        serializer = IntegrationUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        integration = services.update_integration_sharing(
            workspace=workspace,
            integration_id=self.get_object().pk,
            role=self.role,
            user_id=self.requesting_user.pk if self.requesting_user else None,
            shared=serializer.validated_data.get("shared"),
            is_default=serializer.validated_data.get("is_default"),
        )
        return Response(IntegrationSerializer(integration).data)


class IntegrationDisconnectApi(WorkspaceAPIView):
    @extend_schema(request=None, responses=DisconnectResponseSerializer)
    def post(self, request: Request, workspace: Workspace, integration_id: int) -> Response:
        disconnection = services.disconnect_integration_as(
            workspace=workspace,
            integration_id=integration_id,
            role=self.role,
            user_id=self.requesting_user.pk if self.requesting_user else None,
        )
        return Response(
            {
                "success": True,
                "revoked_at_google": disconnection.revocation == "revoked",
                "revocation": disconnection.revocation,
                "message": disconnection.message,
                "integration": IntegrationSerializer(disconnection.integration).data,
            }
        )


class IntegrationStatusApi(WorkspaceAPIView):
    @extend_schema(responses=IntegrationStatusSerializer)
    def get(self, request: Request, workspace: Workspace) -> Response:
        return Response(status_representation(integration_status(workspace=workspace)))


class SidemailConnectApi(WorkspaceAPIView):
    @extend_schema(request=SidemailConnectSerializer, responses={201: IntegrationSerializer})
    def post(self, request: Request, workspace: Workspace) -> Response:
        serializer = SidemailConnectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if self.requesting_user is None:
            raise Forbidden(
                "A Sidemail account belongs to the member who connects it, so it is connected by a "
                "signed-in member (on the Integrations page), not with an API key."
            )
        integration = services.connect_sidemail_integration(
            workspace=workspace,
            user=self.requesting_user,
            api_key=serializer.validated_data["api_key"],
            from_address=serializer.validated_data["from_address"],
            share=serializer.validated_data["shared"],
        )
        return Response(IntegrationSerializer(integration).data, status=status.HTTP_201_CREATED)
