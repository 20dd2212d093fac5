"""The model definition: what an LLM model *is*, as llmreg saves and versions it.

A :class:`ModelDefinition` names a provider (a client a plugin contributes), a model,
an endpoint and its generation settings. It validates before anything runs and never
carries a persisted secret: the API key is a *reference* such as ``env:OPENAI_API_KEY``,
resolved when a client is built.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
import urllib.parse
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from llmreg.errors import (
    ConfigError,
    DefinitionError,
    SecretPersistError,
    SecretResolutionError,
)
from llmreg.files import check_input_file
from llmreg.jsonio import MAX_JSON_DEPTH as MAX_JSON_DEPTH  # the gateway's import, until it moves
from llmreg.jsonio import json_depth as json_depth
from llmreg.jsonio import loads
from llmreg.schemas import Integer, Number, describe_problems
from llmreg.secrets import CREDENTIAL_HEADER_WORDS, is_credential_header, mask_userinfo

#: How an API key reference is written: ``env:`` and an environment variable name.
KEY_REF_PATTERN = re.compile(r"^env:([A-Za-z_][A-Za-z0-9_]*)$")
#: Header names whose values are credentials: a literal value is never persisted. The
#: rule is :func:`llmreg.secrets.is_credential_header`; this is its pattern, kept by name.
SECRET_HEADER_PATTERN = CREDENTIAL_HEADER_WORDS
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}")  # an RFC 9110 token

# Bounds on what a definition holds, checked when it is built (before any save).
MAX_NAME_CHARS = 1_000  # provider, model, a header name
MAX_URL_CHARS = 2_048
#: The longest ``system_prompt`` (a prediction row counts it too, see ``llmreg.schemas``).
MAX_SYSTEM_PROMPT_CHARS = 200_000
MAX_DESCRIPTION_CHARS = 5_000
MAX_STOP_ITEMS = 16
MAX_STOP_CHARS = 1_000
MAX_HEADERS = 64
MAX_HEADER_VALUE_CHARS = 8_192
MAX_FALLBACKS = 16
#: The longest ``options`` object, as compact JSON.
MAX_OPTIONS_CHARS = 100_000

#: Set while a definition validates: nested models then raise pydantic's own error,
#: which the outermost call turns into one typed error naming every field.
_IN_VALIDATION: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "llmreg_definition_validation", default=False
)


def _control_characters(text: str) -> list[str]:
    return sorted({repr(c)[1:-1] for c in text if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0})


def check_header_value(value: str, what: str, *, secret: bool = False) -> str:
    """Return ``value`` if an HTTP header can carry it: printable ASCII (tab allowed).

    With ``secret``, the message shows neither the value nor the character.

    Raises:
        ValueError: naming ``what``, the kind of character and its position.
    """
    for index, char in enumerate(value):
        if char == "\t" or " " <= char <= "~":
            continue
        kind = "a control" if ord(char) < 0x20 or ord(char) == 0x7F else "a non-ASCII"
        shown = "" if secret else f" {repr(char)[1:-1]}"
        trailing = char in "\r\n" and not value[index:].strip()
        hint = " (a trailing newline is a common cause)" if trailing else ""
        raise ValueError(
            f"{what} holds {kind} character{shown} at position {index} of {len(value)}; an "
            f"HTTP header cannot carry it: remove it{hint}"
        )
    return value


def check_base_url(value: str) -> str:
    """Return ``value`` if it is an ``http(s)://host[:port][/path]`` URL without credentials.

    Raises:
        ValueError: what is wrong (user-info masked).
    """
    if len(value) > MAX_URL_CHARS:
        raise ValueError(f"base_url is {len(value):,} characters long; at most {MAX_URL_CHARS:,}")
    shown = repr(mask_userinfo(value))
    bad = _control_characters(value) + (["space"] if " " in value else [])
    if bad:
        raise ValueError(
            f"base_url {shown} holds {', '.join(bad)}: a URL cannot carry "
            "spaces or control characters such as CR or LF"
        )
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url {shown} must be an http:// or https:// URL with a host")
    if "@" in parts.netloc:
        raise ValueError(
            f"base_url {shown} carries credentials (user:password@), which "
            "would be saved in plain text: remove them, and give the key as api_key "
            "'env:NAME', or a header in extra_headers such as "
            '{"Authorization": "env:NAME"} (an env: reference, resolved at load)'
        )
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"base_url {value!r} has an invalid port: use 1 to 65535")
    if not parts.hostname:
        raise ValueError(f"base_url {value!r} has no host")
    return value


def _coerce_api_key(value: Any) -> Any:
    """Keep a reference as a plain string; hold anything else as a ``SecretStr``."""
    if value is None or isinstance(value, SecretStr):
        return value
    if not isinstance(value, str):
        raise ValueError("api_key must be a reference such as 'env:OPENAI_API_KEY'")
    if not value.strip():
        raise ValueError(
            "api_key is empty: leave it out (local servers need no key), or give a "
            "reference such as 'env:OPENAI_API_KEY'"
        )
    if not value.startswith("env:"):
        return SecretStr(value)
    if not KEY_REF_PATTERN.match(value):
        raise ValueError(
            f"api_key reference {value!r} is malformed: write env:NAME, "
            "where NAME is an environment variable"
        )
    return value


def resolve_api_key(api_key: str | SecretStr | None) -> str | None:
    """Return the secret an ``api_key`` field (``None``, ``env:NAME`` or a ``SecretStr``)
    stands for, or ``None`` where no key is configured.

    Raises:
        SecretResolutionError: the variable is unset, or its value is one an HTTP header
            cannot carry (such as a trailing newline); the message never shows it.
    """
    if api_key is None:
        return None
    if isinstance(api_key, SecretStr):
        literal = api_key.get_secret_value()
        _check_secret(literal, "the literal api_key")
        return literal
    name = _reference_name(api_key)
    value = os.environ.get(name)
    if not value:
        raise SecretResolutionError(
            f"reference {api_key!r} cannot be resolved: the environment variable "
            f"{name} is not set. Set it before loading the model."
        )
    _check_secret(value, f"the environment variable {name} (referenced as {api_key!r})")
    return value


def _reference_name(ref: str) -> str:
    match = KEY_REF_PATTERN.match(ref)
    if match is None:  # pragma: no cover - the validator keeps this from happening
        raise SecretResolutionError(f"reference {ref!r} is malformed")
    return match.group(1)


def _check_secret(value: str, what: str) -> None:
    try:
        check_header_value(value, what, secret=True)
    except ValueError as exc:
        raise SecretResolutionError(f"{exc}. Its value is not shown.") from None


class _Settings(BaseModel):
    """Generation and connection settings shared by a definition and its fallbacks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = Field(
        default=None, description="Endpoint root, e.g. http://127.0.0.1:4000/v1."
    )
    api_key: str | SecretStr | None = Field(
        default=None, description="A key reference such as 'env:OPENAI_API_KEY'."
    )
    temperature: Number | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: Integer | None = Field(default=None, gt=0)
    timeout: Number | None = Field(default=None, gt=0, description="Seconds per HTTP request.")
    max_retries: Integer | None = Field(default=None, ge=0, le=20)
    extra_headers: dict[str, str] | None = Field(default=None, max_length=MAX_HEADERS)

    def __init__(self, /, **data: Any) -> None:
        """Validate ``data``; an invalid field raises :class:`~llmreg.errors.DefinitionError`
        (a ``ConfigError`` and ``ValueError``) naming every field."""
        if _IN_VALIDATION.get():  # a nested model, or from_dict: the caller reports
            super().__init__(**data)
            return
        token = _IN_VALIDATION.set(True)
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise DefinitionError(describe_validation_error(exc, type(self).__name__)) from None
        finally:
            _IN_VALIDATION.reset(token)

    @field_validator("api_key", mode="before")
    @classmethod
    def _api_key(cls, value: Any) -> Any:
        return _coerce_api_key(value)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value)

    @field_validator("extra_headers")
    @classmethod
    def _headers(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, header in (value or {}).items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(
                    f"header name {name[:80]!r} is not a valid HTTP header name (letters, "
                    "digits and !#$%&'*+-.^_`|~, at most 256)"
                )
            if header.startswith("env:"):
                if not KEY_REF_PATTERN.match(header):
                    raise ValueError(
                        f"header {name}: reference {header!r} is malformed; write env:NAME"
                    )
            elif len(header) > MAX_HEADER_VALUE_CHARS:
                raise ValueError(
                    f"header {name} is {len(header):,} characters long; at most "
                    f"{MAX_HEADER_VALUE_CHARS:,}"
                )
            else:
                check_header_value(header, f"header {name}")
        return value

    @field_serializer("api_key", when_used="always")
    def _dump_api_key(self, value: str | SecretStr | None) -> str | None:
        # A literal secret is dumped masked; persist() refuses it before this matters.
        return str(value) if isinstance(value, SecretStr) else value

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

    def _refs(self) -> list[str]:
        headers = (self.extra_headers or {}).values()
        key = [self.api_key] if isinstance(self.api_key, str) else []
        return key + [v for v in headers if v.startswith("env:")]

    def _literals(self) -> list[str]:
        key = [self.api_key.get_secret_value()] if isinstance(self.api_key, SecretStr) else []
        headers = (self.extra_headers or {}).items()
        return key + [v for k, v in headers if is_credential_header(k) and not v.startswith("env:")]


class FallbackModel(_Settings):
    """A model tried, in order, when the primary fails after its retries; unset fields
    are taken from the primary (``{"model": "gpt-4o-mini"}`` is enough)."""

    provider: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_CHARS)
    model: str = Field(min_length=1, max_length=MAX_NAME_CHARS)


