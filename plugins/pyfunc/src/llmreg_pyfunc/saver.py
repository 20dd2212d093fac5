"""CustomSaver: save a model definition to MLflow as a pyfunc model, without pickling.

mlflow and pandas are imported inside :meth:`CustomSaver.save`, never at import
of this module, so that ``llmreg plugins`` does not pay for them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from llmreg.bases import Saver
from llmreg.definition import ModelDefinition
from llmreg.errors import LlmregError, StoreUnavailableError
from llmreg.hashing import CONTENT_HASH_KEY, content_hash
from llmreg.manager import get_plugin_manager
from llmreg_pyfunc.layout import ARTIFACT_KEY, CONFIG_KEY, FORMAT, FORMAT_KEY
from llmreg_pyfunc.requirements import pip_requirements
from llmreg_pyfunc.secret_scan import check_texts

logger = logging.getLogger(__name__)

#: The models-from-code file saved with every model.
MODEL_CODE = Path(__file__).with_name("model_code.py")


class _LazyAdapter:
    """Class attribute that imports the mlflow-based adapter class on first access."""

    def __get__(self, instance: object, owner: type | None = None) -> type:
        from llmreg_pyfunc.adapter import PyfuncAdapter

        return PyfuncAdapter


@dataclass(frozen=True)
class SavePlan:
    """Everything a save writes, computed and checked before anything is written."""

    definition_json: str
    code: str
    requirements: list[str]
    signature: Any
    input_example: Any
    metadata: dict[str, str]
    params: dict[str, str]
    tags: dict[str, str]
    secrets: list[str]


class CustomSaver(Saver):
    """Saves a :class:`~llmreg.definition.ModelDefinition` as an MLflow pyfunc model.

    The model is saved from code (``model_code.py`` calls ``mlflow.models.set_model``),
    with the definition as the JSON artifact ``config_file`` and explicit pip
    requirements. Nothing calls the LLM endpoint while saving.

    Attributes:
        experiment: the MLflow experiment to log into; the active one when unset.
    """

    KIND: Literal["CustomSaver"] = "CustomSaver"
    experiment: str | None = Field(default=None, min_length=1)

    #: The ``mlflow.pyfunc.PythonModel`` that saved models run (imported on access).
    Adapter: ClassVar[Any] = _LazyAdapter()

    def save(
        self,
        model: ModelDefinition,
        signature: Any | None = None,
        input_example: Any | None = None,
    ) -> Any:
        """Log ``model`` to MLflow in a new run and return MLflow's ``ModelInfo``.

        Args:
            model: the definition; its api_key must be a reference such as ``env:NAME``.
            signature: an ``mlflow.models.ModelSignature``; the chat schema when omitted.
            input_example: chat input (see :func:`llmreg_pyfunc.frames.to_inputs`);
                a one-row text example when omitted.

        Raises:
            SecretPersistError: a literal key, or a secret value in anything to be written.
            SchemaError: ``signature`` or ``input_example`` does not fit the chat schema.
            UnknownKindError: the definition's provider is not installed.

        On any failure after the run was created, the run ends ``FAILED`` and its
        logged model is marked failed; no run is left ``FINISHED`` with partial artifacts.
        """
        plan = self.plan(model, signature, input_example)
        with _store_errors():
            return self._log(plan)

    def plan(
        self, model: ModelDefinition, signature: Any | None = None, input_example: Any = None
    ) -> SavePlan:
        """Compute and check what :meth:`save` would write, writing nothing.

        Raises:
            SecretPersistError, SchemaError, UnknownKindError: as :meth:`save`.
        """
        from llmreg_pyfunc.chat_schema import (
            DEFAULT_EXAMPLE,
            check_example,
            check_signature,
            default_signature,
        )

        definition_json = model.to_json()
        code = MODEL_CODE.read_text(encoding="utf-8")
        requirements = pip_requirements(model, get_plugin_manager())
        signature = default_signature() if signature is None else check_signature(signature)
        example = DEFAULT_EXAMPLE if input_example is None else input_example
        example = check_example(example, signature)
        digest = content_hash([definition_json, code, "\n".join(requirements)])
        metadata = {
            CONTENT_HASH_KEY: digest,
            FORMAT_KEY: FORMAT,
            CONFIG_KEY: self.config_file,
        }
        params = {"provider": model.provider, "model": model.model}
        tags = {"llmreg.saver": self.KIND, CONTENT_HASH_KEY: digest}
        secrets = model.resolved_secrets()
        check_texts(
            {
                self.config_file: definition_json,
                "model code": code,
                "requirements": "\n".join(requirements),
                "signature": json.dumps(signature.to_dict()),
                "input example": _example_text(example),
                "params": json.dumps(params),
                "tags": json.dumps(tags),
                "experiment name": self.experiment or "",
            },
            secrets,
        )
        return SavePlan(
            definition_json, code, requirements, signature, example, metadata, params, tags, secrets
        )

    def _log(self, plan: SavePlan) -> Any:
        from mlflow import MlflowClient
        from mlflow.models import Model

        from llmreg_pyfunc.mlflow_flavor import ScanningPyfuncFlavor

        client = MlflowClient()
        experiment_id = self._experiment_id(client)
        run = client.create_run(experiment_id, tags=plan.tags)
        run_id = run.info.run_id
        flavor = ScanningPyfuncFlavor(plan.secrets)
        model_id: str | None = None
        with tempfile.TemporaryDirectory(prefix="llmreg-save-") as tmp:
            config = Path(tmp) / self.config_file
            config.write_text(plan.definition_json, encoding="utf-8")
            try:
                # Created here rather than by Model.log, which would put it in the active
                # experiment instead of the run's. The params go on the logged model: a
                # separate log_batch on the run would cost one more store commit per save.
                model_id = client.create_logged_model(
                    experiment_id,
                    name=self.path,
                    source_run_id=run_id,
                    tags=plan.tags,
                    params=plan.params,
                ).model_id
                info = Model.log(
                    artifact_path=None,
                    name=self.path,
                    flavor=flavor,
                    flavor_name="pyfunc.ModelFromCode",
                    run_id=run_id,
                    model_id=model_id,
                    python_model=str(MODEL_CODE),
                    artifacts={ARTIFACT_KEY: str(config)},
                    signature=plan.signature,
                    input_example=plan.input_example,
                    pip_requirements=plan.requirements,
                    metadata=plan.metadata,
                    validate_serving_input=False,
                )
            except BaseException as exc:
                _fail(client, run_id, model_id, exc)
                raise
        client.set_terminated(run_id, "FINISHED")
        return info

    def _experiment_id(self, client: Any) -> str:
        if self.experiment is None:
            from mlflow.tracking.fluent import _get_experiment_id

            return str(_get_experiment_id() or "0")
        found = client.get_experiment_by_name(self.experiment)
        if found is not None:
            return str(found.experiment_id)
        return str(client.create_experiment(self.experiment))


@contextlib.contextmanager
def _store_errors() -> Iterator[None]:
    """Turn a store that fails mid-save (unreachable, refusing, unwritable) into a typed error."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except LlmregError:
        raise
    except (MlflowException, OSError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise StoreUnavailableError(
            f"saving to the MLflow store failed: {type(exc).__name__}: {message}. Check "
            "MLFLOW_TRACKING_URI and that the store is reachable and writable, then save again; "
            "the run was not marked FINISHED."
        ) from exc


def _example_text(example: Any) -> str:
    if hasattr(example, "to_json"):
        return str(example.to_json())
    return json.dumps(example, default=str)


def _fail(client: Any, run_id: str, model_id: str | None, cause: BaseException) -> None:
    """End the run FAILED and mark its logged model failed, so nothing looks finished.

    When the store itself is what failed, this cannot reach it either: that is
    logged, and the caller re-raises the original error. The run then stays
    RUNNING, never FINISHED, and its model is never marked READY.
    """
    from mlflow.entities import LoggedModelStatus

    try:
        if model_id is not None:
            client.finalize_logged_model(model_id, LoggedModelStatus.FAILED)
        client.set_terminated(run_id, "FAILED")
    except Exception as cleanup:
        logger.warning(
            "save failed (%s: %s) and run %s could not be marked FAILED: %s",
            type(cause).__name__,
            cause,
            run_id,
            cleanup,
        )
