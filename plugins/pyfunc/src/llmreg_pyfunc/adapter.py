"""The pyfunc adapter: an ``mlflow.pyfunc.PythonModel`` that answers through a llmreg client.

MLflow loads it in any process (``mlflow.pyfunc.load_model``, ``mlflow models
serve``, a Spark UDF); it reads the definition from its artifact and answers
through the core's :class:`~llmreg.adapter.ClientAdapter`, so it predicts exactly
as :class:`~llmreg_pyfunc.loader.CustomLoader`'s adapters do.

Called by MLflow (which passes a model context), it answers in MLflow's shapes
(:mod:`llmreg_pyfunc.served`): a DataFrame for rows, a chat completion for a chat
request, an ``MlflowException`` with llmreg's one-line message for an error; called
with ``context=None``, it returns :class:`~llmreg.schemas.Outputs` and raises llmreg's
errors.

This module imports mlflow; the plugin's entry point and the registered classes
reach it only lazily (``CustomSaver.Adapter``), so ``llmreg plugins`` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import pandas as pd
from mlflow.pyfunc.model import PythonModel

from llmreg.adapter import ClientAdapter
from llmreg.definition import ModelDefinition
from llmreg.errors import ConfigError, LlmregError
from llmreg.schemas import Inputs, Outputs
from llmreg_pyfunc.frames import is_dataframe, outputs_to_frame, to_inputs
from llmreg_pyfunc.layout import ARTIFACT_KEY
from llmreg_pyfunc.tracing import TracedAdapter

if TYPE_CHECKING:
    from llmreg.manager import PluginManager

    #: What :meth:`PyfuncAdapter.predict` takes.
    ModelInput: TypeAlias = pd.DataFrame | Inputs | str | list[Any] | dict[str, Any]
else:
    # The hint MLflow reads on ``predict`` (it reads hints at run time): pandas.DataFrame
    # is one MLflow infers no schema from and converts nothing to, so the saved signature
    # stays the saver's (llmreg_pyfunc.chat_schema) and every input form reaches the model
    # as sent; and a hinted predict no longer makes MLflow warn "Add type hints to the
    # `predict` method" at every load. Type checkers see the forms it takes (above).
    ModelInput = pd.DataFrame


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

        The model's :attr:`info` (and so every row's metadata) names the registered
        ``name``, ``version`` and ``alias`` it was loaded through, where MLflow tells
        (see :func:`llmreg_pyfunc.served.loaded_through`).

        Raises:
            ConfigError: the model has no config artifact (a ``ValueError``).
            ConfigFileNotFoundError: the artifact file is missing (a ``FileNotFoundError``).
            UnknownKindError: no installed plugin provides the definition's provider.
        """
        from llmreg_pyfunc.model_files import definition_from_context
        from llmreg_pyfunc.served import loaded_through

        definition, info = definition_from_context(context)
        path = (getattr(context, "artifacts", None) or {}).get(ARTIFACT_KEY)
        origin = loaded_through(Path(path)) if path else {}
        self._use(definition, {**info, **origin})

    def predict(
        self, context: Any, model_input: ModelInput, params: dict[str, Any] | None = None
    ) -> Any:
        """Answer each row of ``model_input``.

        Args:
            context: MLflow's model context, which MLflow always passes; ``None`` when
                called directly (then the answer is llmreg's, see Returns).
            model_input: a DataFrame (``input`` or ``messages`` column), a list of
                strings or row dicts, a dict (a chat request ``{"messages": [...]}``, a row,
                or the columnar ``{"input": [...]}``), or :class:`~llmreg.schemas.Inputs`.
            params: ``temperature``, ``max_tokens``, ``top_p``, ``seed``, ``stop``,
                ``concurrency``, ``strict``.

        Returns:
            Called by MLflow (with a ``context``): a chat completion dict (MLflow's
            ``ChatCompletionResponse`` shape) for a chat request, else a DataFrame with
            the columns ``prediction`` and ``metadata``. Called with ``context=None``: a
            DataFrame for a DataFrame, else :class:`~llmreg.schemas.Outputs`.

        Raises:
            ConfigError: the model was not loaded.
            SchemaError: the input does not fit the chat schema.
            PredictionError: ``strict`` is set and a row failed.
            MlflowException: called by MLflow, any llmreg error is also an
                ``MlflowException`` (still an instance of its llmreg class) whose message
                is llmreg's one line (see :func:`llmreg_pyfunc.served.mlflow_error`).
        """
        if self._adapter is None:
            raise ConfigError(
                "the adapter has no model definition: load it with mlflow.pyfunc.load_model "
                "or pass config_file"
            )
        if context is None:
            outputs: Outputs = self._adapter.predict(to_inputs(model_input), params)
            return outputs_to_frame(outputs) if is_dataframe(model_input) else outputs
        try:
            return self._predict_for_mlflow(self._adapter, model_input, params)
        except LlmregError as exc:
            from llmreg_pyfunc.served import mlflow_error

            raise mlflow_error(exc) from exc

    @staticmethod
    def _predict_for_mlflow(
        adapter: ClientAdapter, model_input: Any, params: dict[str, Any] | None
    ) -> Any:
        from llmreg_pyfunc.served import (
            chat_response,
            is_chat_request,
            plain_input,
            split_chat_request,
        )

        model_input = plain_input(model_input)
        if is_chat_request(model_input):
            rows, merged = split_chat_request(model_input, params)
            return chat_response(adapter.predict(Inputs.parse(rows), merged))
        return outputs_to_frame(adapter.predict(to_inputs(model_input), params))

    def close(self) -> None:
        """Close the client. Safe to call twice; a later :meth:`load_context` builds another."""
        adapter, self._adapter = self._adapter, None
        if adapter is not None:
            adapter.close()


__all__ = ["PyfuncAdapter"]
