"""Turn what MLflow raises into llmreg's typed errors, so no bare ``MlflowException`` leaks.

- the store cannot be reached (connection refused, timeout, retries exhausted,
  a sqlite file that cannot be opened) -> :class:`StoreUnavailableError`;
- ``RESOURCE_DOES_NOT_EXIST`` -> :class:`ModelNotFoundError`;
- anything else MLflow refuses -> :class:`RegistrationError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from llmreg.errors import (
    LlmregError,
    ModelNotFoundError,
    RegistrationError,
    StoreUnavailableError,
)

#: MLflow error codes that mean "no such model, version or alias".
NOT_FOUND_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"})
#: MLflow error codes that mean "it already exists" (a lost race on create).
ALREADY_EXISTS_CODES = frozenset({"RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"})

_UNREACHABLE_TEXT = (
    "connection refused",
    "max retries exceeded",
    "failed to establish a new connection",
    "unable to open database file",
    "read timed out",
    "remote end closed connection",
    "connection aborted",
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
    """Whether ``exc`` (or what caused it) says the store could not be reached."""
    import requests

    for link in _chain(exc):
        if isinstance(
            link,
            requests.ConnectionError | requests.Timeout | requests.exceptions.RetryError,
        ):
            return True
        if isinstance(link, ConnectionError | TimeoutError):
            return True
        text = str(link).lower()
        if any(marker in text for marker in _UNREACHABLE_TEXT):
            return True
    return False


def translate(exc: BaseException, action: str) -> LlmregError:
    """Return the typed error for ``exc``, raised while doing ``action`` (for the message)."""
    if isinstance(exc, LlmregError):
        return exc
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if is_unreachable(exc):
        return StoreUnavailableError(
            f"{action}: the MLflow store cannot be reached ({detail}). Check that the tracking "
            "server runs and that MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI (or the register's "
            "tracking_uri / registry_uri) point at it."
        )
    if error_code(exc) in NOT_FOUND_CODES:
        return ModelNotFoundError(f"{action}: not found in the MLflow registry ({detail})")
    return RegistrationError(f"{action}: MLflow refused ({detail})")


@contextmanager
def translated_errors(action: str) -> Iterator[None]:
    """Run a block of MLflow calls; re-raise what they raise as a typed llmreg error."""
    from mlflow.exceptions import MlflowException
    from requests import RequestException

    try:
        yield
    except LlmregError:
        raise
    except (MlflowException, RequestException, OSError) as exc:
        raise translate(exc, action) from exc


__all__ = [
    "ALREADY_EXISTS_CODES",
    "NOT_FOUND_CODES",
    "error_code",
    "is_unreachable",
    "translate",
    "translated_errors",
]
