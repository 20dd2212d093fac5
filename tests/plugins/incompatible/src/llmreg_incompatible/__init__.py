"""A plugin package that requires a future llmreg."""
