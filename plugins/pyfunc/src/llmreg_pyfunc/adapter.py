"""The pyfunc adapter: an ``mlflow.pyfunc.PythonModel`` that answers through a llmreg client.

MLflow loads it in any process (``mlflow.pyfunc.load_model``, ``mlflow models
serve``, a Spark UDF); it reads the definition from its artifact and answers
through the core's :class:`~llmreg.adapter.ClientAdapter`, so it predicts exactly
as :class:`~llmreg_pyfunc.loader.CustomLoader`'s adapters do.

This module imports mlflow; the plugin's entry point and the registered classes
reach it only lazily (``CustomSaver.Adapter``), so ``llmreg plugins`` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow.pyfunc.model import PythonModel

from llmreg.adapter import ClientAdapter
from llmreg.definition import ModelDefinition
from llmreg.errors import ConfigError
from llmreg.schemas import Outputs
from llmreg_pyfunc.frames import is_dataframe, outputs_to_frame, to_inputs
from llmreg_pyfunc.tracing import TracedAdapter

if TYPE_CHECKING:
    from llmreg.manager import PluginManager


class PyfuncAdapter(PythonModel):
    """The MLflow model: reads the definition from its ``config_file`` artifact at load.

    Args:
        config_file: optional path of a definition JSON, or a
            :class:`~llmreg.definition.ModelDefinition`; when given, the client is
            built now instead of in :meth:`load_context`.
        model: a :class:`~llmreg.definition.ModelDefinition` to answer for (instead of
            ``config_file``).
        manager: the plugin manager that builds the client; the process's default
            manager (resolved by the core) when ``None``.

    Raises:
        ConfigError: ``config_file`` or ``model`` is neither a path nor a definition, or
            both are given.
    """

    def __init__(
        self,
        config_file: str | os.PathLike[str] | ModelDefinition | None = None,
        *,
        model: ModelDefinition | None = None,
        manager: PluginManager | None = None,
    ) -> None:
        self._manager = manager
        self._adapter: ClientAdapter | None = None
        if isinstance(config_file, ModelDefinition):
            if model is not None:
                raise ConfigError("pass the definition once: config_file or model, not both")
            config_file, model = None, config_file
        if model is not None:
            if not isinstance(model, ModelDefinition):
                raise ConfigError(
                    f"model must be a llmreg ModelDefinition, not {type(model).__name__}; or "
                    "pass config_file, the path of a model definition JSON"
                )
            self._use(model, {})
        elif config_file is not None:
            if not isinstance(config_file, str | os.PathLike):
                raise ConfigError(
                    f"config_file must be the path of a model definition JSON, not "
                    f"{type(config_file).__name__}; or pass model=ModelDefinition(...)"
                )
            from llmreg_pyfunc.model_files import info_from_files

            path = Path(config_file)
            self._use(ModelDefinition.from_file(path), info_from_files(path))

    def _use(self, definition: ModelDefinition, info: dict[str, Any]) -> None:
        previous, self._adapter = (
            self._adapter,
            TracedAdapter.build(definition, info, manager=self._manager),
        )
        if previous is not None:
            previous.close()

    @property
    def definition(self) -> ModelDefinition | None:
        """The loaded model definition, or ``None`` before loading."""
        return self._adapter.definition if self._adapter is not None else None

    @property
    def info(self) -> dict[str, Any]:
        """``model_uri`` (``models:/m-<id>``) and ``run_id`` of the loaded model, where known."""
        return self._adapter.info if self._adapter is not None else {}

    def load_context(self, context: Any) -> None:
        """Build the client from the ``config_file`` artifact of the loaded model.

        Raises:
            ConfigError: the model has no config artifact (a ``ValueError``).
            ConfigFileNotFoundError: the artifact file is missing (a ``FileNotFoundError``).
            UnknownKindError: no installed plugin provides the definition's provider.
        """
        from llmreg_pyfunc.model_files import definition_from_context

        self._use(*definition_from_context(context))

    # model_input stays unannotated: MLflow turns a type hint on it into its own input
    # conversion and validation, which would bypass the chat schema checks below.
    def predict(self, context: Any, model_input, params: dict[str, Any] | None = None) -> Any:  # type: ignore[no-untyped-def]
        """Answer each row of ``model_input``.

        Args:
            context: MLflow's model context (unused after load).
            model_input: a DataFrame (``input`` or ``messages`` column), a list of
                strings or row dicts, a dict, or :class:`~llmreg.schemas.Inputs`.
            params: ``temperature``, ``max_tokens``, ``top_p``, ``seed``, ``stop``,
                ``concurrency``, ``strict``.

        Returns:
            :class:`~llmreg.schemas.Outputs`; a DataFrame with the columns ``prediction``
            and ``metadata`` when ``model_input`` was a DataFrame (MLflow serving).

        Raises:
            ConfigError: the model was not loaded.
            SchemaError: the input does not fit the chat schema.
            PredictionError: ``strict`` is set and a row failed.
        """
        if self._adapter is None:
            raise ConfigError(
                "the adapter has no model definition: load it with mlflow.pyfunc.load_model "
                "or pass config_file"
            )
        outputs: Outputs = self._adapter.predict(to_inputs(model_input), params)
        return outputs_to_frame(outputs) if is_dataframe(model_input) else outputs

    def close(self) -> None:
        """Close the client. Safe to call twice; a later :meth:`load_context` builds another."""
        adapter, self._adapter = self._adapter, None
        if adapter is not None:
            adapter.close()


__all__ = ["PyfuncAdapter"]
