"""The OpenAPI document of a built app: FastAPI's, with the request bodies, error
shapes and model names of :mod:`llmreg_gateway.openapi` put in.

The document is kept once every served model is loaded (what the models take is
known then); before that it is made again on each ask.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from llmreg.adapter import ClientAdapter
from llmreg.bases import Adapter
from llmreg_gateway import openapi as oa
from llmreg_gateway.registry import ServedModels


def passes_through(adapter: Adapter | None) -> bool:
    """Whether a loaded adapter's client takes fields beyond text chat (tools...)."""
    if not isinstance(adapter, ClientAdapter):
        return False
    return bool(adapter.client.CHAT_FIELDS)


def _request_bodies(schema: dict[str, Any], text_only: bool) -> None:
    """Put the routes' request bodies in (they read them themselves), drop FastAPI's 422s."""
    for path, (_, body) in oa.request_bodies(text_only).items():
        operation = schema["paths"][path]["post"]
        operation["requestBody"] = {
            "required": True, "content": {"application/json": {"schema": body}},
        }  # fmt: skip
    for item in schema["paths"].values():
        for operation in item.values():
            operation["responses"].pop("422", None)


def document_maker(app: FastAPI, models: ServedModels) -> Callable[[], dict[str, Any]]:
    """The function that makes (and, once every model is loaded, keeps) ``app``'s document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=app.title, version=app.version, summary=app.summary,
                             routes=app.routes)  # fmt: skip
        text_only = not any(passes_through(m.adapter) for m in models)
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(oa.components(text_only))
        _request_bodies(schema, text_only)
        oa.positive_minimums(schema)
        if all(m.adapter is not None for m in models):  # what the models take is known
            app.openapi_schema = schema
        return schema

    return openapi


__all__ = ["document_maker", "passes_through"]
