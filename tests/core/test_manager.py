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
    assert example.hooks == [
        "llmreg_register_loaders",
        "llmreg_register_providers",
        "llmreg_register_savers",
    ]
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


def test_duplicate_kind_is_reported_and_fails_only_its_users():
    pm = create_plugin_manager(autoload=False)
    pm.register_plugin(_SaverPlugin(OneSaver), "one", distribution="dist-one")
    pm.register_plugin(_SaverPlugin(OtherSaver), "two", distribution="dist-two")
    pm.register_plugin(echo_plugin, "echo", distribution="llmreg")
    # listing still works, and shows both
    assert "Same" in pm.kinds("saver")
    [conflict] = pm.conflicts()
    assert conflict.name == "Same" and len(conflict.by) == 2
    assert pm.report()["conflicts"][0]["by"] == ["one (dist-one)", "two (dist-two)"]
    assert {p.name for p in pm.plugins()} == {"one", "two", "echo"}
    # what does not use the name works
    assert "echo" in pm.providers()
    # what uses it fails, naming both distributions
    with pytest.raises(PluginConflictError) as info:
        pm.saver({"KIND": "Same"})
    assert "dist-one" in str(info.value) and "dist-two" in str(info.value)


def test_dispatch_does_not_depend_on_load_order():
    a, b = _SaverPlugin(OneSaver), echo_plugin
    first = isolated_manager(a, b)
    second = isolated_manager(b, a)
    assert first.kinds("saver").keys() == second.kinds("saver").keys()
    assert first.providers().keys() == second.providers().keys() == {"echo"}


def test_registering_a_non_saver_isolates_that_plugin():
    class Bad:
        @hookimpl
        def llmreg_register_savers(self, register):
            register(dict)

    pm = create_plugin_manager(autoload=False)
    pm.register_plugin(Bad(), "bad", distribution="dist-bad")
    pm.register_plugin(_SaverPlugin(OneSaver), "one", distribution="dist-one")
    with pytest.warns(LlmregPluginWarning, match="dist-bad"):
        assert list(pm.kinds("saver")) == ["Same"]
    [problem] = pm.problems
    assert problem.name == "bad" and problem.distribution == "dist-bad"
    assert "not a subclass" in problem.reason
    strict = create_plugin_manager(autoload=False, strict=True)
    strict.register_plugin(Bad(), "bad", distribution="dist-bad")
    with pytest.raises(PluginLoadError, match="not a subclass"):
        strict.kinds("saver")


def test_a_hook_that_raises_is_named_not_unexpected():
    class Raises:
        @hookimpl
        def llmreg_register_providers(self, register):
            raise ValueError("boom in the hook")

    pm = create_plugin_manager(autoload=False)
    pm.register_plugin(Raises(), "raises", distribution="dist-raises", version="1.2")
    pm.register_plugin(echo_plugin, "echo", distribution="llmreg")
    with pytest.warns(LlmregPluginWarning, match="plugin raises .distribution dist-raises."):
        assert list(pm.providers()) == ["echo"]
    [problem] = pm.problems
    assert problem.status == "failed" and problem.version == "1.2"
    assert "ValueError: boom in the hook" in problem.reason


def test_hooks_go_through_pluggys_call_path():
    seen = []
    pm = isolated_manager(echo_plugin, _SaverPlugin(OneSaver))
    undo = pm.pluggy.add_hookcall_monitoring(
        lambda name, impls, kwargs: seen.append(name), lambda *a: None
    )
    try:
        pm.providers()
    finally:
        undo()
    assert "llmreg_register_providers" in seen and "llmreg_register_savers" in seen


def test_lazy_registration_imports_on_first_use():
    import sys

    class Lazy:
        @hookimpl
        def llmreg_register_savers(self, register):
            register("LazySaver", "lazy_saver_mod:LazySaver")

    sys.modules.pop("lazy_saver_mod", None)
    pm = isolated_manager(Lazy())
    assert list(pm.kinds("saver")) == ["LazySaver"]
    assert "lazy_saver_mod" not in sys.modules
    with pytest.raises(PluginLoadError, match="lazy_saver_mod"):
        pm.saver({"KIND": "LazySaver"})


