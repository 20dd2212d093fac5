"""Errors as the serving app answers them: an HTTP status and an OpenAI-shaped JSON body.

Every error body is ``{"error": {"message", "type", "param", "code"}}``, as
OpenAI's API sends, so OpenAI clients raise their own typed exceptions. Request
errors are 4xx, and so is an upstream 400 (the request itself was refused:
clients must not retry it); any other upstream failure (the LLM endpoint and
every fallback failed) is 502 carrying the typed llmreg error's name; a store
that cannot be reached or a model not loaded is 503; nothing failed is 200.
Messages are at most :data:`MAX_MESSAGE_CHARS` long.
"""

from __future__ import annotations

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

#: The longest message an error body carries; longer ones are cut, their length said.
MAX_MESSAGE_CHARS = 2_000


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
    """

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
    """Map an exception raised while answering to the :class:`ApiError` to send."""
    if isinstance(exc, ApiError):
        return exc
    name = type(exc).__name__
    if isinstance(exc, SchemaError | ConfigError | InvalidModelURIError):
        return ApiError(400, str(exc), type="invalid_request_error", code=name)
    if isinstance(exc, PredictionError):
        cause = upstream_cause(exc)
        if isinstance(cause, ProviderBadRequestError):
            return upstream_refused(str(cause))
        return ApiError(502, str(cause), type=type(cause).__name__, code="upstream_error")
    if isinstance(exc, ProviderError):
        if isinstance(exc, ProviderBadRequestError):
            return upstream_refused(str(exc))
        return ApiError(502, str(exc), type=name, code="upstream_error")
    if isinstance(exc, ModelNotFoundError):
        return ApiError(503, str(exc), type=name, code="model_not_loaded")
    if isinstance(exc, StoreUnavailableError):
        return ApiError(503, str(exc), type=name, code="store_unavailable")
    if isinstance(exc, LlmregError):
        return ApiError(500, str(exc), type=name, code="llmreg_error")
    return ApiError(
        500,
        f"internal error: {name}; the server's log holds its traceback",
        type="internal_error",
        code="internal_error",
    )


def upstream_refused(message: str) -> ApiError:
    """The 400 for a request the LLM endpoint refused as malformed (HTTP 400 or 422 there).

    It is the client's request that was refused (``max_tokens`` over the model's limit,
    a message it cannot take...), so it is a 4xx, which OpenAI's SDK does not retry.
    """
    return ApiError(
        400, message, type=ProviderBadRequestError.__name__, code="upstream_bad_request"
    )


def row_failure(metadata: dict[str, Any]) -> ApiError:
    """The error for a result row whose ``status`` is ``error``: 400 for a request the
    endpoint refused as malformed, else 502."""
    kind = metadata.get("error_type") or "ProviderError"
    message = metadata.get("error") or "the model endpoint failed"
    if kind == ProviderBadRequestError.__name__:
        return upstream_refused(str(message))
    return ApiError(502, str(message), type=str(kind), code="upstream_error")


__all__ = [
    "MAX_MESSAGE_CHARS",
    "ApiError",
    "bad_request",
    "bounded",
    "from_exception",
    "row_failure",
    "upstream_cause",
    "upstream_refused",
]
