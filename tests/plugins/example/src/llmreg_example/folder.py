"""FolderSaver and FolderLoader: a model is a folder holding its definition as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from llmreg import Adapter, Inputs, Loader, ModelDefinition, Outputs, Result, Saver
from llmreg.errors import InvalidModelURIError, ModelNotFoundError, PredictionError
from llmreg.manager import get_plugin_manager


class FolderSaver(Saver):
    """Writes the model definition to ``<root>/<path>/<config_file>``."""

    KIND: Literal["FolderSaver"] = "FolderSaver"
    root: str = "."

    def save(self, model: ModelDefinition, signature: Any = None, input_example: Any = None) -> str:
        """Save ``model`` and return its URI, ``folder:<dir>``."""
        text = model.to_json()  # raises SecretPersistError for a literal key
        folder = Path(self.root) / self.path
        folder.mkdir(parents=True, exist_ok=True)
        (folder / self.config_file).write_text(text, encoding="utf-8")
        return f"folder:{folder}"


class FolderAdapter(Adapter):
    """Answers through the client of the definition's provider."""

    def __init__(self, definition: ModelDefinition) -> None:
        self._definition = definition
        self._client = get_plugin_manager().client(definition)

    @property
    def definition(self) -> ModelDefinition:
        """The loaded model definition."""
        return self._definition

    def predict(self, inputs: Any, params: dict[str, Any] | None = None) -> Outputs:
        """Answer every row; a failed row gets ``status: error`` and no prediction."""
        rows = Inputs.parse(inputs).rows
        results = []
        for done in self._client.batch(rows):
            if isinstance(done, Exception):
                if (params or {}).get("strict"):
                    raise PredictionError(str(done)) from done
                results.append(
                    Result(prediction=None, metadata={"status": "error", "error": str(done)})
                )
            else:
                results.append(
                    Result(prediction=done.text, metadata={"status": "ok", **done.metadata()})
                )
        return Outputs(rows=results)


class FolderLoader(Loader):
    """Loads ``folder:<dir>`` URIs written by :class:`FolderSaver`."""

    KIND: Literal["FolderLoader"] = "FolderLoader"
    config_file: str = "model_definition.json"

    def load(self, uri: str) -> FolderAdapter:
        """Read the definition back and build its client."""
        if not uri.startswith("folder:"):
            raise InvalidModelURIError(f"{uri!r} is not a folder: URI; write folder:<dir>")
        file = Path(uri.removeprefix("folder:")) / self.config_file
        if not file.is_file():
            raise ModelNotFoundError(f"no model at {uri}: {file} does not exist")
        return FolderAdapter(ModelDefinition.from_file(file))
