"""Prompt templates and MLflow's Prompt Registry for llmreg pyfunc models.

A definition's ``prompt`` is the system prompt: an inline template
(``"Answer in {language}."``) or a reference to the Prompt Registry
(``"prompts:/support@champion"``, ``"prompts:/support/3"``). :func:`pin` (called by
:class:`~llmreg_pyfunc.saver.CustomSaver`) resolves a reference to its version, so
the saved model names ``prompts:/support/3`` and always answers with that prompt
(prompt versions are immutable). :func:`apply` (called by every adapter before
any request) turns each row into chat messages: the rendered system prompt, then
the row's text through ``user_template``. A variable a row does not fill is a
:class:`~llmreg.errors.SchemaError` before any request is sent.

Registered prompts use MLflow's ``{{ name }}`` variables; inline templates use
``{name}`` (see :mod:`llmreg.templates`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from llmreg.definition import ModelDefinition
from llmreg.errors import ConfigError, SchemaError
from llmreg.schemas import Message, Request
from llmreg.templates import PROMPT_URI_PREFIX, is_prompt_uri, render, variables

_MUSTACHE = re.compile(r"\{\{\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\}\}")


@dataclass(frozen=True)
class PinnedPrompt:
    """A registered prompt resolved to one version.

    Attributes:
        reference: what the definition said (``prompts:/support@champion``).
        uri: the pinned reference (``prompts:/support/3``).
        version: the version number.
        template: the template in llmreg's ``{name}`` syntax.
    """

    reference: str
    uri: str
    version: int
    template: str


def from_mustache(template: str) -> str:
    """Return an MLflow prompt template (``{{ name }}``) in ``{name}`` syntax.

    Example:
        >>> from_mustache("Hi {{ name }}, use {json}")
        'Hi {name}, use {{json}}'
    """
    escaped = template.replace("{", "{{").replace("}", "}}")
    return _MUSTACHE.sub(r"{\1}", escaped)


def load(reference: str) -> PinnedPrompt:
    """Resolve a ``prompts:/`` reference through MLflow's Prompt Registry.

    Raises:
        ConfigError: the prompt does not exist, or is a chat (list) template.
    """
    import mlflow

    from llmreg_mlflow.store.errors import LOAD, mlflow_errors

    with mlflow_errors(f"loading the prompt {reference!r}", LOAD):
        found = mlflow.genai.load_prompt(reference)
    template = getattr(found, "template", None)
    if not isinstance(template, str):
        raise ConfigError(
            f"prompt {reference!r} is a chat template; llmreg takes a text template as the "
            "system prompt"
        )
    text = from_mustache(template)
    variables(text)  # a malformed template fails here, at save
    uri = f"{PROMPT_URI_PREFIX}{found.name}/{found.version}"
    return PinnedPrompt(reference, uri, int(found.version), text)


def pin(model: ModelDefinition) -> tuple[ModelDefinition, PinnedPrompt | None]:
    """Return ``model`` with a registry ``prompt`` pinned to its version, and the pin.

    Raises:
        ConfigError: the prompt cannot be found.
    """
    if not is_prompt_uri(model.prompt):
        return model, None
    assert model.prompt is not None
    pinned = load(model.prompt)
    return model.model_copy(update={"prompt": pinned.uri}), pinned


class Templates:
    """The templates of one definition, ready to apply to rows (a registry prompt is
    loaded once, on first use)."""

    def __init__(self, definition: ModelDefinition) -> None:
        self.definition = definition
        self._system: str | None = None

    @property
    def active(self) -> bool:
        """Whether the definition has a ``prompt`` or a ``user_template``."""
        return self.definition.prompt is not None or self.definition.user_template is not None

    def system(self) -> str | None:
        """The system prompt template (``{name}`` syntax), loading a registry prompt once."""
        prompt = self.definition.prompt
        if prompt is None:
            return None
        if self._system is None:
            self._system = load(prompt).template if is_prompt_uri(prompt) else prompt
        return self._system

    def apply(self, rows: list[Request]) -> list[Request]:
        """Return the rows as chat messages with the templates filled in.

        Raises:
            SchemaError: a row leaves a template variable unfilled (before any request).
        """
        system = self.system()
        user = self.definition.user_template
        out = []
        for index, row in enumerate(rows):
            try:
                out.append(self._one(row, system, user))
            except SchemaError as exc:
                raise SchemaError(f"row {index}: {exc}") from None
        return out

    @staticmethod
    def _one(row: Request, system: str | None, user: str | None) -> Request:
        values: dict[str, Any] = dict(row.vars or {})
        if row.input is not None:
            values.setdefault("input", row.input)
        head = [Message(role="system", content=render(system, values))] if system else []
        if row.messages is not None:
            messages = head + list(row.messages)
        else:
            text = render(user, values) if user is not None else row.input or ""
            messages = [*head, Message(role="user", content=text)]
        return row.model_copy(update={"input": None, "messages": messages})


__all__ = ["PinnedPrompt", "Templates", "from_mustache", "load", "pin"]
