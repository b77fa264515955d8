"""What an action is: a type, a params serializer, the integration it needs, and `run`.

`run` returns the step's output, or raises RetryableError (429, 5xx, timeouts; with a
retry-after hint) or PermanentError (the request itself was refused; reconnect needed).
"""

import builtins
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from rest_framework import serializers

from galaxyco.api import error_messages
from galaxyco.errors import ErrorCode, PermanentError
from integrations.models import Integration, IntegrationType
from workflows import rendering

# Validating a step's params happens twice: when it is saved (placeholders allowed) and after
# the run's input was filled in (context["rendered"]: the values are final and must be valid).
RENDERED = "rendered"

_per_thread = threading.local()


def _bound_serializer(
    serializer_class: builtins.type[serializers.Serializer], *, rendered: bool
) -> serializers.Serializer:
    """This thread's serializer of that class and context, its fields built once. DRF builds a
    serializer's fields anew for each instance (a deep copy of the declared ones), which cost more
    than the check itself. `run_validation` keeps nothing on the serializer or its fields, and the
    defaults the params serializers declare are immutable or callable, so one instance can check
    any number of params, one after another; one per thread, so no two checks share one."""
    built: dict[tuple[type, bool], serializers.Serializer] = _per_thread.__dict__.setdefault("built", {})
    key = (serializer_class, rendered)
    if key not in built:
        serializer = serializer_class(context={RENDERED: True} if rendered else {})
        serializer.fields  # noqa: B018  # built now, once
        built[key] = serializer
    return built[key]


def is_single_line(value: str) -> bool:
    """No character that ends a line for Python's email package, and no control character."""
    return len(value.splitlines()) <= 1 and not any(ord(c) < 32 or ord(c) == 127 for c in value if c != "\t")


class PlaceholderCharField(serializers.CharField):
    """Text that may hold {{ input.name }} or {{ steps.<key>.<field> }} placeholders; `single_line`
    for email headers."""

    def __init__(self, *, single_line: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        self.single_line = single_line

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if self.single_line and not is_single_line(value):
            raise serializers.ValidationError("This must be a single line (line breaks are not allowed).")
        if self.context.get(RENDERED):
            return value  # input values are text, never placeholders
        return rendering.validate_placeholders(value)


class EmailOrPlaceholderField(serializers.CharField):
    """An email address, or a placeholder that becomes one when the run's input is filled in."""

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data).strip()
        if not is_single_line(value):
            raise serializers.ValidationError("An address must be a single line.")
        if rendering.has_placeholder(value) and not self.context.get(RENDERED):
            return rendering.validate_placeholders(value)
        try:
            validate_email(value)
        except DjangoValidationError:
            shown = value if len(value) <= 60 else value[:59] + "…"
            raise serializers.ValidationError(f"“{shown}” is not a valid email address.") from None
        return value


class AddressListField(serializers.ListField):
    """A list of addresses (or placeholders). Its errors name the bad value, not an item number:
    "“bob@” is not a valid email address.", not "Item 1: Enter a valid email address."."""

    def run_child_validation(self, data: list[Any]) -> list[Any]:
        result, errors = [], []
        for item in data:
            try:
                result.append(self.child.run_validation(item))
            except serializers.ValidationError as error:
                errors.extend(error_messages(error.detail))
        if errors:
            raise serializers.ValidationError(errors)
        return result


@dataclass(frozen=True)
class StepContext:
    workspace_id: int
    run_id: int
    position: int
    # For an at-most-once action: the Message-ID its email carries, and what to call (it records,
    # committed, that the call is under way) just before the request goes out.
    message_id_header: str = ""
    on_call: Callable[[], None] | None = None
    # When the step's first attempt began: its call cannot have been made before.
    started_at: datetime | None = None
    # The same for every attempt of this step: an action whose provider deduplicates by a
    # client-chosen id (a Calendar event's) names its call with it, so a call repeated after a
    # timeout is harmless and is retried like any other.
    idempotency_key: str = ""


