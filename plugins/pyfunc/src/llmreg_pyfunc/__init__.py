"""llmreg-pyfunc."""
