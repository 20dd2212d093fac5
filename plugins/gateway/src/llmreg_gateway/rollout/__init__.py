"""Progressive delivery of a registered version: weighted, sticky canaries with guards.

A rollout lives in the registry (:mod:`.state`), a replica routes with
:class:`~llmreg_gateway.rollout.routing.RolloutRouter` and feeds a
:class:`~llmreg_gateway.rollout.stats.StatsSink`; one controller
(:mod:`.controller`, holding the :mod:`.lease`) steps, promotes or rolls back.
``llmreg rollout`` (:mod:`.cli`) drives it. Importing this package imports no
MLflow and no web framework.
"""

from __future__ import annotations

from llmreg_gateway.rollout.routing import ARM_HEADER, ArmChoice, RolloutRouter, sticky_key
from llmreg_gateway.rollout.state import Rollout, RolloutStore
from llmreg_gateway.rollout.stats import ArmStats, InProcessSink, StatsSink

__all__ = [
    "ARM_HEADER",
    "ArmChoice",
    "ArmStats",
    "InProcessSink",
    "Rollout",
    "RolloutRouter",
    "RolloutStore",
    "StatsSink",
    "sticky_key",
]
