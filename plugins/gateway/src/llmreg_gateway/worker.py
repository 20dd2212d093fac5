"""``llmreg serve --workers N``: the app factory each uvicorn worker process imports.

The parent process binds the address and checks the settings, then starts N workers
on the one socket (uvicorn's ``Multiprocess``); each builds its own app with
:func:`app` from the :class:`~llmreg_gateway.settings.GatewaySettings` the parent
put, as JSON, in :data:`SETTINGS_ENV`, loads its models in the background
(``/ready`` says when) and keeps its own metrics. Key references (``env:NAME``) are
read from the environment each worker inherits: no key is written into the settings.
The workers share one metrics folder (:func:`shared_metrics`), so
``/metrics`` counts every worker's requests whichever worker answers it.

A worker never outlives its supervisor (:func:`die_with_parent`): killed with
``kill -9``, the supervisor cannot stop them, so each worker asks Linux to send it
SIGTERM when its parent dies (``PR_SET_PDEATHSIG``) and, on every system, checks its
parent every second. The port is then free for a restart, and the next start
removes the metrics folder the dead supervisor left (:func:`remove_stale_folders`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llmreg_gateway.settings import SETTINGS_ENV, GatewaySettings

logger = logging.getLogger(__name__)

#: The environment variable holding the supervisor's pid, for its workers.
SUPERVISOR_ENV = "LLMREG_SERVE_SUPERVISOR_PID"
#: How the metrics folders are named: ``llmreg-metrics-<supervisor pid>-<random>``.
METRICS_PREFIX = "llmreg-metrics-"
#: Seconds between two checks of a worker's parent.
PARENT_POLL_S = 1.0
#: Linux's ``prctl`` option that signals a process when its parent dies.
_PR_SET_PDEATHSIG = 1


def app() -> Any:
    """Build one worker's app from :data:`SETTINGS_ENV` (uvicorn calls this: ``factory=True``)."""
    from llmreg.manager import get_plugin_manager
    from llmreg_gateway import create_app, drain
    from llmreg_gateway.logsetup import serve_logging

    supervisor = os.environ.get(SUPERVISOR_ENV, "")
    if supervisor.isdigit():
        die_with_parent(int(supervisor))
    settings = GatewaySettings.from_env(SETTINGS_ENV)
    drain.arm(settings.graceful_timeout)
    built = create_app(settings=settings, manager=get_plugin_manager())
    serve_logging(settings.access_log)
    return built


@contextlib.contextmanager
def shared_metrics() -> Iterator[str]:
    """Give the workers to be started one metrics folder (prometheus-client's
    multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``), so that ``/metrics`` sums them all.

    A folder already set in the environment is used as it is and kept; otherwise a
    new temporary one is made (named after this process's pid), and removed with its
    files when the block ends. Folders left by supervisors that are dead (``kill -9``)
    are removed first.
    """
    from llmreg_gateway.observe import MULTIPROC_ENV

    given = os.environ.get(MULTIPROC_ENV)
    if given:
        yield given
        return
    remove_stale_folders()
    folder = tempfile.mkdtemp(prefix=f"{METRICS_PREFIX}{os.getpid()}-")
    os.environ[MULTIPROC_ENV] = folder
    try:
        yield folder
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (a zombie counts as dead; another user's as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    status = Path(f"/proc/{pid}/status")
    with contextlib.suppress(OSError):
        if "\nState:\tZ" in status.read_text():
            return False
    return True


def remove_stale_folders(root: str | None = None) -> list[Path]:
    """Remove the metrics folders under ``root`` (default the temporary folder) whose
    supervisor's pid is dead; return them. Folders of live servers are kept."""
    removed = []
    for folder in Path(root or tempfile.gettempdir()).glob(f"{METRICS_PREFIX}*-*"):
        pid = folder.name[len(METRICS_PREFIX) :].split("-", 1)[0]
        if folder.is_dir() and pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
            logger.info("removed %s: the server that made it is gone", folder)
    return removed


def die_with_parent(parent: int) -> None:
    """End this worker (SIGTERM to itself, a graceful stop) when ``parent`` is gone.

    On Linux, ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` has the kernel send it at once; a
    daemon thread also checks the parent every :data:`PARENT_POLL_S` seconds (other
    systems, and a parent that died before the ``prctl``).
    """
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        logger.warning("the supervisor (pid %d) is gone: this worker stops", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="llmreg-parent-watch", daemon=True).start()


_PROTOCOL: type | None = None


def header_protocol() -> type:
    """The HTTP protocol (httptools', else h11's) with the settings' ``--header-timeout``,
    one class per process, importable as ``llmreg_gateway.worker.TimedHttpProtocol`` (the
    workers are spawned and uvicorn's config, which names it, is pickled)."""
    global _PROTOCOL
    if _PROTOCOL is None:
        from llmreg_gateway.protocols import timed_http_protocol

        text = os.environ.get(SETTINGS_ENV)
        settings = GatewaySettings() if text is None else GatewaySettings.from_json(text)
        protocol = timed_http_protocol(settings.header_timeout)
        protocol.__qualname__ = protocol.__name__ = "TimedHttpProtocol"
        protocol.__module__ = __name__
        _PROTOCOL = protocol
    return _PROTOCOL


def __getattr__(name: str) -> Any:
    if name in ("TimedHttpProtocol", "TimedH11Protocol"):
        return header_protocol()
    raise AttributeError(name)


__all__ = [
    "METRICS_PREFIX",
    "PARENT_POLL_S",
    "SETTINGS_ENV",
    "SUPERVISOR_ENV",
    "alive",
    "app",
    "die_with_parent",
    "header_protocol",
    "remove_stale_folders",
    "shared_metrics",
]
