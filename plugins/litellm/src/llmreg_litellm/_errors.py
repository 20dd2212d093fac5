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
    ProviderRedirectError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnreachableError,
)
from llmreg.secrets import MASK, SECRETS, redact
from llmreg_litellm._redirects import RedirectRefused


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


#: What each kind of provider failure becomes: the typed error, whether it carries the
#: HTTP status, the message after the model's name (``{status}``, ``{detail}``,
#: ``{tries}`` and ``{timeout}`` filled in) and the advice that ends it. Both
#: providers (``openai`` and ``litellm``) build their errors from this one table.
KINDS: dict[str, tuple[type[ProviderError], bool, str, str]] = {
    "redirect": (
        ProviderRedirectError,
        True,
        "answered HTTP {status}, {detail}; it was not followed, so that no credential (the "
        "api_key, a credential header) goes to another host.",
        "If that origin is the right endpoint, set base_url to the final address there.",
    ),
    "auth": (
        ProviderAuthenticationError,
        True,
        "refused the credentials (HTTP {status}): {detail}.",
        "Check the api_key reference in the model definition and that its variable holds "
        "a valid key.",
    ),
    "bad_request": (
        ProviderBadRequestError,
        True,
        "rejected the request (HTTP {status}): {detail}.",
        "Check the row's messages and params and the definition's generation settings.",
    ),
    "not_found": (
        ProviderNotFoundError,
        True,
        "answered HTTP 404: {detail}.",
        "Check the model name and the base_url (an OpenAI-compatible base_url usually ends "
        "in /v1).",
    ),
    "rate_limit": (
        ProviderRateLimitError,
        True,
        "kept rate-limiting (HTTP 429) {tries}: {detail}.",
        "Lower the concurrency, raise max_retries, or add a fallback model.",
    ),
    "timeout": (
        ProviderTimeoutError,
        False,
        "did not answer within the timeout of {timeout} s, {tries}.",
        "Raise 'timeout' in the model definition or check that the server is not overloaded.",
    ),
    "unreachable": (
        ProviderUnreachableError,
        False,
        "could not be reached or dropped the connection, {tries} ({detail}).",
        "Check that the server runs and that base_url is right.",
    ),
    "status": (
        ProviderResponseError,
        True,
        "answered HTTP {status} {tries}: {detail}.",
        "The server failed; retry later or add a fallback model.",
    ),
    "error": (
        ProviderResponseError,
        False,
        "reported an error {tries}: {detail}.",
        "The server failed; retry later or add a fallback model.",
    ),
    "bad_body": (
        ProviderResponseError,
        True,
        "answered with a body that is not a valid chat completion ({detail}).",
        "Check that base_url points at an OpenAI-compatible /v1 endpoint.",
    ),
}

#: The SDK exception classes of each kind, in the order they are tested (a timeout is
#: a connection error, and every HTTP error a status error, so those come later).
#: LiteLLM's exception classes subclass these, so the ``litellm`` provider uses it too.
CLASSES: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    ((RedirectRefused,), "redirect"),
    ((openai.AuthenticationError, openai.PermissionDeniedError), "auth"),
    ((openai.BadRequestError, openai.UnprocessableEntityError), "bad_request"),
    ((openai.NotFoundError,), "not_found"),
    ((openai.RateLimitError,), "rate_limit"),
    ((openai.APITimeoutError,), "timeout"),
    ((openai.APIConnectionError,), "unreachable"),
    ((openai.APIStatusError,), "status"),
    ((json.JSONDecodeError, openai.APIResponseValidationError, ValueError), "bad_body"),
)


def kind_of(exc: BaseException) -> str | None:
    """The kind of failure (a key of :data:`KINDS`) ``exc`` is, or ``None``."""
    return next((kind for classes, kind in CLASSES if isinstance(exc, classes)), None)


def attempts_text(attempts: int) -> str:
    """``after N attempt(s)``."""
    return f"after {attempts} attempt{'s' if attempts != 1 else ''}"


def typed_error(
    kind: str,
    where: str,
    detail: str,
    *,
    attempts: int,
    status: int | None = None,
    timeout: float | None = None,
    hint: str | None = None,
) -> ProviderError:
    """The typed error of ``kind`` (see :data:`KINDS`) for a call of ``where``.

    ``where`` and ``detail`` must be masked already; ``hint`` replaces the kind's advice.
    """
    cls, with_status, text, advice = KINDS[kind]
    said = text.format(status=status, detail=detail, tries=attempts_text(attempts), timeout=timeout)
    message = f"{where} {said} {hint or advice}"
    if with_status:
        return cls(message, status_code=status, attempts=attempts)
    return cls(message, attempts=attempts)


def provider_error(
    exc: BaseException, *, where: str, attempts: int, timeout: float | None, secrets: list[str]
) -> ProviderError:
    """Map an exception raised while calling ``where`` (model and endpoint) to a typed error."""
    where = scrub(where, secrets)
    detail = scrub(_detail(exc), secrets)
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
    kind = kind_of(exc)
    if kind is None and isinstance(exc, openai.APIError):
        kind = "error"  # an error the endpoint reported in a stream (an event, a JSON body)
    if kind is None:
        return ProviderResponseError(
            f"{where} failed with {type(exc).__name__}: {detail}.", attempts=attempts
        )
    if kind == "unreachable":
        detail = scrub(str(exc.__cause__ or detail), secrets)
    return typed_error(kind, where, detail, attempts=attempts, status=status, timeout=timeout)


def empty_response(where: str, attempts: int) -> ProviderResponseError:
    """The error for an answer that has no choice in it."""
    return ProviderResponseError(
        f"{where} answered with no choices. Check that the model exists there and that the "
        "request is not filtered.",
        status_code=200,
        attempts=attempts,
    )


__all__ = [
    "CLASSES",
    "KINDS",
    "MASK",
    "attempts_text",
    "empty_response",
    "kind_of",
    "provider_error",
    "scrub",
    "typed_error",
]
