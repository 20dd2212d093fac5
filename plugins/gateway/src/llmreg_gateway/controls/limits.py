"""Rate limits: requests per minute, tokens per minute and concurrent requests.

Limits apply per key and per model, and are checked before the upstream is called:
:meth:`Limiter.checks` turns them into :class:`~.state.Check` s that the state backend
checks and applies at once. A request counts its estimated tokens
(:func:`estimate_tokens`: ``max_tokens`` plus about a token per four characters of
prompt); :meth:`Limiter.corrections` replaces the estimate with the actual usage
afterwards. Windows are fixed minutes of the state's clock (as LiteLLM's and Envoy's
limiters do), so a refusal's ``Retry-After`` is the time to the next minute.

A refusal is a :class:`RateLimitError` (HTTP 429, OpenAI's body and headers); every
admission carries OpenAI's ``x-ratelimit-*`` header values (:class:`RateHeaders`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmreg.errors import ConfigError
from llmreg_gateway.controls.state import ADD, GAUGE, RELEASE, WINDOW, Check, Op, window_key
from llmreg_gateway.errors import ApiError

#: The window of rpm and tpm limits, in seconds.
MINUTE = 60.0
#: Seconds a concurrency lease lives if its request never settles (a crashed worker).
LEASE_TTL = 600.0
#: The output tokens counted for a request without ``max_tokens``.
DEFAULT_MAX_TOKENS = 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits of one key or one model; ``None`` is no limit.

    Attributes:
        rpm: requests per minute.
        tpm: tokens (prompt + completion) per minute.
        concurrent: requests in flight at once.
    """

    rpm: int | None = None
    tpm: int | None = None
    concurrent: int | None = None

    def __bool__(self) -> bool:
        return self.rpm is not None or self.tpm is not None or self.concurrent is not None

    @classmethod
    def parse(cls, value: Any, where: str) -> Limits:
        """Read ``{"rpm": N, "tpm": N, "concurrent": N}`` (each optional) strictly.

        Raises:
            ConfigError: not a mapping, an unknown field, or a value that is not an
                integer >= 1 (``null`` is no limit).
        """
        if value is None:
            return cls()
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: limits must be an object such as {{'rpm': 60}}")
        unknown = set(value) - {"rpm", "tpm", "concurrent"}
        if unknown:
            raise ConfigError(
                f"{where}: unknown limit(s) {', '.join(sorted(map(str, unknown)))}; "
                "known: rpm, tpm, concurrent"
            )
        for name, number in value.items():
            if number is not None and (
                isinstance(number, bool) or not isinstance(number, int) or number < 1
            ):
                raise ConfigError(f"{where}: {name} must be an integer >= 1, not {number!r}")
        return cls(value.get("rpm"), value.get("tpm"), value.get("concurrent"))

    def as_dict(self) -> dict[str, int]:
        """The set limits, for JSON."""
        pairs = (("rpm", self.rpm), ("tpm", self.tpm), ("concurrent", self.concurrent))
        return {k: v for k, v in pairs if v is not None}


NO_LIMITS = Limits()


