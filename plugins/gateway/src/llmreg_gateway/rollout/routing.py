"""Routing a request to an arm: a stable hash of the sticky key against the canary's weight.

The arm of a key is ``sha256(rollout id + "\\0" + key)``'s first 8 bytes, read as an
integer below 2**64, compared with ``weight / 100 * 2**64``: the same key gets
the same arm on every replica and after restarts (no per-process salt, unlike
Python's ``hash``), and a key on the canary at 5% stays on it at 25%, since the
threshold only grows. A request without a sticky key gets a random arm.

This module is the request path's one interface to rollouts: a replica keeps a
:class:`RolloutRouter`, refreshes it from the registry every few seconds
(:meth:`RolloutRouter.refresh`), and asks :meth:`RolloutRouter.route` for every
request. Everything a request needs (threshold, hash prefix, the two
:class:`ArmChoice` answers with their header and fingerprint) is computed once
per refresh; a request costs one dict lookup and, with a rollout, one sha256.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmreg_gateway.rollout.state import Rollout, RolloutStore
    from llmreg_gateway.rollout.stats import Arm

#: The response header naming the arm: ``canary; version=4; rollout=<id>``.
ARM_HEADER = "x-llmreg-arm"
_SPACE = 1 << 64


@dataclass(frozen=True, slots=True)
class ArmChoice:
    """Where one request goes, and how the response names it.

    Attributes:
        rollout_id: the rollout (the stats sink's key, with ``step``).
        step: the step the split belongs to.
        arm: ``stable`` or ``canary``.
        version: the registered version that answers.
        model_uri: ``models:/<name>/<version>``: what the gateway loads for this arm.
        header: the value of :data:`ARM_HEADER`.
        fingerprint: the response's ``system_fingerprint``.
    """

    rollout_id: str
    step: int
    arm: Arm
    version: int
    model_uri: str
    header: str
    fingerprint: str


def _choice(rollout: Rollout, arm: Arm) -> ArmChoice:
    version = rollout.to_version if arm == "canary" else rollout.from_version
    return ArmChoice(
        rollout_id=rollout.id,
        step=rollout.step,
        arm=arm,
        version=version,
        model_uri=f"models:/{rollout.name}/{version}",
        header=f"{arm}; version={version}; rollout={rollout.id}",
        fingerprint=f"llmreg-{rollout.name}-v{version}-{arm}",
    )


class Split:
    """The precomputed split of one active rollout."""

    __slots__ = ("_base", "_threshold", "canary", "rollout", "stable")

    def __init__(self, rollout: Rollout) -> None:
        self.rollout = rollout
        self._threshold = rollout.weight * _SPACE // 100
        self._base = hashlib.sha256(rollout.id.encode() + b"\0")
        self.stable = _choice(rollout, "stable")
        self.canary = _choice(rollout, "canary")

    def bucket(self, key: str) -> int:
        """Return the key's position in ``[0, 2**64)`` (the same everywhere, always)."""
        digest = self._base.copy()
        digest.update(key.encode())
        return int.from_bytes(digest.digest()[:8], "big")

    def choose(self, key: str | None) -> ArmChoice:
        """Return the arm of ``key``; a random one when the request has no key."""
        # a keyless request is not sticky: any arm, at the split's odds
        position = random.getrandbits(64) if key is None else self.bucket(key)
        return self.canary if position < self._threshold else self.stable


def sticky_key(
    sticky_by: str,
    *,
    key_id: str | None = None,
    user: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> str | None:
    """Return the request's sticky key for a rollout's ``sticky_by``, or ``None``.

    Args:
        sticky_by: ``key``, ``user`` or ``header:<lower-case name>``.
        key_id: the id of the caller's API key (never the secret itself).
        user: the request body's ``user`` field.
        headers: the request headers, with lower-case names.
    """
    if sticky_by == "key":
        return key_id
    if sticky_by == "user":
        return user or None
    if headers is not None and sticky_by.startswith("header:"):
        return headers.get(sticky_by[7:]) or None
    return None


class RolloutRouter:
    """The arms of every active rollout a replica serves, by ``(name, alias)``.

    The gateway asks :meth:`route` for each request to ``NAME`` or ``NAME@ALIAS``;
    ``None`` means no rollout is active there (serve the alias as before).
    """

    def __init__(self) -> None:
        self._splits: dict[tuple[str, str], Split] = {}

    def __len__(self) -> int:
        """How many rollouts are active (0: the request path skips the router)."""
        return len(self._splits)

    def update(self, rollouts: Iterable[Rollout]) -> None:
        """Replace the table with the active ones of ``rollouts`` (one atomic swap)."""
        table: dict[tuple[str, str], Split] = {}
        for rollout in rollouts:
            if rollout.active:
                known = self._splits.get((rollout.name, rollout.alias))
                same = known is not None and known.rollout == rollout
                table[(rollout.name, rollout.alias)] = known if same and known else Split(rollout)
        self._splits = table

    def refresh(self, store: RolloutStore, names: Iterable[str], alias: str = "champion") -> None:
        """Read the rollouts of ``names`` from the registry and :meth:`update` the table."""
        found = [store.load(name, alias) for name in names]
        self.update(r for r in found if r is not None)

    def split(self, name: str, alias: str = "champion") -> Split | None:
        """Return the split of ``name@alias``, or ``None`` with no active rollout."""
        return self._splits.get((name, alias))

    def route_request(
        self,
        name: str,
        alias: str,
        *,
        key_id: str | None = None,
        user: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ArmChoice | None:
        """The request path's one call: the arm of a request for ``name@alias``, or ``None``.

        The sticky key is taken as the rollout's ``sticky_by`` says (see
        :func:`sticky_key`): ``key_id`` is the caller's API key id (never the secret),
        ``user`` the body's ``user`` field, ``headers`` the request headers with
        lower-case names. With no rollout active there, one dict lookup and ``None``.
        """
        found = self._splits.get((name, alias))
        if found is None:
            return None
        sticky = sticky_key(found.rollout.sticky_by, key_id=key_id, user=user, headers=headers)
        return found.choose(sticky)

    def route(self, name: str, alias: str, key: str | None) -> ArmChoice | None:
        """Return the arm of a request for ``name@alias`` with sticky ``key``, or ``None``."""
        found = self._splits.get((name, alias))
        return None if found is None else found.choose(key)


__all__ = ["ARM_HEADER", "ArmChoice", "RolloutRouter", "Split", "sticky_key"]
