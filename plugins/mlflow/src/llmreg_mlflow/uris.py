"""Model URIs of the registry, and the checks on names, versions and aliases they contain.

An ``int``, or a string of ASCII digits, is a version; anything else is an
alias. So ``uri_for_model_alias_or_version("chat", "1")`` is
``models:/chat/1``, never the alias ``@1`` (the bug of the original design).
Nothing here imports mlflow.
"""

from __future__ import annotations

import re

from llmreg.errors import InvalidModelURIError, LlmregError

#: A registered model name: it appears in ``models:/<name>/...`` URIs, so no ``/``, ``:`` or ``@``.
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,255}$")
#: Anything that looks like a version number, signed or not (signs are rejected with a hint).
_NUMBER_RE = re.compile(r"^[+-]?[0-9]+$")
#: An alias: MLflow's characters, starting with a letter or ``_`` so it never reads as a version.
_ALIAS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,254}$")
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


__all__ = [
    "check_alias",
    "check_model_name",
    "check_version",
    "is_version",
    "uri_for_model_alias",
    "uri_for_model_alias_or_version",
    "uri_for_model_version",
]
