"""The pages' forms: the builder's one `definition` field, the "Run now" input, and what the
builder needs to draw a step (its fields come from each action's params serializer).

Validation of a workflow stays in `WorkflowSerializer`; this module only reads what the
browser sent and lays the serializer's errors out next to the right step and field.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from django import forms
from rest_framework import serializers
from rest_framework.fields import empty

from galaxyco.api import error_messages
from galaxyco.parsers import UnsafeJSON, loads_strict
from integrations.models import Integration, IntegrationStatus
from workflows import rendering
from workflows.actions.base import Action, PlaceholderCharField
from workflows.actions.registry import ACTIONS, get_action
from workflows.inputs import InputSpec
from workflows.models import Workflow

DEFAULT_ACCOUNT_LABEL = "Workspace default"

# Wording for the builder where a serializer field's own label or a value is too terse.
LABELS = {
    "to": "To",
    "cc": "Cc",
    "bcc": "Bcc",
    "text": "Text body",
    "html": "HTML body",
    "reply_to": "Reply-To",
    "from_name": "Sender name",
    "send_updates": "Send invitations to",
    "calendar_id": "Calendar ID",
}
HELP = {
    "to": "Separate addresses with commas.",
    "cc": "Separate addresses with commas.",
    "bcc": "Separate addresses with commas.",
    "text": "Plain text. Write a text body, an HTML body, or both.",
    "html": "Placeholders in HTML are escaped.",
    "from_name": "Shown as the sender's name; the address is the connected mailbox.",
    "start": "An ISO 8601 date and time, such as 2026-12-01T09:30:00.",
    "end": "An ISO 8601 date and time, after the start.",
    "time_zone": "A time zone name such as Europe/Paris or UTC.",
    "attendees": "Email addresses, separated by commas.",
    "calendar_id": "Leave “primary” for the account's main calendar.",
}
PLACEHOLDERS = {
    "to": "ada@example.com, {{ input.email }}",
    "start": "2026-12-01T09:30:00",
    "end": "2026-12-01T10:00:00",
}
CHOICE_LABELS = {
    "all": "All guests",
    "externalOnly": "Only guests outside your organisation",
    "none": "No one",
}


@dataclass(frozen=True)
class ParamField:
    """One input of an action's step form, named exactly as the param."""

    name: str
    label: str
    widget: str  # "input", "textarea" or "select"
    is_list: bool
    required: bool
    help_text: str
    placeholder: str
    initial: str
    choices: list[tuple[str, str]]


def _initial(drf_field: serializers.Field) -> str:
    default = drf_field.default
    if default is empty or callable(default) or default in ("", None):
        return ""
    return str(default)


def param_fields(action: Action) -> list[ParamField]:
    specs = []
    for name, drf_field in action.params_serializer().fields.items():
        if isinstance(drf_field, serializers.ChoiceField):
            widget = "select"
        elif isinstance(drf_field, PlaceholderCharField) and not drf_field.single_line:
            widget = "textarea"
        else:
            widget = "input"
        choices = (
            [
                (str(value), CHOICE_LABELS.get(str(value), str(label)))
                for value, label in drf_field.choices.items()
            ]
            if isinstance(drf_field, serializers.ChoiceField)
            else []
        )
        specs.append(
            ParamField(
                name=name,
                label=LABELS.get(name, str(drf_field.label or name)),
                widget=widget,
                is_list=isinstance(drf_field, serializers.ListField),
                required=drf_field.required,
                help_text=HELP.get(name, ""),
                placeholder=PLACEHOLDERS.get(name, ""),
                initial=_initial(drf_field),
                choices=choices,
            )
        )
    return specs


class DefinitionForm(forms.Form):
    """The builder posts one hidden field: the workflow as JSON, in the API's shape."""

    definition = forms.CharField(widget=forms.HiddenInput, required=False)

    def clean_definition(self) -> dict[str, Any]:
        raw = self.cleaned_data.get("definition", "")
        if not raw.strip():
            raise forms.ValidationError(
                "The workflow could not be read from the page. Make sure JavaScript is on, then save again."
            )
        try:
            value = loads_strict(raw)
        except UnsafeJSON as error:
            raise forms.ValidationError(f"The workflow could not be read. {error}") from None
        except ValueError:
            raise forms.ValidationError(
                "The workflow could not be read: it was not valid JSON. Reload the page and try again."
            ) from None
        if not isinstance(value, dict):
            raise forms.ValidationError("The workflow could not be read: expected a JSON object.")
        return value


ADDRESS_HELP = "An email address, or several separated by commas."


