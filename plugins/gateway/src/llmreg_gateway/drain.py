"""A bounded shutdown: streams still running ``grace`` seconds after SIGTERM are ended.

uvicorn, on SIGTERM, stops accepting connections and waits for the requests in
flight: a stream of a minute keeps the process alive a minute. :func:`begin`,
called when the shutdown starts (``llmreg serve``'s server on SIGTERM; :func:`arm`
chains it onto uvicorn's signal handlers in a worker), ``grace`` seconds later
cancels every stream still registered with :data:`STREAMS`; each stream catches
that cancellation, sends one ``data: {"error": ...}`` event (code
``server_shutting_down``) and ends, so the server exits. uvicorn's
``timeout_graceful_shutdown`` stays as a backstop (:func:`backstop`) for a request
that is not a stream.

Standard library only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
from collections.abc import Iterator
from typing import Any

from llmreg_gateway.errors import ApiError

logger = logging.getLogger(__name__)

#: The default ``llmreg serve --graceful-timeout``: seconds streams get after SIGTERM.
GRACE_S = 10.0


def backstop(grace: float) -> int:
    """uvicorn's ``timeout_graceful_shutdown`` (whole seconds) for ``grace``: a little
    longer, so that the streams end themselves (with their error event) before uvicorn
    cancels what is left."""
    return math.ceil(grace) + 5


class Streams:
    """The tasks sending a stream now, and whether the grace after a shutdown has run out."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Set once the grace ran out: a cancelled stream then ends with an error event.
        self.expired = False
        #: Set once a shutdown started the grace (:func:`begin`).
        self.armed = False

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Register the current task as sending a stream, for the block."""
        task = asyncio.current_task()
        if task is None:  # not in a task: nothing can cancel it
            yield
            return
        self._tasks.add(task)
        try:
            yield
        finally:
            self._tasks.discard(task)

    def expire(self) -> int:
        """End the grace: cancel every registered stream; return how many there were."""
        self.expired = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel("the server is shutting down")
        if tasks:
            logger.warning("ending %d stream(s) still running: the shutdown grace ran out",
                           len(tasks))  # fmt: skip
        return len(tasks)

    def ended_by_shutdown(self) -> bool:
        """Whether a :class:`asyncio.CancelledError` caught now came from :meth:`expire`
        (the stream ends with an error event) rather than a client that went away.

        When it did, the current task's cancellation is withdrawn, so the stream can
        still send its last event.
        """
        if not self.expired:
            return False
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return True


#: The streams of this process.
STREAMS = Streams()


def shutting_down() -> ApiError:
    """The error event a stream ends with when the shutdown grace ran out."""
    return ApiError(
        503,
        "the server is shutting down and its grace period ran out: ask again",
        type="server_error",
        code="server_shutting_down",
    )


def begin(grace: float) -> None:
    """Start the grace: ``grace`` seconds from now, end the streams :data:`STREAMS` holds.

    Safe from a signal handler running on the event loop's thread (uvicorn's); a
    second call does nothing.
    """
    if STREAMS.armed:
        return
    STREAMS.armed = True
    loop = asyncio.get_running_loop()
    loop.call_soon_threadsafe(lambda: loop.call_later(grace, STREAMS.expire))


def arm(grace: float) -> None:
    """Chain onto the current SIGTERM and SIGINT handlers (uvicorn's, which start its
    shutdown and are still called): the first signal calls :func:`begin`. Call it from
    the main thread while the event loop runs there, after uvicorn installed them
    (an app factory does: ``llmreg serve --workers``)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            with contextlib.suppress(RuntimeError):  # no loop runs: nothing to end
                begin(grace)
            if callable(previous):
                previous(signum, frame)
            else:  # the default action (exit), as before
                signal.signal(signum, signal.SIG_DFL)
                signal.raise_signal(signum)

        signal.signal(sig, handler)


__all__ = ["GRACE_S", "STREAMS", "Streams", "arm", "backstop", "begin", "shutting_down"]
