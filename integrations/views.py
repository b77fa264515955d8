from typing import Any

from allauth.socialaccount.adapter import get_adapter as get_social_adapter
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from integrations import services
from integrations.google.adapter import PENDING_CONNECT_SESSION_KEY
from integrations.google.scopes import scopes_for
from integrations.models import IntegrationType
from integrations.selectors import connected_integrations, may_manage_integration
from workspaces.scoping import WorkspacePageMixin


class IntegrationsPageView(WorkspacePageMixin, TemplateView):
    template_name = "integrations/index.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        integrations = list(connected_integrations(workspace=self.workspace))
        ctx["may_disconnect"] = {
            i.pk for i in integrations if may_manage_integration(integration=i, membership=self.membership)
        }
        ctx["cards"] = [
            {
                "type": kind.value,
                "label": kind.label,
                "integrations": [i for i in integrations if i.type == kind],
            }
            for kind in IntegrationType
        ]
        return ctx


class GoogleConnectView(WorkspacePageMixin, View):
    """POST only (CSRF-protected): straight to Google's consent screen, the intent in allauth's state."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, slug: str, integration_type: str) -> HttpResponse:
        if integration_type not in IntegrationType.values:
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
            data={"workspace_id": self.workspace.pk, "integration_type": integration_type},
            scope=scopes_for(integration_type),
            auth_params=auth_params,
        )


class DisconnectView(WorkspacePageMixin, View):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, slug: str, integration_id: int) -> HttpResponse:
        disconnection = services.disconnect_integration_as(
            workspace=self.workspace, integration_id=integration_id, membership=self.membership
        )
        level = messages.WARNING if disconnection.revocation == "unreachable" else messages.SUCCESS
        messages.add_message(request, level, disconnection.message)
        return redirect("integrations_page", slug=self.workspace.slug)
