"""Prompt templates with ``{name}`` variables, filled from a row's ``vars``.

A template is Python's ``str.format`` syntax limited to plain names: ``{city}``
is a variable, ``{{`` and ``}}`` are literal braces; ``{a.b}``, ``{a[0]}``,
``{0}``, ``{}`` and format specs are refused (a template is data, not code).
A definition's ``prompt`` (the system prompt) and ``user_template`` (the user
message, where ``{input}`` is the row's text) are such templates. A prompt may
instead be a reference to MLflow's Prompt Registry (``prompts:/name@alias`` or
``prompts:/name/version``), which a saver resolves and pins.

Example:
    >>> render("Answer in {language}: {input}", {"language": "French", "input": "hi"})
    'Answer in French: hi'
    >>> sorted(variables("{a} and {b} but not {{c}}"))
    ['a', 'b']
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

from llmreg.errors import ConfigError, SchemaError

#: What a reference to a registered prompt looks like.
PROMPT_URI_PREFIX = "prompts:/"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_prompt_uri(text: str | None) -> bool:
    """Whether ``text`` is a Prompt Registry reference (``prompts:/...``)."""
    return isinstance(text, str) and text.startswith(PROMPT_URI_PREFIX)


def variables(template: str) -> set[str]:
    """Return the variable names of ``template``.

    Raises:
        ConfigError: the template is malformed, or a field is not a plain name.
    """
    found: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(
            f"prompt template is malformed ({exc}); write braces as {{{{ }}}}"
        ) from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if not _NAME.match(field) or spec or conversion:
            raise ConfigError(
                f"prompt template field {{{field}}} is not a plain variable name: use "
                "{name} (letters, digits, _), and {{ }} for literal braces"
            )
        found.add(field)
    return found


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill ``template``'s variables from ``values``.

    Raises:
        SchemaError: a variable is not in ``values`` (all missing ones are named).
        ConfigError: the template is malformed.
    """
    missing = sorted(variables(template) - set(values))
    if missing:
        raise SchemaError(
            f"the prompt template needs the variable(s) {', '.join(missing)}, which the row "
            'does not fill: send them in the row\'s \'vars\' (e.g. {"input": ..., "vars": '
            f'{{"{missing[0]}": ...}}}})'
        )
    return template.format_map({k: str(v) for k, v in values.items()})


__all__ = ["PROMPT_URI_PREFIX", "is_prompt_uri", "render", "variables"]
