"""The small pieces every route answers with: JSON responses, masked errors, headers.

Imports starlette (through fastapi's dependency).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from llmreg.secrets import redact
from llmreg_gateway.errors import ApiError
from llmreg_gateway.model import ServedModel


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` as a JSON response with ``status``."""
    return Response(json.dumps(data), status_code=status, media_type="application/json")


def masked(served: ServedModel | None, text: str) -> str:
    """``text`` with the served model's secrets masked in every form (and URL user-info)."""
    if served is None:
        return redact(text)
    text = served.redact(text)
    adapter = served.adapter
    definition = adapter.definition if adapter is not None else None
    return redact(text, definition.resolved_secrets() if definition is not None else ())


def error_response(err: ApiError, served: ServedModel | None = None) -> Response:
    """``err`` as its status and OpenAI-shaped body, the served model's secrets masked.

    A 408 (a body that did not arrive in time) also closes the connection: what is
    left of the body on it would be read as the next request.
    """
    err.message = masked(served, err.message)
    response = json_response(err.body(), err.status)
    if err.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if err.status == 408:
        response.headers["Connection"] = "close"
    for name, value in err.headers:
        response.headers[name] = value
    return response


def fingerprint(served: ServedModel) -> str:
    """The ``system_fingerprint`` of an answer: the registered name (or URI) and version
    (a rollout arm's own, ``llmreg-NAME-vV-ARM``, when the router picked it)."""
    if served.arm is not None:
        return served.arm.fingerprint
    return f"llmreg:{served.name or served.model_uri}:v{served.version or '?'}"


def versioned(response: Response, served: ServedModel | None) -> Response:
    """``response`` with headers naming the model and version that answered."""
    if served is not None:
        response.headers["x-llmreg-model"] = served.model_uri
        response.headers["x-llmreg-model-version"] = served.version or ""
        if served.arm is not None:
            response.headers["x-llmreg-arm"] = served.arm.header
    return response


def usage_of(metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The ``usage`` a row's metadata holds, when it is an object."""
    usage = metadata.get("usage")
    return usage if isinstance(usage, dict) else None


__all__ = ["error_response", "fingerprint", "json_response", "masked", "usage_of", "versioned"]
