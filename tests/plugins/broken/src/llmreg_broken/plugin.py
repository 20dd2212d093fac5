"""Raises on import, as a plugin with a missing dependency would."""

raise ImportError("llmreg-broken needs a module that is not installed")
