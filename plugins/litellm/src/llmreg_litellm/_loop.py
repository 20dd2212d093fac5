"""A private asyncio event loop, run in one daemon thread, that sync and async callers share.

The client schedules every HTTP call on this loop with
:func:`asyncio.run_coroutine_threadsafe`. A sync caller blocks on the returned
future; an async caller awaits it through :func:`asyncio.wrap_future`. So the
same pool of connections serves both, whether or not the calling thread runs
an event loop of its own, and no loop is ever created per call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """An event loop running forever in a daemon thread, until :meth:`stop`."""

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._ready.set)
        try:
            self._loop.run_forever()
        finally:
            self._cancel_leftovers()
            self._loop.close()

    def _cancel_leftovers(self) -> None:
        """Cancel what still runs, so that no caller waits forever on a stopped loop."""
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        if tasks:
            gathered = asyncio.gather(*tasks, return_exceptions=True)
            self._loop.run_until_complete(gathered)

    @property
    def running(self) -> bool:
        """Whether the loop still accepts work."""
        return self._thread.is_alive() and not self._loop.is_closed()

    def in_loop_thread(self) -> bool:
        """Whether the caller runs on this loop's own thread."""
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; return a thread-safe future of its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and join its thread. Safe to call twice, and from any thread.

        Work still running on the loop is cancelled: its futures raise
        :class:`concurrent.futures.CancelledError`.
        """
        if self._request_stop() and not self.in_loop_thread():
            self._thread.join(timeout)

    async def astop(self, timeout: float = 5.0) -> None:
        """Async form of :meth:`stop`: wait for the thread to end without blocking the caller.

        The thread usually ends within a millisecond; this checks every few ms, for
        at most ``timeout`` seconds.
        """
        if not self._request_stop() or self.in_loop_thread():
            return
        deadline = time.monotonic() + timeout
        pause = 0.0005
        while self._thread.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _request_stop(self) -> bool:
        """Ask the loop to stop; whether it was still running to be asked."""
        if self._loop.is_closed() or not self._thread.is_alive():
            return False
        try:
            self._loop.call_soon_threadsafe(self._loop.stop)
        except RuntimeError:  # closed between the check and the call
            return False
        return True
