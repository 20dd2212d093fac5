"""Prompt templates with ``{name}`` variables, filled from a row's ``vars``.

A template is ``str.format`` syntax limited to plain names: ``{city}`` is a variable,
``{{`` and ``}}`` are literal braces; ``{a.b}``, ``{a[0]}``, ``{0}``, ``{}`` and format
specs are refused (a template is data, not code). A definition's ``prompt`` (the
system prompt) and ``user_template`` (the user message, ``{input}`` being the row's
text) are templates, applied to every row by :class:`Templates` in the core's row loop
(:class:`~llmreg.adapter.ClientAdapter`). A ``prompt`` may instead reference MLflow's
Prompt Registry (``prompts:/name@alias``, ``prompts:/name/version``): a saver pins it,
and the adapter's ``resolve_prompt`` hook turns it into a template.

Example:
    >>> render("Answer in {language}: {input}", {"language": "French", "input": "hi"})
    'Answer in French: hi'
    >>> sorted(variables("{a} and {b} but not {{c}}"))
    ['a', 'b']
"""

from __future__ import annotations

import re
import string
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from llmreg.errors import ConfigError, SchemaError
from llmreg.schemas import Message, Request

if TYPE_CHECKING:
    from llmreg.definition import ModelDefinition

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


def no_registry(reference: str) -> str:
    """The default ``resolve_prompt``: a Prompt Registry reference cannot be read here.

    Raises:
        ConfigError: always, naming the reference.
    """
    raise ConfigError(
        f"the prompt {reference!r} is a Prompt Registry reference, which this loader cannot "
        "read: load the model with a loader that resolves it (llmreg-pyfunc's loader)"
    )


class Templates:
    """A definition's ``prompt`` and ``user_template``, applied to rows.

    Args:
        definition: the model definition.
        resolve_prompt: turns a ``prompts:/`` reference into a ``{name}`` template;
            called once, at the first row.
    """

    def __init__(
        self, definition: ModelDefinition, resolve_prompt: Callable[[str], str] = no_registry
    ) -> None:
        self.definition = definition
        self._resolve = resolve_prompt
        self._system: str | None = None
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        """Whether the definition has a ``prompt`` or a ``user_template``."""
        return self.definition.prompt is not None or self.definition.user_template is not None

    def system(self) -> str | None:
        """The system prompt template, a registry reference resolved once."""
        prompt = self.definition.prompt
        if prompt is None:
            return None
        with self._lock:
            if self._system is None:
                self._system = self._resolve(prompt) if is_prompt_uri(prompt) else prompt
            return self._system

    def render_system(self, values: Mapping[str, str]) -> str | None:
        """The system prompt filled from ``values``, or ``None`` without a ``prompt``.

        Raises:
            SchemaError: a variable is not in ``values``.
        """
        system = self.system()
        return None if not system else render(system, values)

    def apply(self, rows: Sequence[Request]) -> list[Request]:
        """Return the rows as chat messages: the rendered system prompt first, then the
        row's messages, or its text through ``user_template``. Rows are returned as they
        are when the definition has no template.

        Raises:
            SchemaError: a row leaves a variable unfilled (naming the row; before any request).
        """
        if not self.active:
            return list(rows)
        user = self.definition.user_template
        out = []
        for index, row in enumerate(rows):
            values: dict[str, Any] = dict(row.vars or {})
            if row.input is not None:
                values.setdefault("input", row.input)
            try:
                system = self.render_system(values)
                head = [Message(role="system", content=system)] if system is not None else []
                if row.messages is not None:
                    messages = head + list(row.messages)
                else:
                    text = render(user, values) if user is not None else row.input or ""
                    messages = [*head, Message(role="user", content=text)]
            except SchemaError as exc:
                raise SchemaError(f"row {index}: {exc}") from None
            out.append(row.model_copy(update={"input": None, "messages": messages}))
        return out


__all__ = ["PROMPT_URI_PREFIX", "Templates", "is_prompt_uri", "no_registry", "render", "variables"]
