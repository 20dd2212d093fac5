"""Guards: compare the candidate arm with the current one over a step's window.

:func:`check` returns a :class:`Verdict`: ``"fail"`` names the first guard the
candidate broke, ``"wait"`` says the candidate has not answered the minimum
sample yet, ``"pass"`` says every guard holds. Each verdict carries its evidence
as one line of numbers (it becomes the history note of the decision).
Relative guards compare with the stable arm only when that arm has answered the
minimum sample too; until then they wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from llmreg_gateway.rollout.spec import Guards
    from llmreg_gateway.rollout.stats import ArmStats


@dataclass(frozen=True)
class Verdict:
    """The outcome of the guards over one window.

    Attributes:
        outcome: ``pass``, ``fail`` or ``wait`` (not enough requests yet).
        failed: the guard that failed (``error_rate``, ``p95_ms``...), or ``None``.
        evidence: the numbers, as one line (``canary 412 req, errors 5.10% > 2.00%...``).
    """

    outcome: Literal["pass", "fail", "wait"]
    failed: str | None
    evidence: str


def _summary(stable: ArmStats, canary: ArmStats) -> str:
    def one(arm: str, s: ArmStats) -> str:
        return (
            f"{arm} {s.requests} req, errors {s.error_rate:.2%}, p95 {s.p95_ms:.0f} ms, "
            f"{s.tokens_per_request:.1f} tok/req, cost {s.cost_per_request:.6f}/req"
        )

    return f"{one('canary', canary)}; {one('stable', stable)}"


def _ratio(candidate: float, current: float) -> float:
    return candidate / current if current > 0 else (1.0 if candidate <= 0 else float("inf"))


def check(guards: Guards, stable: ArmStats, canary: ArmStats, *, relative: bool = True) -> Verdict:
    """Return the verdict of ``guards`` on the candidate's window against the current arm's.

    ``relative=False`` (the 100% step, where the current arm has no traffic) checks
    the absolute guards only.
    """
    summary = _summary(stable, canary)
    if canary.requests < guards.min_requests:
        return Verdict("wait", None, f"{summary} (needs {guards.min_requests} canary requests)")
    rules: list[tuple[str, float | None, float, str]] = [
        ("error_rate", guards.max_error_rate, canary.error_rate, "{:.2%}"),
        ("p95_ms", guards.max_p95_ms, canary.p95_ms, "{:.0f} ms"),
    ]
    relative_ready = relative and stable.requests >= guards.min_requests
    if relative_ready:
        rules += [
            ("p95_ratio", guards.max_p95_ratio, _ratio(canary.p95_ms, stable.p95_ms), "{:.2f}x"),
            (
                "tokens_ratio",
                guards.max_tokens_ratio,
                _ratio(canary.tokens_per_request, stable.tokens_per_request),
                "{:.2f}x",
            ),
            (
                "cost_ratio",
                guards.max_cost_ratio,
                _ratio(canary.cost_per_request, stable.cost_per_request),
                "{:.2f}x",
            ),
        ]
    for guard, limit, value, shape in rules:
        if limit is not None and value > limit:
            said = f"{guard} {shape.format(value)} > {shape.format(limit)}"
            return Verdict("fail", guard, f"{said}: {summary}")
    limits = (guards.max_p95_ratio, guards.max_tokens_ratio, guards.max_cost_ratio)
    if relative and not relative_ready and any(limit is not None for limit in limits):
        return Verdict("wait", None, f"{summary} (needs {guards.min_requests} stable requests)")
    return Verdict("pass", None, summary)


__all__ = ["Verdict", "check"]
