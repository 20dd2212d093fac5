"""The serving app: ``create_app(model_uri)`` builds a FastAPI app around one loaded model.

It needs the optional extra ``llmreg[serve]`` (fastapi, uvicorn). Importing
this package imports neither; :func:`create_app` does, when called.

Routes: ``POST /predict`` (llmreg Inputs in, Outputs out), the OpenAI-compatible
``POST /v1/chat/completions`` (with ``stream: true`` as server-sent events) and
``GET /v1/models``, ``GET /health``, ``GET /ready`` and ``POST /admin/reload``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llmreg.serve.model import ServedModel

if TYPE_CHECKING:
    from fastapi import FastAPI

    from llmreg.bases import Loader
    from llmreg.manager import PluginManager

#: The largest request body the app reads, in bytes; larger ones get HTTP 413.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


def create_app(
    model_uri: str,
    *,
    loader: Mapping[str, Any] | Loader | None = None,
    manager: PluginManager | None = None,
    reload_interval: float = 30.0,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """Build the FastAPI app that serves the model at ``model_uri``.

    Args:
        model_uri: the model to serve, e.g. ``models:/chat@champion``.
        loader: a loader config such as ``{"KIND": "FolderLoader"}``, or a
            :class:`~llmreg.Loader` instance. Default: the ``serve.loader`` default
            an installed plugin registers (llmreg-pyfunc's has its alias cache off,
            so a reload always sees where the alias points now), else ``loader``.
        manager: the plugin manager that builds the loader; default the process's own.
            A host that passes its own gets full isolation: nothing else is loaded.
        reload_interval: seconds between checks of an alias URI for a moved alias;
            0 turns the poll off (``POST /admin/reload`` still works).
        max_body_bytes: larger request bodies are refused with HTTP 413.

    The model is loaded at start-up (the app's lifespan), or on the first
    request when the app is mounted in a host app whose lifespan does not run it.

    Raises:
        ImportError: fastapi is not installed; install ``llmreg[serve]``.
    """
    try:
        from llmreg.serve.app import build_app
    except ImportError as exc:  # pragma: no cover - the serve extra is missing
        raise ImportError(
            f"serving needs fastapi and uvicorn ({exc}): pip install 'llmreg[serve]'"
        ) from exc
    served = ServedModel(model_uri, loader=loader, manager=manager)
    return build_app(served, reload_interval=reload_interval, max_body_bytes=max_body_bytes)


__all__ = ["DEFAULT_MAX_BODY_BYTES", "ServedModel", "create_app"]
