"""The promotion gate: ``llmreg promote --require`` and ``--not-worse-than``.

A version's evaluated metrics are its ``llmreg.eval.<metric>`` tags (``llmreg
evaluate``, from llmreg-pyfunc, writes them). The gate reads them through any
:class:`~llmreg.bases.AliasRegister` and refuses what fails, or what it cannot
compare, with the numbers: it never passes a missing metric or a NaN.
"""

from __future__ import annotations

import math
import re
from typing import Any

from llmreg.errors import ConfigError, RegistrationError
from llmreg.uris import check_alias

#: The version-tag prefix of a metric.
EVAL_TAG_PREFIX = "llmreg.eval."

#: ``metric>=0.8``, ``metric > 0.5``...: the number is a plain decimal (``1.2.3`` is none).
_REQUIREMENT = re.compile(
    r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|>|<|==)\s*(-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


def check_requirements(metrics: dict[str, float], requirements: tuple[str, ...]) -> list[str]:
    """Return the requirements ``metrics`` fail, each with the numbers.

    Raises:
        ConfigError: a requirement is malformed.
    """
    failed = []
    for text in requirements:
        found = _REQUIREMENT.match(text)
        if not found:
            raise ConfigError(
                f"--require {text!r} is not a requirement: write it as METRIC>=NUMBER (or >, "
                "<=, <, ==), NUMBER a plain decimal such as 0.8, e.g. --require exact_match>=0.8"
            )
        metric, op, number = found.group(1), found.group(2), float(found.group(3))
        value = metrics.get(metric)
        # NaN compares false both ways: "not a number" fails every requirement, explicitly.
        ok = (
            value is not None
            and not math.isnan(value)
            and {
                ">=": value >= number,
                "<=": value <= number,
                ">": value > number,
                "<": value < number,
                "==": value == number,
            }[op]
        )
        if not ok:
            shown = "not evaluated" if value is None else f"{value:g}"
            shown += " (not a number)" if value is not None and math.isnan(value) else ""
            failed.append(f"{metric} is {shown}, required {op} {number:g}")
    return failed


def version_metrics(tags: dict[str, str]) -> dict[str, float]:
    """The ``llmreg.eval.*`` tags of a version as metrics; a value that is no number is
    NaN, which no check passes (a gate never skips what it cannot read)."""
    out = {}
    for key, value in tags.items():
        if key.startswith(EVAL_TAG_PREFIX):
            try:
                out[key[len(EVAL_TAG_PREFIX) :]] = float(value)
            except ValueError:
                out[key[len(EVAL_TAG_PREFIX) :]] = math.nan
    return out


def gate(
    register: Any,
    name: str,
    version: str,
    requirements: tuple[str, ...],
    baseline: str | None,
) -> str:
    """Check a candidate before ``promote``; return the decision, with its numbers.

    The decision reads as ``require exact_match>=0.8: 0.9 (candidate) ok; not worse
    than @champion (version 1): exact_match 0.9 vs 0.8, failed_rows 0 vs 0 ok``:
    ``llmreg promote`` records it with the alias move (``llmreg history``) and as the
    version's ``llmreg.promotion_check`` tag.

    Raises:
        RegistrationError: the candidate fails a requirement or is worse than the
            version ``baseline`` points at (each failure with its numbers), or cannot be
            compared: a metric missing or not a number (either side), no version holding
            ``baseline``, or no metrics recorded on the one that does.
        ConfigError: a requirement or the baseline alias is malformed.
    """
    check_requirements({}, requirements)  # a malformed requirement fails before any call
    if baseline:
        try:
            baseline = check_alias(baseline.strip().removeprefix("@"), ConfigError)
        except ConfigError as exc:
            raise ConfigError(f"--not-worse-than {baseline!r}: {exc}") from None
    refs = register.versions(name)
    candidate = next((r for r in refs if str(r.version) == str(version).strip()), None)
    if candidate is None:
        raise RegistrationError(f"version {version} of {name!r} does not exist")
    metrics = version_metrics(dict(candidate.tags))
    failures = check_requirements(metrics, requirements)
    decisions = [_requirement_decision(metrics, text) for text in requirements]
    if baseline:
        decisions.append(_not_worse(name, refs, candidate, metrics, baseline, failures))
    if failures:
        raise RegistrationError(
            f"version {candidate.version} of {name!r} is not promoted: "
            + "; ".join(failures)
            + " (llmreg evaluate models:/NAME/VERSION --data ... records the metrics)"
        )
    return "; ".join(decisions)


def _requirement_decision(metrics: dict[str, float], text: str) -> str:
    found = _REQUIREMENT.match(text)
    assert found is not None  # checked by check_requirements first
    value = metrics.get(found.group(1))
    shown = "not evaluated" if value is None else f"{value:g}"
    verdict = "ok" if not check_requirements(metrics, (text,)) else "failed"
    return f"require {text.replace(' ', '')}: {shown} (candidate) {verdict}"


def _not_worse(
    name: str,
    refs: list[Any],
    candidate: Any,
    metrics: dict[str, float],
    alias: str,
    failures: list[str],
) -> str:
    """Compare with the version ``alias`` holds: its decision; what fails goes to
    ``failures``. An alias no version holds, a baseline with no metrics, and a metric
    either side cannot give (missing, or not a number) all fail: never a pass."""
    holder = next((r for r in refs if alias in r.aliases), None)
    if holder is None:
        held = sorted({a for r in refs for a in r.aliases})
        failures.append(
            f"no version of {name!r} holds @{alias} (aliases: "
            f"{', '.join('@' + a for a in held) or 'none'}), so nothing can be compared: "
            "check the alias, or promote the first version without --not-worse-than"
        )
        return f"not worse than @{alias}: no version holds it, refused"
    if holder.version == candidate.version:
        return f"not worse than @{alias}: it is this version, ok"
    base = version_metrics(dict(holder.tags))
    if not base:
        failures.append(
            f"@{alias} (version {holder.version}) has no recorded metrics to compare with: "
            f"evaluate it first (llmreg evaluate models:/{name}@{alias} --data ...)"
        )
        return f"not worse than @{alias} (version {holder.version}): no metrics, refused"
    compared = []
    worse_found = False
    for metric, value in sorted(base.items()):
        mine = metrics.get(metric)
        shown = "not evaluated" if mine is None else f"{mine:g}"
        compared.append(f"{metric} {shown} vs {value:g}")
        lower_is_better = metric == "failed_rows" or metric.endswith("_errors")
        if mine is None or math.isnan(mine) or math.isnan(value):
            worse = True  # what cannot be compared is never "not worse"
        else:
            worse = mine > value if lower_is_better else mine < value
        if worse:
            worse_found = True
            failures.append(
                f"{metric} is {shown}, @{alias} (version {holder.version}) has {value:g}"
            )
    numbers = ", ".join(compared)
    verdict = "worse" if worse_found else "ok"
    return f"not worse than @{alias} (version {holder.version}): {numbers} {verdict}"


__all__ = ["EVAL_TAG_PREFIX", "check_requirements", "gate", "version_metrics"]
