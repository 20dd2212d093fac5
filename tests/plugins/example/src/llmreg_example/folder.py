"""FolderSaver and FolderLoader: a model is a folder holding its definition as JSON."""

from pathlib import Path
from typing import Literal

from llmreg import Adapter, Loader, ModelDefinition, SavedModel, Saver, errors


class FolderSaver(Saver):
    """Writes ``model.to_json()`` to ``<path>/<config_file>``; the URI is ``folder:<path>``."""

    KIND: Literal["FolderSaver"] = "FolderSaver"

    def save(self, model: ModelDefinition, signature=None, input_example=None) -> SavedModel:
        Path(self.path).mkdir(exist_ok=True)
        Path(self.path, self.config_file).write_text(model.to_json(), encoding="utf-8")
        return SavedModel(uri=f"folder:{self.path}")


class FolderLoader(Loader):
    """Reads a ``folder:<path>`` URI back; the core's ClientAdapter answers through it."""

    KIND: Literal["FolderLoader"] = "FolderLoader"
    config_file: str = "model_definition.json"

    def load(self, uri: str) -> Adapter:
        if not uri.startswith("folder:") or uri == "folder:":
            raise errors.InvalidModelURIError(f"{uri!r} is not a folder URI: write folder:<path>")
        file = Path(uri.removeprefix("folder:"), self.config_file)
        if not file.is_file():
            raise errors.ModelNotFoundError(f"no model at {uri!r}: {file} does not exist")
        return self.adapter(ModelDefinition.from_file(file), {"model_uri": uri})
