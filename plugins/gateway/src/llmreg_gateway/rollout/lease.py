"""The controller's lease: exactly one controller acts on a rollout, through the registry.

The lease is the registered-model tag ``llmreg.rollout_lease.<alias>``:
``{"holder", "expires", "generation"}``. The registry offers last-writer-wins tags
and no compare-and-set, so taking the lease follows Fischer's mutual exclusion:
read it; if it is free, stale or ours, write ourselves as holder with the next
generation; wait ``settle`` seconds; read again, and hold it only if our write is
the one stored. Two contenders that both read a free lease both write, but each
confirms after the other's write landed, so only the last writer holds it. This
assumes a contender's read-to-write gap is shorter than ``settle`` (milliseconds
against the registry; ``settle`` defaults to 1 s).

The holder renews before half the term is left; a lease past its expiry is
taken over by the next contender.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmreg.bases import AliasRegister
    from llmreg_gateway.rollout.state import Clock

#: The registered-model tag that holds the controller lease of alias ``<alias>``.
LEASE_TAG_PREFIX = "llmreg.rollout_lease."


def lease_tag(alias: str) -> str:
    """Return the registered-model tag key of the lease of ``alias``."""
    return f"{LEASE_TAG_PREFIX}{alias}"


def new_holder_id() -> str:
    """Return a holder id naming this process: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class LeaseRecord:
    """The lease as stored: who holds it, until when, and its generation."""

    holder: str
    expires: float
    generation: int

    def dumps(self) -> str:
        """Return the JSON stored in the tag."""
        return json.dumps(
            {"holder": self.holder, "expires": self.expires, "generation": self.generation},
            separators=(",", ":"),
        )

    @classmethod
    def parse(cls, raw: str | None) -> LeaseRecord | None:
        """Return the stored lease, or ``None`` when absent or unreadable (treated as free)."""
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return cls(str(data["holder"]), float(data["expires"]), int(data["generation"]))
        except (ValueError, KeyError, TypeError):
            return None


class Lease:
    """One contender for the controller lease of ``name@alias``.

    Args:
        register: the register whose model tags hold the lease.
        name: the registered model.
        alias: the alias under rollout.
        clock: the time source (and the wait of the settle delay).
        holder: this contender's id (default: host, pid and a random part).
        ttl: the lease term, in seconds.
        settle: the wait between writing the lease and confirming it, in seconds.
    """

    def __init__(
        self,
        register: AliasRegister,
        name: str,
        alias: str,
        clock: Clock,
        *,
        holder: str | None = None,
        ttl: float = 30.0,
        settle: float = 1.0,
    ) -> None:
        self.register = register
        self.name = name
        self.alias = alias
        self.clock = clock
        self.holder = holder or new_holder_id()
        self.ttl = ttl
        self.settle = settle

    def read(self) -> LeaseRecord | None:
        """Return the lease as stored now."""
        tags = self.register.read_model_tags(self.name)
        return LeaseRecord.parse(tags.get(lease_tag(self.alias)))

    def acquire(self) -> bool:
        """Hold the lease (take it, renew it, or take over a stale one); return whether held.

        A holder with more than half its term left holds it without writing.
        """
        now = self.clock.now()
        current = self.read()
        mine = current is not None and current.holder == self.holder
        if current is not None and not mine and current.expires > now:
            return False  # another live holder
        if mine and current is not None and current.expires - now > self.ttl / 2:
            return True
        generation = (current.generation if current is not None else 0) + 1
        wanted = LeaseRecord(self.holder, now + self.ttl, generation)
        self.register.set_model_tag(self.name, lease_tag(self.alias), wanted.dumps())
        if not (mine and current is not None and current.expires > now):
            # renewing a live lease needs no settle: no contender writes over it
            self.clock.sleep(self.settle)
        return self.read() == wanted

    def release(self) -> None:
        """Give the lease up if this contender holds it (a clean shutdown)."""
        current = self.read()
        if current is not None and current.holder == self.holder:
            expired = LeaseRecord(self.holder, 0.0, current.generation)
            self.register.set_model_tag(self.name, lease_tag(self.alias), expired.dumps())


__all__ = ["LEASE_TAG_PREFIX", "Lease", "LeaseRecord", "lease_tag", "new_holder_id"]
