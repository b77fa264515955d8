"""What a workflow's placeholders read: its input schema, the run input checked against it, and
the step keys `{{ steps.<key>.<field> }}` refers to.

The placeholders a workflow reads are its input schema: every `{{ input.x }}` is a required
input, an address when a step uses it as an address (To, Cc, attendees…). A run's input is
checked against it before the run is created, so a missing value is refused instead of sent
blank. Step outputs are not inputs: they come from earlier steps of the same run.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email

from galaxyco.errors import ErrorCode, InvalidInput
from workflows import rendering
from workflows.actions.registry import get_action

InputKind = Literal["text", "address"]


class StepLike(Protocol):
    @property
    def action(self) -> str: ...

    @property
    def params(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class InputSpec:
    name: str  # the dotted path below `input`: "email", or "customer.email"
    kind: InputKind

    @property
    def placeholder(self) -> str:
        return "{{ input." + self.name + " }}"


def _address_params(action_type: str) -> frozenset[str]:
    action = get_action(action_type)
    return action.address_params if action is not None else frozenset()


def input_schema(steps: Iterable[StepLike]) -> list[InputSpec]:
    """The inputs the steps' placeholders read, in the order they first appear."""
    kinds: dict[str, InputKind] = {}
    for step in steps:
        addresses = _address_params(step.action)
        for param, value in step.params.items():
            for placeholder in rendering.placeholders_in(value):
                if placeholder.root != "input":
                    continue
                if param in addresses:
                    kinds[placeholder.name] = "address"
                else:
                    kinds.setdefault(placeholder.name, "text")
    return [InputSpec(name=name, kind=kind) for name, kind in kinds.items()]


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _text_error(spec: InputSpec, value: Any) -> str | None:
    if isinstance(value, bool):
        return f"Send text or a number, not {str(value).lower()}."
    if isinstance(value, str | int | float):
        return None
    if isinstance(value, Mapping):
        return (
            "Send text or a number, not an object. To use one of its fields, write a placeholder "
            f"such as {{{{ input.{spec.name}.<field> }}}} in the step."
        )
    if isinstance(value, list):
        return "Send text or a number, not a list (a list is accepted only where a step expects addresses)."
    return "Send text or a number."


def address_items(value: Any) -> list[Any]:
    """An address input's items: a list as it is, a string split at commas."""
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [value]


def _address_error(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return "Send an email address, or a list of them, not an object."
    for item in address_items(value):
        if isinstance(item, bool) or not isinstance(item, str):
            return f"“{_shown(item)}” is not an email address: send text such as ada@example.com."
        try:
            validate_email(item)
        except DjangoValidationError:
            return f"“{_shown(item)}” is not a valid email address."
    return None


def check_run_input(*, schema: Sequence[InputSpec], run_input: Mapping[str, Any]) -> dict[str, list[str]]:
    """Per input name, what is wrong with its value: missing, or of a type a placeholder cannot hold."""
    errors: dict[str, list[str]] = {}
    for spec in schema:
        value = rendering.lookup(run_input, tuple(spec.name.split(".")))
        if rendering.is_missing(value) or _is_blank(value):
            errors[spec.name] = [f"A value is required: the steps read {spec.placeholder}."]
            continue
        problem = _address_error(value) if spec.kind == "address" else _text_error(spec, value)
        if problem:
            errors[spec.name] = [problem]
    return errors


def require_valid_input(*, steps: Iterable[StepLike], run_input: Mapping[str, Any]) -> None:
    """Raise InvalidInput naming each input that is missing or not valid (the API's `fields`)."""
    errors = check_run_input(schema=input_schema(steps), run_input=run_input)
    if not errors:
        return
    missing = [name for name, messages in errors.items() if messages[0].startswith("A value is required")]
    parts = [f"Missing input: {', '.join(missing)}."] if missing else []
    parts += [f"{name}: {messages[0]}" for name, messages in errors.items() if name not in missing]
    raise InvalidInput(" ".join(parts), code=ErrorCode.INVALID_INPUT, details={"fields": {"input": errors}})


# --- Step keys and `{{ steps.<key>.<field> }}`


def default_step_key(action_type: str) -> str:
    """`gmail.send_email` → `gmail_send_email`."""
    key = "".join(c if c.isalnum() else "_" for c in action_type.lower()).strip("_")
    return key if key[:1].isalpha() else f"step_{key}"


def assign_step_keys(*, actions: Sequence[str], keys: Sequence[str | None]) -> list[str]:
    """Each step's key: the one given, else one from its action that no other step has
    (`gmail_send_email`, then `gmail_send_email_2`…)."""
    taken = {key for key in keys if key}
    assigned = []
    for action, key in zip(actions, keys, strict=True):
        if not key:
            base = default_step_key(action)
            key, number = base, 1
            while key in taken:
                number += 1
                key = f"{base}_{number}"
            taken.add(key)
        assigned.append(key)
    return assigned


def step_reference_errors(
    *, keys: Sequence[str], actions: Sequence[str], params: Sequence[Mapping[str, Any]]
) -> dict[int, dict[str, list[str]]]:
    """Per step index and param, each `{{ steps.… }}` that names no earlier step, or a field its
    action does not give."""
    positions = {key: index for index, key in enumerate(keys)}
    errors: dict[int, dict[str, list[str]]] = {}
    for index, step_params in enumerate(params):
        for param, value in step_params.items():
            for placeholder in rendering.placeholders_in(value):
                if placeholder.root != "steps":
                    continue
                message = _reference_error(
                    placeholder, index=index, positions=positions, actions=actions, keys=keys
                )
                if message:
                    errors.setdefault(index, {}).setdefault(param, []).append(message)
    return errors


def _reference_error(
    placeholder: rendering.Placeholder,
    *,
    index: int,
    positions: Mapping[str, int],
    actions: Sequence[str],
    keys: Sequence[str],
) -> str | None:
    key, field = placeholder.path[0], placeholder.path[1]
    earlier = ", ".join(keys[:index]) or "none: this is the first step"
    if key not in positions:
        return (
            f"“{placeholder}” names no step: there is no step with the key “{key}”. Earlier steps: {earlier}."
        )
    if positions[key] >= index:
        which = "this step itself" if positions[key] == index else "a later step"
        return (
            f"“{placeholder}” reads {which}: a step can read only the output of steps before it. "
            f"Earlier steps: {earlier}."
        )
    action = get_action(actions[positions[key]])
    if action is not None and action.output_fields and field not in action.output_fields:
        return (
            f"“{placeholder}”: the step “{key}” gives no “{field}”. "
            f"It gives {', '.join(sorted(action.output_fields))}."
        )
    return None
