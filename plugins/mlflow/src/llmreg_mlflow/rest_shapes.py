"""What MLflow's REST API answers, held to its shape, and its pages to a bound.

A server that is not MLflow (or a proxy's page in front of it) can answer a list where
an object is expected, drop a field, or give a field the wrong type; one that keeps
answering the same ``next_page_token`` would make a reader page forever. Both are a
:class:`RegistryAnswerError` naming the endpoint, never an untyped error or a loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from llmreg.errors import LlmregError, StoreUnavailableError

#: At most this many pages of one search (of up to 1000 items each): more is a server
#: that never ends its pages, not a registry.
MAX_PAGES = 10_000


class RegistryAnswerError(StoreUnavailableError):
    """The registry server answered something that is not MLflow's REST API: a wrong
    shape, a missing field, or pages that never end. The message names the endpoint."""


def answer_error(shown: str, endpoint: str, problem: str) -> RegistryAnswerError:
    """The error for an answer of ``endpoint`` at ``shown`` (a masked URI) with ``problem``."""
    return RegistryAnswerError(
        f"the MLflow server at {shown} answered {endpoint} with {problem}, which is not "
        "MLflow's REST API. Check that MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI (or the "
        "register's tracking_uri / registry_uri) point at an MLflow tracking server, not "
        "another service or a proxy's page"
    )


@contextmanager
def reading(shown: str, endpoint: str) -> Iterator[None]:
    """Read an answer of ``endpoint``: a wrong type or a missing field in it is a
    :class:`RegistryAnswerError`. Wrap only code that reads an answer already received."""
    try:
        yield
    except LlmregError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise answer_error(shown, endpoint, f"a wrong shape ({detail})") from None


def objects(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """``data[key]`` as a list of JSON objects (absent: empty).

    Raises:
        TypeError: it is not a list of objects (for :func:`reading`).
    """
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise TypeError(f"{key!r} is not a list of objects")
    return value


def whole_number(value: Any, field: str) -> int:
    """A version number or timestamp: an int, or a string of digits, as MLflow sends them.

    Raises:
        TypeError: it is anything else (for :func:`reading`).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise TypeError(f"{field!r} is {type(value).__name__} {str(value)[:40]!r}, not a number")


class Pages:
    """The page tokens of one search: a token seen before, or more than :data:`MAX_PAGES`
    pages, ends it with a :class:`RegistryAnswerError` instead of paging forever.

    Args:
        shown: the server's masked URI.
        endpoint: the search's endpoint.
    """

    def __init__(self, shown: str, endpoint: str) -> None:
        self._shown = shown
        self._endpoint = endpoint
        self._seen: set[str] = set()

    def next_token(self, page: dict[str, Any]) -> str | None:
        """The page's ``next_page_token`` (``None`` on the last page), checked.

        Raises:
            RegistryAnswerError: the token is not a string, was answered before, or the
                search passed :data:`MAX_PAGES` pages.
        """
        token = page.get("next_page_token")
        if not token:
            return None
        if not isinstance(token, str):
            raise answer_error(self._shown, self._endpoint, "a next_page_token that is no string")
        if token in self._seen:
            raise answer_error(
                self._shown,
                self._endpoint,
                f"the same next_page_token again after {len(self._seen) + 1} pages (its pages "
                "would never end)",
            )
        if len(self._seen) + 1 >= MAX_PAGES:
            raise answer_error(
                self._shown, self._endpoint, f"more than {MAX_PAGES} pages of results"
            )
        self._seen.add(token)
        return token


__all__ = [
    "MAX_PAGES",
    "Pages",
    "RegistryAnswerError",
    "answer_error",
    "objects",
    "reading",
    "whole_number",
]
