"""Placeholders in step params: `{{ input.name }}` from the run's input and
`{{ steps.<key>.<field> }}` from the output of an earlier step of the same run.

The grammar is small on purpose: a root (`input` or `steps`), dots and names; no tags and no
filters, so a workflow author fills in values and cannot program the server (a filter such as
`center` can allocate gigabytes). A placeholder reads keys of plain data and nothing else: no
attribute access and no calls, so `{{ input.items }}` or `{{ input.list.pop }}` is only ever a
key that is missing, never a method that dumps or changes the input. HTML params are escaped;
text and headers are not.
"""

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.html import escape
from rest_framework import serializers

_VARIABLE = re.compile(r"\{\{(.*?)\}\}", re.S)
# Names start with a letter: `input._x` and `input.__class__` are not names.
NAME = r"[A-Za-z][A-Za-z0-9_]*"
STEP_KEY = re.compile(r"[a-z][a-z0-9_]{0,59}")
_INPUT_PATH = re.compile(rf"input((?:\.{NAME})+)")
_STEP_PATH = re.compile(rf"steps\.({STEP_KEY.pattern})((?:\.{NAME})+)")
ROOTS = ("input", "steps")
# How much of a bad placeholder an error message quotes.
_QUOTE_LIMIT = 60


@dataclass(frozen=True)
class Placeholder:
    """One well-formed placeholder: `{{ input.user.name }}` is root "input", path ("user", "name");
    `{{ steps.calendar.html_link }}` is root "steps", path ("calendar", "html_link")."""

    root: str
    path: tuple[str, ...]

    @property
    def name(self) -> str:
        """The dotted path below the root: "user.name", or "calendar.html_link"."""
        return ".".join(self.path)

    def __str__(self) -> str:
        return "{{ " + self.root + "." + self.name + " }}"


class PlaceholderError(ValueError):
    """A placeholder that does not follow the grammar; the message quotes it and says how to fix it."""


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _QUOTE_LIMIT else text[: _QUOTE_LIMIT - 1] + "…"


def _parse_expression(expression: str, *, written: str) -> Placeholder:
    body = expression.strip()
    if "|" in body:
        filter_name = body.split("|", 1)[1].strip() or "…"
        raise PlaceholderError(
            f"“{_quote(written)}” uses the filter |{_quote(filter_name)}, and placeholders have no "
            "filters. Write the value itself, such as {{ input.name }}, and send it already formatted."
        )
    root = body.split(".", 1)[0].strip()
    if root not in ROOTS:
        raise PlaceholderError(
            f"“{_quote(written)}” is not a placeholder we know: a placeholder starts with input or "
            "steps, such as {{ input.name }} or {{ steps.send_email.message_id }}."
        )
    if root == "input":
        match = _INPUT_PATH.fullmatch(body)
        if match is None:
            raise PlaceholderError(
                f"“{_quote(written)}” is not a valid input name: write {{{{ input.name }}}}, where a name "
                "starts with a letter and holds only letters, digits and underscores."
            )
        return Placeholder(root="input", path=tuple(match.group(1)[1:].split(".")))
    match = _STEP_PATH.fullmatch(body)
    if match is None:
        raise PlaceholderError(
            f"“{_quote(written)}” is not a valid step reference: write {{{{ steps.<key>.<field> }}}}, "
            "such as {{ steps.calendar_create_event.html_link }}, where the key is an earlier step's "
            "key (lowercase letters, digits and underscores)."
        )
    return Placeholder(root="steps", path=(match.group(1), *match.group(2)[1:].split(".")))


def parse(value: str) -> list[Placeholder]:
    """Every placeholder in `value`, in order. Raises PlaceholderError on the first malformed one."""
    if "{%" in value or "{#" in value:
        raise PlaceholderError(
            "Only placeholders such as {{ input.name }} are allowed here, not template tags."
        )
    found = []
    position = value.find("{{")
    while position != -1:
        end = value.find("}}", position + 2)
        reopened = value.find("{{", position + 2)
        if end == -1 or (reopened != -1 and reopened < end):
            stop = end if end != -1 else len(value)
            unclosed = value[position : min(stop, reopened if reopened != -1 else stop)].rstrip()
            raise PlaceholderError(
                f"“{_quote(unclosed)}” is not closed: end the placeholder with }}}}, "
                "as in {{ input.name }}."
            )
        found.append(_parse_expression(value[position + 2 : end], written=value[position : end + 2]))
        position = value.find("{{", end + 2)
    return found


