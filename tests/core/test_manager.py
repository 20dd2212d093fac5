"""The plugin manager: entry points, allow/block lists, versions, failures, conflicts.

The tox env `core` installs three test plugins from tests/plugins: `llmreg-example`
(a working Saver and Loader), `llmreg-broken` (raises on import) and
`llmreg-incompatible` (requires llmreg>=99).
"""

import os
import threading
from typing import Literal

import pytest

from llmreg import Saver, hookimpl
from llmreg.errors import (
    ConfigError,
    PluginConflictError,
    PluginLoadError,
    UnknownKindError,
)
from llmreg.manager import LlmregPluginWarning, create_plugin_manager
from llmreg.testing import echo_plugin, isolated_manager, registered


def _manager(**kw):
    kw.setdefault("load_plugins", "llmreg-example,llmreg-broken,llmreg-incompatible")
    kw.setdefault("disable_plugins", "")
    return create_plugin_manager(**kw)


def test_entry_point_plugin_is_found_and_described():
    with pytest.warns(LlmregPluginWarning):
        pm = _manager()
        infos = {p.name: p for p in pm.plugins()}
    example = infos["example"]
    assert example.distribution == "llmreg-example"
    assert example.version == "0.1.0"
    assert example.hooks == ["llmreg_register_loaders", "llmreg_register_savers"]
    assert example.kinds == {"saver": ["FolderSaver"], "loader": ["FolderLoader"]}
    assert pm.kinds("saver")["FolderSaver"].distribution == "llmreg-example"


def test_plugin_that_raises_on_import_is_reported_not_fatal():
    with pytest.warns(LlmregPluginWarning, match="llmreg-broken"):
        pm = _manager()
        problems = {p.distribution: p for p in pm.problems}
    broken = problems["llmreg-broken"]
    assert broken.status == "failed"
    assert broken.version == "0.0.1"
    assert "ImportError" in broken.reason and "not installed" in broken.reason
    assert "FolderSaver" in pm.kinds("saver")  # the host goes on


def test_strict_mode_turns_failures_into_errors():
    pm = _manager(load_plugins="llmreg-broken", strict=True)
    with pytest.raises(PluginLoadError, match="llmreg-broken"):
        pm.load()


