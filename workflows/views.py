"""Workflow pages under /w/<slug>/: thin views over workflows.services and workflows.selectors,
the same ones the REST API calls."""

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView
from django.views.generic.base import ContextMixin, TemplateResponseMixin
from rest_framework import serializers

from galaxyco.api import error_messages
from galaxyco.errors import AppError, ErrorCode, message_for_page
from integrations.models import Integration
from integrations.selectors import (
    StepAccount,
    connected_integrations,
    default_account_labels,
    step_account,
    usable_integrations,
)
from workflows import inputs, selectors, services
from workflows.actions.registry import get_action
from workflows.builder import (
    BuilderErrors,
    builder_errors,
    definition_of,
    empty_definition,
    integration_choices,
    keep_undrawn_params,
    new_step_row,
    step_rows,
)
from workflows.forms import DefinitionForm, RunInputForm
from workflows.models import RunStatus, RunTrigger, StepRun, Workflow, WorkflowRun
from workflows.serializers import RunFilters, WorkflowSerializer
from workspaces.scoping import WorkspacePageMixin

RUNS_PER_PAGE = 50
# Run errors that the person fixes on the Integrations page.
RECONNECT_ERROR_CODES = frozenset({ErrorCode.REAUTH_REQUIRED, ErrorCode.INTEGRATION_NOT_CONNECTED})


class WorkflowListView(WorkspacePageMixin, TemplateView):
    template_name = "workflows/list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx["workflows"] = selectors.workflow_list_with_last_run(workspace=self.workspace)
        return ctx


class WorkflowPageBase(WorkspacePageMixin, TemplateResponseMixin, ContextMixin, View):
    """The builder page: a new workflow, or an existing one with its "Run now" form."""

    template_name = "workflows/builder.html"

    def get_workflow(self, workflow_id: int) -> Workflow:
        workflow = selectors.get_workflow(workspace=self.workspace, workflow_id=workflow_id)
        if workflow is None:
            raise Http404
        return workflow

    def builder_response(
        self,
        *,
        workflow: Workflow | None,
        definition: dict[str, Any],
        errors: BuilderErrors | None = None,
        run_form: RunInputForm | None = None,
        preview: list["PreviewRow"] | None = None,
        status: int = 200,
    ) -> HttpResponse:
        connected = {i.pk: i for i in connected_integrations(workspace=self.workspace)}
        # Offered: the accounts this person may name, and those the workflow already names.
        offered = set(usable_integrations(workspace=self.workspace, user_id=self.membership.user_id))
        offered |= {connected[i] for i in _named_ids(definition) if i in connected}
        integrations = sorted(offered, key=lambda i: (i.type, i.email, i.pk))
        default_labels = default_account_labels(workspace=self.workspace)
        if workflow is not None and run_form is None:
            run_form = self.run_form(workflow)
        rows = step_rows(
            steps=definition.get("steps"),
            errors=errors,
            integrations=integrations,
            default_labels=default_labels,
        )
        ctx = self.get_context_data(
            workflow=workflow,
            definition=definition,
            steps=list(
                zip(rows, self.account_notes(definition=definition, connected=connected), strict=True)
            ),
            new_step=new_step_row(integrations=integrations, default_labels=default_labels),
            default_labels_json=default_labels,
            integrations_json=integration_choices(integrations),
            errors=errors or BuilderErrors(),
            run_form=run_form,
            preview=preview,
        )
        return self.render_to_response(ctx, status=status)

    def account_notes(
        self, *, definition: dict[str, Any], connected: dict[int, Integration]
    ) -> list[StepAccount | None]:
        """Per step: which mailbox it sends from when this person runs it, and a warning when
        they may not use that account. None for a step that needs no account."""
        raw_steps = definition.get("steps")
        notes: list[StepAccount | None] = []
        for raw in raw_steps if isinstance(raw_steps, list) else []:
            step = raw if isinstance(raw, dict) else {}
            action = get_action(str(step.get("action") or ""))
            named_id = step.get("integration")
            named = connected.get(named_id) if isinstance(named_id, int) else None
            if (
                action is None
                or action.integration_type is None
                or (named_id not in (None, "") and named is None)
            ):
                notes.append(None)
                continue
            notes.append(
                step_account(
                    workspace=self.workspace,
                    integration_type=action.integration_type,
                    named=named,
                    requester_id=self.membership.user_id,
                    step_label=action.label,
                )
            )
        return notes

    def run_form(self, workflow: Workflow, *, data: Any = None) -> RunInputForm:
        """Run now: a field per input; on the page's first view, the values this person ran with last."""
        schema = inputs.input_schema(workflow.steps.all())
        if data is not None:
            return RunInputForm(data, schema=schema)
        last = selectors.last_run_input(
            workspace=self.workspace, workflow_id=workflow.pk, user_id=self.membership.user_id
        )
        return RunInputForm(initial=RunInputForm.initial_from(last, schema=schema), schema=schema)

    def save(self, workflow: Workflow | None) -> HttpResponse:
        """Validate the posted definition with the API's serializer and save it with the service."""
        stored = definition_of(workflow) if workflow else empty_definition()
        form = DefinitionForm(self.request.POST)
        if not form.is_valid():
            errors = BuilderErrors(general=[str(message) for message in form.errors["definition"]])
            return self.builder_response(workflow=workflow, definition=stored, errors=errors, status=400)
        definition = keep_undrawn_params(submitted=form.cleaned_data["definition"], stored=stored)
        serializer = WorkflowSerializer(data=definition, context={"workspace": self.workspace})
        if not serializer.is_valid():
            return self.builder_response(
                workflow=workflow, definition=definition, errors=builder_errors(serializer.errors), status=400
            )
        data = serializer.validated_data
        try:
            if workflow is None:
                saved = services.create_workflow(
                    workspace=self.workspace,
                    created_by=self.request.user,  # type: ignore[arg-type]
                    name=data["name"],
                    description=data.get("description", ""),
                    is_active=data.get("is_active", True),
                    steps=serializer.step_specs() or [],
                )
            else:
                saved = services.update_workflow(
                    workspace=self.workspace,
                    workflow_id=workflow.pk,
                    saved_by=self.request.user,  # type: ignore[arg-type]
                    name=data["name"],
                    description=data.get("description", ""),
                    is_active=data.get("is_active", True),
                    steps=serializer.step_specs() or [],
                )
        except AppError as error:
            return self.builder_response(
                workflow=workflow,
                definition=definition,
                errors=BuilderErrors(general=[error.message]),
                status=400,
            )
        if workflow is None:
            messages.success(self.request, f"The workflow “{saved.name}” was created. You can run it now.")
        else:
            messages.success(self.request, f"Your changes to “{saved.name}” were saved.")
        return redirect("workflow_edit", slug=self.workspace.slug, workflow_id=saved.pk)


