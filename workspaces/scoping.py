"""The one place that resolves a request's workspace from its URL and checks the credential.

API: `/api/workspaces/<workspace_id>/...`, pages: `/w/<slug>/...`. A workspace the
credential may not use answers exactly as one that does not exist: 404.
"""

from typing import Any, cast

from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.models import User
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponseBase
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.views import APIView

from galaxyco import context
from workspaces.models import ApiKey, Membership, Workspace
from workspaces.permissions import Action, ensure_request_allowed, may
from workspaces.selectors import membership_for


def resolve_api_workspace(request: Request, workspace_id: Any) -> tuple[Workspace, Membership | None]:
    try:
        workspace_pk = int(workspace_id)
    except (TypeError, ValueError):
        raise Http404 from None
    if isinstance(request.auth, ApiKey):
        if request.auth.workspace_id != workspace_pk:
            raise Http404
        return request.auth.workspace, None
    workspace = Workspace.objects.filter(pk=workspace_pk).first()
    membership = membership_for(user=request.user, workspace=workspace) if workspace else None
    if workspace is None or membership is None:
        raise Http404
    return workspace, membership


class WorkspaceAPIView(APIView):
    """Base for every workspace API view: `self.workspace` is set, and the credential's role
    checked against workspaces.permissions, before the handler runs."""

    workspace: Workspace
    membership: Membership | None
    role: str

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.workspace, self.membership = resolve_api_workspace(request, kwargs.get("workspace_id"))
        context.bind(workspace_id=self.workspace.pk)
        # No membership: resolve_api_workspace accepted the request's API key.
        self.role = self.membership.role if self.membership is not None else cast(ApiKey, request.auth).role
        match = request.resolver_match
        ensure_request_allowed(
            role=self.role, url_name=match.url_name if match else None, method=request.method or ""
        )

    @property
    def api_key(self) -> ApiKey | None:
        return self.request.auth if isinstance(self.request.auth, ApiKey) else None

    @property
    def requesting_user(self) -> User | None:
        """The member behind a session; None when an API key made the request."""
        return None if self.api_key is not None else self.request.user  # type: ignore[return-value]

    def get_serializer_context(self) -> dict[str, Any]:
        ctx: dict[str, Any] = super().get_serializer_context()  # type: ignore[misc]
        ctx["workspace"] = getattr(self, "workspace", None)
        return ctx


class WorkspaceGenericAPIView(WorkspaceAPIView, generics.GenericAPIView):
    """Subclasses implement `scoped_queryset()`; get_queryset/get_object stay as they are."""

    lookup_url_kwarg: str

    def scoped_queryset(self) -> QuerySet[Any]:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet[Any]:
        return self.scoped_queryset()

    def get_object(self) -> Model:
        value = self.kwargs.get(self.lookup_url_kwarg)
        try:
            pk = int(value)
        except (TypeError, ValueError):
            raise Http404 from None
        obj = self.get_queryset().filter(pk=pk).first()
        if obj is None:
            raise Http404
        self.check_object_permissions(self.request, obj)
        return obj


class WorkspacePageMixin(LoginRequiredMixin):
    """Pages under /w/<slug>/: anonymous visitors log in; non-members get 404."""

    workspace: Workspace
    membership: Membership
    request: HttpRequest

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        workspace = Workspace.objects.filter(slug=kwargs.get("slug", "")).first()
        membership = membership_for(user=request.user, workspace=workspace) if workspace else None
        if workspace is None or membership is None:
            raise Http404
        self.workspace, self.membership = workspace, membership
        context.bind(workspace_id=workspace.pk)
        match = request.resolver_match
        ensure_request_allowed(
            role=membership.role, url_name=match.url_name if match else None, method=request.method or ""
        )
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx: dict[str, Any] = super().get_context_data(**kwargs)  # type: ignore[misc]
        ctx["workspace"] = self.workspace
        ctx["membership"] = self.membership
        # What the page may offer this person, from the one permission table.
        ctx["may"] = {action.value: may(self.membership.role, action) for action in Action}
        return ctx
