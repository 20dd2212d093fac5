"""llmreg-mlflow: the KIND ``MlflowRegister`` (MLflow Model Registry, versions, audited aliases)
and the MLflow layer llmreg's MLflow plugins share (:mod:`llmreg_mlflow.store`).

Importing this package imports neither mlflow nor pydantic: ``MlflowRegister`` is
imported on first access. The URI helpers are the core's (:mod:`llmreg.uris`),
re-exported here beside the register that hands out URIs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmreg.uris import (
    uri_for_model_alias,
    uri_for_model_alias_or_version,
    uri_for_model_version,
)

if TYPE_CHECKING:
    from llmreg_mlflow.register import MlflowRegister


def __getattr__(name: str) -> Any:
    if name == "MlflowRegister":
        from llmreg_mlflow.register import MlflowRegister

        return MlflowRegister
    raise AttributeError(f"module 'llmreg_mlflow' has no attribute {name!r}")


__all__ = [
    "MlflowRegister",
    "uri_for_model_alias",
    "uri_for_model_alias_or_version",
    "uri_for_model_version",
]
