"""A rollout as a registry object: its spec and state in one registered-model tag.

The tag ``llmreg.rollout.<alias>`` of the registered model holds the rollout of
that alias as JSON (:class:`Rollout`), so every gateway replica on the same
MLflow server reads the same split with no new service. The register must offer
the optional model-tag capability of :class:`~llmreg.bases.AliasRegister`
(``read_model_tags``, ``set_model_tag``, ``note_alias``); ``MlflowRegister`` does.

Writes are generation-checked: :meth:`RolloutStore.save` reads the current
generation, refuses a stale one, writes ``generation + 1`` with a fresh writer
id, and reads back to confirm that its own write is the one stored. Every change
is also an entry in the alias history (``llmreg history``) carrying a marker
(``[rollout <id> g<generation>]``), so that redoing an interrupted change
records it once.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from llmreg_gateway.rollout.clock import Clock, SystemClock
from llmreg_gateway.rollout.errors import (
    RolloutConflictError,
    RolloutError,
    RolloutInputError,
    RolloutNotFoundError,
)
from llmreg_gateway.rollout.spec import Guards

if TYPE_CHECKING:
    from llmreg.bases import AliasRegister

#: The registered-model tag that holds the rollout of alias ``<alias>``.
ROLLOUT_TAG_PREFIX = "llmreg.rollout."
#: A rollout's status; the first two are active (traffic is split).
Status = Literal["running", "paused", "aborted", "promoted", "rolled-back"]
ACTIVE: frozenset[str] = frozenset({"running", "paused"})
_STATUSES = frozenset({*ACTIVE, "aborted", "promoted", "rolled-back"})


def rollout_tag(alias: str) -> str:
    """Return the registered-model tag key of the rollout of ``alias``."""
    return f"{ROLLOUT_TAG_PREFIX}{alias}"


@dataclass(frozen=True)
class Rollout:
    """One rollout of ``to_version`` in place of ``from_version`` behind ``name@alias``.

    Attributes:
        id: unique id; salts the routing hash, names the stats and the history entries.
        name: the registered model.
        alias: the alias whose traffic is split, moved to ``to_version`` at promotion.
        from_version: the version the alias held at the start (the stable arm).
        to_version: the candidate version (the canary arm).
        steps: the canary's percentage at each step, ending at 100.
        interval_s: how long each step lasts at least, in seconds.
        sticky_by: ``key``, ``user`` or ``header:<name>``: what keeps a caller on one arm.
        guards: what the candidate must keep to.
        status: running, paused, aborted, promoted or rolled-back.
        step: index of the current step in ``steps``.
        step_started_at: when the current step started (epoch seconds).
        started_at: when the rollout started.
        generation: increases by one on every write (also across rollouts of the alias).
        writer: the id of the write that stored this record.
        reason: the latest decision, with its numbers.
        pending: side effects decided but not yet confirmed done (``promote``, ``note``);
            a controller that restarts finishes them, each idempotent.
    """

    id: str
    name: str
    alias: str
    from_version: int
    to_version: int
    steps: tuple[int, ...]
    interval_s: float
    sticky_by: str
    guards: Guards = field(default_factory=Guards)
    status: Status = "running"
    step: int = 0
    step_started_at: float = 0.0
    started_at: float = 0.0
    generation: int = 0
    writer: str = ""
    reason: str = ""
    pending: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        """Whether traffic is split (running or paused)."""
        return self.status in ACTIVE

    @property
    def weight(self) -> int:
        """The candidate's share of traffic now, in percent (0 once the rollout ended)."""
        return self.steps[self.step] if self.active else 0

    @property
    def marker(self) -> str:
        """The marker of this generation's history entry: ``[rollout <id> g<n>]``."""
        return f"[rollout {self.id} g{self.generation}]"

    def to_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready values (``weight`` included, for readers)."""
        return {
            "id": self.id,
            "name": self.name,
            "alias": self.alias,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "steps": list(self.steps),
            "interval_s": self.interval_s,
            "sticky_by": self.sticky_by,
            "guards": self.guards.to_dict(),
            "status": self.status,
            "step": self.step,
            "weight": self.weight,
            "step_started_at": self.step_started_at,
            "started_at": self.started_at,
            "generation": self.generation,
            "writer": self.writer,
            "reason": self.reason,
            "pending": list(self.pending),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rollout:
        """Return the rollout :meth:`to_dict` wrote.

        Raises:
            RolloutError: a field is missing or of the wrong type (a hand-edited tag).
        """
        if data.get("status") not in _STATUSES:
            raise RolloutError(
                f"the rollout record of {data.get('name')!r} has the unknown status "
                f"{data.get('status')!r}; delete the registered-model tag llmreg.rollout.<alias> "
                "to start afresh"
            )
        try:
            return cls(
                id=str(data["id"]),
                name=str(data["name"]),
                alias=str(data["alias"]),
                from_version=int(data["from_version"]),
                to_version=int(data["to_version"]),
                steps=tuple(int(w) for w in data["steps"]),
                interval_s=float(data["interval_s"]),
                sticky_by=str(data["sticky_by"]),
                guards=Guards.from_dict(dict(data.get("guards") or {})),
                status=data["status"],
                step=int(data["step"]),
                step_started_at=float(data["step_started_at"]),
                started_at=float(data["started_at"]),
                generation=int(data["generation"]),
                writer=str(data.get("writer", "")),
                reason=str(data.get("reason", "")),
                pending=tuple(str(p) for p in data.get("pending") or ()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RolloutError(
                f"the rollout record of {data.get('name')!r} is malformed ({exc!r}); delete the "
                "registered-model tag llmreg.rollout.<alias> to start afresh"
            ) from None


class RolloutStore:
    """Reads and writes rollouts, and their history entries, through a register."""

    def __init__(self, register: AliasRegister) -> None:
        self.register = register

    def load(self, name: str, alias: str) -> Rollout | None:
        """Return the rollout recorded for ``name@alias`` (active or ended), or ``None``."""
        raw = self.register.read_model_tags(name).get(rollout_tag(alias))
        if not raw:
            return None
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RolloutError(
                f"the tag {rollout_tag(alias)!r} of {name!r} is not JSON ({exc}); delete it to "
                "start afresh"
            ) from None
        if not isinstance(data, dict):
            raise RolloutError(f"the tag {rollout_tag(alias)!r} of {name!r} is not an object")
        return Rollout.from_dict(data)

    def get(self, name: str, alias: str) -> Rollout:
        """Return the rollout of ``name@alias``.

        Raises:
            RolloutNotFoundError: none is recorded.
        """
        found = self.load(name, alias)
        if found is None:
            raise RolloutNotFoundError(
                f"no rollout is recorded for {name}@{alias}: start one with "
                f"llmreg rollout start {name} --to VERSION"
            )
        return found

    def save(self, rollout: Rollout, *, expect: int) -> Rollout:
        """Write ``rollout`` as generation ``expect + 1``; return what was stored.

        Raises:
            RolloutConflictError: the stored generation is not ``expect``, or another
                writer's record is stored after ours (re-read and decide again).
        """
        current = self.load(rollout.name, rollout.alias)
        stored = current.generation if current is not None else 0
        if stored != expect:
            raise RolloutConflictError(
                f"the rollout of {rollout.name}@{rollout.alias} changed meanwhile (generation "
                f"{stored}, expected {expect}): run the command again"
            )
        new = replace(rollout, generation=expect + 1, writer=uuid.uuid4().hex)
        self.register.set_model_tag(rollout.name, rollout_tag(rollout.alias), _dump(new))
        back = self.load(rollout.name, rollout.alias)
        if back is None or back.writer != new.writer:
            raise RolloutConflictError(
                f"another writer changed the rollout of {rollout.name}@{rollout.alias} at the "
                "same moment; run the command again"
            )
        return new

    def note(self, rollout: Rollout, text: str) -> None:
        """Record ``text`` in the alias history under this generation's marker, once."""
        marker = rollout.marker
        moves = self.register.history(rollout.name, rollout.alias)
        if any(move.note and marker in move.note for move in moves):
            return
        self.register.note_alias(rollout.name, rollout.alias, f"{text} {marker}")

    def finish(self, rollout: Rollout) -> Rollout:
        """Carry out the rollout's pending side effects in order, then clear them.

        ``promote`` points the alias at the candidate (a no-op once it does);
        ``note`` records :attr:`Rollout.reason` in the history (once per generation).
        """
        for effect in rollout.pending:
            if effect == "promote":
                self.register.promote(rollout.name, rollout.to_version, rollout.alias)
            elif effect == "note":
                self.note(rollout, rollout.reason)
        if not rollout.pending:
            return rollout
        return self.save(replace(rollout, pending=()), expect=rollout.generation)

    def transition(self, rollout: Rollout, **changes: Any) -> Rollout:
        """Write ``rollout`` with ``changes`` and a pending history note, then finish it.

        The new state (and what remains to do) is stored before anything else is
        done, so a process killed in between leaves work a restart finishes, never
        a step made twice.
        """
        promoting = changes.get("status") == "promoted"
        effects: tuple[str, ...] = ("promote", "note") if promoting else ("note",)
        stored = self.save(replace(rollout, pending=effects, **changes), expect=rollout.generation)
        return self.finish(stored)

    def resolve_version(self, name: str, ref: str) -> int:
        """Return the version ``ref`` names: a version number, or an alias of ``name``.

        Raises:
            RolloutInputError: no such version or alias.
        """
        refs = self.register.versions(name)
        text = str(ref).strip()
        if text.isdigit():
            if any(r.version == int(text) for r in refs):
                return int(text)
            raise RolloutInputError(
                f"{name!r} has no version {text}: llmreg versions {name} lists them"
            )
        for r in refs:
            if text in r.aliases:
                return r.version
        raise RolloutInputError(
            f"{name!r} has no alias {text!r}: give a version number or an alias that "
            f"llmreg versions {name} shows"
        )


def _dump(rollout: Rollout) -> str:
    return json.dumps(rollout.to_dict(), separators=(",", ":"), sort_keys=True)


__all__ = [
    "ACTIVE",
    "ROLLOUT_TAG_PREFIX",
    "Clock",
    "Rollout",
    "RolloutStore",
    "Status",
    "SystemClock",
    "rollout_tag",
]
