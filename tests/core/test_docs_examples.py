"""The code examples of docs/writing-a-plugin.md, run as written (the page includes them)."""

import pytest

from llmreg.manager import get_plugin_manager, set_plugin_manager
from llmreg.testing import echo_plugin, registered


@pytest.fixture
def default_manager_with_echo():
    set_plugin_manager(None)
    with registered(echo_plugin, get_plugin_manager()):
        yield
    set_plugin_manager(None)


@pytest.mark.usefixtures("default_manager_with_echo")
def test_use_the_example_plugin(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # --8<-- [start:use]
    from llmreg import ModelDefinition, get_plugin_manager

    pm = get_plugin_manager()
    saver = pm.saver({"KIND": "FolderSaver", "root": "models", "path": "chat"})
    uri = saver.save(ModelDefinition(provider="echo", model="demo", api_key="env:DEMO_KEY"))
    adapter = pm.loader({"KIND": "FolderLoader"}).load(uri)
    print(uri, adapter.predict(["hello"]).predictions)  # folder:models/chat ['echo: hello']
    # --8<-- [end:use]
    assert capsys.readouterr().out.strip() == "folder:models/chat ['echo: hello']"
    saved = (tmp_path / "models/chat/model_definition.json").read_text()
    assert '"api_key": "env:DEMO_KEY"' in saved


@pytest.mark.usefixtures("default_manager_with_echo")
def test_resolve_kinds_and_providers():
    # --8<-- [start:resolve]
    from llmreg import ModelDefinition, get_plugin_manager

    pm = get_plugin_manager()  # one per process, created on first use
    saver = pm.saver({"KIND": "FolderSaver", "root": "models"})  # validated and frozen
    client = pm.client(ModelDefinition(provider="echo", model="demo"))  # the provider's Client
    # --8<-- [end:resolve]
    assert type(saver).__name__ == "FolderSaver"
    assert type(client).__name__ == "EchoClient"