def _named_ids(definition: dict[str, Any]) -> set[int]:
    raw_steps = definition.get("steps")
    return {
        step["integration"]
        for step in (raw_steps if isinstance(raw_steps, list) else [])
        if isinstance(step, dict) and isinstance(step.get("integration"), int)
    }


class WorkflowCreateView(WorkflowPageBase):
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.builder_response(workflow=None, definition=empty_definition())

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.save(None)


class WorkflowEditView(WorkflowPageBase):
    def get(self, request: HttpRequest, slug: str, workflow_id: int) -> HttpResponse:
        workflow = self.get_workflow(workflow_id)
        return self.builder_response(workflow=workflow, definition=definition_of(workflow))

    def post(self, request: HttpRequest, slug: str, workflow_id: int) -> HttpResponse:
        return self.save(self.get_workflow(workflow_id))


class WorkflowRunView(WorkflowPageBase):
    """POST: start a run from the page and go straight to it; the run page follows its progress."""

    def post(self, request: HttpRequest, slug: str, workflow_id: int) -> HttpResponse:
        workflow = self.get_workflow(workflow_id)
        form = self.run_form(workflow, data=request.POST)
        status = 400
        if form.is_valid():
            try:
                run, _ = services.start_run(
                    workspace=self.workspace,
                    workflow_id=workflow.pk,
                    run_input=form.run_input(),
                    trigger=RunTrigger.UI,
                    requested_by=request.user,  # type: ignore[arg-type]
                )
            except AppError as error:
                _show_error(form, error)
                status = error.status
            else:
                # No "has started" message: by the time the run page shows, the run may have
                # finished; that page says what happened (run_outcome).
                return redirect("run_detail", slug=self.workspace.slug, run_id=run.pk)
        return self.builder_response(
            workflow=workflow, definition=definition_of(workflow), run_form=form, status=status
        )


@dataclass(frozen=True)
class PreviewRow:
    position: int
    key: str
    label: str
    fields: list[tuple[str, str]]
    error: str | None


