from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from workspaces.models import ApiKey, Workspace
from workspaces.scoping import WorkspaceAPIView
from workspaces.selectors import workspaces_for_api_key, workspaces_for_user
from workspaces.serializers import WorkspaceSerializer


class WorkspaceListApi(generics.ListAPIView):
    """The workspaces this credential may use: an API key's one workspace, or a member's."""

    serializer_class = WorkspaceSerializer

    def get_queryset(self) -> QuerySet[Workspace]:
        if isinstance(self.request.auth, ApiKey):
            return workspaces_for_api_key(api_key=self.request.auth)
        return workspaces_for_user(user=self.request.user)


class WorkspaceDetailApi(WorkspaceAPIView):
    @extend_schema(responses=WorkspaceSerializer)
    def get(self, request: Request, workspace: Workspace) -> Response:
        return Response(WorkspaceSerializer(workspace).data)
