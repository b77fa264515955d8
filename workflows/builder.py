"""What the builder draws: each step's action, account and param fields (their wording comes
from each action's `field_text`), the stored workflow in the API's shape, and
`WorkflowSerializer`'s errors laid out next to the right step and field.

Validation of a workflow stays in `WorkflowSerializer`; this module only lays it out.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from rest_framework import serializers
from rest_framework.fields import empty

from galaxyco.api import error_messages
from integrations.models import Integration, IntegrationStatus
from workflows.actions.base import Action, FieldText, PlaceholderCharField
from workflows.actions.registry import ACTIONS, get_action
from workflows.models import Workflow

DEFAULT_ACCOUNT_LABEL = "Workspace default"


@dataclass(frozen=True)
class ParamField:
    """One input of an action's step form, named exactly as the param."""

    name: str
    label: str
    # "input", "textarea", "select", or "kept": a list of objects (a Gmail step's attachments),
    # which has no text form; shown read-only and kept from the stored step when the builder saves.
    widget: str
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
        if is_kept(drf_field):
            widget = "kept"
        elif isinstance(drf_field, serializers.ChoiceField):
            widget = "select"
        elif isinstance(drf_field, PlaceholderCharField) and not drf_field.single_line:
            widget = "textarea"
        else:
            widget = "input"
        text = action.field_text.get(name, FieldText())
        choices = (
            [
                (str(value), text.choices.get(str(value), str(label)))
                for value, label in drf_field.choices.items()
            ]
            if isinstance(drf_field, serializers.ChoiceField)
            else []
        )
        specs.append(
            ParamField(
                name=name,
                label=text.label or str(drf_field.label or name),
                widget=widget,
                is_list=isinstance(drf_field, serializers.ListField),
                required=drf_field.required,
                help_text=text.help,
                placeholder=text.placeholder,
                initial=_initial(drf_field),
                choices=choices,
            )
        )
    return specs


def is_kept(drf_field: serializers.Field) -> bool:
    """A param the builder does not draw: a list of objects (files, as base64, can be megabytes)."""
    return isinstance(drf_field, serializers.ListField) and isinstance(
        drf_field.child, serializers.BaseSerializer
    )


def kept_params(action: Action) -> list[str]:
    return [name for name, drf_field in action.params_serializer().fields.items() if is_kept(drf_field)]


def keep_undrawn_params(*, submitted: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """The builder's posted workflow with the params it does not draw put back from the stored
    step of the same key and action (set through the API; a renamed step is another step)."""
    raw_stored = stored.get("steps")
    by_key = {
        (step.get("key"), step.get("action")): step.get("params") or {}
        for step in (raw_stored if isinstance(raw_stored, list) else [])
    }
    raw_steps = submitted.get("steps")
    if not isinstance(raw_steps, list):
        return submitted
    steps = []
    for step in raw_steps:
        action = get_action(str(step.get("action") or "")) if isinstance(step, dict) else None
        params = step.get("params") if isinstance(step, dict) else None
        if action is None or not isinstance(params, dict):
            steps.append(step)
            continue
        before = by_key.get((step.get("key"), action.type), {})
        kept = {name: before[name] for name in kept_params(action) if name in before and name not in params}
        steps.append({**step, "params": {**params, **kept}} if kept else step)
    return {**submitted, "steps": steps}


def kept_summary(value: Any) -> str:
    """A kept param as the builder shows it: each item's file name (Gmail attachments)."""
    if not isinstance(value, list) or not value:
        return ""
    names = []
    for item in value:
        name = str(item.get("filename") or "") if isinstance(item, dict) else ""
        if isinstance(item, dict) and item.get("from_trigger"):
            name += " (from the email that started the run)"
        names.append(name or "an item")
    return ", ".join(names)


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
            if spec.widget == "kept":
                value = kept_summary(params.get(spec.name)) if is_active else ""
            elif is_active and spec.name in params:
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
