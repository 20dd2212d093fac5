"""The core's version: the one place it is written.

The build reads it from here (``[tool.hatch.version]`` in ``core/pyproject.toml``
names this file), so the installed distribution's metadata, ``llmreg --version``,
``llmreg plugins`` and the manager's check of each plugin's ``llmreg``
requirement all see the same value, without a metadata lookup at import.
"""

from __future__ import annotations

__version__ = "0.2.0"
