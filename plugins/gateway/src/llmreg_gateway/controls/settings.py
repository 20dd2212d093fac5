"""The settings of the controls: what ``llmreg serve`` options and app arguments set."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmreg.errors import ConfigError
from llmreg_gateway.controls.budgets import Budget
from llmreg_gateway.controls.limits import DEFAULT_MAX_TOKENS, LEASE_TTL, NO_LIMITS, Limits


@dataclass
class ControlSettings:
    """What :meth:`Controls.from_settings` builds from (the CLI's and app's options).

    Attributes:
        state: ``memory://`` or ``redis://HOST:PORT/DB`` (``--state``).
        prices_file: a JSON prices file (``--prices``), see :mod:`.cost`.
        key_limits: limits of each key from the environment or a keys file (and of
            the open gateway's anonymous caller); managed keys carry their own.
        key_budget: the budget of each such key.
        model_limits: limits per model name, whoever calls.
        default_max_tokens: output tokens counted for a request without ``max_tokens``.
        cache_ttl: seconds a cached answer lives; 0 turns the cache off.
        cache_shared: one cache for every key (default: each key its own).
        key_refresh: seconds between two checks of the managed-key table's revision.
        lease_ttl: seconds a concurrency slot outlives a request that never settled.
        state_timeout: seconds per Redis call.
    """

    state: str = "memory://"
    prices_file: str | None = None
    key_limits: Limits = NO_LIMITS
    key_budget: Budget | None = None
    model_limits: Mapping[str, Limits] = field(default_factory=dict)
    default_max_tokens: int = DEFAULT_MAX_TOKENS
    cache_ttl: float = 0.0
    cache_shared: bool = False
    key_refresh: float = 1.0
    lease_ttl: float = LEASE_TTL
    state_timeout: float = 0.5


def parse_limits(text: str | None) -> Limits:
    """Read ``rpm=N,tpm=N,concurrent=N`` (each optional; ``None``: no limits).

    Raises:
        ConfigError: a part that is not ``NAME=INTEGER``, or an unknown limit.
    """
    if not text:
        return Limits()
    values: dict[str, Any] = {}
    for part in text.split(","):
        name, sep, number = part.strip().partition("=")
        if not sep or not number.strip().isdigit():
            raise ConfigError(
                f"--key-limits {text!r}: write rpm=N,tpm=N,concurrent=N (whole numbers)"
            )
        values[name.strip()] = int(number)
    return Limits.parse(values, "--key-limits")


def parse_budget(text: str | None) -> Budget | None:
    """Read ``USD/daily`` or ``USD/monthly`` (``None``: no budget).

    Raises:
        ConfigError: not an amount and a period.
    """
    if not text:
        return None
    amount, _, period = text.partition("/")
    try:
        usd = float(amount.strip().lstrip("$"))
    except ValueError:
        raise ConfigError(f"--key-budget {text!r}: write USD/daily or USD/monthly") from None
    return Budget.parse({"usd": usd, "period": period.strip() or "monthly"}, "--key-budget")


__all__ = ["ControlSettings", "parse_budget", "parse_limits"]
