"""Tests of llmreg_gateway.controls: keys, limits, cost, budgets, cache and shared state."""
