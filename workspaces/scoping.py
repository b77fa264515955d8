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


def _is_named(workspace: Workspace, *, workspace_id: Any, slug: str | None) -> bool:
    if slug is not None:
        return workspace.slug == slug
    return str(workspace.pk) == str(workspace_id)


def resolve_workspace(
    request: HttpRequest, *, workspace_id: Any = None, slug: str | None = None
) -> tuple[Workspace, Membership | None, str]:
    """The workspace a request names (by id in the API, by slug on pages), its membership and the
    credential's role. An API key answers for its own workspace only; a session needs a
    membership. Anything else raises Http404, exactly like a workspace that does not exist."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiKey):
        # A key answers for the one workspace it was loaded with: nothing else to look up.
        if not _is_named(auth.workspace, workspace_id=workspace_id, slug=slug):
            raise Http404
        return auth.workspace, None, auth.role
    workspaces = Workspace.objects.all()
    if slug is not None:
        workspace = workspaces.filter(slug=slug).first()
    else:
        try:
            workspace = workspaces.filter(pk=int(workspace_id)).first()
        except (TypeError, ValueError):
            raise Http404 from None
    membership = membership_for(user=request.user, workspace=workspace) if workspace else None
    if workspace is None or membership is None:
        raise Http404
    return workspace, membership, membership.role


def _bind_and_check(request: HttpRequest, *, workspace: Workspace, role: str) -> None:
    context.bind(workspace_id=workspace.pk)
    match = request.resolver_match
    ensure_request_allowed(role=role, url_name=match.url_name if match else None, method=request.method or "")


# Overriding these would let a subclass skip the workspace check or widen what it may read;
# subclasses implement `scoped_queryset(workspace)` instead.
SEALED_METHODS = ("get_queryset", "get_object", "get_permissions", "initial")


class WorkspaceAPIView(APIView):
    """Base for every workspace API view: `self.workspace` is set, and the credential's role
    checked against workspaces.permissions, before the handler runs."""

    workspace: Workspace
    membership: Membership | None
    role: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__module__ == __name__:
            return
        for name in SEALED_METHODS:
            if name in vars(cls):
                raise TypeError(
                    f"{cls.__qualname__} overrides {name}(), which WorkspaceAPIView keeps to itself "
                    "so that every request is scoped to its workspace; implement scoped_queryset(workspace)."
                )

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.workspace, self.membership, self.role = resolve_workspace(
            request, workspace_id=kwargs.get("workspace_id")
        )
        _bind_and_check(request, workspace=self.workspace, role=self.role)
        # dispatch() calls the handler with this same dict: it receives the resolved workspace.
        self.kwargs.pop("workspace_id", None)
        self.kwargs["workspace"] = self.workspace

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
    """Subclasses implement `scoped_queryset(workspace)`; get_queryset/get_object stay as they are."""

    lookup_url_kwarg: str

    def scoped_queryset(self, workspace: Workspace) -> QuerySet[Any]:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet[Any]:
        return self.scoped_queryset(self.workspace)

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
        workspace, membership, role = resolve_workspace(request, slug=kwargs.get("slug", ""))
        # A session always resolves through a membership.
        self.workspace, self.membership = workspace, cast(Membership, membership)
        _bind_and_check(request, workspace=workspace, role=role)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx: dict[str, Any] = super().get_context_data(**kwargs)  # type: ignore[misc]
        ctx["workspace"] = self.workspace
        ctx["membership"] = self.membership
        # What the page may offer this person, from the one permission table.
        ctx["may"] = {action.value: may(self.membership.role, action) for action in Action}
        return ctx
