from typing import Any

from allauth.socialaccount.adapter import get_adapter as get_social_adapter
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from galaxyco.errors import AppError, InvalidInput
from integrations import services
from integrations.adapter import PENDING_CONNECT_SESSION_KEY
from integrations.google.scopes import REQUIRED_SCOPE, scopes_for
from integrations.models import Integration, IntegrationType
from integrations.selectors import connected_integrations, may_manage_integration
from integrations.serializers import SidemailConnectSerializer
from workspaces.scoping import WorkspacePageMixin


class IntegrationsPageView(WorkspacePageMixin, TemplateView):
    template_name = "integrations/index.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        integrations = list(connected_integrations(workspace=self.workspace))
        ctx["may_change"] = {
            i.pk
            for i in integrations
            if may_manage_integration(
                integration=i, role=self.membership.role, user_id=self.membership.user_id
            )
        }
        ctx["cards"] = [
            {
                "type": kind.value,
                "label": kind.label,
                "integrations": [i for i in integrations if i.type == kind],
                "default": next((i for i in integrations if i.type == kind and i.is_default), None),
                # The connect form's "share" box is ticked (and the account becomes the default)
                # when this would be the type's first shared account and the person is an admin.
                "share_by_default": services.first_shared_account_would_be_default(
                    workspace=self.workspace, integration_type=kind, role=self.membership.role
                ),
            }
            for kind in IntegrationType
        ]
        return ctx


class GoogleConnectView(WorkspacePageMixin, View):
    """POST only (CSRF-protected): straight to Google's consent screen, the intent in allauth's state."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, slug: str, integration_type: str) -> HttpResponse:
        if integration_type not in REQUIRED_SCOPE:  # Google's types only
            raise Http404
        provider = get_social_adapter(request).get_provider(request, "google")
        auth_params = {"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"}
        if login_hint := request.POST.get("login_hint", "").strip():
            auth_params["login_hint"] = login_hint
        request.session[PENDING_CONNECT_SESSION_KEY] = self.workspace.slug
        return provider.redirect(
            request,
            "connect",
            next_url=reverse("integrations_page", kwargs={"slug": self.workspace.slug}),
            data={
                "workspace_id": self.workspace.pk,
                "integration_type": integration_type,
                "share": request.POST.get("share") == "1",
            },
            scope=scopes_for(integration_type),
            auth_params=auth_params,
        )


class SidemailConnectView(WorkspacePageMixin, View):
    """POST the workspace's own Sidemail API key and from-address, as POST .../integrations/sidemail/."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        form = SidemailConnectSerializer(
            data={
                "api_key": request.POST.get("api_key", "").strip(),
                "from_address": request.POST.get("from_address", "").strip(),
                "shared": request.POST.get("share") == "1",
            }
        )
        try:
            if not form.is_valid():
                raise InvalidInput(
                    "Enter the Sidemail API key and a from-address on a domain verified in Sidemail."
                )
            integration = services.connect_sidemail_integration(
                workspace=self.workspace,
                user=self.membership.user,
                api_key=form.validated_data["api_key"],
                from_address=form.validated_data["from_address"],
                share=form.validated_data["shared"],
            )
        except AppError as error:
            if error.status in (403, 404):
                raise
            messages.error(request, error.message)
        else:
            messages.success(
                request, f"Sidemail connected: workflow emails can be sent from {integration.email}."
            )
        return redirect("integrations_page", slug=self.workspace.slug)


class DisconnectView(WorkspacePageMixin, View):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, slug: str, integration_id: int) -> HttpResponse:
        disconnection = services.disconnect_integration_as(
            workspace=self.workspace,
            integration_id=integration_id,
            role=self.membership.role,
            user_id=self.membership.user_id,
        )
        level = messages.WARNING if disconnection.revocation == "unreachable" else messages.SUCCESS
        messages.add_message(request, level, disconnection.message)
        return redirect("integrations_page", slug=self.workspace.slug)


# The sharing form's buttons: what each one changes.
SHARING_CHANGES: dict[str, dict[str, bool]] = {
    "share": {"shared": True},
    "unshare": {"shared": False},
    "make_default": {"is_default": True},
}


class SharingView(WorkspacePageMixin, View):
    """POST `change` = share | unshare | make_default, as PATCH .../integrations/<id>/ does."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, slug: str, integration_id: int) -> HttpResponse:
        try:
            change = SHARING_CHANGES.get(request.POST.get("change", ""))
            if change is None:
                raise InvalidInput("Choose whether to share the account or make it the default.")
            integration = services.update_integration_sharing(
                workspace=self.workspace,
                integration_id=integration_id,
                role=self.membership.role,
                user_id=self.membership.user_id,
                **change,
            )
        except AppError as error:
            if error.status in (403, 404):
                raise
            messages.error(request, error.message)
        else:
            messages.success(request, sharing_message(integration))
        return redirect("integrations_page", slug=self.workspace.slug)


def sharing_message(integration: Integration) -> str:
    label = f"{integration.get_type_display()} ({integration.email})"
    if integration.is_default:
        return f"{label} is now the workspace's default: steps that name no account send from it."
    if integration.shared:
        return f"{label} is now shared: any member's runs, API keys and triggers may send from it."
    return f"{label} is now private: only its owner's runs may send from it."
