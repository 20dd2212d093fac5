"""A real ``mlflow server`` process on 127.0.0.1, for the integration and reliability suites.

The server runs with one worker and job execution off (the default starts 15
processes and takes 4 GB, see FIELD-NOTES), a sqlite backend in a folder you
give (or any SQLAlchemy URI, such as PostgreSQL), and proxied artifacts
(``--serve-artifacts --artifacts-destination DIR``) so that clients write
artifacts over HTTP and never touch the server's disk::

    from support.mlflow_server import MlflowServer

    with MlflowServer(tmp_path) as server:
        mlflow.set_tracking_uri(server.url)
        ...

``stop()`` ends the whole process group (the CLI starts uvicorn as a child);
``start()`` starts it again on the same store and the same port, so that a
client keeps its URI across a restart; ``kill()`` sends SIGKILL, as a crash.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

#: How long a start may take before it counts as failed. It takes about 5 s on an idle
#: 2-core machine, and 30 s when other suites load the CPU.
START_TIMEOUT_S = 120.0
#: How long a stop waits for SIGTERM before it sends SIGKILL.
STOP_TIMEOUT_S = 10.0


class MlflowServerError(RuntimeError):
    """The server did not answer ``/health`` in time, or exited. Carries its last output."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mlflow_executable() -> str:
    """Return the ``mlflow`` console script of the running interpreter's environment."""
    candidate = Path(sys.executable).parent / "mlflow"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("mlflow")
    if found is None:
        raise MlflowServerError(f"no 'mlflow' executable next to {sys.executable} or on PATH")
    return found


