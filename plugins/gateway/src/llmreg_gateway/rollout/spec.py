"""Parsing and checking a rollout's options before anything is written.

``--steps 5,25,50,100``, ``--interval 10m``, ``--sticky-by key|user|header:NAME``
and the guards' thresholds each become a typed value here, or a
:class:`~llmreg_gateway.rollout.errors.RolloutInputError` that names the
option and a valid example.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from llmreg_gateway.rollout.errors import RolloutInputError

#: Interval units: seconds, minutes, hours.
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")
#: A header name as HTTP allows it (a token).
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")


def parse_steps(text: str) -> tuple[int, ...]:
    """Return the canary weights of ``text`` (``"5,25,50,100"``): increasing, ending at 100.

    Raises:
        RolloutInputError: not a comma-separated list of increasing percentages ending at 100.
    """
    try:
        steps = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        raise RolloutInputError(
            f"--steps {text!r} is not a list of whole percentages: give e.g. 5,25,50,100"
        ) from None
    if not all(0 < w <= 100 for w in steps) or list(steps) != sorted(set(steps)):
        raise RolloutInputError(
            f"--steps {text!r} must be increasing percentages from 1 to 100: e.g. 5,25,50,100"
        )
    if steps[-1] != 100:
        raise RolloutInputError(
            f"--steps {text!r} must end at 100 (the candidate takes all traffic before it is "
            "promoted): e.g. 5,25,50,100"
        )
    return steps


def parse_interval(text: str) -> float:
    """Return ``text`` (``"90"``, ``"30s"``, ``"10m"``, ``"1h"``) in seconds.

    Raises:
        RolloutInputError: malformed, or zero.
    """
    found = _INTERVAL.match(str(text))
    if not found or float(found.group(1)) <= 0:
        raise RolloutInputError(
            f"--interval {text!r} is not a positive duration: give e.g. 90s, 10m or 1h"
        )
    return float(found.group(1)) * _UNITS[found.group(2) or "s"]


def parse_sticky(text: str) -> str:
    """Return ``text`` checked as a sticky key source: ``key``, ``user`` or ``header:NAME``.

    ``key``: the caller's API key (its id, never the secret); ``user``: the request
    body's ``user`` field; ``header:NAME``: the value of header NAME (lower-cased).

    Raises:
        RolloutInputError: anything else.
    """
    value = str(text).strip()
    if value in ("key", "user"):
        return value
    kind, _, header = value.partition(":")
    if kind == "header" and _HEADER.match(header):
        return f"header:{header.lower()}"
    raise RolloutInputError(
        f"--sticky-by {text!r} is not key, user or header:NAME (e.g. header:x-session-id)"
    )


@dataclass(frozen=True)
class Guards:
    """What the candidate must keep to at every step, compared with the current arm.

    Attributes:
        max_error_rate: the candidate's highest error rate (0.02 is 2%).
        max_p95_ms: the candidate's highest p95 latency, in milliseconds.
        max_p95_ratio: the candidate's highest p95 as a multiple of the current arm's.
        max_tokens_ratio: the highest tokens per request, as a multiple of the current arm's.
        max_cost_ratio: the highest cost per request, as a multiple of the current arm's.
        min_requests: requests the candidate must answer in a step before any decision.
    """

    max_error_rate: float | None = 0.05
    max_p95_ms: float | None = None
    max_p95_ratio: float | None = None
    max_tokens_ratio: float | None = None
    max_cost_ratio: float | None = None
    min_requests: int = 100

    def __post_init__(self) -> None:
        rate = self.max_error_rate
        if rate is not None and not 0 <= rate < 1:
            raise RolloutInputError(
                f"--max-error-rate {rate} must be a fraction from 0 to below 1 (0.02 is 2%)"
            )
        for option, value in (
            ("--max-p95-ms", self.max_p95_ms),
            ("--max-p95-ratio", self.max_p95_ratio),
            ("--max-tokens-ratio", self.max_tokens_ratio),
            ("--max-cost-ratio", self.max_cost_ratio),
        ):
            if value is not None and not value > 0:
                raise RolloutInputError(f"{option} {value} must be a positive number")
        if not isinstance(self.min_requests, int) or self.min_requests < 1:
            raise RolloutInputError(
                f"--min-requests {self.min_requests} must be a whole number of at least 1"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the guards as JSON-ready values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Guards:
        """Return the guards :meth:`to_dict` wrote (unknown keys ignored, for newer writers)."""
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


__all__ = ["Guards", "parse_interval", "parse_steps", "parse_sticky"]
