"""Errors as the serving app answers them: an HTTP status and an OpenAI-shaped JSON body.

Every error body is ``{"error": {"message", "type", "param", "code"}}``, as
OpenAI's API sends, so OpenAI clients raise their own typed exceptions. Request
errors are 4xx; an upstream failure (the LLM endpoint and every fallback
failed) is 502 carrying the typed llmreg error's name; nothing failed is 200.
"""

from __future__ import annotations

from typing import Any

from llmreg.errors import (
    ConfigError,
    InvalidModelURIError,
    LlmregError,
    ModelNotFoundError,
    PredictionError,
    ProviderError,
    SchemaError,
)


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
                "message": self.message,
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
        return ApiError(502, str(cause), type=type(cause).__name__, code="upstream_error")
    if isinstance(exc, ModelNotFoundError):
        return ApiError(503, str(exc), type=name, code="model_not_loaded")
    if isinstance(exc, LlmregError):
        return ApiError(500, str(exc), type=name, code="llmreg_error")
    return ApiError(
        500,
        f"internal error: {name}; the server's log holds its traceback",
        type="internal_error",
        code="internal_error",
    )


def row_failure(metadata: dict[str, Any]) -> ApiError:
    """The 502 for a result row whose ``status`` is ``error``."""
    kind = metadata.get("error_type") or "ProviderError"
    message = metadata.get("error") or "the model endpoint failed"
    return ApiError(502, str(message), type=str(kind), code="upstream_error")


__all__ = ["ApiError", "bad_request", "from_exception", "row_failure", "upstream_cause"]
