"""The shared state in Redis, through redis-py's asyncio client (``llmreg-gateway[redis]``).

Every admission is checked by :data:`ADMIT_SCRIPT`, which reads the Redis clock,
checks every counter and gauge, and applies them only if all pass, so two replicas
never both take the last unit of a limit. Admissions in flight at once share one
``EVALSHA`` (:class:`~.batch.Batcher`). The writes after a response are
:data:`APPLY_SCRIPT`, batched the same way. Keys are plain (no hash tags): one Redis
(or a primary with replicas), not Redis Cluster.

A connection failure or a timeout raises :class:`~.state.StateUnavailableError` at
once: redis-py's own retries are off, because a request waiting on a dead Redis is
worse than a clear 503 (see the policy in :mod:`llmreg_gateway.controls`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

from llmreg.errors import ConfigError
from llmreg_gateway.controls.batch import Batcher
from llmreg_gateway.controls.state import (
    ADD,
    HADD,
    RELEASE,
    Check,
    Op,
    StateError,
    StateUnavailableError,
    Verdict,
    redacted,
)

# A batch of admissions, each checked and applied in turn (the later see the earlier).
# ARGV: the number of admissions; per admission its lease and number of checks, then
# kind, amount, limit, param per check. KEYS: every check's key, in order. Reply: the
# clock (seconds, microseconds), then per admission the failed index, the number of
# values and the values. The clock is Redis's (TIME): replicas share one window.
ADMIT_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local out = {t[1], t[2]}
local a, k = 2, 0
for _ = 1, tonumber(ARGV[1]) do
  local lease, count = ARGV[a], tonumber(ARGV[a + 1])
  a = a + 2
  local keys, values, failed = {}, {}, -1
  for i = 1, count do
    local b = a + (i - 1) * 4
    local kind = ARGV[b]
    local amount, limit, param = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
    local key = KEYS[k + i]
    local value
    if kind == 'w' then
      key = key .. ':' .. string.format('%d', math.floor(now / param))
      value = tonumber(redis.call('GET', key) or '0')
    elseif kind == 'g' then
      redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
      value = redis.call('ZCARD', key)
    else
      value = tonumber(redis.call('GET', key) or '0')
    end
    keys[i], values[i] = key, value
    local ok
    if kind == 'c' then ok = value < limit
    elseif kind == 'g' then ok = value + 1 <= limit
    else ok = value + amount <= limit end
    if not ok then
      failed = i - 1
      break
    end
  end
  if failed < 0 then
    for i = 1, count do
      local b = a + (i - 1) * 4
      local kind, param = ARGV[b], tonumber(ARGV[b + 3])
      if kind == 'w' then
        redis.call('INCRBYFLOAT', keys[i], ARGV[b + 1])
        redis.call('PEXPIRE', keys[i], math.ceil(param * 2000))
      elseif kind == 'g' then
        redis.call('ZADD', keys[i], now + param, lease)
        redis.call('PEXPIRE', keys[i], math.ceil(param * 1000))
      end
    end
  end
  out[#out + 1] = tostring(failed)
  out[#out + 1] = tostring(#values)
  for i = 1, #values do out[#out + 1] = tostring(values[i]) end
  a, k = a + count * 4, k + count
end
return out
"""

# KEYS: one per op. ARGV: kind, amount, ttl in ms (0: keep), field per op. One command
# instead of a MULTI of many: redis-py parses one reply, not one per queued command.
APPLY_SCRIPT = """
for i = 1, #KEYS do
  local b = (i - 1) * 4
  local kind, key, ttl = ARGV[b + 1], KEYS[i], tonumber(ARGV[b + 3])
  if kind == 'add' then
    redis.call('INCRBYFLOAT', key, ARGV[b + 2])
  elseif kind == 'hadd' then
    redis.call('HINCRBYFLOAT', key, ARGV[b + 4], ARGV[b + 2])
  else
    redis.call('ZREM', key, ARGV[b + 4])
  end
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
end
return #KEYS
"""


def _checked_url(url: str) -> None:
    """Refuse what redis-py would silently ignore or fail on later: a non-integer db,
    unknown query options."""
    parts = urlsplit(url)
    path = parts.path.strip("/")
    query = parse_qs(parts.query)
    if parts.scheme == "unix":
        unknown = set(query) - {"db"}
        db = query.get("db", ["0"])[0]
    else:
        unknown = set(query)
        db = path or "0"
        if not parts.hostname:
            raise ConfigError(f"--state {redacted(url)}: no host; write redis://HOST:PORT/DB")
    if unknown:
        raise ConfigError(
            f"--state {redacted(url)}: unknown option(s) {', '.join(sorted(unknown))}; "
            "write redis://HOST:PORT/DB (or unix:///PATH?db=N)"
        )
    if not db.isdigit():
        raise ConfigError(f"--state {redacted(url)}: the database {db!r} is not a number")
    try:
        parts.port  # noqa: B018 (urlsplit checks the port lazily)
    except ValueError:
        raise ConfigError(f"--state {redacted(url)}: the port is not a number") from None


