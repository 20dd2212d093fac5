"""The servers of this process: one per settings, shared, reference-counted, stopped at exit.

A client calls :func:`acquire` with its :class:`~llmreg_llamacpp.server.ServerSettings`
and gets a :class:`Lease` on the shared server; it calls :meth:`Lease.release`
when it closes. The first lease starts the server, the last release stops it,
and whatever still runs when the interpreter exits is stopped by an ``atexit``
hook. A server that died is replaced by a new one for the next client. A forked
child forgets its parent's servers (and never stops them): it starts its own.
"""

from __future__ import annotations

import atexit
import os
import threading
from dataclasses import dataclass, field

from llmreg_llamacpp.server import LlamaServer, ServerSettings


@dataclass(eq=False)
class _Entry:
    """One shared server, the number of leases on it, and the lock its start runs under."""

    refs: int = 0
    server: LlamaServer | None = None
    starting: threading.Lock = field(default_factory=threading.Lock)

    @property
    def dead(self) -> bool:
        """Whether the server was started and has exited since."""
        return self.server is not None and not self.server.running


class Lease:
    """One client's hold on a shared server. :meth:`release` it once done."""

    def __init__(self, registry: ServerRegistry, settings: ServerSettings, entry: _Entry) -> None:
        self._registry = registry
        self._settings = settings
        self._entry = entry
        self._released = False
        server = entry.server
        assert server is not None
        self.server: LlamaServer = server

    def __repr__(self) -> str:
        return f"Lease({self.server!r})"

    def release(self) -> None:
        """Give the hold back; the last one stops the server. Safe to call twice."""
        with self._registry.lock:
            if self._released:
                return
            self._released = True
        self._registry.drop(self._settings, self._entry)


class ServerRegistry:
    """A thread-safe table of shared servers, keyed by their settings."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._entries: dict[ServerSettings, _Entry] = {}

    def acquire(self, settings: ServerSettings, start_timeout: float) -> Lease:
        """Return a lease on the running server for ``settings``, starting it if needed.

        Raises:
            ProviderStartError: the server could not be started.
        """
        with self.lock:
            entry = self._entries.get(settings)
            if entry is None or entry.dead:
                entry = self._entries[settings] = _Entry()
            entry.refs += 1
        try:
            with entry.starting:
                if entry.server is None:
                    entry.server = LlamaServer.start(settings, start_timeout)
        except BaseException:
            self.drop(settings, entry)
            raise
        return Lease(self, settings, entry)

    def drop(self, settings: ServerSettings, entry: _Entry) -> None:
        """Take one hold off ``entry``; stop its server when none is left."""
        with self.lock:
            entry.refs -= 1
            if entry.refs > 0:
                return
            if self._entries.get(settings) is entry:
                del self._entries[settings]
            server, entry.server = entry.server, None
        if server is not None:
            server.stop()

    def servers(self) -> list[LlamaServer]:
        """The servers this process runs now."""
        with self.lock:
            entries = list(self._entries.values())
        return [e.server for e in entries if e.server is not None and e.server.running]

    def stop_all(self) -> None:
        """Stop every server, whoever holds it (at interpreter exit)."""
        with self.lock:
            entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            if entry.server is not None:
                entry.server.stop()

    def forget(self) -> None:
        """Drop every entry without stopping anything (in a forked child)."""
        self.lock = threading.Lock()
        self._entries = {}


#: The registry of this process.
REGISTRY = ServerRegistry()
atexit.register(REGISTRY.stop_all)
os.register_at_fork(after_in_child=REGISTRY.forget)


def acquire(settings: ServerSettings, start_timeout: float) -> Lease:
    """Lease the shared server for ``settings`` (see :meth:`ServerRegistry.acquire`)."""
    return REGISTRY.acquire(settings, start_timeout)


def running_servers() -> list[LlamaServer]:
    """The llama.cpp servers this process runs now."""
    return REGISTRY.servers()


__all__ = ["REGISTRY", "Lease", "ServerRegistry", "acquire", "running_servers"]
