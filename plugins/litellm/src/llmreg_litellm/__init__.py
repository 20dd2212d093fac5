"""llmreg-litellm."""
