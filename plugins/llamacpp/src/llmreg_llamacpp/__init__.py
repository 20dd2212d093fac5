"""llmreg-llamacpp."""
