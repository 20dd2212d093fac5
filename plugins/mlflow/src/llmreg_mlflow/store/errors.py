"""One classification of what MLflow raises, and one translation of it per operation.

Every MLflow failure falls in one of five kinds (:func:`classify`):

- ``unreachable``: the store cannot be reached or read (connection refused, timeout,
  retries exhausted, a sqlite file that cannot be opened, a permission error);
- ``not_found``: MLflow says the run, model, version or alias does not exist;
- ``bad_input``: MLflow refuses a value (``INVALID_PARAMETER_VALUE``...);
- ``conflict``: it already exists (a lost race on create);
- ``other``: anything else the store raises.

Each operation (:data:`SAVE`, :data:`LOAD`, :data:`REGISTER`) says which llmreg error
each kind becomes; ``unreachable`` is :class:`~llmreg.errors.StoreUnavailableError`
in every one, so the same outage gives the same error whatever the user was doing.
Code that calls MLflow wraps the calls in :func:`mlflow_errors`::

    with mlflow_errors(f"loading {uri!r}", LOAD):
        client.get_model_version(name, version)

No bare ``MlflowException`` (or ``requests`` error) leaves such a block.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from llmreg.errors import (
    ConfigError,
    InvalidModelURIError,
    LlmregError,
    ModelNotFoundError,
    RegistrationError,
    StoreUnavailableError,
)
from llmreg.secrets import mask_userinfo

#: The kinds of MLflow failure.
ErrorKind = Literal["not_found", "bad_input", "unreachable", "conflict", "other"]

#: MLflow error codes that mean "no such run, model, version or alias".
NOT_FOUND_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "ENDPOINT_NOT_FOUND"})
#: MLflow error codes that mean "MLflow refuses this value".
BAD_INPUT_CODES = frozenset({"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "INVALID_STATE"})
#: MLflow error codes that mean "it already exists" (a lost race on create).
CONFLICT_CODES = frozenset({"RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS", "ABORTED"})
#: MLflow error codes that mean the store is there but will not serve this process.
UNREACHABLE_CODES = frozenset(
    {"TEMPORARILY_UNAVAILABLE", "PERMISSION_DENIED", "UNAUTHENTICATED", "SERVICE_UNDER_MAINTENANCE"}
)

#: Texts of errors (or of their causes) that say the store could not be reached.
_UNREACHABLE_TEXT = (
    "connection refused",
    "max retries exceeded",
    "failed to establish a new connection",
    "unable to open database file",
    "read timed out",
    "remote end closed connection",
    "connection aborted",
    "name or service not known",
)
#: The longest error detail quoted in a message.
_MAX_DETAIL = 500


@dataclass(frozen=True)
class Translation:
    """Which llmreg error each kind of MLflow failure becomes, for one operation.

    ``unreachable`` is always :class:`~llmreg.errors.StoreUnavailableError`.
    """

    not_found: type[LlmregError]
    bad_input: type[LlmregError]
    conflict: type[LlmregError]
    other: type[LlmregError]


#: Saving (a saver logging a model): a refused value or a missing experiment is the
#: caller's configuration; a store that fails the write is unavailable.
SAVE = Translation(
    not_found=ConfigError,
    bad_input=ConfigError,
    conflict=StoreUnavailableError,
    other=StoreUnavailableError,
)
#: Loading and showing (resolving a URI, reading a model's files).
LOAD = Translation(
    not_found=ModelNotFoundError,
    bad_input=InvalidModelURIError,
    conflict=StoreUnavailableError,
    other=StoreUnavailableError,
)
#: Registering, moving aliases, listing versions.
REGISTER = Translation(
    not_found=ModelNotFoundError,
    bad_input=RegistrationError,
    conflict=RegistrationError,
    other=RegistrationError,
)


def error_code(exc: BaseException) -> str | None:
    """Return MLflow's error code name of ``exc`` (``RESOURCE_DOES_NOT_EXIST``...), if any."""
    code = getattr(exc, "error_code", None)
    return code if isinstance(code, str) else None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the store could not be reached or read."""
    import requests

    for link in _chain(exc):
        if isinstance(
            link,
            requests.ConnectionError
            | requests.Timeout
            | requests.exceptions.RetryError
            | ConnectionError
            | TimeoutError
            | PermissionError,
        ):
            return True
        if error_code(link) in UNREACHABLE_CODES:
            return True
        text = str(link).lower()
        if any(marker in text for marker in _UNREACHABLE_TEXT):
            return True
    return False


def classify(exc: BaseException) -> ErrorKind:
    """Return the kind of an MLflow (or I/O) failure; see the module docstring."""
    if is_unreachable(exc):
        return "unreachable"
    code = error_code(exc)
    if code in NOT_FOUND_CODES or isinstance(exc, FileNotFoundError):
        return "not_found"
    if code in BAD_INPUT_CODES:
        return "bad_input"
    if code in CONFLICT_CODES or isinstance(exc, FileExistsError):
        return "conflict"
    return "other"


def describe(exc: BaseException) -> str:
    """Return ``Type: first line of the message``, with URL credentials masked."""
    message = getattr(exc, "message", None)
    text = str(message if isinstance(message, str) else exc).strip()
    first = text.splitlines()[0] if text else ""
    if len(first) > _MAX_DETAIL:
        first = first[:_MAX_DETAIL] + "..."
    return mask_userinfo(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)


def translate(
    exc: BaseException, action: str, translation: Translation, hint: str | None = None
) -> LlmregError:
    """Return the llmreg error for ``exc``, raised while doing ``action``.

    Args:
        exc: what MLflow (or the I/O under it) raised; an :class:`LlmregError` is
            returned as it is.
        action: what was being done, for the message (``"loading 'models:/chat/1'"``).
        translation: the operation's table (:data:`SAVE`, :data:`LOAD`, :data:`REGISTER`).
        hint: a sentence appended to the message (what to do next).
    """
    if isinstance(exc, LlmregError):
        return exc
    kind = classify(exc)
    cause = describe(exc)
    tail = f" {hint}" if hint else ""
    if kind == "unreachable":
        return StoreUnavailableError(
            f"{action}: the MLflow store cannot be reached or read ({cause}). Check that the "
            "tracking server runs, that MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI (or the "
            "component's tracking_uri / registry_uri) point at it, and that this process may "
            f"read its files.{tail}"
        )
    if kind == "not_found":
        return translation.not_found(f"{action}: not found ({cause}).{tail}")
    if kind == "bad_input":
        return translation.bad_input(f"{action}: MLflow refused ({cause}).{tail}")
    if kind == "conflict":
        return translation.conflict(f"{action}: MLflow refused, it exists ({cause}).{tail}")
    return translation.other(f"{action}: the MLflow store failed ({cause}).{tail}")


@contextmanager
def mlflow_errors(
    action: str, translation: Translation = LOAD, *, hint: str | None = None
) -> Iterator[None]:
    """Run a block of MLflow calls; re-raise what they raise as a typed llmreg error.

    Catches ``MlflowException``, ``requests``' errors and ``OSError``; an
    :class:`~llmreg.errors.LlmregError` raised inside passes unchanged. The original
    error is the ``__cause__`` of the raised one.

    Args:
        action: what the block does, for the message.
        translation: the operation (:data:`SAVE`, :data:`LOAD`, :data:`REGISTER`).
        hint: a sentence appended to every message.
    """
    from mlflow.exceptions import MlflowException
    from requests import RequestException

    try:
        yield
    except LlmregError:
        raise
    except (MlflowException, RequestException, OSError) as exc:
        raise translate(exc, action, translation, hint) from exc


__all__ = [
    "BAD_INPUT_CODES",
    "CONFLICT_CODES",
    "LOAD",
    "NOT_FOUND_CODES",
    "REGISTER",
    "SAVE",
    "UNREACHABLE_CODES",
    "ErrorKind",
    "Translation",
    "classify",
    "describe",
    "error_code",
    "is_unreachable",
    "mlflow_errors",
    "translate",
]
