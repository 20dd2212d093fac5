"""llmreg-mlflow: the KIND ``MlflowRegister`` (MLflow Model Registry, versions, audited aliases).

Importing this package does not import mlflow.
"""

from __future__ import annotations

from llmreg_mlflow.register import MlflowRegister
from llmreg_mlflow.uris import (
    uri_for_model_alias,
    uri_for_model_alias_or_version,
    uri_for_model_version,
)

__all__ = [
    "MlflowRegister",
    "uri_for_model_alias",
    "uri_for_model_alias_or_version",
    "uri_for_model_version",
]