class RedisState:
    """State in Redis, shared by every process and replica that names the same URL.

    Args:
        client: a ``redis.asyncio.Redis``.
        where: the redacted URL, for messages.
        namespace: the prefix of every key (several gateways can share one Redis).
    """

    kind = "redis"

    def __init__(self, client: Any, where: str, namespace: str = "llmreg") -> None:
        self._client = client
        self._where = where
        self._ns = namespace + ":"
        self._admit = client.register_script(ADMIT_SCRIPT)
        self._apply = client.register_script(APPLY_SCRIPT)
        self._admits: Batcher[tuple[Sequence[Check], str], Verdict] = Batcher(self._admit_batch)
        self._applies: Batcher[Sequence[Op], None] = Batcher(self._apply_batch)

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 0.5, namespace: str = "llmreg") -> RedisState:
        """Connect (lazily) to the Redis at ``url``.

        Raises:
            ConfigError: redis-py is missing, or the URL is malformed.
        """
        try:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
        except ImportError:
            raise ConfigError(
                f"--state {redacted(url)}: Redis state needs redis-py; "
                "pip install 'llmreg-gateway[redis]'"
            ) from None
        _checked_url(url)
        try:
            client = Redis.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:
            raise ConfigError(f"--state {redacted(url)}: {exc}") from None
        return cls(client, redacted(url), namespace)

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        from redis.exceptions import ConnectionError, RedisError, TimeoutError

        try:
            yield
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise StateUnavailableError(
                f"Redis at {self._where} did not answer ({what}): {type(exc).__name__}: {exc}"
            ) from None
        except RedisError as exc:
            raise StateError(
                f"Redis at {self._where} refused {what}: {type(exc).__name__}: {exc}"
            ) from None

    async def admit(self, checks: Sequence[Check], lease: str) -> Verdict:
        """See :meth:`.state.StateBackend.admit` (admissions in flight share one call)."""
        return await self._admits.submit((checks, lease))

    async def _admit_batch(self, batch: list[tuple[Sequence[Check], str]]) -> list[Verdict]:
        keys: list[str] = []
        args: list[str | float] = [len(batch)]
        for checks, lease in batch:
            args += (lease, len(checks))
            for c in checks:
                keys.append(self._ns + c.key)
                args += (c.kind, c.amount, c.limit, c.param)
        with self._errors("an admission"):
            reply = await self._admit(keys=keys, args=args)
        try:
            now = int(reply[0]) + int(reply[1]) / 1_000_000
            verdicts, at = [], 2
            for _ in batch:
                failed, count = int(reply[at]), int(reply[at + 1])
                values = tuple(float(v) for v in reply[at + 2 : at + 2 + count])
                verdicts.append(Verdict(now, failed, values))
                at += 2 + count
            return verdicts
        except (IndexError, TypeError, ValueError):
            raise StateError(f"Redis at {self._where}: malformed admission reply") from None

    async def apply(self, ops: Sequence[Op]) -> None:
        """See :meth:`.state.StateBackend.apply` (settlements in flight share one call)."""
        for op in ops:
            if op.kind not in (ADD, HADD, RELEASE):
                raise StateError(f"unknown state op {op.kind!r}")
        if ops:
            await self._applies.submit(ops)

    async def _apply_batch(self, batch: list[Sequence[Op]]) -> list[None]:
        keys: list[str] = []
        args: list[str | float] = []
        for ops in batch:
            for op in ops:
                keys.append(self._ns + op.key)
                args += (op.kind, op.amount, int(op.ttl * 1000), op.field)
        with self._errors("a settlement"):
            await self._apply(keys=keys, args=args)
        return [None] * len(batch)

    async def read(self, keys: Sequence[str]) -> list[float]:
        """See :meth:`.state.StateBackend.read`."""
        if not keys:
            return []
        with self._errors("a read"):
            values = await self._client.mget([self._ns + k for k in keys])
        return [float(v) if v is not None else 0.0 for v in values]

    async def get(self, key: str) -> bytes | None:
        """See :meth:`.state.StateBackend.get`."""
        with self._errors("a cache read"):
            value = await self._client.get(self._ns + key)
        return bytes(value) if value is not None else None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """See :meth:`.state.StateBackend.set`."""
        with self._errors("a cache write"):
            await self._client.set(self._ns + key, value, px=int(ttl * 1000) if ttl else None)

    async def table_put(self, table: str, field: str, value: bytes) -> int:
        """See :meth:`.state.StateBackend.table_put`."""
        pipe = self._client.pipeline(transaction=True)
        pipe.hset(self._ns + table, field, value)
        pipe.incr(self._ns + table + ":rev")
        with self._errors("a key-table write"):
            result = await pipe.execute()
        return int(result[1])

    async def table_all(self, table: str) -> tuple[int, dict[str, bytes]]:
        """See :meth:`.state.StateBackend.table_all`."""
        pipe = self._client.pipeline(transaction=True)
        pipe.get(self._ns + table + ":rev")
        pipe.hgetall(self._ns + table)
        with self._errors("a key-table read"):
            revision, contents = await pipe.execute()
        return int(revision or 0), {k.decode(): bytes(v) for k, v in contents.items()}

    async def revision(self, table: str) -> int:
        """See :meth:`.state.StateBackend.revision`."""
        with self._errors("a key-table revision read"):
            value = await self._client.get(self._ns + table + ":rev")
        return int(value or 0)

    async def hash_all(self, key: str) -> dict[str, float]:
        """See :meth:`.state.StateBackend.hash_all`."""
        with self._errors("a usage read"):
            contents = await self._client.hgetall(self._ns + key)
        return {k.decode(): float(v) for k, v in contents.items()}

    async def ping(self) -> None:
        """See :meth:`.state.StateBackend.ping`."""
        with self._errors("a ping"):
            await self._client.ping()

    async def close(self) -> None:
        """See :meth:`.state.StateBackend.close`."""
        await self._client.aclose()


__all__ = ["ADMIT_SCRIPT", "APPLY_SCRIPT", "RedisState"]