class WorkflowPreviewView(WorkflowPageBase):
    """POST: the Run now form's values, filled into each step's params as a run would send them.
    Nothing is sent and no run is created."""

    def post(self, request: HttpRequest, slug: str, workflow_id: int) -> HttpResponse:
        workflow = self.get_workflow(workflow_id)
        form = self.run_form(workflow, data=request.POST)
        if not form.is_valid():
            return self.builder_response(
                workflow=workflow, definition=definition_of(workflow), run_form=form, status=400
            )
        try:
            previews = services.preview_run(
                workspace=self.workspace, workflow_id=workflow.pk, run_input=form.run_input()
            )
        except AppError as error:
            _show_error(form, error)
            return self.builder_response(
                workflow=workflow, definition=definition_of(workflow), run_form=form, status=error.status
            )
        rows = [
            PreviewRow(
                position=step.position,
                key=step.key,
                label=action.label if (action := get_action(step.action)) else step.action,
                fields=[
                    (name, _preview_text(value))
                    for name, value in (step.params or {}).items()
                    if value not in ("", [], None)
                ],
                error=step.error,
            )
            for step in previews
        ]
        return self.builder_response(
            workflow=workflow, definition=definition_of(workflow), run_form=form, preview=rows
        )


def _preview_text(value: Any) -> str:
    return ", ".join(str(item) for item in value) if isinstance(value, list) else str(value)


def _show_error(form: RunInputForm, error: AppError) -> None:
    """An error from starting or previewing a run, next to the input it is about."""
    message = message_for_page(error)
    input_errors = error.details.get("fields", {}).get("input") if error.details else None
    if input_errors:
        form.add_input_errors(input_errors)
        form.input_errors = message
    else:
        form.add_error(None, message)


class WorkflowDeleteView(WorkflowPageBase):
    def post(self, request: HttpRequest, slug: str, workflow_id: int) -> HttpResponse:
        workflow = self.get_workflow(workflow_id)
        archived = services.delete_workflow(workspace=self.workspace, workflow_id=workflow.pk)
        if archived:
            messages.success(
                request, f"The workflow “{workflow.name}” was deleted. Its runs stay in Run history."
            )
        else:
            messages.success(request, f"The workflow “{workflow.name}” was deleted.")
        return redirect("workflow_list", slug=self.workspace.slug)


# --- Runs


def duration_text(run: WorkflowRun | StepRun) -> str:
    if run.started_at is None or run.finished_at is None:
        return ""
    return format_duration(run.finished_at - run.started_at)


def format_duration(delta: timedelta) -> str:
    seconds = max(delta.total_seconds(), 0.0)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@dataclass(frozen=True)
class RunRow:
    run: WorkflowRun
    duration: str


# How the run history's form names each query parameter, for its error messages.
RUN_FILTER_LABELS = {
    "workflow": "Workflow",
    "status": "Status",
    "since": "From",
    "until": "To",
    "page": "Page",
}


class RunListView(WorkspacePageMixin, TemplateView):
    """Filtered by the API's own RunFilters: a value that names nothing is refused (400, with
    a message), never silently dropped."""

    template_name = "workflows/run_list.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            filters = RunFilters.read(request)
        except serializers.ValidationError as error:
            details = error.detail if isinstance(error.detail, dict) else {"": error.detail}
            problems = [
                f"{RUN_FILTER_LABELS.get(name, name)}: {message}".lstrip(": ")
                for name, value in details.items()
                for message in error_messages(value)
            ]
            return self.render_to_response(self.get_context_data(filter_errors=problems), status=400)
        return self.render_to_response(self.get_context_data(filters=filters))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        filters: dict[str, Any] = kwargs.get("filters", {})
        runs = selectors.run_list(
            workspace=self.workspace,
            workflow_id=filters.get("workflow"),
            status=filters.get("status"),
            since=filters.get("since"),
            until=filters.get("until"),
            with_steps=False,  # the history shows runs, not their steps nor their input
            with_input=False,
        )
        if kwargs.get("filter_errors"):
            runs = runs.none()
        page = Paginator(runs.select_related("requested_by", "api_key"), RUNS_PER_PAGE).get_page(
            filters.get("page")
        )
        # The form shows what was asked, valid or not, so that it can be corrected.
        asked = {name: self.request.GET.get(name, "") for name in ("workflow", "status", "since", "until")}
        ctx.update(
            page_obj=page,
            rows=[RunRow(run=run, duration=duration_text(run)) for run in page.object_list],
            workflows=selectors.workflow_choices(workspace=self.workspace),
            statuses=RunStatus.choices,
            asked=asked,
            filtered=any(asked.values()),
        )
        return ctx


