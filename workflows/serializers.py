from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request

from galaxyco.query import MAX_ID, PageParameters, QueryParameters
from integrations.selectors import integrations_by_id
from workflows import inputs
from workflows.actions.registry import action_choices, get_action
from workflows.models import RunStatus, StepRun, Workflow, WorkflowRun, WorkflowStep
from workflows.rendering import STEP_KEY
from workflows.services import StepSpec

MAX_STEPS = 20


class StepListSerializer(serializers.ListSerializer):
    """A workflow's steps. The cheap limits come first, before any step is looked at; the accounts
    the steps name are then read in one query, whatever the number of steps."""

    def to_internal_value(self, data: Any) -> list[dict[str, Any]]:
        if isinstance(data, list) and not data:
            raise serializers.ValidationError("Add at least one step.")
        if isinstance(data, list) and len(data) > MAX_STEPS:
            raise serializers.ValidationError(f"A workflow has at most {MAX_STEPS} steps.")
        return super().to_internal_value(data)

    def run_child_validation(self, data: Any) -> dict[str, Any]:
        # A PATCH replaces the steps whole: each step is complete, though the workflow's other
        # fields are optional (a nested serializer would otherwise inherit the PATCH's `partial`).
        step = StepSerializer(data=data, context=self.context)
        step.is_valid(raise_exception=True)
        return step.validated_data

    def validate(self, attrs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Ids in a body are checked against the URL's workspace: another's is "not found".
        named = integrations_by_id(
            workspace=self.context["workspace"],
            integration_ids={step["integration"] for step in attrs if step["integration"] is not None},
        )
        errors: dict[int, dict[str, list[str]]] = {}
        for index, step in enumerate(attrs):
            if step["integration"] is None:
                continue
            integration = named.get(step["integration"])
            needed_type = get_action(step["action"]).integration_type  # type: ignore[union-attr]
            if integration is None:
                errors[index] = {"integration": ["No integration with this id exists in this workspace."]}
            elif integration.type != needed_type:
                errors[index] = {"integration": [f"This step needs a {needed_type} integration."]}
            else:
                step["integration"] = integration
        self._check_keys(attrs, errors)
        if errors:
            raise serializers.ValidationError(errors)  # type: ignore[arg-type]
        return attrs

    @staticmethod
    def _check_keys(attrs: list[dict[str, Any]], errors: dict[int, dict[str, Any]]) -> None:
        """Give each step a key, unique in the workflow, and refuse `{{ steps.… }}` naming no earlier step."""
        keys = inputs.assign_step_keys(
            actions=[step["action"] for step in attrs], keys=[step.get("key") for step in attrs]
        )
        seen: dict[str, int] = {}
        for index, key in enumerate(keys):
            if key in seen:
                errors.setdefault(index, {})["key"] = [
                    f"Step {seen[key] + 1} already has the key “{key}”: each step's key must be unique in the workflow."
                ]
            seen.setdefault(key, index)
            attrs[index]["key"] = key
        references = inputs.step_reference_errors(
            keys=keys, actions=[step["action"] for step in attrs], params=[step["params"] for step in attrs]
        )
        for index, params in references.items():
            errors.setdefault(index, {}).setdefault("params", {}).update(params)


class StepSerializer(serializers.Serializer):
    key = serializers.RegexField(
        rf"^{STEP_KEY.pattern}\Z",
        max_length=60,
        required=False,
        allow_blank=True,
        default="",
        error_messages={
            "invalid": "A step key starts with a lowercase letter and holds only lowercase letters, digits and underscores."
        },
        help_text="How later steps read this step's output: {{ steps.<key>.<field> }}. Empty: one from the action, such as gmail_send_email.",
    )
    action = serializers.ChoiceField(choices=action_choices())
    integration = serializers.IntegerField(
        allow_null=True, required=False, default=None, min_value=1, max_value=MAX_ID
    )
    params = serializers.DictField(default=dict)

    class Meta:
        list_serializer_class = StepListSerializer

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        action = get_action(attrs["action"])
        assert action is not None  # the ChoiceField checked it
        try:
            attrs["params"] = action.validate_params(attrs["params"])
        except serializers.ValidationError as error:
            raise serializers.ValidationError({"params": error.detail}) from None
        return attrs

    def to_representation(self, instance: WorkflowStep) -> dict[str, Any]:
        return {
            "id": instance.pk,
            "position": instance.position,
            "key": instance.key,
            "action": instance.action,
            "integration": instance.integration_id,
            "params": instance.params,
        }


class InputSpecSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The dotted path below input: email, or customer.email.")
    kind = serializers.ChoiceField(choices=["text", "address"])


class WorkflowSerializer(serializers.ModelSerializer):
    # StepListSerializer checks these limits first, with its own messages; declared here for the schema.
    steps = StepSerializer(many=True, min_length=1, max_length=MAX_STEPS)  # type: ignore[call-arg]  # stubs lag DRF
    created_by = serializers.SerializerMethodField()
    inputs = serializers.SerializerMethodField(
        help_text="What a run's input must hold: each {{ input.<name> }} the steps read. kind: text "
        "(text or a number) or address (an email address, a list of them, or a comma-separated text)."
    )

    class Meta:
        model = Workflow
        fields = [
            "id",
            "name",
            "description",
            "is_active",
            "steps",
            "inputs",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_by", "created_at", "updated_at"]

    def get_created_by(self, obj: Workflow) -> str | None:
        return obj.created_by.email if obj.created_by else None

    @extend_schema_field(InputSpecSerializer(many=True))
    def get_inputs(self, obj: Workflow) -> list[dict[str, str]]:
        return [{"name": spec.name, "kind": spec.kind} for spec in inputs.input_schema(obj.steps.all())]

    def step_specs(self) -> list[StepSpec] | None:
        steps = self.validated_data.get("steps")
        if steps is None:
            return None
        return [
            StepSpec(action=s["action"], params=s["params"], integration=s["integration"], key=s["key"])
            for s in steps
        ]


class ExecuteSerializer(serializers.Serializer):
    input = serializers.DictField(default=dict)

    @classmethod
    def read_input(cls, data: Any) -> dict[str, Any]:
        """The run's input from an execute body. The usual body, an object whose `input` is an
        object or absent, is read directly: building the serializer's fields cost more than the
        check. Any other body goes through the serializer, which refuses it with DRF's messages."""
        if type(data) is dict:
            run_input = data.get("input", {})
            if type(run_input) is dict:
                return {str(key): value for key, value in run_input.items()}
        serializer = cls(data=data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data["input"])


class PreviewSerializer(serializers.Serializer):
    input = serializers.DictField(default=dict)


class StepPreviewSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    key = serializers.CharField()
    action = serializers.CharField()
    params = serializers.DictField(allow_null=True, help_text="The params as a run would send them.")
    error = serializers.CharField(allow_null=True, help_text="Why this step could not be filled in.")


class PreviewResponseSerializer(serializers.Serializer):
    steps = StepPreviewSerializer(many=True)


def _when(value: datetime | None) -> str | None:
    """As DRF's DateTimeField writes it: ISO 8601 in the current time zone, UTC as Z."""
    if value is None:
        return None
    written = value.astimezone(timezone.get_current_timezone()).isoformat()
    return written[:-6] + "Z" if written.endswith("+00:00") else written


def _error(code: str, message: str) -> dict[str, str] | None:
    return {"code": code, "message": message} if code else None


def step_run_data(step: StepRun) -> dict[str, Any]:
    """A step of a run as the API shows it (StepRunSerializer's fields)."""
    return {
        "position": step.position,
        "key": step.key,
        "action": step.action,
        "status": step.status,
        "carried_over": step.carried_over,
        "attempts": step.attempts,
        "output": step.output,
        "error": _error(step.error_code, step.error_message),
        "integration": step.integration_id,
        "started_at": _when(step.started_at),
        "finished_at": _when(step.finished_at),
        "next_attempt_at": _when(step.next_attempt_at),
    }


def run_data(run: WorkflowRun) -> dict[str, Any]:
    """A run as the API shows it (RunSerializer's fields), its steps from `run.step_runs.all()`
    (prefetched by the lists, or as the engine left them). Written out field by field: it answers
    every execute request, where building DRF's serializer fields cost more than the run's SQL."""
    return {
        "id": run.pk,
        "url": reverse("api_run_detail", kwargs={"workspace_id": run.workspace_id, "run_id": run.pk}),
        "workflow": run.workflow_id,
        "workflow_name": run.workflow.name,
        "status": run.status,
        "trigger": run.trigger,
        "trigger_id": run.source_trigger_id,
        "retry_of": run.retry_of_id,
        "input": run.input,
        "created_at": _when(run.created_at),
        "started_at": _when(run.started_at),
        "finished_at": _when(run.finished_at),
        "error": _error(run.error_code, run.error_message),
        "steps": [step_run_data(step) for step in run.step_runs.all()],
    }


class StepRunSerializer(serializers.ModelSerializer):
    error = serializers.SerializerMethodField()
    carried_over = serializers.BooleanField(
        read_only=True,
        help_text="Succeeded in the run this one re-runs: its output was kept, it did not run again.",
    )

    class Meta:
        model = StepRun
        fields = [
            "position",
            "key",
            "action",
            "status",
            "carried_over",
            "attempts",
            "output",
            "error",
            "integration",
            "started_at",
            "finished_at",
            "next_attempt_at",
        ]
        read_only_fields = fields  # output only: nothing names a tenant row through it

    def get_error(self, obj: StepRun) -> dict[str, str] | None:
        return _error(obj.error_code, obj.error_message)

    def to_representation(self, instance: StepRun) -> dict[str, Any]:
        return step_run_data(instance)


class RunSerializer(serializers.ModelSerializer):
    steps = StepRunSerializer(source="step_runs", many=True)
    error = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    workflow_name = serializers.CharField(source="workflow.name")
    trigger_id = serializers.IntegerField(
        source="source_trigger_id", allow_null=True, read_only=True, help_text="The trigger that started it."
    )
    retry_of = serializers.IntegerField(
        source="retry_of_id", allow_null=True, read_only=True, help_text="The run this one re-runs."
    )

    class Meta:
        model = WorkflowRun
        fields = [
            "id",
            "url",
            "workflow",
            "workflow_name",
            "status",
            "trigger",
            "trigger_id",
            "retry_of",
            "input",
            "created_at",
            "started_at",
            "finished_at",
            "error",
            "steps",
        ]
        read_only_fields = fields  # output only: nothing names a tenant row through it

    def get_error(self, obj: WorkflowRun) -> dict[str, str] | None:
        return _error(obj.error_code, obj.error_message)

    def get_url(self, obj: WorkflowRun) -> str:
        return reverse("api_run_detail", kwargs={"workspace_id": obj.workspace_id, "run_id": obj.pk})

    def to_representation(self, instance: WorkflowRun) -> dict[str, Any]:
        # The fields above describe the schema; the values come from one plain function.
        return run_data(instance)


class RunErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ExecuteResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField(help_text="True once the run has succeeded.")
    run = RunSerializer()
    error = RunErrorSerializer(required=False, help_text="Why the run failed; only on a failed run.")


WAIT_DEFAULT = 1


class ExecuteParameters(QueryParameters):
    wait = serializers.IntegerField(
        required=False,
        default=WAIT_DEFAULT,
        min_value=0,
        max_value=1,
        help_text="0: answer 202 at once instead of waiting up to 30 s for the run to finish.",
    )

    @classmethod
    def read(cls, request: Request | HttpRequest) -> dict[str, Any]:
        # Most executes name no parameter: the answer is the default, without building the fields.
        query = request.query_params if isinstance(request, Request) else request.GET
        if not query:
            return {"wait": WAIT_DEFAULT}
        return super().read(request)


class RunFilters(PageParameters):
    workflow = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    status = serializers.ChoiceField(required=False, choices=RunStatus.choices)
    since = serializers.DateField(
        required=False, help_text="Runs created on this day (YYYY-MM-DD, UTC) or later."
    )
    until = serializers.DateField(
        required=False, help_text="Runs created on this day (YYYY-MM-DD, UTC) or earlier."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "since" in attrs and "until" in attrs and attrs["since"] > attrs["until"]:
            raise serializers.ValidationError({"until": ["Choose a day on or after the “since” day."]})
        return attrs
