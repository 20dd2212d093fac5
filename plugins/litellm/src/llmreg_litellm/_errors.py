"""Turn what the openai SDK raises into llmreg's typed provider errors.

Every message names the model and the endpoint, says what to do, and never
carries a secret: every part of it that does not come from this module (the
endpoint, the SDK's text, the cause's text) is masked with :mod:`llmreg.secrets`
before use, in every form a secret takes there (raw, ``repr``, escaped,
URL-encoded, URL userinfo).
"""

from __future__ import annotations

import json

import openai

from llmreg.errors import (
    ProviderAuthenticationError,
    ProviderBadRequestError,
    ProviderError,
    ProviderNotFoundError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnreachableError,
)
from llmreg.secrets import MASK, SECRETS, redact


def scrub(text: str, secrets: list[str]) -> str:
    """Return ``text`` with ``secrets``, the process's known secrets and URL userinfo masked.

    ``secrets`` are the endpoint's own; :data:`llmreg.secrets.SECRETS` holds those of
    every model the process has loaded. Each is masked in every form (see
    :func:`llmreg.secrets.redact`).
    """
    return SECRETS.redact(redact(text, secrets))


def _unsendable(exc: BaseException) -> BaseException | None:
    """The error that kept a request from being sent (an illegal header), if that is it."""
    import httpx

    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, httpx.LocalProtocolError | UnicodeEncodeError):
            return link
        if type(link).__name__ == "LocalProtocolError":  # h11's own
            return link
        link = link.__cause__ or link.__context__
    return None


def _error_message(error: object) -> object:
    """The message in an error body, or in its ``error`` member.

    An object's ``message``, or a string itself; ``None`` for any other shape.
    """
    if isinstance(error, dict):
        return error.get("message")
    if isinstance(error, str):
        return error
    return None


def _detail(exc: BaseException) -> str:
    """The most useful short text of an SDK exception."""
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        message = _error_message(body)
        if not message and isinstance(body, dict):
            message = _error_message(body.get("error"))
        if message:
            return str(message)
    return str(exc) or type(exc).__name__


def provider_error(
    exc: BaseException, *, where: str, attempts: int, timeout: float | None, secrets: list[str]
) -> ProviderError:
    """Map an exception raised while calling ``where`` (model and endpoint) to a typed error."""
    where = scrub(where, secrets)
    detail = scrub(_detail(exc), secrets)
    tries = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
    unsendable = _unsendable(exc)
    if unsendable is not None:
        return ProviderError(
            f"the request to {where} could not be sent: a header value (the api_key, or one "
            "of extra_headers) holds a character HTTP cannot carry, such as a newline or a "
            f"non-ASCII letter ({type(unsendable).__name__}: "
            f"{scrub(str(unsendable), secrets)}). Fix the value; it is not shown.",
            attempts=attempts,
        )
    status = getattr(exc, "status_code", None)
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ProviderAuthenticationError(
            f"{where} refused the credentials (HTTP {status}): {detail}. Check the api_key "
            "reference in the model definition and that its variable holds a valid key.",
            status_code=status,
            attempts=attempts,
        )
    if isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        return ProviderBadRequestError(
            f"{where} rejected the request (HTTP {status}): {detail}. Check the row's "
            "messages and params and the definition's generation settings.",
            status_code=status,
            attempts=attempts,
        )
    if isinstance(exc, openai.NotFoundError):
        return ProviderNotFoundError(
            f"{where} answered HTTP 404: {detail}. Check the model name and the base_url "
            "(an OpenAI-compatible base_url usually ends in /v1).",
            status_code=status,
            attempts=attempts,
        )
    if isinstance(exc, openai.RateLimitError):
        return ProviderRateLimitError(
            f"{where} kept rate-limiting (HTTP 429) {tries}: {detail}. Lower the concurrency, "
            "raise max_retries, or add a fallback model.",
            status_code=status,
            attempts=attempts,
        )
    if isinstance(exc, openai.APITimeoutError):
        return ProviderTimeoutError(
            f"{where} did not answer within the timeout of {timeout} s, {tries}. Raise "
            "'timeout' in the model definition or check that the server is not overloaded.",
            attempts=attempts,
        )
    if isinstance(exc, openai.APIConnectionError):
        cause = scrub(str(exc.__cause__ or detail), secrets)
        return ProviderUnreachableError(
            f"{where} could not be reached or dropped the connection, {tries} ({cause}). "
            "Check that the server runs and that base_url is right.",
            attempts=attempts,
        )
    if isinstance(exc, openai.APIStatusError):
        return ProviderResponseError(
            f"{where} answered HTTP {status} {tries}: {detail}. The server failed; retry "
            "later or add a fallback model.",
            status_code=status,
            attempts=attempts,
        )
    if isinstance(exc, json.JSONDecodeError | openai.APIResponseValidationError | ValueError):
        return ProviderResponseError(
            f"{where} answered with a body that is not a valid chat completion ({detail}). "
            "Check that base_url points at an OpenAI-compatible /v1 endpoint.",
            status_code=status,
            attempts=attempts,
        )
    return ProviderResponseError(
        f"{where} failed with {type(exc).__name__}: {detail}.", attempts=attempts
    )


def empty_response(where: str, attempts: int) -> ProviderResponseError:
    """The error for an answer that has no choice in it."""
    return ProviderResponseError(
        f"{where} answered with no choices. Check that the model exists there and that the "
        "request is not filtered.",
        status_code=200,
        attempts=attempts,
    )


__all__ = ["MASK", "empty_response", "provider_error", "scrub"]
