"""llmreg-mlflow."""
