"""The reliability suite's counts, kept per group and printed at the end of the run.

Tests call :func:`note` with what they tried and what happened; the
``pytest_terminal_summary`` hook in ``conftest.py`` prints :func:`summary_lines`.
A group that no test touched prints nothing.
"""

from __future__ import annotations

import statistics
import threading
from collections import Counter, defaultdict

_LOCK = threading.Lock()
_COUNTS: defaultdict[str, Counter[str]] = defaultdict(Counter)
_LATENCIES_MS: list[float] = []
#: Each class of defect or weak spot checked (``test_attack.py``) -> whether it held.
_CLASSES: dict[str, bool] = {}


def note(group: str, **counts: int) -> None:
    """Add ``counts`` (such as ``tried=1, typed=1``) to ``group``."""
    with _LOCK:
        _COUNTS[group].update(counts)


def note_class(name: str, held: bool) -> None:
    """Record that the class ``name`` was checked, and whether it held (all its checks passed).

    A class checked by several tests holds only if every one of them held.
    """
    with _LOCK:
        _CLASSES[name] = _CLASSES.get(name, True) and held


def note_latencies(latencies_ms: list[float]) -> None:
    """Record the serving latencies measured under load, in milliseconds."""
    with _LOCK:
        _LATENCIES_MS.extend(latencies_ms)


def percentile(values: list[float], fraction: float) -> float:
    """Return the ``fraction`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def _bad_inputs(c: Counter[str]) -> str:
    return f"bad-inputs: {c['tried']} tried, {c['typed']} typed, {c['left_behind']} left behind"


def _faults(c: Counter[str]) -> str:
    return (
        f"faults: {c['tried']} injected, {c['typed']} ended typed or in the fallback, "
        f"{c['fake_text']} fake answers, {c['rows_lost']} good rows lost"
    )


def _load() -> str:
    c = _COUNTS["load"]
    parts = []
    if c["threads"]:
        parts.append(
            f"{c['threads']} threads {c['thread_errors']} errors ({c['predictions']} answers)"
        )
    if c["processes"]:
        parts.append(
            f"{c['processes']} processes registering, {c['versions_accounted']}/{c['versions']} "
            "versions accounted for"
        )
    if c["promoters"]:
        parts.append(
            f"{c['promoters']} processes promoting one alias, {c['moves_recorded']}/"
            f"{c['promoters']} moves recorded, chain {'whole' if c['chain_whole'] else 'broken'}"
        )
    if c["first_saves"]:
        parts.append(
            f"{c['first_saves']} first saves on a new store, {c['first_saves_ok']} succeeded"
        )
    if _LATENCIES_MS:
        parts.append(
            f"serve {c['clients']} clients {c['requests']} requests {c['serve_errors']} errors "
            f"p50 {statistics.median(_LATENCIES_MS):.1f} ms "
            f"p99 {percentile(_LATENCIES_MS, 0.99):.1f} ms"
        )
    return "load: " + "; ".join(parts)


def _secrets(c: Counter[str]) -> str:
    return (
        f"secrets: canary found {c['found']} times in {c['files']} files, {c['mlflow_values']} "
        f"params/tags, {c['log_chars']} chars of logs and output; endpoint received it "
        f"{c['received']} times"
    )


def _classes() -> str:
    held = sorted(name for name, ok in _CLASSES.items() if ok)
    failed = sorted(name for name, ok in _CLASSES.items() if not ok)
    line = f"attack classes: {len(_CLASSES)} checked, {len(held)} held"
    return line + (f" (not held: {', '.join(failed)})" if failed else "")


def summary_lines() -> list[str]:
    """One line per group that ran, in a fixed order."""
    with _LOCK:
        lines = []
        if _CLASSES:
            lines.append(_classes())
        if _COUNTS["bad-inputs"]["tried"]:
            lines.append(_bad_inputs(_COUNTS["bad-inputs"]))
        if _COUNTS["faults"]["tried"]:
            lines.append(_faults(_COUNTS["faults"]))
        if _COUNTS["load"]:
            lines.append(_load())
        if _COUNTS["secrets"]:
            lines.append(_secrets(_COUNTS["secrets"]))
        return lines