def test_lazy_registration_builds_the_named_class(tmp_path, monkeypatch):
    (tmp_path / "lazy_ok_mod.py").write_text(
        "from typing import Literal\n"
        "from llmreg import Saver, SavedModel\n"
        "class LazyOk(Saver):\n"
        "    KIND: Literal['LazyOk'] = 'LazyOk'\n"
        "    def save(self, model, signature=None, input_example=None):\n"
        "        return SavedModel(uri='x')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    class Lazy:
        @hookimpl
        def llmreg_register_savers(self, register):
            register("LazyOk", "lazy_ok_mod:LazyOk")
            register("Misnamed", "lazy_ok_mod:LazyOk")

    pm = isolated_manager(Lazy())
    saver = pm.saver({"KIND": "LazyOk"})
    assert type(saver).__name__ == "LazyOk" and saver.manager is pm
    with pytest.raises(PluginLoadError, match="has KIND 'LazyOk', not 'Misnamed'"):
        pm.saver({"KIND": "Misnamed"})


def test_defaults_come_from_the_plugins():
    class Defaults:
        @hookimpl
        def llmreg_register_savers(self, register):
            register(OneSaver)

        @hookimpl
        def llmreg_defaults(self, register):
            register("saver", {"KIND": "Same"})

    pm = isolated_manager(Defaults())
    assert pm.default("saver") == {"KIND": "Same"}
    assert type(pm.saver()).__name__ == "OneSaver"
    with pytest.raises(UnknownKindError, match="no installed plugin gives a default loader"):
        pm.loader()


def test_a_built_component_holds_its_manager():
    pm = isolated_manager(_SaverPlugin(OneSaver))
    assert pm.saver({"KIND": "Same"}).manager is pm


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "On", " on "])
def test_strict_env_accepts_the_usual_true_values(monkeypatch, value):
    monkeypatch.setenv("LLMREG_STRICT_PLUGINS", value)
    with pytest.raises(PluginLoadError):
        create_plugin_manager(load_plugins="llmreg-broken", disable_plugins="").load()


@pytest.mark.parametrize("value", ["0", "false", "", "no"])
def test_strict_env_false_values(monkeypatch, value):
    monkeypatch.setenv("LLMREG_STRICT_PLUGINS", value)
    with pytest.warns(LlmregPluginWarning):
        create_plugin_manager(load_plugins="llmreg-broken", disable_plugins="").load()


def test_allow_and_block_lists_take_entry_point_names_and_spaces():
    pm = _manager(load_plugins=" example , ")
    assert [p.distribution for p in pm.plugins()] == ["llmreg-example"]
    blocked = _manager(load_plugins="llmreg-example", disable_plugins=" example ")
    assert blocked.plugins() == []


def test_client_checks_what_it_is_given():
    pm = isolated_manager(echo_plugin)
    assert pm.client({"provider": "echo", "model": "m"}).definition.model == "m"
    with pytest.raises(ConfigError, match="not list"):
        pm.client(["echo"])
    with pytest.raises(ConfigError, match="model"):
        pm.client({"provider": "echo"})


def test_a_factory_returning_no_client_is_a_contract_error():
    from llmreg.errors import PluginContractError

    class NotAClient:
        @hookimpl
        def llmreg_register_providers(self, register):
            register("weird", lambda definition: {"not": "a client"})

    pm = create_plugin_manager(autoload=False)
    pm.register_plugin(NotAClient(), "weird-plugin", distribution="dist-weird")
    with pytest.raises(PluginContractError, match=r"dist-weird.*returned dict"):
        pm.client({"provider": "weird", "model": "m"})


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

    saved = pm.saver({"KIND": "FolderSaver", "root": str(tmp_path)}).save(
        ModelDefinition(provider="echo", model="e")
    )
    # no default manager involved: the loader asks the manager that built it
    adapter = pm.loader({"KIND": "FolderLoader"}).load(saved.uri)
    out = adapter.predict(["one", "!fail", "three"])
    adapter.close()
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

    pm = create_plugin_manager(autoload=False, strict=True)
    pm.register_plugin(Chatty())
    with pytest.raises(PluginLoadError, match="3 arguments"):
        pm.providers()