class RunInputForm(forms.Form):
    """Run now: one labelled field per input the workflow reads (its input schema), and the
    whole input as a JSON object for anything else ("advanced"). A field that is filled in wins
    over the same name in the JSON."""

    input = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "data-testid": "run-input", "spellcheck": "false"}),
        label="Input as JSON (advanced)",
        help_text='A JSON object, such as {"name": "Ada"}: for numbers, lists of addresses, or other values.',
    )

    def __init__(self, *args: Any, schema: list[InputSpec], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = schema
        self.input_errors = ""  # why the run was refused, shown above the fields
        for spec in schema:
            self.fields[self.field_name(spec)] = forms.CharField(
                required=False,
                label=spec.name,
                help_text=ADDRESS_HELP if spec.kind == "address" else "",
                widget=forms.TextInput(
                    attrs={
                        "data-testid": f"run-input-{spec.name}",
                        "type": "text",
                        "autocomplete": "off",
                        **({"inputmode": "email"} if spec.kind == "address" else {}),
                    }
                ),
            )

    @staticmethod
    def field_name(spec: InputSpec) -> str:
        return f"input.{spec.name}"

    @classmethod
    def initial_from(cls, last_input: dict[str, Any] | None, *, schema: list[InputSpec]) -> dict[str, str]:
        """The fields prefilled from an earlier run's input: what this person sent last time."""
        initial: dict[str, str] = {}
        for spec in schema:
            value = rendering.lookup(last_input or {}, tuple(spec.name.split(".")))
            if isinstance(value, str | int | float | list) and not isinstance(value, bool):
                initial[cls.field_name(spec)] = rendering.as_text(value)
        return initial

    def clean_input(self) -> dict[str, Any]:
        raw = self.cleaned_data.get("input", "").strip() or "{}"
        try:
            value = loads_strict(raw)
        except UnsafeJSON as error:
            raise forms.ValidationError(f"The input could not be used. {error}") from None
        except ValueError:
            raise forms.ValidationError(
                'The input is not valid JSON. Write an object such as {"name": "Ada"}, or {} for none.'
            ) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(
                'The input must be a JSON object, such as {"name": "Ada"}, not a list or a single value.'
            )
        return value

    def run_input(self) -> dict[str, Any]:
        """The input to run with: the JSON object, with each filled-in field set at its path."""
        run_input: dict[str, Any] = dict(self.cleaned_data.get("input") or {})
        for spec in self.schema:
            text = self.cleaned_data.get(self.field_name(spec), "")
            if not text.strip():
                continue
            *parents, leaf = spec.name.split(".")
            target = run_input
            for parent in parents:
                if not isinstance(target.get(parent), dict):
                    target[parent] = {}
                target = target[parent]
            target[leaf] = text
        return run_input

    def add_input_errors(self, errors: dict[str, list[str]]) -> None:
        """Errors from checking the input (by input name), next to their fields."""
        names = {spec.name for spec in self.schema}
        for name, messages in errors.items():
            for message in messages:
                if name in names:
                    self.add_error(f"input.{name}", message)
                else:
                    self.add_error("input", f"{name}: {message}")

    def input_fields(self) -> list[forms.BoundField]:
        return [self[self.field_name(spec)] for spec in self.schema]


def definition_of(workflow: Workflow) -> dict[str, Any]:
    """A stored workflow in the API's shape, to prefill the builder."""
    return {
        "name": workflow.name,
        "description": workflow.description,
        "is_active": workflow.is_active,
        "steps": [
            {
                "key": step.key,
                "action": step.action,
                "integration": step.integration_id,
                "params": step.params,
            }
            for step in workflow.steps.all()
        ],
    }


def empty_definition() -> dict[str, Any]:
    return {"name": "", "description": "", "is_active": True, "steps": []}


# --- Errors: WorkflowSerializer's nested errors, laid out for the page.


@dataclass
class StepErrors:
    general: list[str] = field(default_factory=list)
    action: list[str] = field(default_factory=list)
    integration: list[str] = field(default_factory=list)
    key: list[str] = field(default_factory=list)
    params: dict[str, list[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.general or self.action or self.integration or self.key or self.params)


@dataclass
class BuilderErrors:
    general: list[str] = field(default_factory=list)
    fields: dict[str, list[str]] = field(default_factory=dict)  # name, description, is_active
    steps_general: list[str] = field(default_factory=list)
    steps: dict[int, StepErrors] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.general or self.fields or self.steps_general or any(self.steps.values()))


def _step_errors(detail: Any) -> StepErrors:
    errors = StepErrors()
    if not isinstance(detail, dict):
        errors.general = error_messages(detail)
        return errors
    for key, value in detail.items():
        if key == "action":
            errors.action = error_messages(value)
        elif key == "key":
            errors.key = error_messages(value)
        elif key == "integration":
            errors.integration = error_messages(value)
        elif key == "params" and isinstance(value, dict):
            for name, inner in value.items():
                if name == "non_field_errors":
                    errors.general.extend(error_messages(inner))
                else:
                    errors.params[str(name)] = error_messages(inner)
        else:
            errors.general.extend(error_messages(value))
    return errors


def builder_errors(detail: Any) -> BuilderErrors:
    """Place `WorkflowSerializer(...).errors` next to the step and field each one is about."""
    errors = BuilderErrors()
    if not isinstance(detail, dict):
        errors.general = error_messages(detail)
        return errors
    for key, value in detail.items():
        if key == "steps":
            items = (
                value.items()
                if isinstance(value, dict)
                else enumerate(value)
                if isinstance(value, list)
                else []
            )
            if isinstance(value, list) and all(isinstance(item, str) for item in value):
                errors.steps_general = error_messages(value)
                continue
            for index, step_detail in items:
                if isinstance(index, int):
                    step_errors = _step_errors(step_detail)
                    if step_errors:
                        errors.steps[index] = step_errors
                else:
                    errors.steps_general.extend(error_messages(step_detail))
        elif key in ("name", "description", "is_active"):
            errors.fields[key] = error_messages(value)
        else:
            errors.general.extend(error_messages(value))
    return errors


# --- What the builder draws for each step.


@dataclass(frozen=True)
class BoundParamField:
    spec: ParamField
    value: str
    errors: list[str]


@dataclass(frozen=True)
class ActionFieldset:
    type: str
    label: str
    active: bool
    fields: list[BoundParamField]


@dataclass(frozen=True)
class StepRow:
    index: int
    key: str
    action: str
    action_options: list[tuple[str, str, str]]  # value, label, the integration type it needs
    integration: str
    integration_options: list[tuple[str, str]]
    fieldsets: list[ActionFieldset]
    errors: StepErrors


def integration_label(integration: Integration) -> str:
    if integration.status == IntegrationStatus.ACTIVE:
        return integration.email
    return f"{integration.email} ({integration.get_status_display()})"


def integration_choices(integrations: list[Integration]) -> list[dict[str, Any]]:
    """What an integration select may offer (the caller passes connected_integrations())."""
    return [{"id": i.pk, "type": i.type, "label": integration_label(i)} for i in integrations]


def _as_text(value: Any, *, is_list: bool) -> str:
    if value is None:
        return ""
    if is_list and isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def step_rows(
    *,
    steps: Any,
    errors: BuilderErrors | None,
    integrations: list[Integration],
    default_labels: dict[str, str] | None = None,
) -> list[StepRow]:
    """The submitted or stored steps, as the builder draws them, whatever shape they came in.
    `default_labels`: per integration type, what the empty account choice (the workspace default) means."""
    choices = integration_choices(integrations)
    by_id = {i.pk: i for i in integrations}
    default_action = next(iter(ACTIONS))
    rows = []
    for index, raw in enumerate(steps if isinstance(steps, list) else []):
        step = raw if isinstance(raw, dict) else {}
        action_type = str(step.get("action") or default_action)
        action = get_action(action_type)
        raw_params = step.get("params")
        params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
        integration_id = step.get("integration")
        selected = "" if integration_id in (None, "") else str(integration_id)
        needed_type = action.integration_type if action else None
        empty_label = (default_labels or {}).get(needed_type or "", DEFAULT_ACCOUNT_LABEL)
        options = [("", empty_label)] + [
            (str(c["id"]), c["label"]) for c in choices if c["type"] == needed_type
        ]
        if selected and selected not in {value for value, _ in options}:
            # Keep what was sent, so the error beside it makes sense and nothing is lost.
            known = by_id.get(int(selected)) if selected.isdigit() else None
            options.append((selected, integration_label(known) if known else f"Integration #{selected}"))
        action_options = [(a.type, a.label, a.integration_type or "") for a in ACTIONS.values()]
        if action is None:
            action_options.append((action_type, f"{action_type} (unknown)", ""))
        step_errors = (errors.steps.get(index) if errors else None) or StepErrors()
        rows.append(
            StepRow(
                index=index,
                key=str(step.get("key") or ""),
                action=action_type,
                action_options=action_options,
                integration=selected,
                integration_options=options,
                fieldsets=_fieldsets(active=action_type, params=params, errors=step_errors),
                errors=step_errors,
            )
        )
    return rows


def _fieldsets(*, active: str, params: dict[str, Any], errors: StepErrors) -> list[ActionFieldset]:
    fieldsets = []
    for action in ACTIONS.values():
        is_active = action.type == active
        bound = []
        for spec in param_fields(action):
            if is_active and spec.name in params:
                value = _as_text(params[spec.name], is_list=spec.is_list)
            elif is_active and params:
                value = ""  # a stored or submitted step: an omitted optional field was empty
            else:
                value = spec.initial
            if spec.widget == "select" and value not in {choice for choice, _ in spec.choices}:
                value = spec.initial
            bound.append(
                BoundParamField(
                    spec=spec, value=value, errors=errors.params.get(spec.name, []) if is_active else []
                )
            )
        fieldsets.append(ActionFieldset(type=action.type, label=action.label, active=is_active, fields=bound))
    return fieldsets


def new_step_row(*, integrations: list[Integration], default_labels: dict[str, str] | None = None) -> StepRow:
    """The blank step the "Add a step" button copies."""
    return step_rows(steps=[{}], errors=None, integrations=integrations, default_labels=default_labels)[0]
