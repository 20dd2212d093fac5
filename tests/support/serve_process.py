"""An ``llmreg serve`` process for the integration suites: a free port, and its readiness."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_serving(url: str, process: subprocess.Popen[str], timeout: float = 240.0) -> None:
    """Wait until ``url``'s ``/ready`` answers 200.

    Raises:
        AssertionError: ``process`` exited first (with its stderr), or ``timeout`` passed.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"llmreg serve exited: {process.stderr and process.stderr.read()}")
        try:
            if httpx.get(f"{url}/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("llmreg serve never became ready")


__all__ = ["free_port", "wait_serving"]
