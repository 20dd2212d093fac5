"""``llmreg serve --workers N``: the app factory each uvicorn worker process imports.

The parent process binds the address and checks the settings, then starts N workers
on the one socket (uvicorn's ``Multiprocess``); each builds its own app with
:func:`app` from the JSON settings in :data:`SETTINGS_ENV`, loads its models in the
background (``/ready`` says when) and keeps its own metrics. Key references
(``env:NAME``) are read from the environment each worker inherits: no key is written
into the settings.
"""

from __future__ import annotations

import json
import os
from typing import Any

#: The environment variable holding the workers' settings (JSON, no secrets).
SETTINGS_ENV = "LLMREG_SERVE_WORKER_SETTINGS"


def app() -> Any:
    """Build one worker's app from :data:`SETTINGS_ENV` (uvicorn calls this: ``factory=True``)."""
    from llmreg.cli.serve import _serve_logging
    from llmreg.manager import get_plugin_manager
    from llmreg.serve import create_app

    settings: dict[str, Any] = json.loads(os.environ[SETTINGS_ENV])
    body_timeout = settings.pop("body_timeout")
    settings.pop("header_timeout", None)
    access_log = settings["access_log"]
    built = create_app(manager=get_plugin_manager(), **settings)
    built.state.llmreg_routes.body_timeout = body_timeout
    _serve_logging(access_log)
    return built


_PROTOCOL: type | None = None


def header_protocol() -> type:
    """The HTTP protocol (httptools', else h11's) with the settings' ``--header-timeout``,
    one class per process, importable as ``llmreg.serve.worker.TimedHttpProtocol`` (the
    workers are spawned and uvicorn's config, which names it, is pickled)."""
    global _PROTOCOL
    if _PROTOCOL is None:
        from llmreg.serve.app import timed_http_protocol

        settings = json.loads(os.environ.get(SETTINGS_ENV, "{}"))
        protocol = timed_http_protocol(float(settings.get("header_timeout", 10.0)))
        protocol.__qualname__ = protocol.__name__ = "TimedHttpProtocol"
        protocol.__module__ = __name__
        _PROTOCOL = protocol
    return _PROTOCOL


def __getattr__(name: str) -> Any:
    if name in ("TimedHttpProtocol", "TimedH11Protocol"):
        return header_protocol()
    raise AttributeError(name)


__all__ = ["SETTINGS_ENV", "app", "header_protocol"]
