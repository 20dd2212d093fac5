"""llmreg-mlflow: the KIND ``MlflowRegister`` (MLflow Model Registry, versions, audited aliases).

Importing this package does not import mlflow. The URI helpers are the core's
(:mod:`llmreg.uris`), re-exported here beside the register that hands out URIs.
"""

from __future__ import annotations

from llmreg.uris import (
    uri_for_model_alias,
    uri_for_model_alias_or_version,
    uri_for_model_version,
)
from llmreg_mlflow.register import MlflowRegister

__all__ = [
    "MlflowRegister",
    "uri_for_model_alias",
    "uri_for_model_alias_or_version",
    "uri_for_model_version",
]
