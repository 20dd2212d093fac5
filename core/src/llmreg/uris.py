"""Model URIs: parsing the ones llmreg loads, building the ones the registry hands out.

One set of rules for the whole project (pure Python, no mlflow import):

- a **version** is an ``int`` or a string of ASCII digits, and starts at 1;
  ``uri_for_model_alias_or_version("chat", "1")`` is ``models:/chat/1``, never
  the alias ``@1`` (the bug of the design llmreg started from);
- an **alias** starts with a letter or ``_`` and is not ``latest`` or ``v1``-like,
  which MLflow reserves;
- a **registered model name** that llmreg creates uses letters, digits, ``_``,
  ``.`` and ``-``; a URI may name any model without ``/`` or ``@``.

Accepted URI forms: ``runs:/<run_id>/<path>``, ``models:/<name>/<version>``,
``models:/<name>@<alias>``, ``models:/m-<model_id>`` (an MLflow 3 logged model)
and a local directory path (absolute, relative, or ``file://``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from llmreg.errors import InvalidModelURIError, LlmregError

#: A registered model name: it appears in ``models:/<name>/...`` URIs, so no ``/``, ``:`` or ``@``.
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,255}$")
#: Anything that looks like a version number, signed or not (signs are rejected with a hint).
_NUMBER_RE = re.compile(r"^[+-]?[0-9]+$")
#: An alias: MLflow's characters, starting with a letter or ``_`` so it never reads as a version.
_ALIAS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,254}$")
#: An MLflow 3 logged-model id.
_MODEL_ID_RE = re.compile(r"^m-[0-9a-f]+$")
#: Aliases MLflow reserves: ``latest`` and version-like ``v1``.
_RESERVED_ALIAS_RE = re.compile(r"^(latest|[vV][0-9]+)$", re.IGNORECASE)


def check_model_name(name: object, error: type[LlmregError] = InvalidModelURIError) -> str:
    """Return ``name`` if it is a valid registered model name, else raise ``error``.

    Example:
        >>> check_model_name("chat-bot.v2")
        'chat-bot.v2'
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise error(
            f"invalid registered model name {name!r}: use 1 to 256 letters, digits, '_', '.' "
            "or '-', starting with a letter, digit or '_' (no '/', ':', '@' or spaces)"
        )
    return name


def check_version(version: object) -> int:
    """Return ``version`` as a positive ``int``; accept an ``int`` or a string of digits.

    Example:
        >>> check_version("7"), check_version(3)
        (7, 3)
    """
    if isinstance(version, bool) or not isinstance(version, int | str):
        raise InvalidModelURIError(
            f"invalid model version {version!r}: give a positive int or a string of digits"
        )
    if isinstance(version, str):
        if not _NUMBER_RE.match(version):
            raise InvalidModelURIError(
                f"invalid model version {version!r}: give a positive int or a string of digits"
            )
        version = int(version)
    if version < 1:
        raise InvalidModelURIError(
            f"invalid model version {version}: versions start at 1; give a positive number"
        )
    return version


def check_alias(alias: object) -> str:
    """Return ``alias`` if it is a valid alias name, else raise :class:`InvalidModelURIError`.

    Example:
        >>> check_alias("champion")
        'champion'
    """
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias):
        raise InvalidModelURIError(
            f"invalid alias {alias!r}: use 1 to 255 letters, digits, '_' or '-', starting "
            "with a letter or '_' (a string of digits is a version, not an alias)"
        )
    if _RESERVED_ALIAS_RE.match(alias):
        raise InvalidModelURIError(
            f"invalid alias {alias!r}: MLflow reserves 'latest' and version-like names "
            "such as 'v1'; choose another name"
        )
    return alias


def is_version(x: object) -> bool:
    """Whether ``x`` is meant as a version: an ``int`` or a (signed) string of digits."""
    if isinstance(x, bool):
        return False
    return isinstance(x, int) or (isinstance(x, str) and bool(_NUMBER_RE.match(x)))


