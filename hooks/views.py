"""Pages: the builder's Triggers section and the settings page's Notifications section post here.
Thin views over hooks.services, the same ones the API calls; they go back to the page they came from."""

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views import View
from rest_framework.exceptions import ValidationError

from galaxyco.errors import AppError, message_for_page
from hooks import selectors, services
from hooks.models import NotificationEvent, Trigger, TriggerType
from hooks.trigger_types import checked_config
from integrations.google.oauth.views import redirect_for_read_access
from workflows.selectors import get_workflow
from workspaces.scoping import WorkspacePageMixin


class TriggerPageBase(WorkspacePageMixin, View):
    def back(self, workflow_id: int) -> HttpResponse:
        url = reverse("workflow_edit", kwargs={"slug": self.workspace.slug, "workflow_id": workflow_id})
        return redirect(url + "#triggers")

    def check_workflow(self, workflow_id: int) -> None:
        if get_workflow(workspace=self.workspace, workflow_id=workflow_id) is None:
            raise Http404


# The builder's add forms post these; each type's serializer checks them (hooks.trigger_types).
CONFIG_FIELDS = ("cron", "timezone", "integration", "query")
ADDED: dict[str, str] = {
    TriggerType.WEBHOOK: "Webhook trigger added. POST a JSON object to its URL to start a run.",
    TriggerType.SCHEDULE: "Schedule trigger added. Its next times are listed below.",
    TriggerType.GMAIL_NEW_EMAIL: "Gmail trigger added. It checks the mailbox every minute once it may read it.",
}


class TriggerCreateView(TriggerPageBase):
    def post(self, request: HttpRequest, slug: str, workflow_id: int) -> HttpResponse:
        self.check_workflow(workflow_id)
        kind = request.POST.get("type") or TriggerType.WEBHOOK
        if kind not in TriggerType.values:
            raise Http404
        fields = {name: request.POST[name] for name in CONFIG_FIELDS if request.POST.get(name, "") != ""}
        try:
            services.create_trigger(
                workspace=self.workspace,
                workflow_id=workflow_id,
                created_by=request.user,  # type: ignore[arg-type]
                trigger_type=kind,
                signing=request.POST.get("signing") == "on",
                config=checked_config(kind, fields),
            )
        except ValidationError as error:
            detail = error.detail if isinstance(error.detail, dict) else {"": error.detail}
            problems = [str(problem) for found in detail.values() for problem in found]
            messages.error(request, " ".join(problems))
            return self.back(workflow_id)
        except AppError as error:
            messages.error(request, error.message)
            return self.back(workflow_id)
        messages.success(request, ADDED[kind])
        return self.back(workflow_id)


class TriggerChangeView(TriggerPageBase):
    """POST with `action`: enable, disable, rotate or delete."""

    def post(self, request: HttpRequest, slug: str, workflow_id: int, trigger_id: int) -> HttpResponse:
        self.check_workflow(workflow_id)
        action = request.POST.get("action", "")
        workspace = self.workspace
        try:
            if action in ("enable", "disable"):
                services.update_trigger(
                    workspace=workspace,
                    workflow_id=workflow_id,
                    trigger_id=trigger_id,
                    enabled=action == "enable",
                )
                messages.success(request, f"The trigger was {action}d.")
            elif action == "rotate":
                rotated = services.rotate_trigger_token(
                    workspace=workspace, workflow_id=workflow_id, trigger_id=trigger_id
                )
                messages.success(
                    request,
                    "The webhook has a new URL and a new signing secret; the old ones no longer work."
                    if rotated.signing
                    else "The webhook has a new URL; the old one no longer answers.",
                )
            elif action == "delete":
                services.delete_trigger(workspace=workspace, workflow_id=workflow_id, trigger_id=trigger_id)
                messages.success(request, "The trigger was deleted.")
            else:
                messages.error(request, "Choose enable, disable, rotate or delete.")
        except AppError as error:
            messages.error(request, message_for_page(error))
        return self.back(workflow_id)


class TriggerReadAccessView(TriggerPageBase):
    """A Gmail trigger's authorization_url: GET shows what will be asked and a button; the POST
    (CSRF-protected) goes to Google's consent screen for read access to the trigger's mailbox."""

    def _trigger(self, workflow_id: int, trigger_id: int) -> Trigger:
        trigger = selectors.get_trigger(
            workspace=self.workspace, workflow_id=workflow_id, trigger_id=trigger_id
        )
        if trigger is None or trigger.integration is None:
            raise Http404
        return trigger

    def get(self, request: HttpRequest, slug: str, workflow_id: int, trigger_id: int) -> HttpResponse:
        trigger = self._trigger(workflow_id, trigger_id)
        return render(request, "hooks/read_access.html", {"workspace": self.workspace, "trigger": trigger})

    def post(self, request: HttpRequest, slug: str, workflow_id: int, trigger_id: int) -> HttpResponse:
        trigger = self._trigger(workflow_id, trigger_id)
        assert trigger.integration is not None
        back = reverse("workflow_edit", kwargs={"slug": self.workspace.slug, "workflow_id": workflow_id})
        return redirect_for_read_access(
            request, workspace=self.workspace, integration=trigger.integration, next_url=back + "#triggers"
        )


class EndpointForm(forms.Form):
    url = forms.URLField(label="URL", max_length=2000, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=NotificationEvent.choices, widget=forms.CheckboxSelectMultiple, label="Events"
    )


class EndpointCreateView(WorkspacePageMixin, View):
    """Creates an endpoint and shows its signing secret, this once."""

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        form = EndpointForm(request.POST)
        if form.is_valid():
            try:
                endpoint = services.create_endpoint(
                    workspace=self.workspace,
                    created_by=request.user,  # type: ignore[arg-type]
                    url=form.cleaned_data["url"],
                    events=form.cleaned_data["events"],
                )
            except AppError as error:
                form.add_error("url", error.message)
            else:
                response = render(
                    request,
                    "hooks/endpoint_created.html",
                    {"workspace": self.workspace, "endpoint": endpoint},
                )
                add_never_cache_headers(response)
                return response
        return render(
            request, "hooks/endpoint_form.html", {"workspace": self.workspace, "form": form}, status=400
        )


class EndpointChangeView(WorkspacePageMixin, View):
    """POST with `action`: enable, disable or delete."""

    def post(self, request: HttpRequest, slug: str, endpoint_id: int) -> HttpResponse:
        action = request.POST.get("action", "")
        try:
            if action in ("enable", "disable"):
                services.update_endpoint(
                    workspace=self.workspace, endpoint_id=endpoint_id, enabled=action == "enable"
                )
                messages.success(request, f"The endpoint was {action}d.")
            elif action == "delete":
                services.delete_endpoint(workspace=self.workspace, endpoint_id=endpoint_id)
                messages.success(request, "The endpoint was deleted; it receives no more notifications.")
            else:
                messages.error(request, "Choose enable, disable or delete.")
        except AppError as error:
            messages.error(request, message_for_page(error))
        return redirect(
            reverse("workspace_settings", kwargs={"slug": self.workspace.slug}) + "#notifications"
        )
