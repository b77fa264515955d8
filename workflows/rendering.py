"""`{{ input.name }}` placeholders in step params, rendered with Django's template engine.

Only plain `{{ input.name }}` (or `{{ input.a.b }}`) is allowed: no tags and no filters, so a
workflow author fills in values and cannot program the server (a filter such as `center` can
allocate gigabytes). HTML params are autoescaped; text and headers are not.
"""

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from django.template import Context, Engine, Template, TemplateSyntaxError
from rest_framework import serializers

_ENGINES = {True: Engine(autoescape=True), False: Engine(autoescape=False)}


@lru_cache(maxsize=2048)
def _compile(source: str, autoescape: bool) -> Template:
    return _ENGINES[autoescape].from_string(source)


_VARIABLE = re.compile(r"\{\{(.*?)\}\}", re.S)
_INPUT_NAME = re.compile(r"^\s*input(\.[A-Za-z_][A-Za-z0-9_]*)+\s*$")


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
    if "{{" in value:
        try:
            _compile(value, False)
        except TemplateSyntaxError:
            raise serializers.ValidationError(
                "A placeholder is malformed: write it as {{ input.name }}."
            ) from None
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


def _render_value(value: Any, *, context: Context) -> Any:
    if isinstance(value, str):
        return _compile(value, context.autoescape).render(context) if has_placeholder(value) else value
    if isinstance(value, list):
        return [_render_value(item, context=context) for item in value]
    if isinstance(value, dict):
        return {key: _render_value(item, context=context) for key, item in value.items()}
    return value


def render_params(
    params: Mapping[str, Any], *, run_input: Mapping[str, Any], html_params: frozenset[str]
) -> dict[str, Any]:
    contexts = {escape: Context({"input": run_input}, autoescape=escape) for escape in (True, False)}
    return {key: _render_value(value, context=contexts[key in html_params]) for key, value in params.items()}
