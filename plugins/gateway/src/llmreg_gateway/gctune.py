"""Garbage-collector tuning for a long-running server: freeze what lives as long as it.

What the process holds at start-up (modules, loaded models: MLflow's alone are
hundreds of thousands of objects) lives as long as the server, yet every full
collection walked it all: a pause of milliseconds every few thousand requests, and
CPU spent per request. Frozen objects are skipped; objects made later (a model
loaded by a reload) are collected as usual.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Collect once, then move every object alive now out of the collector's reach."""
    gc.collect()
    gc.freeze()


def freeze_loaded() -> None:
    """Freeze what a background load just brought in (MLflow, in a worker)."""
    gc.freeze()


__all__ = ["freeze_loaded", "freeze_startup_objects"]
