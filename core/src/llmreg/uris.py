"""Model URIs: parsing the ones llmreg loads, building the ones the registry hands out.

One set of rules (pure Python): a **version** is an ``int`` or ASCII digits from 1 (so
``"1"`` is ``models:/chat/1``, never the alias ``@1``); an **alias** starts with a letter
or ``_`` and is not ``latest`` or ``v1``-like (MLflow reserves them); a **registered
model name** uses letters, digits, ``_``, ``.`` and ``-``. Accepted: ``runs:/<run_id>/<path>``,
``models:/<name>/<version>``, ``models:/<name>@<alias>``, ``models:/m-<model_id>`` and a
local path (or ``file://``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from llmreg.errors import InvalidModelURIError, LlmregError, RegistrationInputError

# Every pattern is used with ``fullmatch``: ``$`` would accept a trailing newline.

#: A registered model name: it appears in ``models:/<name>/...`` URIs, so no ``/``, ``:`` or ``@``.
_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,255}")
#: Anything that looks like a version number, signed or not (signs are rejected with a hint).
#: ASCII digits only: ``str.isdigit`` also accepts superscripts and full-width digits.
_NUMBER_RE = re.compile(r"[+-]?[0-9]+")
#: An alias: MLflow's characters, starting with a letter or ``_`` so it never reads as a version.
_ALIAS_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,254}")
#: An MLflow 3 logged-model id.
_MODEL_ID_RE = re.compile(r"m-[0-9a-f]+")
#: Aliases MLflow reserves: ``latest`` and version-like ``v1``.
_RESERVED_ALIAS_RE = re.compile(r"(latest|[vV][0-9]+)", re.IGNORECASE)
#: A tag key: MLflow's characters (ASCII letters, digits, ``_ . - / : `` and space).
_TAG_KEY_RE = re.compile(r"[A-Za-z0-9_./\- :]{1,250}")

#: MLflow's limits (``mlflow/utils/validation.py``): registered model names are
#: ``String(256)`` columns, aliases at most 255 characters, model registry tag keys
#: at most 250 and their values at most 100,000.
MAX_MODEL_NAME_CHARS = 256
MAX_ALIAS_CHARS = 255
MAX_TAG_KEY_CHARS = 250
MAX_TAG_VALUE_CHARS = 100_000
#: How much of a bad value a message quotes.
QUOTE_CHARS = 80


def shorten(value: object, limit: int = QUOTE_CHARS) -> str:
    """Return ``repr(value)``, cut to about ``limit`` characters with its length said.

    Messages quote what was wrong; a 1 MB value must not make a 1 MB message.
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str | bytes) else ""
    return f"{text[: limit - 1]}…{size}"


