"""Throwaway plugin distributions, written as ``.dist-info`` folders into a directory.

They let the suite test a plugin that fails on import and a plugin that needs
another core version without installing anything: put the directory on
``sys.path`` (see :func:`on_path`) and the plugin manager finds their entry
points like any installed plugin's.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

BROKEN = "llmreg-reliability-broken"
INCOMPATIBLE = "llmreg-reliability-incompatible"


def _write_dist(root: Path, name: str, module: str, requires: str, code: str) -> None:
    info = root / f"{name.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\nRequires-Dist: {requires}\n",
        encoding="utf-8",
    )
    (info / "entry_points.txt").write_text(f"[llmreg]\n{module} = {module}\n", encoding="utf-8")
    (root / f"{module}.py").write_text(code, encoding="utf-8")


def write_plugins(root: Path) -> Path:
    """Write the broken and the incompatible plugin into ``root`` and return it."""
    _write_dist(
        root,
        BROKEN,
        "llmreg_reliability_broken",
        "llmreg",
        'raise RuntimeError("llmreg_reliability_broken fails on import, on purpose")\n',
    )
    _write_dist(
        root,
        INCOMPATIBLE,
        "llmreg_reliability_incompatible",
        "llmreg>=99",
        'raise AssertionError("an incompatible plugin must never be imported")\n',
    )
    return root


@contextlib.contextmanager
def on_path(root: Path) -> Iterator[None]:
    """Put ``root`` on ``sys.path`` for the ``with`` block only."""
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(root))
        importlib.invalidate_caches()
        for module in ("llmreg_reliability_broken", "llmreg_reliability_incompatible"):
            sys.modules.pop(module, None)