@dataclass(frozen=True)
class StepRunRow:
    step: StepRun
    action_label: str
    output_json: str


class RunDetailView(WorkspacePageMixin, TemplateView):
    template_name = "workflows/run_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        run = selectors.get_run(workspace=self.workspace, run_id=kwargs["run_id"])
        if run is None:
            raise Http404
        steps = list(run.step_runs.all())
        error_codes = {run.error_code} | {step.error_code for step in steps}
        ctx.update(
            run=run,
            rerunnable=run.status in services.RERUNNABLE_STATUSES,
            rerun_refusal=services.rerun_refusal(run_id=run.pk, steps=steps),
            retries=list(
                selectors.run_list(workspace=self.workspace).filter(retry_of=run).values_list("pk", flat=True)
            ),
            duration=duration_text(run),
            input_json=json.dumps(run.input, indent=2, ensure_ascii=False, sort_keys=True),
            steps=[
                StepRunRow(
                    step=step,
                    action_label=action.label if (action := get_action(step.action)) else step.action,
                    output_json=json.dumps(step.output, indent=2, ensure_ascii=False, sort_keys=True)
                    if step.output
                    else "",
                )
                for step in steps
            ],
            show_reconnect=bool(error_codes & RECONNECT_ERROR_CODES),
            outcome=run_outcome(run),
            # The same text run.js builds from the API's answer: a change means "reload".
            signature=run_signature(run.status, [(s.status, s.attempts) for s in steps]),
            api_url=reverse("api_run_detail", kwargs={"workspace_id": self.workspace.pk, "run_id": run.pk}),
        )
        return ctx


class RunRetryView(WorkspacePageMixin, View):
    """POST: re-run a failed or canceled run from its page, and go to the new run."""

    def post(self, request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
        try:
            run, _ = services.rerun(
                workspace=self.workspace,
                run_id=run_id,
                trigger=RunTrigger.UI,
                requested_by=request.user,  # type: ignore[arg-type]
            )
        except AppError as error:
            if error.status == 404:
                raise Http404 from None
            messages.error(request, error.message)
            return redirect("run_detail", slug=self.workspace.slug, run_id=run_id)
        return redirect("run_detail", slug=self.workspace.slug, run_id=run.pk)


class RunCancelView(WorkspacePageMixin, View):
    """POST: cancel a queued or waiting run from its page."""

    def post(self, request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
        try:
            services.cancel_run(workspace=self.workspace, run_id=run_id)
        except AppError as error:
            if error.status == 404:
                raise Http404 from None
            messages.error(request, error.message)
        return redirect("run_detail", slug=self.workspace.slug, run_id=run_id)


class StepSendAgainView(WorkspacePageMixin, View):
    """POST: send again a step whose outcome is unknown, on the person's word; back to the run."""

    def post(self, request: HttpRequest, slug: str, run_id: int, position: int) -> HttpResponse:
        try:
            services.send_step_again(workspace=self.workspace, run_id=run_id, position=position)
        except AppError as error:
            if error.status == 404:
                raise Http404 from error
            messages.error(request, error.message)
        else:
            messages.success(request, f"Step {position + 1} will be sent again.")
        return redirect("run_detail", slug=self.workspace.slug, run_id=run_id)


@dataclass(frozen=True)
class RunOutcome:
    level: str  # the message style: success, error, warning, info
    text: str


def run_outcome(run: WorkflowRun) -> RunOutcome:
    """What the run page's banner says: where the run is now, not what was asked for."""
    if run.status == RunStatus.SUCCEEDED:
        return RunOutcome("success", f"Run #{run.pk} succeeded.")
    if run.status == RunStatus.FAILED:
        return RunOutcome("error", f"Run #{run.pk} failed" + (":" if run.error_message else "."))
    if run.status == RunStatus.CANCELED:
        return RunOutcome("warning", f"Run #{run.pk} was canceled.")
    return RunOutcome("info", f"Run #{run.pk} is {run.get_status_display().lower()}.")


def run_signature(status: str, steps: list[tuple[str, int]]) -> str:
    return status + "|" + ",".join(f"{step_status}:{attempts}" for step_status, attempts in steps)
