"""FolderSaver and FolderLoader: a model is a folder holding its definition as JSON."""

from pathlib import Path
from typing import Literal

from llmreg import Adapter, Loader, ModelDefinition, SavedModel, Saver, errors


class FolderSaver(Saver):
    """Writes ``model.to_json()`` to ``<root>/<path>/<config_file>``; the URI names the folder."""

    KIND: Literal["FolderSaver"] = "FolderSaver"
    root: str = "."

    def save(self, model: ModelDefinition, signature=None, input_example=None) -> SavedModel:
        (folder := Path(self.root, self.path)).mkdir(parents=True, exist_ok=True)
        (folder / self.config_file).write_text(model.to_json(), encoding="utf-8")
        return SavedModel(uri=f"folder:{folder}")


class FolderLoader(Loader):
    """Reads a ``folder:<dir>`` URI back; the core's ClientAdapter answers through it."""

    KIND: Literal["FolderLoader"] = "FolderLoader"
    config_file: str = "model_definition.json"

    def load(self, uri: str) -> Adapter:
        if not uri.startswith("folder:") or uri == "folder:":
            raise errors.InvalidModelURIError(f"{uri!r} is not a folder URI: write folder:<dir>")
        if not (file := Path(uri.removeprefix("folder:"), self.config_file)).is_file():
            raise errors.ModelNotFoundError(f"no model at {uri}: {file} does not exist")
        return self.adapter(ModelDefinition.from_file(file), {"model_uri": uri})
