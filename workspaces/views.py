from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views import View
from django.views.generic import TemplateView

from galaxyco.errors import AppError, message_for_page
from workspaces import services
from workspaces.forms import AddMemberForm, ApiKeyForm, ChangeRoleForm
from workspaces.models import Role
from workspaces.scoping import WorkspacePageMixin
from workspaces.selectors import api_key_list, home_overview, member_list, workspaces_for_user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send a signed-in person to their first workspace."""
    workspace = workspaces_for_user(user=request.user).first()
    if workspace is None:
        workspace = services.create_personal_workspace(user=request.user)  # type: ignore[arg-type]
    return redirect("workspace_home", slug=workspace.slug)


class WorkspaceHomeView(WorkspacePageMixin, TemplateView):
    template_name = "workspaces/home.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx["overview"] = home_overview(workspace=self.workspace)
        return ctx


class MembersView(WorkspacePageMixin, TemplateView):
    template_name = "workspaces/members.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx["members"] = member_list(workspace=self.workspace)
        ctx["form"] = kwargs.get("form") or AddMemberForm()
        ctx["role_choices"] = ChangeRoleForm.base_fields["role"].choices  # type: ignore[attr-defined]
        return ctx

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = AddMemberForm(request.POST)
        if form.is_valid():
            try:
                membership = services.add_member(
                    workspace=self.workspace,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    actor=self.membership,
                )
            except AppError as error:
                form.add_error("email", error.message)
            else:
                messages.success(
                    request, f"{membership.user.email} is now a member of {self.workspace.name}."
                )
                return redirect("workspace_members", slug=self.workspace.slug)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class MemberChangeView(WorkspacePageMixin, View):
    """POST: change a member's role (`role`) or remove them (`remove`)."""

    def post(self, request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
        try:
            if "remove" in request.POST:
                services.remove_member(
                    workspace=self.workspace, membership_id=membership_id, actor=self.membership
                )
                messages.success(request, "The member was removed.")
            else:
                form = ChangeRoleForm(request.POST)
                if not form.is_valid():
                    messages.error(request, services.ROLE_CHOICE_MESSAGE)
                else:
                    services.change_role(
                        workspace=self.workspace,
                        membership_id=membership_id,
                        role=form.cleaned_data["role"],
                        actor=self.membership,
                    )
                    messages.success(request, "The role was changed.")
        except AppError as error:
            messages.error(request, message_for_page(error))
        return redirect("workspace_members", slug=self.workspace.slug)


NEW_API_KEY_SESSION_KEY = "new_api_key"


class SettingsView(WorkspacePageMixin, TemplateView):
    template_name = "workspaces/settings.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx["api_keys"] = api_key_list(workspace=self.workspace)
        ctx["form"] = kwargs.get("form") or ApiKeyForm()
        ctx["api_base"] = self.request.build_absolute_uri(
            reverse("api_workspace_detail", kwargs={"workspace_id": self.workspace.pk})
        )
        return ctx

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = ApiKeyForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        _, raw_key = services.create_api_key(
            workspace=self.workspace,
            name=form.cleaned_data["name"],
            created_by=request.user,  # type: ignore[arg-type]
            role=form.cleaned_data["role"] or Role.MEMBER,
        )
        # POST/redirect/GET: reloading the page that shows the key must not create another. The
        # key waits in the session only until that page pops it, and is never shown again.
        request.session[NEW_API_KEY_SESSION_KEY] = raw_key
        return redirect("workspace_settings", slug=self.workspace.slug)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        new_key = request.session.pop(NEW_API_KEY_SESSION_KEY, None)
        response = self.render_to_response(self.get_context_data(new_key=new_key))
        if new_key:
            add_never_cache_headers(response)
        return response


class ApiKeyRevokeView(WorkspacePageMixin, View):
    def post(self, request: HttpRequest, slug: str, api_key_id: int) -> HttpResponse:
        api_key = services.revoke_api_key(workspace=self.workspace, api_key_id=api_key_id)
        messages.success(
            request,
            f"The API key “{api_key.name}” was revoked. Services using it can no longer call the API.",
        )
        return redirect("workspace_settings", slug=self.workspace.slug)