def validate_placeholders(value: str) -> str:
    """For a serializer field: the value, or a ValidationError quoting the bad placeholder."""
    try:
        parse(value)
    except PlaceholderError as error:
        raise serializers.ValidationError(str(error)) from None
    return value


def placeholders_in(value: Any) -> Iterator[Placeholder]:
    """The well-formed placeholders anywhere in a param value (strings, lists and dicts of them).
    Stored params were validated when saved; anything malformed is skipped here."""
    if isinstance(value, str):
        for match in _VARIABLE.finditer(value):
            try:
                yield _parse_expression(match.group(1), written=match.group(0))
            except PlaceholderError:
                continue
    elif isinstance(value, list):
        for item in value:
            yield from placeholders_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from placeholders_in(item)


def has_placeholder(value: str) -> bool:
    return "{{" in value


_MISSING = object()


def lookup(data: Any, path: tuple[str, ...]) -> Any:
    """The value at `path` through keys of plain mappings, or _MISSING: never an attribute, never a call."""
    value = data
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return _MISSING
        value = value[key]
    return value


def is_missing(value: Any) -> bool:
    return value is _MISSING


def as_text(value: Any) -> str:
    """A value as placeholder text: a list of plain values is joined with commas (addresses)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        return ", ".join(str(item) for item in value)
    return str(value)


@dataclass(frozen=True)
class _Sources:
    run_input: Mapping[str, Any]
    step_outputs: Mapping[str, Any]


def _read(expression: str, *, sources: _Sources) -> str:
    """The text for one placeholder: the value at its keys, or "" when a key is missing."""
    body = expression.strip()
    if match := _INPUT_PATH.fullmatch(body):
        value = lookup(sources.run_input, tuple(match.group(1)[1:].split(".")))
    elif match := _STEP_PATH.fullmatch(body):
        value = lookup(sources.step_outputs, (match.group(1), *match.group(2)[1:].split(".")))
    else:
        return ""
    return "" if value is _MISSING or value is None else as_text(value)


def _fill(source: str, *, sources: _Sources, html: bool) -> str:
    def replace(match: re.Match[str]) -> str:
        text = _read(match.group(1), sources=sources)
        return escape(text) if html else text

    return _VARIABLE.sub(replace, source)


def _render_value(value: Any, *, sources: _Sources, html: bool) -> Any:
    if isinstance(value, str):
        return _fill(value, sources=sources, html=html) if has_placeholder(value) else value
    if isinstance(value, list):
        return [_render_value(item, sources=sources, html=html) for item in value]
    if isinstance(value, dict):
        return {key: _render_value(item, sources=sources, html=html) for key, item in value.items()}
    return value


def _split_addresses(items: list[Any], *, sources: _Sources) -> list[Any]:
    """An address list: each item filled in, then split at commas, so one input can hold several."""
    addresses: list[Any] = []
    for item in items:
        if not isinstance(item, str):
            addresses.append(item)
            continue
        rendered = _fill(item, sources=sources, html=False) if has_placeholder(item) else item
        addresses.extend(part.strip() for part in rendered.split(",") if part.strip())
    return addresses


def render_params(
    params: Mapping[str, Any],
    *,
    run_input: Mapping[str, Any],
    html_params: frozenset[str],
    address_list_params: frozenset[str] = frozenset(),
    step_outputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    sources = _Sources(run_input=run_input, step_outputs=step_outputs or {})
    rendered = {}
    for key, value in params.items():
        if key in address_list_params and isinstance(value, list):
            rendered[key] = _split_addresses(value, sources=sources)
        else:
            rendered[key] = _render_value(value, sources=sources, html=key in html_params)
    return rendered


def check_step_outputs(*, params: Mapping[str, Any], step_outputs: Mapping[str, Any]) -> list[str]:
    """At run time: each `{{ steps.… }}` in a step's params whose value the earlier step did not give."""
    problems = []
    for value in params.values():
        for placeholder in placeholders_in(value):
            if placeholder.root != "steps":
                continue
            found = lookup(step_outputs, placeholder.path)
            if found is _MISSING or found is None or found == "":
                problems.append(f"{placeholder}: the step “{placeholder.path[0]}” gave no value for it.")
            elif isinstance(found, Mapping | list | bool):
                problems.append(
                    f"{placeholder}: the step “{placeholder.path[0]}” gave no text or number there."
                )
    return problems