def check_model_name(name: object, error: type[LlmregError] = InvalidModelURIError) -> str:
    """Return ``name`` if it is a valid registered model name, else raise ``error``."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise error(
            f"invalid registered model name {shorten(name)}: use 1 to 256 letters, digits, "
            "'_', '.' or '-', starting with a letter, digit or '_' (no '/', ':', '@' or spaces)"
        )
    return name


def check_version(version: object) -> int:
    """Return ``version`` as a positive ``int``; accept an ``int`` or a string of digits."""
    if isinstance(version, bool) or not isinstance(version, int | str):
        raise InvalidModelURIError(
            f"invalid model version {shorten(version)}: give a positive int or a string of digits"
        )
    if isinstance(version, str):
        if not _NUMBER_RE.fullmatch(version):
            raise InvalidModelURIError(
                f"invalid model version {shorten(version)}: give a positive int or a string of "
                "ASCII digits"
            )
        version = int(version)
    if version < 1:
        raise InvalidModelURIError(
            f"invalid model version {version}: versions start at 1; give a positive number"
        )
    return version


def check_alias(alias: object, error: type[LlmregError] = InvalidModelURIError) -> str:
    """Return ``alias`` if it is a valid alias name, else raise ``error``."""
    if not isinstance(alias, str) or not _ALIAS_RE.fullmatch(alias):
        raise error(
            f"invalid alias {shorten(alias)}: use 1 to 255 letters, digits, '_' or '-', starting "
            "with a letter or '_' (a string of digits is a version, not an alias)"
        )
    if _RESERVED_ALIAS_RE.fullmatch(alias):
        raise error(
            f"invalid alias {alias!r}: MLflow reserves 'latest' and version-like names "
            "such as 'v1'; choose another name"
        )
    return alias


def check_tags(tags: object, what: str = "tag") -> dict[str, str]:
    """Return ``tags`` if every key and value fits MLflow's model registry rules.

    A key: 1 to 250 ASCII letters, digits, ``_ . - / :`` or spaces, not starting with
    ``/`` or ``..`` and not changed by path normalisation (MLflow refuses ``a//b``).
    A value: a string of at most 100,000 characters (any characters).

    Raises:
        RegistrationInputError: naming the first bad key or value.
    """
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise RegistrationInputError(f"{what}s must be a mapping of strings, not {shorten(tags)}")
    for key, value in tags.items():
        if not isinstance(key, str) or not _TAG_KEY_RE.fullmatch(key) or _path_like(key):
            raise RegistrationInputError(
                f"invalid {what} key {shorten(key)}: use 1 to {MAX_TAG_KEY_CHARS} ASCII letters, "
                "digits, '_', '.', '-', '/', ':' or spaces, not starting with '/' or '..' "
                "(MLflow's rule)"
            )
        if not isinstance(value, str):
            raise RegistrationInputError(
                f"{what} {key!r} has a value of type {type(value).__name__}: tag values are strings"
            )
        if len(value) > MAX_TAG_VALUE_CHARS:
            raise RegistrationInputError(
                f"{what} {key!r} has a value of {len(value):,} characters; MLflow keeps at most "
                f"{MAX_TAG_VALUE_CHARS:,}: store long text as an artifact instead"
            )
    return dict(tags)


def _path_like(key: str) -> bool:
    """MLflow's ``path_not_unique``: a key that path normalisation would change."""
    norm = posixpath.normpath(key)
    return norm != key or norm == "." or norm.startswith("..") or norm.startswith("/")


def check_registration(
    name: object,
    alias: object = None,
    tags: object = None,
    *,
    model_tags: object = None,
) -> None:
    """Check a registered model name, alias and tags before anything is written.

    Registering after a save (``llmreg save --register --alias``) writes a run, a
    logged model and its artifacts first: a name, alias or tag that MLflow then
    refuses would leave them behind. Callers check here first, against llmreg's
    rules and MLflow's limits (:data:`MAX_MODEL_NAME_CHARS`,
    :data:`MAX_ALIAS_CHARS`, :data:`MAX_TAG_KEY_CHARS`, :data:`MAX_TAG_VALUE_CHARS`).

    Args:
        name: the registered model name.
        alias: the alias to set, or ``None``.
        tags: the version tags, or ``None``.
        model_tags: the registered-model tags, or ``None``.

    Raises:
        RegistrationInputError: naming the first bad name, alias, key or value.
    """
    check_model_name(name, RegistrationInputError)
    if alias is not None:
        check_alias(alias, RegistrationInputError)
    check_tags(tags, "tag")
    check_tags(model_tags, "registered-model tag")


def is_version(x: object) -> bool:
    """Whether ``x`` is meant as a version: an ``int`` or a (signed) string of digits."""
    if isinstance(x, bool):
        return False
    return isinstance(x, int) or (isinstance(x, str) and bool(_NUMBER_RE.fullmatch(x)))


def uri_for_model_version(name: str, version: int | str) -> str:
    """Return ``models:/<name>/<version>``."""
    return f"models:/{check_model_name(name)}/{check_version(version)}"


def uri_for_model_alias(name: str, alias: str) -> str:
    """Return ``models:/<name>@<alias>``."""
    return f"models:/{check_model_name(name)}@{check_alias(alias)}"


def uri_for_model_alias_or_version(name: str, x: int | str) -> str:
    """Return the version URI when ``x`` is an int or a string of digits, else the alias URI."""
    if is_version(x):
        return uri_for_model_version(name, x)
    return uri_for_model_alias(name, x)  # type: ignore[arg-type]


def uri_for_logged_model(model_id: str) -> str:
    """Return ``models:/<model_id>`` for an MLflow 3 logged model."""
    if not isinstance(model_id, str) or not _MODEL_ID_RE.fullmatch(model_id):
        raise InvalidModelURIError(
            f"invalid logged-model id {model_id!r}: MLflow's look like 'm-<hex>'"
        )
    return f"models:/{model_id}"


UriKind = Literal["run", "version", "alias", "logged_model", "local"]

_RUN = re.compile(r"runs:/(?P<run_id>[A-Za-z0-9]+)/(?P<path>[^\s]+?)/?")
_ALIAS = re.compile(r"models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)")
_VERSION = re.compile(r"models:/(?P<name>[^/@]+)/(?P<version>[^/]+)")
_LOGGED = re.compile(r"models:/(?P<model_id>m-[0-9a-f]+)")
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):")

