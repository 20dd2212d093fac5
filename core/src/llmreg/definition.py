"""The model definition: what an LLM model *is*, as llmreg saves and versions it.

A :class:`ModelDefinition` names a provider (a client contributed by a plugin),
a model, an endpoint and its generation settings. It validates before anything
runs, and it never carries a persisted secret: the API key is a *reference*
such as ``env:OPENAI_API_KEY``, resolved when a client is built.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
)

from llmreg.errors import (
    ConfigError,
    ConfigFileNotFoundError,
    SecretPersistError,
    SecretResolutionError,
)

#: How an API key reference is written: ``env:`` and an environment variable name.
KEY_REF_PATTERN = re.compile(r"^env:([A-Za-z_][A-Za-z0-9_]*)$")
#: Header names whose values are credentials: a literal value is never persisted.
SECRET_HEADER_PATTERN = re.compile(r"authorization|api[-_]?key|token|secret|password|cookie", re.I)


def _coerce_api_key(value: Any) -> Any:
    """Keep a reference as a plain string; hold anything else as a ``SecretStr``."""
    if value is None or isinstance(value, SecretStr):
        return value
    if isinstance(value, str):
        if value.startswith("env:"):
            if not KEY_REF_PATTERN.match(value):
                raise ValueError(
                    f"api_key reference {value!r} is malformed: write env:NAME, "
                    "where NAME is an environment variable"
                )
            return value
        return SecretStr(value)
    raise ValueError("api_key must be a reference such as 'env:OPENAI_API_KEY'")


def resolve_api_key(api_key: str | SecretStr | None) -> str | None:
    """Return the secret an ``api_key`` field stands for.

    Args:
        api_key: ``None``, a reference ``env:NAME``, or a literal ``SecretStr``.

    Returns:
        The key, or ``None`` where no key is configured.

    Raises:
        SecretResolutionError: the reference names an unset environment variable.
    """
    if api_key is None:
        return None
    if isinstance(api_key, SecretStr):
        return api_key.get_secret_value()
    match = KEY_REF_PATTERN.match(api_key)
    if match is None:  # pragma: no cover - the validator keeps this from happening
        raise SecretResolutionError(f"reference {api_key!r} is malformed")
    name = match.group(1)
    value = os.environ.get(name)
    if not value:
        raise SecretResolutionError(
            f"reference {api_key!r} cannot be resolved: the environment variable "
            f"{name} is not set. Set it before loading the model."
        )
    return value


class _Settings(BaseModel):
    """Generation and connection settings shared by a definition and its fallbacks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = Field(
        default=None, description="Endpoint root, e.g. http://127.0.0.1:4000/v1."
    )
    api_key: str | SecretStr | None = Field(
        default=None, description="A key reference such as 'env:OPENAI_API_KEY'."
    )
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, gt=0)
    timeout: float | None = Field(default=None, gt=0, description="Seconds per HTTP request.")
    max_retries: int | None = Field(default=None, ge=0, le=20)
    extra_headers: dict[str, str] | None = None

    @field_validator("api_key", mode="before")
    @classmethod
    def _api_key(cls, value: Any) -> Any:
        return _coerce_api_key(value)

    @field_validator("extra_headers")
    @classmethod
    def _headers(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, header in (value or {}).items():
            if header.startswith("env:") and not KEY_REF_PATTERN.match(header):
                raise ValueError(
                    f"header {name}: reference {header!r} is malformed; write env:NAME"
                )
        return value

    def resolved_headers(self) -> dict[str, str] | None:
        """Return ``extra_headers`` with each ``env:NAME`` value resolved.

        Raises:
            SecretResolutionError: a referenced environment variable is not set.
        """
        if self.extra_headers is None:
            return None
        return {
            name: (resolve_api_key(value) or "") if value.startswith("env:") else value
            for name, value in self.extra_headers.items()
        }

    def _header_refs(self) -> list[str]:
        return [v for v in (self.extra_headers or {}).values() if v.startswith("env:")]

    def _header_literal_secrets(self) -> list[str]:
        return [
            v
            for k, v in (self.extra_headers or {}).items()
            if SECRET_HEADER_PATTERN.search(k) and not v.startswith("env:")
        ]

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"base_url {value!r} must be an http:// or https:// URL")
        return value

    @field_serializer("api_key", when_used="always")
    def _dump_api_key(self, value: str | SecretStr | None) -> str | None:
        # A literal secret is dumped masked; persist() refuses it before this matters.
        return str(value) if isinstance(value, SecretStr) else value


class FallbackModel(_Settings):
    """A model tried, in order, when the primary fails after its retries.

    Unset fields are taken from the primary definition, so a fallback can be
    as small as ``{"model": "gpt-4o-mini"}``.
    """

    provider: str | None = None
    model: str = Field(min_length=1)


