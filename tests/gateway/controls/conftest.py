"""Fixtures for the gateway controls: every behaviour runs on MemoryState and on a real Redis.

The Redis is Debian's ``redis-server``, started here on a free loopback port with no
persistence, in a temporary folder, and stopped at the end. Without the binary the
Redis cases skip, saying how to install it. Tests drive the async API with
``asyncio.run`` (no pytest plugin): a Redis client belongs to one event loop, so a
test builds its states inside its coroutine, through ``backend.new()``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmreg_gateway.controls.memory_state import MemoryState
from llmreg_gateway.controls.redis_state import RedisState
from llmreg_gateway.controls.state import StateBackend

SKIP_REASON = "redis-server is not installed: apt-get install redis-server (Debian's package)"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A ``redis-server`` on 127.0.0.1, without persistence, that a test can stop and restart."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            # CI installs it (.ci/run): there, a missing server is a failure, not a skip.
            if os.environ.get("CI"):
                pytest.fail(SKIP_REASON)
            pytest.skip(SKIP_REASON)
        pytest.importorskip("redis", reason="redis-py missing: pip install 'llmreg-gateway[redis]'")
        self.binary = binary
        self.folder = folder
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it accepts connections (at most 10 s)."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within 10 s")

    def stop(self) -> None:
        """Stop the server (and wait for it)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One Redis for the session (tests keep apart by key namespace)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own, which the test may stop and restart."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


class Backend:
    """Makes the states of one test: the same MemoryState every time (one process's
    state), or a new Redis client on one namespace (another replica)."""

    def __init__(self, kind: str, url: str | None = None) -> None:
        self.kind = kind
        self.url = url
        self.namespace = "t" + uuid.uuid4().hex[:10]
        self._memory = MemoryState()

    def new(self) -> StateBackend:
        """A state (call it inside the test's event loop)."""
        if self.url is None:
            return self._memory
        return RedisState.from_url(self.url, timeout=2.0, namespace=self.namespace)


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each test twice: on MemoryState, and on the session's real Redis."""
    if request.param == "memory":
        return Backend("memory")
    server: RedisServer = request.getfixturevalue("redis_server")
    return Backend("redis", server.url)
