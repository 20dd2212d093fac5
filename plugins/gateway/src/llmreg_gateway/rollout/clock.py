"""Time as rollouts see it: :class:`Clock` (tests inject a fake one) and :class:`SystemClock`."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Time as the controller and lease see it (tests inject a fake one)."""

    def now(self) -> float:
        """Seconds since the epoch."""

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""


class SystemClock:
    """The real clock: :func:`time.time` and :func:`time.sleep`."""

    def now(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        time.sleep(seconds)


__all__ = ["Clock", "SystemClock"]
