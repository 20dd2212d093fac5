"""The shared state in Redis, through redis-py's asyncio client (``llmreg-gateway[redis]``).

Every admission is one ``EVALSHA`` of :data:`ADMIT_SCRIPT`, which reads the Redis
clock, checks every counter and gauge, and applies them only if all pass, so two
replicas never both take the last unit of a limit. The writes after a response go
in one ``MULTI``. Keys are plain (no hash tags): one Redis (or a primary with
replicas), not Redis Cluster.

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

# KEYS: one per check. ARGV[1]: the lease; then kind, amount, limit, param per check.
# The clock is Redis's (TIME), so replicas with skewed clocks share one window.
ADMIT_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local out = {t[1], t[2], '-1'}
local keys = {}
for i = 1, #KEYS do
  local b = 1 + (i - 1) * 4
  local kind = ARGV[b + 1]
  local amount = tonumber(ARGV[b + 2])
  local limit = tonumber(ARGV[b + 3])
  local param = tonumber(ARGV[b + 4])
  local key = KEYS[i]
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
  keys[i] = key
  out[#out + 1] = tostring(value)
  local ok
  if kind == 'c' then ok = value < limit
  elseif kind == 'g' then ok = value + 1 <= limit
  else ok = value + amount <= limit end
  if not ok then
    out[3] = tostring(i - 1)
    return out
  end
end
for i = 1, #KEYS do
  local b = 1 + (i - 1) * 4
  local kind = ARGV[b + 1]
  local param = tonumber(ARGV[b + 4])
  if kind == 'w' then
    redis.call('INCRBYFLOAT', keys[i], ARGV[b + 2])
    redis.call('PEXPIRE', keys[i], math.ceil(param * 2000))
  elseif kind == 'g' then
    redis.call('ZADD', keys[i], now + param, ARGV[1])
    redis.call('PEXPIRE', keys[i], math.ceil(param * 1000))
  end
end
return out
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
        """See :meth:`.state.StateBackend.admit`."""
        keys = [self._ns + c.key for c in checks]
        args: list[str | float] = [lease]
        for c in checks:
            args += (c.kind, c.amount, c.limit, c.param)
        with self._errors("an admission"):
            reply = await self._admit(keys=keys, args=args)
        try:
            now = int(reply[0]) + int(reply[1]) / 1_000_000
            return Verdict(now, int(reply[2]), tuple(float(v) for v in reply[3:]))
        except (IndexError, TypeError, ValueError):
            raise StateError(f"Redis at {self._where}: malformed admission reply") from None

    async def apply(self, ops: Sequence[Op]) -> None:
        """See :meth:`.state.StateBackend.apply`."""
        if not ops:
            return
        pipe = self._client.pipeline(transaction=True)
        for op in ops:
            key = self._ns + op.key
            if op.kind == ADD:
                pipe.incrbyfloat(key, op.amount)
            elif op.kind == HADD:
                pipe.hincrbyfloat(key, op.field, op.amount)
            elif op.kind == RELEASE:
                pipe.zrem(key, op.field)
                continue
            else:
                raise StateError(f"unknown state op {op.kind!r}")
            if op.ttl:
                pipe.pexpire(key, int(op.ttl * 1000))
        with self._errors("a settlement"):
            await pipe.execute()

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


__all__ = ["ADMIT_SCRIPT", "RedisState"]
