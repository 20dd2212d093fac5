"""What people do to a rollout: start, pause, resume, abort, promote.

Each operation checks its inputs and the rollout's state before any write,
writes the new state (generation + 1), then records the change in the alias
history (``llmreg history NAME``) with its note. The controller
(:mod:`~llmreg_gateway.rollout.controller`) makes the automatic moves.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import TYPE_CHECKING

from llmreg_gateway.rollout.errors import RolloutInputError, RolloutStateError
from llmreg_gateway.rollout.state import Rollout

if TYPE_CHECKING:
    from llmreg_gateway.rollout.spec import Guards
    from llmreg_gateway.rollout.state import Clock, RolloutStore


def start(
    store: RolloutStore,
    clock: Clock,
    name: str,
    *,
    to: str,
    alias: str,
    steps: tuple[int, ...],
    interval_s: float,
    sticky_by: str,
    guards: Guards,
) -> Rollout:
    """Start a rollout of ``to`` (a version or an alias) in place of ``name@alias``.

    Raises:
        RolloutInputError: ``to`` names no version, the alias points nowhere, or both
            arms are the same version.
        RolloutStateError: a rollout of ``name@alias`` is already running or paused.
    """
    existing = store.load(name, alias)
    if existing is not None and existing.active:
        raise RolloutStateError(
            f"a rollout of {name}@{alias} to version {existing.to_version} is {existing.status}: "
            f"finish it first (llmreg rollout abort {name} or llmreg rollout promote {name})"
        )
    current = store.resolve_version(name, alias)
    candidate = store.resolve_version(name, to)
    if candidate == current:
        raise RolloutInputError(
            f"--to {to} is version {candidate}, which @{alias} already holds: give another version"
        )
    now = clock.now()
    rollout = Rollout(
        id=f"r{uuid.uuid4().hex[:10]}",
        name=name,
        alias=alias,
        from_version=current,
        to_version=candidate,
        steps=steps,
        interval_s=interval_s,
        sticky_by=sticky_by,
        guards=guards,
        status="running",
        step=0,
        step_started_at=now,
        started_at=now,
        generation=existing.generation if existing is not None else 0,
        reason=(
            f"rollout started: version {candidate} in place of {current} at {steps[0]}%, steps "
            f"{','.join(map(str, steps))} every {interval_s:g} s, sticky by {sticky_by}"
        ),
        pending=("note",),
    )
    stored = store.save(rollout, expect=rollout.generation)
    return store.finish(stored)


def _active(store: RolloutStore, name: str, alias: str, verb: str) -> Rollout:
    rollout = store.get(name, alias)
    if not rollout.active:
        raise RolloutStateError(
            f"cannot {verb} the rollout of {name}@{alias}: it is {rollout.status} "
            f"(llmreg rollout status {name})"
        )
    return rollout


def pause(store: RolloutStore, name: str, alias: str) -> Rollout:
    """Hold the rollout at its current weight: the controller makes no step until resumed.

    Raises:
        RolloutNotFoundError: none is recorded.
        RolloutStateError: it is not running.
    """
    rollout = _active(store, name, alias, "pause")
    if rollout.status != "running":
        raise RolloutStateError(f"the rollout of {name}@{alias} is already {rollout.status}")
    reason = f"rollout paused at step {rollout.step + 1} ({rollout.weight}%)"
    return store.transition(rollout, status="paused", reason=reason)


def resume(store: RolloutStore, clock: Clock, name: str, alias: str) -> Rollout:
    """Let a paused rollout go on; its current step's interval starts again now.

    Raises:
        RolloutNotFoundError: none is recorded.
        RolloutStateError: it is not paused.
    """
    rollout = _active(store, name, alias, "resume")
    if rollout.status != "paused":
        raise RolloutStateError(f"the rollout of {name}@{alias} is {rollout.status}, not paused")
    reason = f"rollout resumed at step {rollout.step + 1} ({rollout.weight}%)"
    return store.transition(rollout, status="running", step_started_at=clock.now(), reason=reason)


def abort(store: RolloutStore, name: str, alias: str, why: str = "") -> Rollout:
    """Send all traffic back to the current version; the alias stays where it is.

    Raises:
        RolloutNotFoundError: none is recorded.
        RolloutStateError: it already ended.
    """
    rollout = _active(store, name, alias, "abort")
    reason = (
        f"rollout aborted at step {rollout.step + 1} ({rollout.weight}%); @{alias} stays on "
        f"{rollout.from_version}" + (f": {why}" if why else "")
    )
    return store.transition(rollout, status="aborted", reason=reason)


def promote(store: RolloutStore, name: str, alias: str, why: str = "") -> Rollout:
    """Promote the candidate now: the alias moves to it, skipping the remaining steps.

    Raises:
        RolloutNotFoundError: none is recorded.
        RolloutStateError: it already ended.
    """
    rollout = _active(store, name, alias, "promote")
    reason = (
        f"rollout promoted version {rollout.to_version} to @{alias} (was "
        f"{rollout.from_version}) by hand at step {rollout.step + 1} ({rollout.weight}%)"
        + (f": {why}" if why else "")
    )
    return store.transition(replace(rollout), status="promoted", reason=reason)


__all__ = ["abort", "pause", "promote", "resume", "start"]
