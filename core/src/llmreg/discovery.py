"""Discovery: the ``llmreg`` entry points of the installed distributions, and which to load.

``import importlib.metadata`` costs every CLI start some 30 ms, so :func:`entry_points`
reads the ``entry_points.txt`` and ``METADATA`` of each ``*.dist-info`` on
:data:`sys.path` itself (importlib.metadata only for zip files and eggs). :func:`excluded`
applies ``LLMREG_LOAD_PLUGINS`` and ``LLMREG_DISABLE_PLUGINS`` before any import.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ENV_LOAD = "LLMREG_LOAD_PLUGINS"
ENV_DISABLE = "LLMREG_DISABLE_PLUGINS"
ENV_STRICT = "LLMREG_STRICT_PLUGINS"
#: The values of ``LLMREG_STRICT_PLUGINS`` that turn strict mode on (any case).
TRUE_VALUES = frozenset({"1", "true", "yes", "on"})

#: Runs of the characters PEP 503 folds into one ``-`` (``packaging.utils.canonicalize_name``,
#: not imported: it costs the CLI's start tens of milliseconds).
_SEPARATORS = re.compile(r"[-_.]+")


def normalize(name: str) -> str:
    """Normalise a distribution or plugin name the PEP 503 way (``Foo_Bar`` -> ``foo-bar``)."""
    return _SEPARATORS.sub("-", name.strip()).lower()


def env_flag(value: str | None) -> bool:
    """Whether an environment value means *true*: ``1``, ``true``, ``yes`` or ``on``, any case."""
    return (value or "").strip().lower() in TRUE_VALUES


def env_names(value: str | None) -> set[str] | None:
    """The normalised names of a comma-separated list; ``None`` for ``None``."""
    if value is None:
        return None
    return {normalize(v) for v in value.split(",") if v.strip()}


def excluded(names: set[str], allow: set[str] | None, block: set[str]) -> tuple[str, str] | None:
    """``(status, reason)`` when the allow or block list excludes a plugin known by ``names``."""
    if "*" in block or names & block:
        return "blocked", f"blocked by {ENV_DISABLE}"
    if allow is not None and not names & allow:
        return "not-allowed", f"not listed in {ENV_LOAD}"
    return None


@dataclass(frozen=True)
class Distribution:
    """What the manager reads of a distribution: name, version, requirements."""

    name: str
    version: str | None
    requires: list[str]


@dataclass(frozen=True)
class EntryPoint:
    """One entry point, as ``importlib.metadata.EntryPoint`` gives it to the manager."""

    name: str
    value: str
    group: str
    dist: Distribution

    def load(self) -> Any:
        """Import the module the entry point names and return it (or its attribute)."""
        module, _, attribute = self.value.partition(":")
        found: Any = importlib.import_module(module.strip())
        for part in filter(None, attribute.split("[")[0].strip().split(".")):
            found = getattr(found, part)
        return found


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def _section(text: str, group: str) -> list[tuple[str, str]]:
    """The ``name = value`` lines of ``[group]`` in an ``entry_points.txt``."""
    found: list[tuple[str, str]] = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            inside = line[1:-1].strip() == group
        elif inside and "=" in line:
            name, _, value = line.partition("=")
            found.append((name.strip(), value.strip()))
    return found


def _metadata(text: str) -> Distribution:
    """Name, Version and Requires-Dist from the headers of a METADATA file."""
    headers: dict[str, str] = {}
    requires: list[str] = []
    for line in text.splitlines():
        if not line:
            break  # the headers end at the first empty line
        key, sep, value = line.partition(":")
        if not sep or line[0] in " \t":
            continue
        key = key.strip().lower()
        if key == "requires-dist":
            requires.append(value.strip())
        else:
            headers.setdefault(key, value.strip())
    return Distribution(headers.get("name", ""), headers.get("version"), requires)


def entry_points(group: str) -> list[EntryPoint] | None:
    """The entry points of ``group`` of the distributions on :data:`sys.path`, or ``None``
    where something on the path needs importlib.metadata to be read."""
    seen: set[str] = set()
    found: list[EntryPoint] = []
    for entry in list(sys.path):
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except NotADirectoryError:
            return None  # a zip file: importlib.metadata reads those
        except OSError:
            continue  # a path entry that does not exist
        for child in names:
            stem, ext = os.path.splitext(child)
            if ext not in (".dist-info", ".egg-info", ".egg"):
                continue
            key = normalize(stem.partition("-")[0])
            if key in seen:
                continue  # an earlier path entry holds this distribution
            seen.add(key)
            text = _read(os.path.join(folder, child, "entry_points.txt"))
            points = _section(text, group) if text and f"[{group}]" in text else []
            if not points:
                continue
            if ext != ".dist-info":
                return None  # egg metadata: importlib.metadata reads it
            dist = _metadata(_read(os.path.join(folder, child, "METADATA")) or "")
            found.extend(EntryPoint(name, value, group, dist) for name, value in points)
    return found


def find(group: str) -> list[Any]:
    """The entry points of ``group``, sorted by distribution and name (importlib.metadata's
    where :func:`entry_points` cannot read the path)."""
    found: Iterable[Any] | None = entry_points(group)
    if found is None:
        import importlib.metadata

        found = importlib.metadata.entry_points(group=group)
    return sorted(found, key=lambda e: (e.dist.name if e.dist else "", e.name))


__all__ = [
    "Distribution",
    "EntryPoint",
    "entry_points",
    "env_flag",
    "env_names",
    "excluded",
    "find",
    "normalize",
]
