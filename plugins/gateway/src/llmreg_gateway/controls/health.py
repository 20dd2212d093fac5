"""The controls' health and their policy when the shared state cannot be reached.

Budgets, limits and managed keys fail closed (:class:`ControlsUnavailableError`, HTTP
503 with ``Retry-After: 1``); the cache fails open (a miss). :class:`Health` is what
``/ready`` shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmreg_gateway.errors import ApiError

#: What the controls do when the state cannot be reached (for ``/ready`` and the docs).
POLICY = "budgets, limits and managed keys fail closed (503); the cache fails open (a miss)"


class ControlsUnavailableError(ApiError):
    """HTTP 503: the shared state cannot be reached, so limits and budgets cannot be
    checked; ``Retry-After: 1``."""

    def __init__(self, message: str) -> None:
        super().__init__(503, message, type="state_unavailable", code="state_unavailable")
        self.retry_after = 1
        self.headers = [("retry-after", "1")]


@dataclass
class Health:
    """Whether the controls' state answers, for ``/ready`` and logs.

    Attributes:
        backend: ``memory`` or ``redis``.
        ok: the last call to the state succeeded.
        error: the last failure's message (no secret: the URL is redacted).
        since: when the state stopped answering (epoch seconds), or ``None``.
    """

    backend: str
    ok: bool = True
    error: str | None = None
    since: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """For a JSON body: ``{"backend", "ok", "error", "since", "policy"}``."""
        return {
            "backend": self.backend,
            "ok": self.ok,
            "error": self.error,
            "since": self.since,
            "policy": POLICY,
        }


__all__ = ["POLICY", "ControlsUnavailableError", "Health"]
