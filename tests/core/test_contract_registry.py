"""The kit's register checks, and the round trip by registry URIs, on the guide's SqliteRegister."""

from llmreg.testing.contract import RegisterContract, RoundTripContract
from llmreg_example import plugin as example
from llmreg_example import registry
from llmreg_example.registry import SqliteRegister


class TestSqliteRegister(RegisterContract):
    component_class = SqliteRegister
    config = {"KIND": "SqliteRegister"}


class TestRegistryRoundTrip(RoundTripContract):
    plugin = registry
    extra_plugins = (example,)  # FolderSaver, from the example's entry point module
    saver = {"KIND": "FolderSaver"}
    loader = {"KIND": "RegistryLoader"}
    register = {"KIND": "SqliteRegister"}
