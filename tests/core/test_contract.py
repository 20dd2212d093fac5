"""The contract kit, run against the example plugin as a third party would."""

from llmreg.testing.contract import LoaderContract, SaverContract
from llmreg_example.folder import FolderLoader, FolderSaver


class TestFolderSaverContract(SaverContract):
    component_class = FolderSaver
    config = {"KIND": "FolderSaver", "path": "m"}


class TestFolderLoaderContract(LoaderContract):
    component_class = FolderLoader
    config = {"KIND": "FolderLoader"}