class ModelDefinition(_Settings):
    """An LLM model setup, validated before anything runs."""

    provider: str = Field(
        default="openai", min_length=1, max_length=MAX_NAME_CHARS, description="A provider name."
    )
    model: str = Field(
        min_length=1, max_length=MAX_NAME_CHARS, description="The model name the endpoint knows."
    )
    temperature: Number | None = Field(default=0.0, ge=0.0, le=2.0)
    timeout: Number | None = Field(default=60.0, gt=0)
    max_retries: Integer | None = Field(default=2, ge=0, le=20)
    concurrency: Integer = Field(default=8, ge=1, le=256, description="Rows in flight per batch.")
    system_prompt: str | None = Field(
        default=None,
        max_length=MAX_SYSTEM_PROMPT_CHARS,
        description="Prepended to every request.",
    )
    stop: list[Annotated[str, Field(max_length=MAX_STOP_CHARS)]] | None = Field(
        default=None, max_length=MAX_STOP_ITEMS
    )
    fallbacks: list[FallbackModel] = Field(default_factory=list, max_length=MAX_FALLBACKS)
    options: dict[str, JsonValue] = Field(
        default_factory=dict, description="Provider-specific settings, checked by the provider."
    )
    description: str | None = Field(
        default=None,
        max_length=MAX_DESCRIPTION_CHARS,
        description="What this model is for; a registry shows it as the version's description.",
    )
    tracing: bool | None = Field(
        default=None,
        description="Record a trace of every prediction (true), never (false), or as the "
        "tracking store's own settings say (unset).",
    )
    prompt: str | None = Field(
        default=None,
        max_length=MAX_SYSTEM_PROMPT_CHARS,
        description="The system prompt as a template with {variables} filled from each row's "
        "vars, or a Prompt Registry reference (prompts:/name@alias, prompts:/name/version) that "
        "a saver pins to its version. Not with system_prompt.",
    )
    user_template: str | None = Field(
        default=None,
        max_length=MAX_SYSTEM_PROMPT_CHARS,
        description="The user message as a template: {input} is the row's text, other "
        "{variables} come from the row's vars.",
    )

    @model_validator(mode="after")
    def _templates(self) -> ModelDefinition:
        from llmreg.templates import is_prompt_uri, variables

        if self.prompt is not None and self.system_prompt is not None:
            raise ValueError("give the system prompt once: prompt or system_prompt, not both")
        for text in (self.prompt, self.user_template):
            if text is not None and not is_prompt_uri(text):
                try:
                    variables(text)
                except ConfigError as exc:
                    raise ValueError(str(exc)) from None
        return self

    @field_validator("options")
    @classmethod
    def _options(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        try:
            text = json.dumps(value, allow_nan=False, separators=(",", ":"))
        except ValueError:
            raise ValueError("options hold Infinity or NaN, which JSON cannot carry") from None
        if len(text) > MAX_OPTIONS_CHARS:
            raise ValueError(
                f"options are {len(text):,} characters of JSON; at most {MAX_OPTIONS_CHARS:,}"
            )
        return value

    def resolved_fallbacks(self) -> list[ModelDefinition]:
        """Return each fallback as a full definition, unset fields taken from this one."""
        out: list[ModelDefinition] = []
        for fallback in self.fallbacks:
            overrides = fallback.model_dump(exclude_unset=True)
            if "api_key" in overrides:
                overrides["api_key"] = fallback.api_key
            out.append(self.model_copy(update={**overrides, "fallbacks": []}))
        return out

    def secret_refs(self) -> list[str]:
        """Return the references (``api_key`` and header values), fallbacks' included."""
        return [r for part in (self, *self.fallbacks) for r in part._refs()]

    def literal_secrets(self) -> list[str]:
        """Return the literal credentials held: keys given in code, and literal values of
        credential headers (:func:`llmreg.secrets.is_credential_header`)."""
        return [s for part in (self, *self.fallbacks) for s in part._literals()]

    def resolved_secrets(self) -> list[str]:
        """Return every secret value this definition stands for and can resolve now (usable
        or not, so that it is masked wherever it could appear). Savers scan for these."""
        values = [v for v in (os.environ.get(_reference_name(r)) for r in self.secret_refs()) if v]
        stripped = [v.strip() for v in values if v.strip() and v.strip() != v]
        return self.literal_secrets() + values + stripped

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

        Raises:
            SecretPersistError: a literal key, or a secret it can resolve now in any field
                (``system_prompt``, ``options``...), raw, escaped or URL-encoded.
        """
        from llmreg.secrets import find_secret

        text = json.dumps(self.persistable(), indent=2, sort_keys=True)
        if find_secret({"model definition": text}, self.resolved_secrets()) is not None:
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
            ConfigError: ``data`` is not an object or a field is invalid (each is named).
        """
        if not isinstance(data, dict):
            raise ConfigError(
                f"{source} must be a JSON object with at least a 'model' field, "
                f"not {type(data).__name__}"
            )
        token = _IN_VALIDATION.set(True)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, source)) from None
        except RecursionError:
            raise ConfigError(f"{source} is nested too deeply to be a model definition") from None
        finally:
            _IN_VALIDATION.reset(token)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str] | None) -> ModelDefinition:
        """Load and validate a definition from a JSON file.

        Raises:
            ConfigError: no path, a folder, an empty file, not strict JSON, or invalid.
            ConfigFileNotFoundError: the file does not exist (a ``FileNotFoundError``).
        """
        data = read_json_file(path)
        return cls.from_dict(data, source=f"config file {os.fspath(path or '')}")


def read_json_file(path: str | os.PathLike[str] | None) -> Any:
    """Read a JSON config file, turning each way it can fail into a typed error."""
    if path is None or path == "":
        raise ConfigError("no config file was given: pass the path of a JSON model definition")
    if not isinstance(path, str | os.PathLike):
        raise ConfigError(
            f"the config file must be given as a path (str or os.PathLike), not "
            f"{type(path).__name__} {path!r:.80}"
        )
    file = check_input_file(path, "config file", "the path of a JSON file")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config file {file} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"config file {file} cannot be read: {exc.strerror or exc}") from None
    if not text.strip():
        raise ConfigError(f"config file {file} is empty: write a JSON model definition in it")
    return loads(text, f"config file {file}", ConfigError)


def describe_validation_error(exc: ValidationError, source: str) -> str:
    """Turn a pydantic error into one message that names every bad field (at most 10)."""
    return f"{source} is invalid: {describe_problems(exc)}"