def uri_for_model_version(name: str, version: int | str) -> str:
    """Return ``models:/<name>/<version>``.

    Example:
        >>> uri_for_model_version("chat", "3")
        'models:/chat/3'
    """
    return f"models:/{check_model_name(name)}/{check_version(version)}"


def uri_for_model_alias(name: str, alias: str) -> str:
    """Return ``models:/<name>@<alias>``.

    Example:
        >>> uri_for_model_alias("chat", "champion")
        'models:/chat@champion'
    """
    return f"models:/{check_model_name(name)}@{check_alias(alias)}"


def uri_for_model_alias_or_version(name: str, x: int | str) -> str:
    """Return the version URI when ``x`` is an int or a string of digits, else the alias URI.

    Example:
        >>> uri_for_model_alias_or_version("chat", "1")
        'models:/chat/1'
        >>> uri_for_model_alias_or_version("chat", "champion")
        'models:/chat@champion'
    """
    if is_version(x):
        return uri_for_model_version(name, x)
    return uri_for_model_alias(name, x)  # type: ignore[arg-type]


def uri_for_logged_model(model_id: str) -> str:
    """Return ``models:/<model_id>`` for an MLflow 3 logged model.

    Example:
        >>> uri_for_logged_model("m-0123abcd")
        'models:/m-0123abcd'
    """
    if not isinstance(model_id, str) or not _MODEL_ID_RE.match(model_id):
        raise InvalidModelURIError(
            f"invalid logged-model id {model_id!r}: MLflow's look like 'm-<hex>'"
        )
    return f"models:/{model_id}"


UriKind = Literal["run", "version", "alias", "logged_model", "local"]

_RUN = re.compile(r"^runs:/(?P<run_id>[A-Za-z0-9]+)/(?P<path>[^\s]+?)/?$")
_ALIAS = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)$")
_VERSION = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>[^/]+)$")
_LOGGED = re.compile(r"^models:/(?P<model_id>m-[0-9a-f]+)$")
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):")

FORMS = (
    "runs:/<run_id>/<path>, models:/<name>/<version>, models:/<name>@<alias>, "
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
    return InvalidModelURIError(f"model URI {uri!r} is invalid: {why}. Use one of: {FORMS}")


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
    match = _RUN.match(uri)
    if match is None:
        raise _invalid(uri, "a run URI needs a run id and an artifact path")
    return ModelURI(uri=uri, kind="run", run_id=match["run_id"], path=match["path"])


def _parse_models(uri: str) -> ModelURI:
    if match := _LOGGED.match(uri):
        return ModelURI(uri=uri, kind="logged_model", model_id=match["model_id"])
    if match := _ALIAS.match(uri):
        alias = match["alias"]
        try:
            check_alias(alias)
        except InvalidModelURIError as exc:
            raise _invalid(uri, str(exc)) from None
        return ModelURI(uri=uri, kind="alias", name=match["name"], alias=alias)
    if match := _VERSION.match(uri):
        return ModelURI(
            uri=uri, kind="version", name=match["name"], version=_version(uri, match["version"])
        )
    if uri.rstrip("/") in ("models:", "models:/") or uri.startswith(("models:/@", "models://")):
        raise _invalid(uri, "the model name is empty")
    raise _invalid(uri, "a registry URI needs a name and a version or an @alias")


def _version(uri: str, text: str) -> int:
    if not text.isdigit():
        raise _invalid(uri, f"the version {text!r} is not a positive integer")
    version = int(text)
    if version < 1:
        raise _invalid(uri, "versions start at 1")
    return version


__all__ = [
    "FORMS",
    "ModelURI",
    "UriKind",
    "check_alias",
    "check_model_name",
    "check_version",
    "is_version",
    "parse_model_uri",
    "uri_for_logged_model",
    "uri_for_model_alias",
    "uri_for_model_alias_or_version",
    "uri_for_model_version",
]
