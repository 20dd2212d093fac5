"""A loader that declares a capability (docs/writing-a-plugin.md shows this file)."""

from typing import Literal

from llmreg.capabilities import SparkPredictor, require
from llmreg_example.folder import FolderLoader


class SparkFolderLoader(FolderLoader, SparkPredictor):
    """A FolderLoader that also answers a JSON Lines file on Spark (llmreg predict --spark)."""

    KIND: Literal["SparkFolderLoader"] = "SparkFolderLoader"

    def spark_predict(self, model_uri, file, output=None, *, master=None, concurrency=None):
        raise NotImplementedError("run the job on Spark here; see SparkPredictor")


loader = SparkFolderLoader()
assert require(loader, SparkPredictor, "loader") is loader  # the CLI asks the same way
