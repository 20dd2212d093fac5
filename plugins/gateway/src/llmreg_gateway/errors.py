"""Errors as the serving app answers them: an HTTP status and an OpenAI-shaped JSON body.

Every error body is ``{"error": {"message", "type", "param", "code"}}``, as
OpenAI's API sends, so OpenAI clients raise their own typed exceptions. Request
errors are 4xx, and so is an upstream 400 (the request itself was refused:
clients must not retry it); any other upstream failure (the LLM endpoint and
every fallback failed) is 502 carrying the typed llmreg error's name; a store
that cannot be reached or a model not loaded is 503; nothing failed is 200.
Messages are at most :data:`MAX_MESSAGE_CHARS` long.

A 502 or 503 body never carries what went wrong behind the server (an upstream's
or a registry's URL, a store path): its message is generic and names a request id;
the detail goes to the server's log under that id, secrets masked
(:func:`hidden`). A refused request (an upstream 400) keeps the upstream's reason,
its URLs replaced by ``<upstream>``.
"""

from __future__ import annotations

import logging
import re
import uuid
import weakref
from collections.abc import Sequence
from typing import Any

from llmreg.errors import (
    ConfigError,
    InvalidModelURIError,
    LlmregError,
    ModelNotFoundError,
    PredictionError,
    ProviderBadRequestError,
    ProviderError,
    SchemaError,
    StoreUnavailableError,
)
from llmreg.secrets import SECRETS

logger = logging.getLogger(__name__)

#: The longest message an error body carries; longer ones are cut, their length said.
MAX_MESSAGE_CHARS = 2_000
#: A URL (any scheme) or a ``sqlite:``/``file:`` store path, as it appears in error texts.
_URL = re.compile(r"\b(?:[A-Za-z][A-Za-z0-9+.\-]*://|sqlite:|file:)[^\s'\"<>)]*")


def bounded(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Return ``message`` cut to ``limit`` characters, saying how long it was."""
    if len(message) <= limit:
        return message
    return f"{message[:limit]}… (cut; {len(message):,} characters)"


class ApiError(Exception):
    """An error the app answers with ``status`` and an OpenAI-shaped body.

    Attributes:
        status: the HTTP status code.
        message: what was wrong and what to do.
        type: OpenAI's error type (``invalid_request_error``) or a llmreg error name.
        param: the request field at fault, where known.
        code: a short machine-readable code.
        headers: headers sent with the error (``Retry-After`` on a 429 or 503).
    """

    headers: Sequence[tuple[str, str]] = ()

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        """Return the JSON body: ``{"error": {"message", "type", "param", "code"}}``."""
        return {
            "error": {
                "message": bounded(self.message),
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(
    message: str, *, param: str | None = None, code: str = "invalid_request"
) -> ApiError:
    """A 400 ``invalid_request_error``."""
    return ApiError(400, message, param=param, code=code)


def upstream_cause(exc: BaseException) -> BaseException:
    """Return the :class:`ProviderError` behind a prediction error, or ``exc`` itself."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ProviderError):
            return seen
        seen = seen.__cause__
    return exc


def from_exception(exc: BaseException) -> ApiError:
    """Map an exception raised while answering to the :class:`ApiError` to send.

    A 502 or 503 is :func:`hidden`: a generic message and a request id, the
    detail logged.
    """
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, LlmregError) and (known := _MAPPED.get(exc)) is not None:
        return known  # mapped (and logged) once: one request id per failure
    err = _mapped(exc)
    if isinstance(exc, LlmregError):
        _MAPPED[exc] = err
    return err


#: The error each llmreg exception was answered with, while the exception lives.
_MAPPED: weakref.WeakKeyDictionary[BaseException, ApiError] = weakref.WeakKeyDictionary()


def _mapped(exc: BaseException) -> ApiError:
    name = type(exc).__name__
    if isinstance(exc, SchemaError | ConfigError | InvalidModelURIError):
        return ApiError(400, str(exc), type="invalid_request_error", code=name)
    if isinstance(exc, PredictionError | ProviderError):
        cause = upstream_cause(exc)
        if isinstance(cause, ProviderBadRequestError):
            return upstream_refused(str(cause))
        return hidden(502, UPSTREAM_FAILED, str(cause), type(cause).__name__, "upstream_error")
    if isinstance(exc, ModelNotFoundError):
        return hidden(503, NOT_LOADED, str(exc), name, "model_not_loaded")
    if isinstance(exc, StoreUnavailableError):
        return hidden(503, "the model registry cannot be reached", str(exc), name,
                      "store_unavailable")  # fmt: skip
    if isinstance(exc, LlmregError):
        return ApiError(500, str(exc), type=name, code="llmreg_error")
    return ApiError(
        500,
        f"internal error: {name}; the server's log holds its traceback",
        type="internal_error",
        code="internal_error",
    )


#: What a 502 body says, whatever the upstream did.
UPSTREAM_FAILED = "the model's endpoint failed"
#: What a 503 body says of a model that could not be loaded.
NOT_LOADED = "the model is not loaded"


def new_request_id() -> str:
    """A short random id naming one failure in an error body and in the server's log."""
    return f"req_{uuid.uuid4().hex[:16]}"


def hidden(status: int, summary: str, detail: str, kind: str, code: str) -> ApiError:
    """The :class:`ApiError` of a failure behind the server (502, 503): ``summary`` and a
    request id in the body; ``detail`` (URLs, paths, the upstream's words) only in the
    log, secrets masked, under that id."""
    rid = new_request_id()
    # the process's known secrets (every loaded model's keys) and URL user-info masked
    logger.warning("request %s answered %d %s: %s", rid, status, kind, SECRETS.redact(detail))
    message = f"{summary} ({kind}); request id {rid}: the server's log has the detail"
    return ApiError(status, message, type=kind, code=code)


def load_failed(last_error: str) -> str:
    """What ``/ready`` says of a failed load: the error's type, not its text (which
    names stores and paths; the log has it)."""
    kind = last_error.split(":", 1)[0] if ":" in last_error else "error"
    return f"{kind} (the server's log has the detail)"


def without_urls(text: str) -> str:
    """``text`` with every URL and store path replaced by ``<upstream>``."""
    return _URL.sub("<upstream>", text)


def upstream_refused(message: str) -> ApiError:
    """The 400 for a request the LLM endpoint refused as malformed (HTTP 400 or 422 there).

    It is the client's request that was refused (``max_tokens`` over the model's limit,
    a message it cannot take...), so it is a 4xx, which OpenAI's SDK does not retry.
    """
    return ApiError(
        400,
        without_urls(message),
        type=ProviderBadRequestError.__name__,
        code="upstream_bad_request",
    )


def row_failure(metadata: dict[str, Any]) -> ApiError:
    """The error for a result row whose ``status`` is ``error``: 400 for a request the
    endpoint refused as malformed, else 502."""
    kind = metadata.get("error_type") or "ProviderError"
    message = metadata.get("error") or "the model endpoint failed"
    if kind == ProviderBadRequestError.__name__:
        return upstream_refused(str(message))
    return hidden(502, UPSTREAM_FAILED, str(message), str(kind), "upstream_error")


__all__ = [
    "MAX_MESSAGE_CHARS",
    "NOT_LOADED",
    "UPSTREAM_FAILED",
    "ApiError",
    "bad_request",
    "bounded",
    "from_exception",
    "hidden",
    "load_failed",
    "new_request_id",
    "row_failure",
    "upstream_cause",
    "upstream_refused",
    "without_urls",
]