class MlflowServer:
    """One ``mlflow server`` process, started and stopped by the owner.

    Args:
        folder: where the sqlite file, the artifacts and the server log go.
        backend_uri: the backend store; default ``sqlite:///<folder>/mlflow.db``.
        port: the port to listen on; default a free one, kept across restarts.
        start_timeout: seconds to wait for ``/health`` on each start.

    Attributes:
        url: ``http://127.0.0.1:<port>``, the tracking and registry URI for clients.
        backend_uri: the backend store the server uses.
        artifacts: the folder proxied artifacts land in.
        log_path: the file that receives the server's stdout and stderr.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        backend_uri: str | None = None,
        port: int | None = None,
        start_timeout: float = START_TIMEOUT_S,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.backend_uri = backend_uri or f"sqlite:///{self.folder / 'mlflow.db'}"
        self.artifacts = self.folder / "artifacts"
        self.log_path = self.folder / "server.log"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None

    # --- lifecycle ---------------------------------------------------------

    def command(self) -> list[str]:
        """Return the command line that starts the server."""
        return [
            mlflow_executable(),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--backend-store-uri",
            self.backend_uri,
            "--serve-artifacts",
            "--artifacts-destination",
            str(self.artifacts),
        ]

    def start(self) -> MlflowServer:
        """Start the server (again, on the same store and port) and wait for ``/health``.

        Raises:
            MlflowServerError: it exited or did not answer within ``start_timeout``;
                the message carries the server's last output lines.
        """
        if self.running:
            return self
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        # The venv's bin first: the CLI runs uvicorn by name.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        with self.log_path.open("ab") as log:
            log.write(f"--- start {' '.join(self.command())}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.folder,
                start_new_session=True,
            )
        self._wait_healthy()
        return self

    def stop(self) -> None:
        """Stop the server and its children (SIGTERM to the group, then SIGKILL)."""
        self._signal_group(signal.SIGTERM, wait=STOP_TIMEOUT_S)

    def kill(self) -> None:
        """Kill the server and its children at once (SIGKILL), as a crash would."""
        self._signal_group(signal.SIGKILL, wait=STOP_TIMEOUT_S)

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def healthy(self) -> bool:
        """Whether ``/health`` answers 200 right now."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/health")
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def last_output(self, lines: int = 40) -> str:
        """Return the last ``lines`` lines the server wrote."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # --- context manager ---------------------------------------------------

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- internals ---------------------------------------------------------

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise MlflowServerError(
                    f"mlflow server exited with code {code} before /health answered; "
                    f"last output:\n{self.last_output()}"
                )
            if self.healthy():
                return
            time.sleep(0.2)
        self.kill()
        raise MlflowServerError(
            f"mlflow server did not answer {self.url}/health within {self.start_timeout:.0f} s; "
            f"last output:\n{self.last_output()}"
        )

    def _signal_group(self, sig: signal.Signals, wait: float) -> None:
        process = self._process
        if process is None:
            return
        self._process = None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=wait)
        # Children (uvicorn) may outlive the CLI process for a moment: reap the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_mlflow_server(
    folder: str | os.PathLike[str], backend_uri: str | None = None
) -> Iterator[MlflowServer]:
    """Start a :class:`MlflowServer` in ``folder`` for a ``with`` block (or a pytest fixture).

    Example fixture::

        @pytest.fixture(scope="module")
        def mlflow_server(tmp_path_factory):
            with running_mlflow_server(tmp_path_factory.mktemp("mlflow")) as server:
                yield server
    """
    server = MlflowServer(folder, backend_uri=backend_uri)
    try:
        yield server.start()
    finally:
        server.stop()


# --- a PostgreSQL backend for the server -----------------------------------


def postgres_unavailable() -> str | None:
    """Return why a throwaway PostgreSQL cannot run here, or ``None`` when it can."""
    if shutil.which("initdb") is None and not _pg_bin_dir():
        return "PostgreSQL's initdb is not installed (apt-get install postgresql)"
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "psycopg2 is not installed (pip install psycopg2-binary)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root, and no runuser to start PostgreSQL as another user"
    return None


def _pg_bin_dir() -> str | None:
    root = Path("/usr/lib/postgresql")
    versions = sorted(root.glob("*/bin/initdb")) if root.exists() else []
    return str(versions[-1].parent) if versions else None


class PostgresBackend:
    """A throwaway PostgreSQL cluster on 127.0.0.1 with one database, ``mlflow``.

    initdb refuses to run as root, so as root the cluster is owned by and run as
    the ``postgres`` system user (``runuser``). It lives in a fresh folder under
    the system temp dir (which that user can reach) and is deleted on stop.

    Attributes:
        uri: the ``--backend-store-uri``,
            ``postgresql+psycopg2://postgres@127.0.0.1:<port>/mlflow``.
    """

    def __init__(self, user: str = "postgres") -> None:
        self.port = free_port()
        self.uri = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/mlflow"
        self._user = user if os.geteuid() == 0 else None
        self._folder: Path | None = None

    def _run(self, tool: str, *args: str) -> None:
        bin_dir = _pg_bin_dir()
        executable = str(Path(bin_dir) / tool) if bin_dir else tool
        command = [executable, *args]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise MlflowServerError(
                f"{tool} failed with code {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )

    def start(self) -> PostgresBackend:
        """Create the cluster, start it and create the ``mlflow`` database."""
        import tempfile

        self._folder = Path(tempfile.mkdtemp(prefix="llmreg-pg-"))
        if self._user is not None:
            shutil.chown(self._folder, user=self._user)
        data = self._folder / "data"
        self._run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync")  # fmt: skip
        options = (
            f"-p {self.port} -k {self._folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(data), "-l", str(self._folder / "postgres.log"), "-w",
                  "-t", "60", "-o", options, "start")  # fmt: skip
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "mlflow")
        return self

    def stop(self) -> None:
        """Stop the cluster and delete its folder."""
        folder, self._folder = self._folder, None
        if folder is None:
            return
        try:
            self._run("pg_ctl", "-D", str(folder / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> PostgresBackend:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def mlflow_server_on(backend: str, folder: str | os.PathLike[str]) -> Iterator[MlflowServer]:
    """Start a :class:`MlflowServer` on ``backend`` (``"sqlite"`` or ``"postgresql"``).

    For a pytest fixture parametrised by backend::

        @pytest.fixture(scope="module", params=["sqlite", "postgresql"])
        def mlflow_server(request, tmp_path_factory):
            if request.param == "postgresql" and (why := postgres_unavailable()):
                pytest.skip(why)
            with mlflow_server_on(request.param, tmp_path_factory.mktemp("mlflow")) as server:
                yield server
    """
    if backend == "sqlite":
        with running_mlflow_server(folder) as server:
            yield server
    elif backend == "postgresql":
        with PostgresBackend() as database, running_mlflow_server(folder, database.uri) as server:
            yield server
    else:
        raise ValueError(f"unknown backend {backend!r}: use 'sqlite' or 'postgresql'")


__all__ = [
    "MlflowServer",
    "MlflowServerError",
    "PostgresBackend",
    "free_port",
    "mlflow_executable",
    "mlflow_server_on",
    "postgres_unavailable",
    "running_mlflow_server",
]
