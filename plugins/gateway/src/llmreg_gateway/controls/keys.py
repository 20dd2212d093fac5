"""Keys managed at run time: created, listed, revoked and rotated without a restart.

A managed key is a record in the state's ``keys`` table (field: the key id): its
label, creation and expiry times, model scopes, limits and budget, and the sha256
of its secret, never the secret. The secret (``sk-llmreg-`` and 43 url-safe
characters) is returned once, by :meth:`KeyStore.create` and :meth:`KeyStore.rotate`.
The id stays the same through rotations, so limits, spend and usage follow the key.

:class:`ManagedKeyRing` answers "which key is this bearer" from a local copy of the
table, re-read when the table's revision moves; it reads the revision at most every
``refresh`` seconds (default 1), so a revocation on any replica is seen within
``refresh`` plus one round trip.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from llmreg.errors import ConfigError, LlmregError
from llmreg_gateway.auth import ApiKey, key_hash
from llmreg_gateway.controls.budgets import Budget
from llmreg_gateway.controls.limits import NO_LIMITS, Limits
from llmreg_gateway.controls.state import StateBackend

#: Every managed secret starts so: the app asks the managed ring only about these.
SECRET_PREFIX = "sk-llmreg-"  # noqa: S105 (a prefix, not a secret)
#: The state table of managed keys.
TABLE = "keys"


class KeyNotFoundError(LlmregError, LookupError):
    """No managed key has this id."""


@dataclass(frozen=True)
class ManagedKey(ApiKey):
    """A managed key: an :class:`~llmreg_gateway.auth.ApiKey` (hash and model scopes)
    with an id that survives rotation, a label, times, limits and a budget.

    Attributes:
        key_id: the stable id (``key-`` and 12 hex digits), in logs and admin routes.
        label: who or what the key is for.
        created: creation time (epoch seconds).
        expires: expiry time (epoch seconds), or ``None``.
        revoked: revocation time, or ``None``.
        limits: the key's rate limits.
        budget: the key's budget, or ``None``.
    """

    key_id: str = ""
    label: str = ""
    created: float = 0.0
    expires: float | None = None
    revoked: float | None = None
    limits: Limits = field(default=NO_LIMITS)
    budget: Budget | None = None

    @property
    def id(self) -> str:
        """The key's stable id."""
        return self.key_id

    def active(self, now: float) -> bool:
        """Whether the key is neither revoked nor expired at ``now``."""
        return self.revoked is None and (self.expires is None or now < self.expires)

    def to_json(self) -> dict[str, Any]:
        """The record as stored and as the admin API shows it (the hash, never a secret)."""
        return {
            "id": self.key_id,
            "label": self.label,
            "sha256": self.digest,
            "created": self.created,
            "expires": self.expires,
            "revoked": self.revoked,
            "models": sorted(self.models) if self.models is not None else None,
            "limits": self.limits.as_dict(),
            "budget": self.budget.as_dict() if self.budget else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ManagedKey:
        """Read a stored record.

        Raises:
            ConfigError: the record is malformed.
        """
        where = f"managed key {data.get('id')!r}"
        try:
            models = data["models"]
            return cls(
                digest=str(data["sha256"]),
                models=frozenset(models) if models is not None else None,
                key_id=str(data["id"]),
                label=str(data["label"]),
                created=float(data["created"]),
                expires=None if data["expires"] is None else float(data["expires"]),
                revoked=None if data["revoked"] is None else float(data["revoked"]),
                limits=Limits.parse(data["limits"], where),
                budget=Budget.parse(data["budget"], where),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: malformed record in the key table ({exc})") from None


def new_secret() -> str:
    """A new secret: :data:`SECRET_PREFIX` and 32 random bytes, url-safe."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _scopes(models: Iterable[str] | None) -> frozenset[str] | None:
    if models is None:
        return None
    names = frozenset(models)
    if not names or any(not isinstance(n, str) or not n.strip() for n in names):
        raise ConfigError("models: give model names (or URIs), or no models for every model")
    return names


class KeyStore:
    """Create, list, get, revoke and rotate managed keys in a state backend."""

    def __init__(self, state: StateBackend, clock: Any = time.time) -> None:
        self.state = state
        self._clock = clock

    async def _put(self, key: ManagedKey) -> None:
        await self.state.table_put(TABLE, key.key_id, json.dumps(key.to_json()).encode())

    async def create(
        self,
        label: str,
        *,
        expires: float | None = None,
        models: Sequence[str] | None = None,
        limits: Limits = NO_LIMITS,
        budget: Budget | None = None,
    ) -> tuple[ManagedKey, str]:
        """Create a key; return it and its secret (shown this once, stored nowhere).

        Raises:
            ConfigError: an empty or over-long label, an expiry in the past, or empty
                model names; nothing is written then.
        """
        now = self._clock()
        if not label.strip() or len(label) > 200:
            raise ConfigError("label: give a label of 1 to 200 characters (who the key is for)")
        if expires is not None and expires <= now:
            raise ConfigError("expires: the expiry is in the past")
        secret = new_secret()
        key = ManagedKey(
            digest=key_hash(secret),
            models=_scopes(models),
            key_id="key-" + secrets.token_hex(6),
            label=label.strip(),
            created=now,
            expires=expires,
            limits=limits,
            budget=budget,
        )
        await self._put(key)
        return key, secret

    async def list(self) -> list[ManagedKey]:
        """Every managed key, revoked ones too, oldest first."""
        _, table = await self.state.table_all(TABLE)
        keys = [ManagedKey.from_json(json.loads(v)) for v in table.values()]
        return sorted(keys, key=lambda k: (k.created, k.key_id))

    async def get(self, key_id: str) -> ManagedKey:
        """The key ``key_id``.

        Raises:
            KeyNotFoundError: no managed key has this id.
        """
        for key in await self.list():
            if key.key_id == key_id:
                return key
        raise KeyNotFoundError(f"no managed key has the id {key_id!r}; see llmreg keys list")

    async def revoke(self, key_id: str) -> ManagedKey:
        """Revoke ``key_id`` (kept, marked revoked, for the usage report); idempotent.

        Raises:
            KeyNotFoundError: no managed key has this id.
        """
        key = await self.get(key_id)
        if key.revoked is None:
            key = replace(key, revoked=self._clock())
            await self._put(key)
        return key

    async def rotate(self, key_id: str) -> tuple[ManagedKey, str]:
        """Give ``key_id`` a new secret (the old one stops working); return it once.

        Raises:
            KeyNotFoundError: no managed key has this id.
            ConfigError: the key is revoked or expired.
        """
        key = await self.get(key_id)
        if not key.active(self._clock()):
            raise ConfigError(f"key {key_id} is revoked or expired; create a new key instead")
        secret = new_secret()
        key = replace(key, digest=key_hash(secret))
        await self._put(key)
        return key, secret


class ManagedKeyRing:
    """Which managed key a bearer token is, from a local copy of the key table.

    Lookup is a dict lookup by the token's sha256 (an attacker cannot steer a
    digest, so the lookup's timing says nothing about stored keys).

    Args:
        state: the state holding the key table.
        refresh: seconds between two reads of the table's revision.
    """

    def __init__(self, state: StateBackend, refresh: float = 1.0) -> None:
        self.state = state
        self.refresh = refresh
        self._by_digest: dict[str, ManagedKey] = {}
        self._revision = -1
        self._checked = -float("inf")
        self._lock = asyncio.Lock()

    async def _sync(self) -> None:
        async with self._lock:
            if time.monotonic() - self._checked < self.refresh:
                return  # another request refreshed while this one waited
            if await self.state.revision(TABLE) != self._revision:
                revision, table = await self.state.table_all(TABLE)
                keys = [ManagedKey.from_json(json.loads(v)) for v in table.values()]
                self._by_digest = {k.digest: k for k in keys if k.revoked is None}
                self._revision = revision
            self._checked = time.monotonic()

    async def identify(self, authorization: str | None) -> ManagedKey | None:
        """The active managed key of ``Authorization: Bearer sk-llmreg-...``, else ``None``.

        Raises:
            StateUnavailableError: the table's revision cannot be read (fail closed:
                a revocation may not be seen).
        """
        if not authorization or authorization[:7].lower() != "bearer ":
            return None
        token = authorization[7:].strip()
        if not token.startswith(SECRET_PREFIX):
            return None
        if time.monotonic() - self._checked >= self.refresh:
            await self._sync()
        key = self._by_digest.get(key_hash(token))
        return key if key is not None and key.active(time.time()) else None


__all__ = [
    "SECRET_PREFIX",
    "TABLE",
    "KeyNotFoundError",
    "KeyStore",
    "ManagedKey",
    "ManagedKeyRing",
    "new_secret",
]
