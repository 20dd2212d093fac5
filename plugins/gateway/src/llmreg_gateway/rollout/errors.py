"""The typed errors of rollouts: each names what was wrong and what to do."""

from __future__ import annotations

from llmreg.errors import LlmregError


class RolloutError(LlmregError):
    """A rollout could not be started, read or changed."""


class RolloutInputError(RolloutError, ValueError):
    """A rollout option is malformed (raised before anything is written)."""


class RolloutNotFoundError(RolloutError, LookupError):
    """No rollout is recorded for the model and alias."""


class RolloutStateError(RolloutError):
    """The rollout is not in a state that allows the change (resume a running one...)."""


class RolloutConflictError(RolloutError):
    """Another writer changed the rollout between our read and our write."""


__all__ = [
    "RolloutConflictError",
    "RolloutError",
    "RolloutInputError",
    "RolloutNotFoundError",
    "RolloutStateError",
]
