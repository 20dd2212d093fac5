"""The ``llmreg`` entry points of the installed distributions, found without importlib.metadata.

``import importlib.metadata`` costs every CLI start some 30 ms (it imports email,
zipfile, csv, pathlib...), as much as the command's own work against a tracking
server. :func:`entry_points` reads what it would read: the ``entry_points.txt`` of
every ``*.dist-info`` folder on :data:`sys.path` (the first distribution of a name
wins, as in ``importlib.metadata.entry_points()``), and the ``Name``, ``Version``
and ``Requires-Dist`` headers of ``METADATA`` for each distribution that has an
entry point in the group.

Where ``sys.path`` holds what this does not read (a zip file, or an ``.egg-info``
or ``.egg`` distribution with entry points in the group), it returns ``None`` and
the caller asks importlib.metadata instead.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

#: Runs of the characters PEP 503 folds into one ``-``.
_SEPARATORS = re.compile(r"[-_.]+")


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
    name = version = None
    requires: list[str] = []
    for line in text.splitlines():
        if not line:
            break  # the headers end at the first empty line
        key, sep, value = line.partition(":")
        if not sep or line[0] in " \t":
            continue
        key = key.strip().lower()
        if key == "name":
            name = value.strip()
        elif key == "version":
            version = value.strip()
        elif key == "requires-dist":
            requires.append(value.strip())
    return Distribution(name or "", version, requires)


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
            key = _SEPARATORS.sub("-", stem.partition("-")[0]).lower()
            if key in seen:
                continue  # an earlier path entry holds this distribution
            seen.add(key)
            text = _read(os.path.join(folder, child, "entry_points.txt"))
            if text is None or f"[{group}]" not in text:
                continue
            points = _section(text, group)
            if not points:
                continue
            if ext != ".dist-info":
                return None  # egg metadata: importlib.metadata reads it
            dist = _metadata(_read(os.path.join(folder, child, "METADATA")) or "")
            found.extend(EntryPoint(name, value, group, dist) for name, value in points)
    return found


__all__ = ["Distribution", "EntryPoint", "entry_points"]
