"""The ``slow`` marker of the environment-manager suite (tox env ``envmanagers``)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Register ``slow``: builds Python environments from the package index (minutes)."""
    config.addinivalue_line(
        "markers", "slow: builds MLflow model environments from the package index (minutes)"
    )
