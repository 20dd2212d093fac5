"""Reading a saved llmreg pyfunc model's files: its format marker and its definition.

Shared by :class:`~llmreg_pyfunc.loader.CustomLoader` (a downloaded model folder)
and the pyfunc adapters' ``load_context`` (the artifacts MLflow hands a loaded
model). The ``MLmodel`` is parsed by the MLflow layer
(:func:`llmreg_mlflow.store.resolve.read_mlmodel`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmreg.definition import ModelDefinition
from llmreg.errors import ConfigError, SecretResolutionError, UnsupportedModelFormatError
from llmreg_pyfunc.layout import ARTIFACT_KEY, ARTIFACTS_DIR, CONFIG_KEY, FORMAT, FORMAT_KEY


def definition_path(model_dir: Path, what: str) -> Path:
    """Check that ``model_dir`` holds a llmreg pyfunc model; return its definition JSON path.

    Raises:
        UnsupportedModelFormatError: no or unreadable ``MLmodel``, another flavor,
            no llmreg marker, or a missing definition artifact.
    """
    from llmreg_mlflow.store.resolve import read_mlmodel

    model = read_mlmodel(model_dir / "MLmodel", what)
    metadata = model.metadata or {}
    if not isinstance(metadata, dict) or metadata.get(FORMAT_KEY) != FORMAT:
        raise UnsupportedModelFormatError(
            f"{what} was not saved by llmreg's CustomSaver (MLmodel metadata has no "
            f"{FORMAT_KEY}: {FORMAT}); load it with mlflow.pyfunc.load_model instead"
        )
    if "python_function" not in model.flavors:
        raise UnsupportedModelFormatError(f"{what} has no python_function flavor")
    name = metadata.get(CONFIG_KEY)
    path = model_dir / ARTIFACTS_DIR / str(name)
    if not isinstance(name, str) or not path.is_file():
        raise UnsupportedModelFormatError(
            f"{what} is incomplete: its model definition artifact {name!r} is missing. "
            "Save the model again."
        )
    return path


def read_definition(path: Path, what: str) -> ModelDefinition:
    """Read the definition JSON a saved model holds.

    Raises:
        UnsupportedModelFormatError: it is not a valid definition.
        SecretResolutionError: never here (references are resolved by the provider), but
            passed on unchanged should a validator resolve one.
    """
    try:
        return ModelDefinition.from_file(path)
    except SecretResolutionError:
        raise
    except ConfigError as exc:
        raise UnsupportedModelFormatError(
            f"{what} holds an unreadable model definition: {exc}"
        ) from None


def info_from_files(config_path: Path) -> dict[str, Any]:
    """Return ``model_uri`` (``models:/m-<id>``) and ``run_id`` from the ``MLmodel`` beside
    the artifacts folder holding ``config_path``, or ``{}`` where there is none."""
    from llmreg_mlflow.store.resolve import model_info, read_mlmodel

    mlmodel = config_path.parent.parent / "MLmodel"
    if not mlmodel.is_file():
        return {}
    return model_info(read_mlmodel(mlmodel, str(config_path.parent.parent)))


def definition_from_context(context: Any) -> tuple[ModelDefinition, dict[str, Any]]:
    """Return the definition and info of the model MLflow loaded, from its ``context``.

    ``context.artifacts`` maps :data:`~llmreg_pyfunc.layout.ARTIFACT_KEY` to the
    definition JSON that :class:`~llmreg_pyfunc.saver.CustomSaver` saved.

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
    definition = ModelDefinition.from_file(config)
    return definition, info_from_files(config)


__all__ = ["definition_from_context", "definition_path", "info_from_files", "read_definition"]
