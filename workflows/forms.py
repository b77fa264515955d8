"""The pages' forms: the builder's one `definition` field and the "Run now" input. What the
builder draws for each step lives in workflows/builder.py."""

from typing import Any

from django import forms

from galaxyco.parsers import UnsafeJSON, loads_strict
from workflows import rendering
from workflows.inputs import InputSpec


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
