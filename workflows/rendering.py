"""`{{ input.name }}` placeholders in step params, filled in from the run's input.

Only plain `{{ input.name }}` (or `{{ input.a.b }}`) is allowed: no tags and no filters, so a
workflow author fills in values and cannot program the server (a filter such as `center` can
allocate gigabytes). A placeholder reads keys of plain data and nothing else: no attribute
access and no calls, so `{{ input.items }}` or `{{ input.list.pop }}` is only ever a key that
is missing, never a method that dumps or changes the input. HTML params are escaped; text and
headers are not.
"""

import re
from collections.abc import Mapping
from typing import Any

from django.utils.html import escape
from rest_framework import serializers

_VARIABLE = re.compile(r"\{\{(.*?)\}\}", re.S)
# Names start with a letter: `input._x` and `input.__class__` are not names.
_INPUT_NAME = re.compile(r"^\s*input(\.[A-Za-z][A-Za-z0-9_]*)+\s*$")


def validate_placeholders(value: str) -> str:
    if "{%" in value or "{#" in value:
        raise serializers.ValidationError(
            "Only {{ input.name }} placeholders are allowed here, not template tags."
        )
    for expression in _VARIABLE.findall(value):
        if not _INPUT_NAME.match(expression):
            raise serializers.ValidationError(
                "Placeholders look like {{ input.name }}: the word input, a dot and a name (no filters)."
            )
    return value


def input_names(value: str) -> set[str]:
    """The top-level input names `value`'s placeholders read (`{{ input.user.name }}` → user)."""
    names = set()
    for expression in _VARIABLE.findall(value):
        if _INPUT_NAME.match(expression):
            names.add(expression.strip().split(".")[1])
    return names


def has_placeholder(value: str) -> bool:
    return "{{" in value


def _read(expression: str, *, run_input: Mapping[str, Any]) -> str:
    """The text for one placeholder: the value at its keys, or "" when a key is missing."""
    if not _INPUT_NAME.match(expression):
        return ""
    value: Any = run_input
    for key in expression.strip().split(".")[1:]:
        if not isinstance(value, Mapping) or key not in value:
            return ""
        value = value[key]
    return value if isinstance(value, str) else str(value)


def _fill(source: str, *, run_input: Mapping[str, Any], html: bool) -> str:
    def replace(match: re.Match[str]) -> str:
        text = _read(match.group(1), run_input=run_input)
        return escape(text) if html else text

    return _VARIABLE.sub(replace, source)


def _render_value(value: Any, *, run_input: Mapping[str, Any], html: bool) -> Any:
    if isinstance(value, str):
        return _fill(value, run_input=run_input, html=html) if has_placeholder(value) else value
    if isinstance(value, list):
        return [_render_value(item, run_input=run_input, html=html) for item in value]
    if isinstance(value, dict):
        return {key: _render_value(item, run_input=run_input, html=html) for key, item in value.items()}
    return value


def render_params(
    params: Mapping[str, Any], *, run_input: Mapping[str, Any], html_params: frozenset[str]
) -> dict[str, Any]:
    return {
        key: _render_value(value, run_input=run_input, html=key in html_params)
        for key, value in params.items()
    }
