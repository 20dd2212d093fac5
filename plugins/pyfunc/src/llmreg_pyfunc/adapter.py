"""The pyfunc adapter: an ``mlflow.pyfunc.PythonModel`` that answers through a llmreg client.

This module imports mlflow; the plugin's entry point and the registered classes
reach it only lazily (``CustomSaver.Adapter``), so ``llmreg plugins`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc

from llmreg.definition import ModelDefinition
from llmreg.errors import ConfigError
from llmreg.manager import get_plugin_manager
from llmreg.schemas import Outputs
from llmreg_pyfunc.frames import is_dataframe, outputs_to_frame, to_inputs
from llmreg_pyfunc.layout import ARTIFACT_KEY
from llmreg_pyfunc.predictor import Predictor


def model_info_from_files(config_path: Path) -> dict[str, Any]:
    """Read run id and logged-model URI from the ``MLmodel`` next to the artifacts folder."""
    mlmodel = config_path.parent.parent / "MLmodel"
    if not mlmodel.is_file():
        return {}
    from mlflow.models import Model

    model = Model.load(str(mlmodel))
    model_id = getattr(model, "model_id", None)
    return {
        "model_uri": f"models:/{model_id}" if model_id else None,
        "run_id": model.run_id,
    }


def build_predictor(config_path: str | Path | None, info: dict[str, Any]) -> Predictor:
    """Read the definition at ``config_path`` and build its client through the plugin manager.

    The api_key reference is resolved here, at load, by the provider's factory.

    Raises:
        ConfigError: no path (a ``ValueError``) or an invalid definition.
        ConfigFileNotFoundError: the file does not exist (a ``FileNotFoundError``).
        UnknownKindError: the provider is not installed.
    """
    definition = ModelDefinition.from_file(config_path)
    client = get_plugin_manager().client(definition)
    return Predictor(client, info, definition.concurrency)


class PyfuncAdapter(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """The MLflow model: reads the definition from its ``config_file`` artifact at load.

    Args:
        config_file: optional path of a definition JSON; when given, the client is
            built now instead of in :meth:`load_context`.
    """

    def __init__(self, config_file: str | Path | None = None) -> None:
        self._predictor: Predictor | None = None
        self._definition: ModelDefinition | None = None
        if config_file is not None:
            self._load(Path(config_file), {})

    def _load(self, path: Path, info: dict[str, Any]) -> None:
        self._predictor = build_predictor(path, info)
        self._definition = self._predictor.client.definition

    @property
    def definition(self) -> ModelDefinition | None:
        """The loaded model definition, or ``None`` before loading."""
        return self._definition

    def load_context(self, context: Any) -> None:
        """Build the client from the ``config_file`` artifact of the loaded model.

        Raises:
            ConfigError: the model has no config artifact (a ``ValueError``).
            ConfigFileNotFoundError: the artifact file is missing (a ``FileNotFoundError``).
        """
        artifacts = getattr(context, "artifacts", None) or {}
        path = artifacts.get(ARTIFACT_KEY)
        if not path:
            raise ConfigError(
                f"the model has no '{ARTIFACT_KEY}' artifact: save it with CustomSaver, "
                "which writes the model definition JSON"
            )
        config = Path(path)
        info = model_info_from_files(config) if config.is_file() else {}
        self._load(config, info)

    # model_input stays unannotated: MLflow turns a type hint on it into its own input
    # conversion and validation, which would bypass the chat schema checks below.
    def predict(self, context: Any, model_input, params: dict[str, Any] | None = None) -> Any:  # type: ignore[no-untyped-def]
        """Answer each row of ``model_input``.

        Args:
            context: MLflow's model context (unused after load).
            model_input: a DataFrame (``input`` or ``messages`` column), a list of
                strings or row dicts, a dict, or :class:`~llmreg.schemas.Inputs`.
            params: ``temperature``, ``max_tokens``, ``top_p``, ``seed``, ``strict``.

        Returns:
            :class:`~llmreg.schemas.Outputs`; a DataFrame with the columns ``prediction``
            and ``metadata`` when ``model_input`` was a DataFrame (MLflow serving).

        Raises:
            ConfigError: the model was not loaded.
            SchemaError: the input does not fit the chat schema.
            PredictionError: ``strict`` is set and a row failed.
        """
        if self._predictor is None:
            raise ConfigError(
                "the adapter has no model definition: load it with mlflow.pyfunc.load_model "
                "or pass config_file"
            )
        outputs: Outputs = self._predictor.predict(to_inputs(model_input), params)
        return outputs_to_frame(outputs) if is_dataframe(model_input) else outputs
