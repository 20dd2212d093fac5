"""``llmreg serve --workers N``: the app factory each uvicorn worker process imports.

The parent process binds the address and checks the settings, then starts N workers
on the one socket (uvicorn's ``Multiprocess``); each builds its own app with
:func:`app` from the JSON settings in :data:`SETTINGS_ENV`, loads its models in the
background (``/ready`` says when) and keeps its own metrics. Key references
(``env:NAME``) are read from the environment each worker inherits: no key is written
into the settings. The workers share one metrics folder (:func:`shared_metrics`), so
``/metrics`` counts every worker's requests whichever worker answers it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

#: The environment variable holding the workers' settings (JSON, no secrets).
SETTINGS_ENV = "LLMREG_SERVE_WORKER_SETTINGS"


def app() -> Any:
    """Build one worker's app from :data:`SETTINGS_ENV` (uvicorn calls this: ``factory=True``)."""
    from llmreg.manager import get_plugin_manager
    from llmreg_gateway import create_app
    from llmreg_gateway.cli import _serve_logging

    settings: dict[str, Any] = json.loads(os.environ[SETTINGS_ENV])
    body_timeout = settings.pop("body_timeout")
    settings.pop("header_timeout", None)
    access_log = settings["access_log"]
    built = create_app(manager=get_plugin_manager(), **settings)
    built.state.llmreg_routes.body_timeout = body_timeout
    _serve_logging(access_log)
    return built


@contextlib.contextmanager
def shared_metrics() -> Iterator[str]:
    """Give the workers to be started one metrics folder (prometheus-client's
    multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``), so that ``/metrics`` sums them all.

    A folder already set in the environment is used as it is and kept; otherwise a
    new temporary one is made, and removed with its files when the block ends.
    """
    from llmreg_gateway.observe import MULTIPROC_ENV

    given = os.environ.get(MULTIPROC_ENV)
    if given:
        yield given
        return
    folder = tempfile.mkdtemp(prefix="llmreg-metrics-")
    os.environ[MULTIPROC_ENV] = folder
    try:
        yield folder
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)


_PROTOCOL: type | None = None


def header_protocol() -> type:
    """The HTTP protocol (httptools', else h11's) with the settings' ``--header-timeout``,
    one class per process, importable as ``llmreg_gateway.worker.TimedHttpProtocol`` (the
    workers are spawned and uvicorn's config, which names it, is pickled)."""
    global _PROTOCOL
    if _PROTOCOL is None:
        from llmreg_gateway.app import timed_http_protocol

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


__all__ = ["SETTINGS_ENV", "app", "header_protocol", "shared_metrics"]