def estimate_tokens(body: Mapping[str, Any], default_max_tokens: int = DEFAULT_MAX_TOKENS) -> int:
    """Estimate a chat request's tokens before it runs: output bound plus prompt guess.

    The output bound is ``max_completion_tokens`` or ``max_tokens`` (times ``n``), else
    ``default_max_tokens``; the prompt counts one token per four characters of text,
    plus four per message. Settling replaces the guess with the actual usage.
    """
    out = body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens
    n = body.get("n") or 1
    chars = 0
    messages = body.get("messages")
    count = 0
    if isinstance(messages, list):
        count = len(messages)
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                chars += len(content)
            elif isinstance(content, list):
                for part in content:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        chars += len(part["text"])
    if not isinstance(out, int) or isinstance(out, bool) or out < 0:
        out = default_max_tokens
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        n = 1
    return out * n + -(-chars // 4) + 4 * count


def duration(seconds: float) -> str:
    """Format a reset time as OpenAI does: ``12ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    if round(seconds, 3) < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest}s"


@dataclass(slots=True)
class RateHeaders:
    """OpenAI's ``x-ratelimit-*`` values of one admission (the tightest scope's).

    ``None`` where no such limit applies; the header is then left out.
    """

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens: float | None = None

    def items(self) -> list[tuple[str, str]]:
        """The headers, as (name, value) pairs."""
        out: list[tuple[str, str]] = []
        if self.limit_requests is not None:
            out += [
                ("x-ratelimit-limit-requests", str(self.limit_requests)),
                ("x-ratelimit-remaining-requests", str(self.remaining_requests)),
                ("x-ratelimit-reset-requests", duration(self.reset_requests or 0.0)),
            ]
        if self.limit_tokens is not None:
            out += [
                ("x-ratelimit-limit-tokens", str(self.limit_tokens)),
                ("x-ratelimit-remaining-tokens", str(self.remaining_tokens)),
                ("x-ratelimit-reset-tokens", duration(self.reset_tokens or 0.0)),
            ]
        return out


class RateLimitError(ApiError):
    """HTTP 429: a limit is reached. OpenAI's body (``rate_limit_exceeded``) and headers.

    Attributes:
        retry_after: whole seconds until the limit has room again.
        headers: ``Retry-After`` and the ``x-ratelimit-*`` headers, to send with the body.
    """

    def __init__(
        self,
        message: str,
        retry_after: float,
        headers: Sequence[tuple[str, str]] = (),
        *,
        type: str = "rate_limit_exceeded",
        code: str = "rate_limit_exceeded",
    ) -> None:
        super().__init__(429, message, type=type, code=code)
        self.retry_after = max(1, math.ceil(retry_after))
        self.headers = [("retry-after", str(self.retry_after)), *headers]


#: Which limit a check is, for messages: (scope, unit).
_UNITS = {
    "rpm": "requests per minute",
    "tpm": "tokens per minute",
    "concurrent": "requests at once",
}


class Limiter:
    """Turns the limits of a key and a model into state checks, and usage into corrections.

    Args:
        models: limits per model name (the ``model`` of the request as served).
        lease_ttl: seconds a concurrency lease outlives a request that never settled.
    """

    def __init__(
        self, models: Mapping[str, Limits] | None = None, lease_ttl: float = LEASE_TTL
    ) -> None:
        self.models = dict(models or {})
        self.lease_ttl = lease_ttl
        #: The models with a tpm limit (only their requests need a token estimate).
        self.tpm_models = frozenset(m for m, lim in self.models.items() if lim.tpm is not None)

    def checks(
        self, key_id: str, key: Limits, model: str, tokens: int, out: list[Check]
    ) -> list[str]:
        """Append the checks of ``key``'s and ``model``'s limits to ``out``.

        Returns each appended check's label (``key rpm`` ...), for the refusal message.
        """
        labels: list[str] = []
        for scope, limits in (("key", key), ("model", self.models.get(model, NO_LIMITS))):
            if not limits:
                continue
            base = f"rl:{scope}:{key_id if scope == 'key' else model}"
            if limits.rpm is not None:
                out.append(Check(WINDOW, base + ":r", 1, limits.rpm, MINUTE))
                labels.append(f"{scope} rpm")
            if limits.tpm is not None:
                out.append(Check(WINDOW, base + ":t", tokens, limits.tpm, MINUTE))
                labels.append(f"{scope} tpm")
            if limits.concurrent is not None:
                out.append(Check(GAUGE, base + ":c", 1, limits.concurrent, self.lease_ttl))
                labels.append(f"{scope} concurrent")
        return labels

    @staticmethod
    def refusal(label: str, check: Check, value: float, now: float, where: str) -> RateLimitError:
        """The 429 for ``check`` (labelled ``label``) failing at ``value``."""
        scope, _, kind = label.partition(" ")
        if check.kind == GAUGE:
            retry = 1.0
            detail = f"Limit {int(check.limit)}, in flight {int(value)}"
        else:
            retry = MINUTE - now % MINUTE
            detail = f"Limit {int(check.limit)}, Used {int(value)}, Requested {int(check.amount)}"
        message = (
            f"Rate limit reached for {where} on {_UNITS[kind]} ({scope} limit): {detail}. "
            f"Please try again in {duration(retry)}."
        )
        return RateLimitError(
            message, retry, headers_of([check], [value], now, applied=False).items()
        )

    @staticmethod
    def corrections(
        checks: list[Check], now: float, estimate: int, actual: int | None, lease: str
    ) -> list[Op]:
        """The ops that settle an admission: tpm windows get ``actual - estimate``
        (all of the estimate back when ``actual`` is ``None``), gauges release the lease."""
        ops = []
        for check in checks:
            if check.kind == GAUGE:
                ops.append(Op(RELEASE, check.key, field=lease))
            elif check.key.endswith(":t") and check.key.startswith("rl:"):
                delta = (actual or 0) - estimate
                if delta:
                    ops.append(Op(ADD, window_key(check.key, check.param, now), delta))
        return ops


def headers_of(
    checks: list[Check], values: list[float] | tuple[float, ...], now: float, applied: bool = True
) -> RateHeaders:
    """The ``x-ratelimit-*`` values of the tightest rpm and tpm windows among ``checks``.

    ``values`` are the windows' values before this request; ``applied`` counts it in.
    """
    headers = RateHeaders()
    reset = MINUTE - now % MINUTE
    for check, value in zip(checks, values, strict=False):
        if check.kind != WINDOW or not check.key.startswith("rl:"):
            continue
        used = value + check.amount if applied else value
        remaining = max(0, int(check.limit - used))
        if check.key.endswith(":r"):
            if headers.remaining_requests is None or remaining < headers.remaining_requests:
                headers.limit_requests, headers.remaining_requests = int(check.limit), remaining
                headers.reset_requests = reset
        elif headers.remaining_tokens is None or remaining < headers.remaining_tokens:
            headers.limit_tokens, headers.remaining_tokens = int(check.limit), remaining
            headers.reset_tokens = reset
    return headers


__all__ = [
    "DEFAULT_MAX_TOKENS",
    "LEASE_TTL",
    "MINUTE",
    "NO_LIMITS",
    "Limiter",
    "Limits",
    "RateHeaders",
    "RateLimitError",
    "duration",
    "estimate_tokens",
    "headers_of",
]
