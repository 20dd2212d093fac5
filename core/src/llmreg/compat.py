"""Compatibility: does a plugin's requirement on ``llmreg`` accept the running core?

Checked before the plugin is imported. Only the requirement on ``llmreg`` is split
out of each ``Requires-Dist`` line and only its version specifier is parsed:
``packaging.requirements`` would cost the CLI's start 20-40 ms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from llmreg.discovery import normalize
from llmreg.errors import IncompatiblePluginError
from llmreg.version import __version__

#: The name at the start of a requirement string (PEP 508).
_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")


def incompatible(
    dist: str, version: str | None, requires: Iterable[str]
) -> IncompatiblePluginError | None:
    """The error to report when ``requires`` asks for another llmreg than this one, else ``None``.

    A conditional requirement (with a marker), a direct URL or an unparsable
    specifier is not checked.
    """
    for raw in requires:
        named = _REQUIREMENT_NAME.match(raw)
        if named is None or normalize(named.group(1)) != "llmreg":
            continue
        spec, _, marker = raw[named.end() :].partition(";")
        spec = spec.strip()
        if spec.startswith("["):  # extras
            spec = spec.partition("]")[2].strip()
        if marker.strip() or spec.startswith("@"):
            continue
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            specifier = SpecifierSet(spec.strip("() "))
        except InvalidSpecifier:
            continue
        if not specifier.contains(__version__, prereleases=True):
            return IncompatiblePluginError(
                f"plugin {dist} {version} requires llmreg{specifier}, but llmreg "
                f"{__version__} is installed: upgrade the plugin or the core"
            )
    return None


__all__ = ["incompatible"]
