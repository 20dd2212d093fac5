"""Strict JSON: the one reader for the JSON llmreg is given (definitions, component
configs, prompt files, request bodies).

Stricter than :func:`json.loads`: ``NaN`` and ``Infinity`` are refused (they are not
JSON), so is a key given twice in one object (which value would win is a guess), and
so is nesting deeper than :data:`MAX_JSON_DEPTH` (Python's parser would raise
``RecursionError``, or take the process's stack).

Example:
    >>> loads('{"a": [1, 2]}', "the body")
    {'a': [1, 2]}
    >>> loads('{"a": 1, "a": 2}', "the body")
    Traceback (most recent call last):
    ...
    llmreg.jsonio.InvalidJSONError: the body is not valid JSON: the key 'a' is given twice
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from llmreg.errors import LlmregError

#: The deepest nesting a JSON document may have (llmreg's own shapes need under 10).
MAX_JSON_DEPTH = 64


class InvalidJSONError(LlmregError, ValueError):
    """A JSON text is not strict JSON: malformed, ``NaN``/``Infinity``, a key given twice,
    or nested too deeply. The message names the text and where it fails."""


def json_depth(text: str) -> int:
    """Return the deepest nesting of ``[`` and ``{`` in JSON ``text`` (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"the key {key[:80]!r} is given twice")
            seen.add(key)
    return found


def loads(
    text: str | bytes, what: str, error: Callable[[str], Exception] = InvalidJSONError
) -> Any:
    """Parse ``text`` strictly; every way it fails raises ``error`` with a message naming ``what``.

    Args:
        text: the JSON text (bytes are read as UTF-8).
        what: what the text is, for the message (``"config file chat.json"``).
        error: the typed error to raise (a caller's own, such as ``ConfigError``).

    Raises:
        InvalidJSONError: (or ``error``) the text is not strict JSON.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{what} is not UTF-8 (byte {exc.start}): send UTF-8 JSON") from None
    # json_depth walks the text in Python: fewer brackets than the limit cannot nest deeper
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH:
        depth = json_depth(text)
        if depth > MAX_JSON_DEPTH:
            raise error(
                f"{what} is nested {depth} levels deep; at most {MAX_JSON_DEPTH} are allowed"
            )
    try:
        return json.loads(text, parse_constant=_constant, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise error(
            f"{what} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except ValueError as exc:
        raise error(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise error(f"{what} is nested too deeply") from None


__all__ = ["MAX_JSON_DEPTH", "InvalidJSONError", "json_depth", "loads"]