class ModelDefinition(_Settings):
    """An LLM model setup, validated before anything runs.

    Example:
        >>> d = ModelDefinition(provider="openai", model="gpt-4o-mini",
        ...                     api_key="env:OPENAI_API_KEY", temperature=0.2)
        >>> d.persistable()["api_key"]
        'env:OPENAI_API_KEY'
    """

    provider: str = Field(default="openai", min_length=1, description="A provider name.")
    model: str = Field(min_length=1, description="The model name the endpoint knows.")
    temperature: float | None = Field(default=0.0, ge=0.0, le=2.0)
    timeout: float | None = Field(default=60.0, gt=0)
    max_retries: int | None = Field(default=2, ge=0, le=20)
    concurrency: int = Field(default=8, ge=1, le=256, description="Rows in flight per batch.")
    system_prompt: str | None = Field(default=None, description="Prepended to every request.")
    stop: list[str] | None = None
    fallbacks: list[FallbackModel] = Field(default_factory=list)
    options: dict[str, JsonValue] = Field(
        default_factory=dict, description="Provider-specific settings, checked by the provider."
    )

    def resolved_fallbacks(self) -> list[ModelDefinition]:
        """Return each fallback as a full definition, unset fields taken from this one."""
        out: list[ModelDefinition] = []
        for fallback in self.fallbacks:
            overrides = fallback.model_dump(exclude_unset=True)
            if "api_key" in overrides:
                overrides["api_key"] = fallback.api_key
            merged = self.model_copy(update={**overrides, "fallbacks": []})
            out.append(merged)
        return out

    def secret_refs(self) -> list[str]:
        """Return the references (``api_key`` and header values) of this definition and its
        fallbacks."""
        parts: list[_Settings] = [self, *self.fallbacks]
        keys = [p.api_key for p in parts]
        refs = [k for k in keys if isinstance(k, str)]
        return refs + [r for p in parts for r in p._header_refs()]

    def literal_secrets(self) -> list[str]:
        """Return the literal credentials this definition holds: keys given in code, and
        literal values of credential headers (``Authorization``, ``*-Api-Key``, ``*token*``)."""
        parts: list[_Settings] = [self, *self.fallbacks]
        keys = [p.api_key.get_secret_value() for p in parts if isinstance(p.api_key, SecretStr)]
        return keys + [v for p in parts for v in p._header_literal_secrets()]

    def resolved_secrets(self) -> list[str]:
        """Return every secret value this definition stands for and can resolve now.

        Savers scan what they are about to write for these values.
        """
        values = list(self.literal_secrets())
        for ref in self.secret_refs():
            try:
                key = resolve_api_key(ref)
            except SecretResolutionError:
                continue
            if key:
                values.append(key)
        return values

    def persistable(self) -> dict[str, Any]:
        """Return the JSON-ready dict to persist, with key references only.

        Raises:
            SecretPersistError: a literal key was given; persist a reference instead.
        """
        if self.literal_secrets():
            raise SecretPersistError(
                "the model definition holds a literal api_key or credential header; it will not "
                "be persisted. Use a reference such as 'env:OPENAI_API_KEY' and set that "
                "variable at load time."
            )
        return self.model_dump(mode="json", exclude_none=True)

    def to_json(self) -> str:
        """Return :meth:`persistable` as indented, key-sorted JSON: what a saver writes.

        Besides refusing a literal key, it refuses a definition whose text holds a
        secret it can resolve now (a resolved key pasted into ``system_prompt`` or
        ``options``), in any form: raw, escaped or URL-encoded.

        Raises:
            SecretPersistError: a literal key, or a resolved secret in any field.
        """
        text = json.dumps(self.persistable(), indent=2, sort_keys=True)
        from llmreg.secrets import find_secret

        field = find_secret({"model definition": text}, self.resolved_secrets())
        if field is not None:
            raise SecretPersistError(
                "the model definition holds the value of one of its secrets (a resolved API "
                "key or credential header) in a field such as system_prompt or options; it "
                "will not be persisted. Remove it: keys are referenced as env:NAME only."
            )
        return text

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "model definition") -> ModelDefinition:
        """Validate ``data`` into a definition.

        Raises:
            ConfigError: ``data`` is not an object or a field is invalid; the
                message names each field.
        """
        if not isinstance(data, dict):
            raise ConfigError(
                f"{source} must be a JSON object with at least a 'model' field, "
                f"not {type(data).__name__}"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, source)) from None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str] | None) -> ModelDefinition:
        """Load and validate a definition from a JSON file.

        Raises:
            ConfigError: no path was given (a ``ValueError``), the file is empty,
                is not JSON, or does not validate.
            ConfigFileNotFoundError: the file does not exist (a ``FileNotFoundError``).
        """
        return cls.from_dict(read_json_file(path), source=f"config file {os.fspath(path or '')}")


def read_json_file(path: str | os.PathLike[str] | None) -> Any:
    """Read a JSON config file, turning each way it can fail into a typed error."""
    if path is None or os.fspath(path) == "":
        raise ConfigError("no config file was given: pass the path of a JSON model definition")
    file = Path(path)
    if not file.is_file():
        raise ConfigFileNotFoundError(
            f"config file {os.fspath(path)} does not exist: check the path"
        )
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config file {file} is not UTF-8 text") from None
    if not text.strip():
        raise ConfigError(f"config file {file} is empty: write a JSON model definition in it")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"config file {file} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg})"
        ) from None


def describe_validation_error(exc: ValidationError, source: str) -> str:
    """Turn a pydantic error into one message that names every bad field."""
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        problems.append(f"{where}: {err['msg']}")
    return f"{source} is invalid: " + "; ".join(problems)