@dataclass(frozen=True)
class FieldText:
    """How the builder words one param where the serializer field's own label is too terse."""

    label: str = ""
    help: str = ""
    placeholder: str = ""
    choices: Mapping[str, str] = field(default_factory=dict)  # a choice's value -> its label


class Action:
    type: ClassVar[str]
    label: ClassVar[str]
    integration_type: ClassVar[str | None] = None
    params_serializer: ClassVar[builtins.type[serializers.Serializer]]
    html_params: ClassVar[frozenset[str]] = frozenset()
    # The builder's label, help and placeholder for each param that needs more than its name.
    field_text: ClassVar[Mapping[str, FieldText]] = {}
    # Params that hold email addresses: an input they read is an address input. A list param
    # among them takes several addresses from one input (a list, or text split at commas).
    address_params: ClassVar[frozenset[str]] = frozenset()
    # The fields of the output `run` returns: what later steps may read as {{ steps.<key>.<field> }}.
    output_fields: ClassVar[frozenset[str]] = frozenset()
    # Seconds between two calls for one account (a provider's per-account rate), or None.
    pace_interval: ClassVar[float | None] = None
    # Its call cannot be deduplicated by the provider (an email): a call whose outcome is unknown
    # is looked up (`find_done`) where the account allows it, and never made again blindly.
    at_most_once: ClassVar[bool] = False

    @property
    def provider_name(self) -> str:
        """Who does the step's work, as a person knows it ("Gmail", "Sidemail")."""
        if self.integration_type is None:
            return "The service"
        return str(IntegrationType(self.integration_type).label)

    def can_find_done(self, *, integration: Integration | None) -> bool:
        """Whether `find_done` can settle an unknown outcome for this account."""
        return False

    def find_done(
        self, *, integration: Integration | None, step: StepContext, params: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The output of the call if the provider did it (found by `step.message_id_header`, or by
        what `params` made it), else None."""
        raise NotImplementedError

    def _valid_params(self, params: Any, *, rendered: bool) -> dict[str, Any] | None:
        """The validated params, or None when they are not valid: a new serializer then words
        the errors, exactly as DRF's `is_valid` does."""
        try:
            return dict(_bound_serializer(self.params_serializer, rendered=rendered).run_validation(params))
        except serializers.ValidationError:
            return None

    def validate_params(self, params: Any) -> dict[str, Any]:
        """For saving a step: raises serializers.ValidationError with field errors."""
        valid = self._valid_params(params, rendered=False)
        if valid is not None:
            return valid
        serializer = self.params_serializer(data=params)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def prepare(
        self,
        *,
        params: dict[str, Any],
        run_input: dict[str, Any],
        step_outputs: dict[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Fill in placeholders and validate again: the input can make a value invalid.
        `step_outputs`: the outputs of the run's earlier steps that succeeded, by step key."""
        step_outputs = step_outputs or {}
        missing = rendering.check_step_outputs(params=params, step_outputs=step_outputs)
        if missing:
            raise PermanentError(
                f"This step reads an earlier step's output that is not there: {' '.join(missing)}",
                code=ErrorCode.INVALID_PARAMS,
            )
        rendered = rendering.render_params(
            params,
            run_input=run_input,
            html_params=self.html_params,
            address_list_params=self.address_params,
            step_outputs=step_outputs,
        )
        valid = self._valid_params(rendered, rendered=True)
        if valid is not None:
            return valid
        serializer = self.params_serializer(data=rendered, context={RENDERED: True})
        if not serializer.is_valid():
            fields = "; ".join(
                f"{name}: {' '.join(error_messages(errors))}" for name, errors in serializer.errors.items()
            )
            raise PermanentError(
                f"After filling in the run's input, this step's settings are not valid ({fields}).",
                code=ErrorCode.INVALID_PARAMS,
            )
        return dict(serializer.validated_data)

    def run(
        self, *, params: dict[str, Any], integration: Integration | None, step: StepContext
    ) -> dict[str, Any]:
        raise NotImplementedError
