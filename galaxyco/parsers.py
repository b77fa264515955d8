"""Reading untrusted JSON: the API's request bodies and the pages' JSON boxes.

Every JSON document we store goes through `loads_strict`, so what reaches the database is text
both SQLite and PostgreSQL can hold (PostgreSQL refuses NUL and lone surrogates; SQLite stores
them and then cannot read them back) and numbers every JSON reader agrees on.
"""

import json
import math
import re
from typing import Any

# get_encoding (DRF 3.18) refuses non-text codecs such as bz2_codec; the stubs predate it.
from rest_framework.parsers import JSONParser, get_encoding  # type: ignore[attr-defined]

from galaxyco.errors import MalformedRequest

# Deeper than any input or params a workflow reads; far below Python's recursion limit.
MAX_JSON_DEPTH = 64

_UNSTORABLE_CHARACTER = re.compile("[\x00\ud800-\udfff]")
_TOO_DEEP = f"It is nested too deeply: at most {MAX_JSON_DEPTH} levels of lists and objects."


class UnsafeJSON(ValueError):
    """The text is JSON, but not JSON we can store and read back."""


def _refuse_constant(name: str) -> float:
    raise UnsafeJSON(f"{name} is not a number JSON allows: send finite numbers only.")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise UnsafeJSON(f"The number {text[:40]} is too large: numbers must be within ±1.7e308.")
    return number


def _check_text(text: str) -> None:
    found = _UNSTORABLE_CHARACTER.search(text)
    if found is None:
        return
    if found.group() == "\x00":
        raise UnsafeJSON("Text may not contain the NUL character (\\u0000).")
    raise UnsafeJSON(
        "Text may not contain an unpaired surrogate (\\ud800 to \\udfff): send characters outside "
        "the Basic Multilingual Plane as a pair, or as UTF-8."
    )


def check_json_value(value: Any) -> None:
    """Refuse NUL, lone surrogates (in keys and values) and nesting past MAX_JSON_DEPTH."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise UnsafeJSON(_TOO_DEEP)
            if isinstance(item, dict):
                for key in item:
                    _check_text(key)
                pending.extend((child, depth + 1) for child in item.values())
            else:
                pending.extend((child, depth + 1) for child in item)


def loads_strict(text: str) -> Any:
    """Parse JSON text, raising UnsafeJSON (a ValueError) for what we will not store and
    ValueError for text that is not JSON."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise UnsafeJSON(_TOO_DEEP) from None
    check_json_value(value)
    return value


class StrictJSONParser(JSONParser):
    """The API's one parser: JSON only (forms and multipart answer 415), read with `loads_strict`."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = get_encoding(parser_context or {})
        try:
            return loads_strict(stream.read().decode(encoding))
        except UnsafeJSON as error:
            raise MalformedRequest(f"The request body could not be used. {error}") from None
        except ValueError as error:
            raise MalformedRequest(f"The request body is not valid JSON: {error}.") from None