#: ``models:/<name>/latest``: parsed as the alias kind with this alias; the loader
#: resolves it to the highest version of ``<name>``.
LATEST = "latest"

FORMS = (
    "runs:/<run_id>/<path>, models:/<name>/<version>, models:/<name>/latest, "
    "models:/<name>@<alias>, "
    "models:/m-<model_id> or a local path"
)


@dataclass(frozen=True)
class ModelURI:
    """A validated model URI, split into its parts."""

    uri: str
    kind: UriKind
    name: str | None = None
    version: int | None = None
    alias: str | None = None
    run_id: str | None = None
    path: str | None = None
    model_id: str | None = None


def _invalid(uri: str, why: str) -> InvalidModelURIError:
    return InvalidModelURIError(f"model URI {shorten(uri)} is invalid: {why}. Use one of: {FORMS}")


def parse_model_uri(uri: object) -> ModelURI:
    """Validate ``uri`` and return its parts.

    Raises:
        InvalidModelURIError: the URI is empty, malformed, or uses another scheme.
    """
    if not isinstance(uri, str) or not uri.strip():
        raise _invalid(str(uri), "it is empty or not a string")
    if "\x00" in uri:
        raise _invalid(uri, "it holds a NUL character")
    if uri.startswith("runs:"):
        return _parse_run(uri)
    if uri.startswith("models:"):
        return _parse_models(uri)
    if uri.startswith("file://"):
        return ModelURI(uri=uri, kind="local", path=uri[len("file://") :])
    scheme = _SCHEME.match(uri)
    if scheme and len(scheme.group("scheme")) > 1:  # "C:" is a Windows drive, not a scheme
        raise _invalid(uri, f"the scheme {scheme.group('scheme')!r} is not supported")
    return ModelURI(uri=uri, kind="local", path=uri)


def _parse_run(uri: str) -> ModelURI:
    match = _RUN.fullmatch(uri)
    if match is None:
        raise _invalid(uri, "a run URI needs a run id and an artifact path")
    return ModelURI(uri=uri, kind="run", run_id=match["run_id"], path=match["path"])


def _parse_models(uri: str) -> ModelURI:
    if match := _LOGGED.fullmatch(uri):
        return ModelURI(uri=uri, kind="logged_model", model_id=match["model_id"])
    if match := _ALIAS.fullmatch(uri):
        alias = match["alias"]
        try:
            check_alias(alias)
        except InvalidModelURIError as exc:
            raise _invalid(uri, str(exc)) from None
        return ModelURI(uri=uri, kind="alias", name=match["name"], alias=alias)
    if match := _VERSION.fullmatch(uri):
        if match["version"] == LATEST:
            # MLflow's models:/<name>/latest: the highest version, looked up at load time
            # (the same way an alias is, hence the alias kind).
            return ModelURI(uri=uri, kind="alias", name=match["name"], alias=LATEST)
        return ModelURI(
            uri=uri, kind="version", name=match["name"], version=_version(uri, match["version"])
        )
    if uri.rstrip("/") in ("models:", "models:/") or uri.startswith(("models:/@", "models://")):
        raise _invalid(uri, "the model name is empty")
    raise _invalid(uri, "a registry URI needs a name and a version or an @alias")


def _version(uri: str, text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text):
        raise _invalid(uri, f"the version {shorten(text)} is not a positive integer (ASCII digits)")
    version = int(text)
    if version < 1:
        raise _invalid(uri, "versions start at 1")
    return version


__all__ = [
    "FORMS",
    "LATEST",
    "MAX_ALIAS_CHARS",
    "MAX_MODEL_NAME_CHARS",
    "MAX_TAG_KEY_CHARS",
    "MAX_TAG_VALUE_CHARS",
    "ModelURI",
    "UriKind",
    "check_alias",
    "check_model_name",
    "check_registration",
    "check_tags",
    "check_version",
    "is_version",
    "parse_model_uri",
    "shorten",
    "uri_for_logged_model",
    "uri_for_model_alias",
    "uri_for_model_alias_or_version",
    "uri_for_model_version",
]