def test_strict_env_variable(monkeypatch):
    monkeypatch.setenv("LLMREG_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError):
        create_plugin_manager(load_plugins="llmreg-broken", disable_plugins="").load()


def test_incompatible_plugin_is_skipped_before_import():
    os.environ.pop("LLMREG_INCOMPATIBLE_WAS_IMPORTED", None)
    with pytest.warns(LlmregPluginWarning, match="llmreg>=99"):
        pm = _manager(load_plugins="llmreg-incompatible")
        problems = pm.problems
    statuses = {p.distribution: p.status for p in problems}
    assert statuses["llmreg-incompatible"] == "incompatible"
    assert "LLMREG_INCOMPATIBLE_WAS_IMPORTED" not in os.environ


def test_allow_list_loads_only_named_distributions():
    pm = _manager(load_plugins="llmreg-example")
    assert [p.distribution for p in pm.plugins()] == ["llmreg-example"]
    assert {p.status for p in pm.problems} == {"not-allowed"}


def test_empty_allow_list_loads_nothing():
    pm = _manager(load_plugins="")
    assert pm.plugins() == []
    assert pm.kinds("saver") == {}


def test_block_list_and_star(monkeypatch):
    monkeypatch.setenv("LLMREG_LOAD_PLUGINS", "llmreg-example")
    monkeypatch.setenv("LLMREG_DISABLE_PLUGINS", "llmreg_example")  # names are normalised
    pm = create_plugin_manager()
    assert pm.plugins() == []
    assert {p.distribution: p.status for p in pm.problems}["llmreg-example"] == "blocked"
    monkeypatch.setenv("LLMREG_DISABLE_PLUGINS", "*")
    assert create_plugin_manager().plugins() == []


def test_unknown_kind_lists_installed_and_names_blocked_distribution():
    pm = _manager(load_plugins="llmreg-example")
    with pytest.raises(UnknownKindError) as info:
        pm.saver({"KIND": "CustomSaver"})
    message = str(info.value)
    assert "'CustomSaver'" in message and "FolderSaver" in message and "llmreg-pyfunc" in message
    blocked = _manager(load_plugins="llmreg-example", disable_plugins="llmreg-example")
    with pytest.raises(UnknownKindError, match="blocked by LLMREG_DISABLE_PLUGINS"):
        blocked.saver({"KIND": "FolderSaver"})


def test_build_validates_config_into_registered_class(tmp_path):
    pm = _manager(load_plugins="llmreg-example")
    saver = pm.saver({"KIND": "FolderSaver", "root": str(tmp_path), "path": "m"})
    assert type(saver).__name__ == "FolderSaver" and saver.root == str(tmp_path)
    with pytest.raises(ConfigError, match="path"):
        pm.saver({"KIND": "FolderSaver", "path": "a b/c"})
    with pytest.raises(ConfigError, match="KIND"):
        pm.saver({"path": "m"})
    with pytest.raises(ConfigError, match="object"):
        pm.saver(["FolderSaver"])


class OneSaver(Saver):
    KIND: Literal["Same"] = "Same"

    def save(self, model, signature=None, input_example=None):
        return None


class OtherSaver(Saver):
    KIND: Literal["Same"] = "Same"

    def save(self, model, signature=None, input_example=None):
        return None


class _SaverPlugin:
    def __init__(self, cls):
        self.cls = cls

    @hookimpl
    def llmreg_register_savers(self, register):
        register(self.cls)


def test_duplicate_kind_names_both_distributions():
    pm = create_plugin_manager(autoload=False)
    pm.register_plugin(_SaverPlugin(OneSaver), "one", distribution="dist-one")
    pm.register_plugin(_SaverPlugin(OtherSaver), "two", distribution="dist-two")
    with pytest.raises(PluginConflictError) as info:
        pm.kinds("saver")
    assert "dist-one" in str(info.value) and "dist-two" in str(info.value)


def test_dispatch_does_not_depend_on_load_order():
    a, b = _SaverPlugin(OneSaver), echo_plugin
    first = isolated_manager(a, b)
    second = isolated_manager(b, a)
    assert first.kinds("saver").keys() == second.kinds("saver").keys()
    assert first.providers().keys() == second.providers().keys() == {"echo"}


def test_registering_a_non_saver_is_a_load_error():
    class Bad:
        @hookimpl
        def llmreg_register_savers(self, register):
            register(dict)

    with pytest.raises(PluginLoadError, match="not a subclass"):
        isolated_manager(Bad()).kinds("saver")


def test_unknown_hook_is_reported_and_plugin_dropped():
    class Typo:
        @hookimpl
        def llmreg_register_saver(self, register):  # missing "s"
            register(OneSaver)

    pm = create_plugin_manager(autoload=False)
    pm.register_plugin(Typo(), "typo", distribution="typo-dist")
    with pytest.warns(LlmregPluginWarning, match="unknown hook llmreg_register_saver"):
        pm.load()
    assert [p.distribution for p in pm.problems] == ["typo-dist"]
    assert pm.plugins() == []


def test_load_is_idempotent_and_thread_safe():
    pm = _manager(load_plugins="llmreg-example")
    errors = []

    def work():
        try:
            pm.load()
            pm.kinds("saver")
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pm.load()
    assert errors == []
    assert [p.name for p in pm.plugins()] == ["example"]


def test_registered_context_manager_and_echo_client():
    pm = isolated_manager()
    with registered(echo_plugin, pm):
        from llmreg import ModelDefinition, Request

        client = pm.client(ModelDefinition(provider="echo", model="e"))
        assert client.complete(Request(input="hi")).text == "echo: hi"
    with pytest.raises(UnknownKindError, match="provider 'echo'"):
        pm.client_factory("echo")


def test_example_plugin_round_trip(tmp_path):
    pm = _manager(load_plugins="llmreg-example")
    pm.register_plugin(echo_plugin)
    from llmreg import ModelDefinition
    from llmreg.manager import set_plugin_manager

    uri = pm.saver({"KIND": "FolderSaver", "root": str(tmp_path)}).save(
        ModelDefinition(provider="echo", model="e")
    )
    set_plugin_manager(pm)
    try:
        adapter = pm.loader({"KIND": "FolderLoader"}).load(uri)
        out = adapter.predict(["one", "!fail", "three"])
    finally:
        set_plugin_manager(None)
    assert out.predictions == ["echo: one", None, "echo: three"]
    assert out.rows[1].metadata["status"] == "error"


def test_strict_failure_is_raised_again_on_the_next_load():
    pm = _manager(load_plugins="llmreg-example,llmreg-broken", strict=True)
    with pytest.raises(PluginLoadError, match="llmreg-broken"):
        pm.load()
    with pytest.raises(PluginLoadError, match="llmreg-broken"):
        pm.kinds("saver")  # still strict: no quiet success with half the plugins


def test_register_called_with_too_many_arguments_is_a_load_error():
    class Chatty:
        @hookimpl
        def llmreg_register_providers(self, register):
            register("a", OneSaver, "extra")

    with pytest.raises(PluginLoadError, match="3 arguments"):
        isolated_manager(Chatty()).providers()
