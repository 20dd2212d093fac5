"""Prompt templates and MLflow's Prompt Registry for llmreg pyfunc models.

A definition's ``prompt`` is the system prompt: an inline template
(``"Answer in {language}."``) or a reference to the Prompt Registry
(``"prompts:/support@champion"``, ``"prompts:/support/3"``). :func:`pin` (called by
:class:`~llmreg_pyfunc.saver.CustomSaver`) resolves a reference to its version, so
the saved model names ``prompts:/support/3`` and always answers with that prompt
(prompt versions are immutable). The core's row loop applies the templates to every
row (:class:`llmreg.templates.Templates`); :class:`~llmreg_pyfunc.tracing.TracedAdapter`
reads a registry reference for it through :func:`load`.

Registered prompts use MLflow's ``{{ name }}`` variables; inline templates use
``{name}`` (see :mod:`llmreg.templates`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmreg.definition import ModelDefinition
from llmreg.errors import ConfigError
from llmreg.templates import PROMPT_URI_PREFIX, is_prompt_uri, variables

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


__all__ = ["PinnedPrompt", "from_mustache", "load", "pin"]
