"""The contract kit catches deliberate bugs.

Each bug is a small edit of the example plugin (tests/plugins/example), copied
into pytester's folder under another package name. The kit's classes are run on
the copy exactly as tests/core/test_contract.py runs them on the example: the
copy without the bug (the control) passes every check, and the copy with it
fails exactly the checks named here.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import llmreg
import llmreg.testing.contract

# The register check's processes pickle multiprocessing's own objects: those modules
# must be the same objects in every in-process run, so import them before any run.
for _module in ("connection", "queues", "synchronize", "popen_spawn_posix", "resource_tracker"):
    importlib.import_module(f"multiprocessing.{_module}")

# pytester's in-process runs drop the modules first imported during a run; llmreg's
# lazy names would then keep classes of dropped modules. Import them all now.
for _name in llmreg.__all__:
    getattr(llmreg, _name)

EXAMPLE = Path(__file__).resolve().parents[2] / "tests/plugins/example/src/llmreg_example"

#: The kit's classes as a plugin author writes them (see tests/core/test_contract.py).
CONTRACT_TESTS = """
from llmreg.testing.contract import (
    LoaderContract,
    ProviderContract,
    RoundTripContract,
    SaverContract,
)
from {package} import plugin
from {package}.folder import FolderLoader, FolderSaver


class TestRoundTrip(RoundTripContract):
    plugin = plugin
    saver = {{"KIND": "FolderSaver"}}
    loader = {{"KIND": "FolderLoader"}}


class TestSaver(SaverContract):
    component_class = FolderSaver
    config = {{"KIND": "FolderSaver", "path": "chat"}}


class TestLoader(LoaderContract):
    component_class = FolderLoader
    config = {{"KIND": "FolderLoader"}}


class TestProvider(ProviderContract):
    plugin = plugin
    definition = {{"provider": "shout", "model": "shout-1"}}
    deterministic = {deterministic}
    endpoint = None


# The guide's SqliteRegister, RegistryLoader and generate provider (registry.py, generate.py).
from llmreg.testing.contract import Endpoint, RegisterContract
from {package} import generate, registry
from {package} import plugin as example_plugin
from {package}.registry import SqliteRegister


class TestRegister(RegisterContract):
    component_class = SqliteRegister
    config = {{"KIND": "SqliteRegister"}}


class TestRegistryRoundTrip(RoundTripContract):
    plugin = registry
    extra_plugins = (example_plugin,)
    saver = {{"KIND": "FolderSaver"}}
    loader = {{"KIND": "RegistryLoader"}}
    register = {{"KIND": "SqliteRegister"}}


class GenerateEndpoint(Endpoint):
    def settings(self, body):
        options = body.get("options", {{}})
        return {{"temperature": options.get("temperature"),
                "max_tokens": options.get("num_predict"), "stop": options.get("stop"),
                "system": body.get("system"), "user": body.get("prompt", "")}}

    def answer(self, body, text):
        return {{"response": text, "prompt_eval_count": len(body.get("prompt", "").split()),
                "eval_count": len(text.split())}}

    def error(self, status, message):
        return {{"error": message}}


class TestGenerate(ProviderContract):
    plugin = generate
    definition = {{"provider": "generate", "model": "tiny"}}
    endpoint = GenerateEndpoint()
"""

#: Edits: {file name: [(text that occurs once in the example's file, its replacement)]}.
Edits = dict[str, list[tuple[str, str]]]

# The lines of the example that the bugs change.
RETURN_ADAPTER = 'return self.adapter(ModelDefinition.from_file(file), {"model_uri": uri})'
RETURN_SAVED = 'return SavedModel(uri=f"folder:{folder}")'
WRITE_JSON = '(folder / self.config_file).write_text(model.to_json(), encoding="utf-8")'
FILE_OF_URI = 'Path(uri.removeprefix("folder:"), self.config_file)'
MISSING_CHECK = (
    f"        if not (file := {FILE_OF_URI}).is_file():\n"
    '            raise errors.ModelNotFoundError(f"no model at {uri}: {file} does not exist")\n'
)
#: The loader without its check for a missing model: ``file`` is read as it is.
NO_CHECK = f"        file = {FILE_OF_URI}\n"
LOAD_DEF = "def load(self, uri: str) -> Adapter:"
IMPORTS = "from llmreg import Adapter,"
COMPLETE_DEF = "    def complete(self, request: Request) -> Completion:"
COMPLETION_END = "latency_ms=0.0)"
REVERSED_BATCH = (
    "    def batch(self, requests, *, concurrency=None):\n"
    "        return super().batch(requests, concurrency=concurrency)[::-1]\n\n"
)
WITH_TOKENS = "latency_ms=0.0, prompt_tokens=len(text.split()))"

RT = "TestRoundTrip::"


def _copy_example(pytester: pytest.Pytester, package: str, edits: Edits) -> None:
    folder = pytester.path / package
    folder.mkdir()
    for source in sorted(EXAMPLE.glob("*.py")):
        text = source.read_text().replace("llmreg_example", package)
        for old, new in edits.get(source.name, []):
            assert text.count(old) == 1, f"{old!r} is not once in {source.name}: update the bug"
            text = text.replace(old, new)
        (folder / source.name).write_text(text)


def run_kit(
    pytester: pytest.Pytester,
    package: str,
    edits: Edits,
    *,
    deterministic: bool = True,
    subprocess: bool = False,
    only: str | None = None,
) -> pytest.RunResult:
    """Copy the example with ``edits`` as ``package`` and run the kit's classes on it.

    In-process by default (fast); ``subprocess`` for a plugin that touches the
    process's default manager, whose state an in-process run would share.
    """
    _copy_example(pytester, package, edits)
    tests = pytester.makepyfile(
        **{f"test_{package}": CONTRACT_TESTS.format(package=package, deterministic=deterministic)}
    )
    run = pytester.runpytest_subprocess if subprocess else pytester.runpytest_inprocess
    select = ["-k", only] if only else []
    return run(str(tests), "-p", "no:cacheprovider", "-rf", *select)


def failed(result: pytest.RunResult) -> set[str]:
    """The failed tests of a run, as ``Class::test`` (from the short summary)."""
    return {
        m.group(1) for line in result.outlines if (m := re.match(r"FAILED \S+?\.py::(\S+)", line))
    }


#: The control's outcomes, per (setup, deterministic, selection): it runs once per session.
_CONTROLS: dict[tuple[str, bool, str | None], dict[str, int]] = {}


def _control(pytester, setup: Edits, deterministic: bool, subprocess: bool, only) -> int:
    key = (repr(sorted(setup.items())), deterministic, only)
    if key not in _CONTROLS:
        run = run_kit(
            pytester,
            "control",
            setup,
            deterministic=deterministic,
            subprocess=subprocess,
            only=only,
        )
        _CONTROLS[key] = outcomes = run.parseoutcomes()
        assert not {"failed", "errors", "error"} & set(outcomes), run.outlines
        assert only or outcomes.get("passed", 0) >= 60, run.outlines  # every class ran
    return _CONTROLS[key].get("passed", 0)


def assert_kit_catches(
    pytester: pytest.Pytester,
    bug: Edits,
    expected: set[str],
    *,
    setup: Edits | None = None,
    deterministic: bool = True,
    subprocess: bool = False,
    also: frozenset[str] = frozenset(),
    says: str | None = None,
    only: str | None = "TestRoundTrip or TestSaver or TestLoader or TestProvider",
) -> None:
    """The control (``setup`` only) passes; with ``bug`` too, every ``expected`` check
    fails, and no check outside their classes (and the classes ``also``) fails.
    ``only`` selects the classes to run (by default the example's own four).

    A bug in folder.py reaches the RegistryLoader (a FolderLoader) too: its class may
    fail as well. ``says``: a text the failures' report must hold (the bug, named).
    """
    setup = setup or {}
    passed = _control(pytester, setup, deterministic, subprocess, only)
    merged = {name: setup.get(name, []) + bug.get(name, []) for name in {*setup, *bug}}
    result = run_kit(
        pytester, "buggy", merged, deterministic=deterministic, subprocess=subprocess, only=only
    )
    got = failed(result)
    assert expected <= got, (sorted(expected - got), result.outlines)
    classes = {name.split("::")[0] for name in expected} | set(also)
    if "folder.py" in bug:
        classes.add("TestRegistryRoundTrip")
    assert {name.split("::")[0] for name in got} <= classes, sorted(got)
    assert result.parseoutcomes().get("passed", 0) == passed - len(got), result.outlines
    if says is not None:
        assert says in result.stdout.str(), result.outlines


def test_the_copied_plugins_without_a_bug_pass_every_class_of_the_kit(pytester):
    """The control of every bug below: the guide's plugins, copied, pass the whole kit."""
    assert _control(pytester, {}, deterministic=True, subprocess=False, only=None) >= 60


def test_a_loader_returning_a_dict(pytester):
    bug = {"folder.py": [(RETURN_ADAPTER, 'return {"definition": file.read_text(), "uri": uri}')]}
    assert_kit_catches(pytester, bug, {RT + "test_round_trip_answers_every_row_in_order"})


def test_a_saver_writing_the_resolved_key_into_a_side_file(pytester):
    side_file = '(folder / "key.txt").write_text(" ".join(model.resolved_secrets()))'
    bug = {"folder.py": [(WRITE_JSON, f"{WRITE_JSON}\n        {side_file}")]}
    assert_kit_catches(pytester, bug, {RT + "test_no_resolved_secret_is_written"})


def test_a_saver_returning_none(pytester):
    bug = {"folder.py": [(RETURN_SAVED, "return None")]}
    assert_kit_catches(
        pytester,
        bug,
        {
            RT + "test_save_returns_a_saved_model",
            RT + "test_round_trip_answers_every_row_in_order",
            RT + "test_no_resolved_secret_is_written",
            RT + "test_a_missing_model_is_model_not_found",
        },
    )


def test_a_loader_raising_an_untyped_file_not_found_error(pytester):
    bug = {
        "folder.py": [
            (MISSING_CHECK, NO_CHECK),
            (
                "ModelDefinition.from_file(file)",
                "ModelDefinition.model_validate_json(file.read_text())",
            ),
        ]
    }
    assert_kit_catches(pytester, bug, {RT + "test_a_missing_model_is_model_not_found"})


def test_a_loader_letting_the_config_file_error_of_from_file_through(pytester):
    """``from_file`` raises ConfigFileNotFoundError: a typed error, but not ModelNotFoundError."""
    bug = {"folder.py": [(MISSING_CHECK, NO_CHECK)]}
    assert_kit_catches(pytester, bug, {RT + "test_a_missing_model_is_model_not_found"})


def test_a_loader_raising_key_error_for_a_missing_model(pytester):
    index = '{str(p.parent): p for p in Path().glob(f"*/{self.config_file}")}'
    lookup = f'        file = {index}[uri.removeprefix("folder:")]\n'
    bug = {"folder.py": [(MISSING_CHECK, lookup)]}
    assert_kit_catches(pytester, bug, {RT + "test_a_missing_model_is_model_not_found"})


def test_a_loader_with_an_extra_required_parameter(pytester):
    bug = {"folder.py": [(LOAD_DEF, "def load(self, uri: str, version: str) -> Adapter:")]}
    assert_kit_catches(
        pytester,
        bug,
        {
            RT + "test_methods_keep_the_base_signatures",
            RT + "test_round_trip_answers_every_row_in_order",
            RT + "test_a_malformed_uri_is_a_typed_error",
            RT + "test_a_missing_model_is_model_not_found",
            "TestLoader::test_methods_keep_the_base_signatures",
        },
    )


def test_a_provider_reversing_rows_without_token_counts(pytester):
    """The deterministic check: a prompt's answer moves when the rows move."""
    bug = {"plugin.py": [(COMPLETE_DEF, REVERSED_BATCH + COMPLETE_DEF)]}
    assert_kit_catches(pytester, bug, {"TestProvider::test_batch_keeps_order_and_length"})


def test_a_provider_reversing_rows_with_token_counts(pytester):
    """The token check alone (``deterministic = False``): prompt tokens fall down the rows."""
    setup = {"plugin.py": [(COMPLETION_END, WITH_TOKENS)]}
    bug = {"plugin.py": [(COMPLETE_DEF, REVERSED_BATCH + COMPLETE_DEF)]}
    assert_kit_catches(
        pytester,
        bug,
        {"TestProvider::test_batch_keeps_order_and_length"},
        setup=setup,
        deterministic=False,
    )


# --- a secret in a file name, and a loader asking the wrong manager ---


def test_a_saver_writing_the_resolved_key_into_a_file_name(pytester):
    named = 'for key in model.resolved_secrets():\n            (folder / f"k-{key}").touch()'
    bug = {"folder.py": [(WRITE_JSON, f"{WRITE_JSON}\n        {named}")]}
    assert_kit_catches(pytester, bug, {RT + "test_no_resolved_secret_is_written"})


def test_a_loader_asking_the_default_manager_instead_of_its_own(pytester):
    bug = {
        "folder.py": [
            (IMPORTS, "from llmreg import ClientAdapter\n" + IMPORTS),
            (RETURN_ADAPTER, RETURN_ADAPTER.replace("self.adapter(", "ClientAdapter.build(")),
        ]
    }
    expected = {RT + "test_round_trip_answers_every_row_in_order"}
    assert_kit_catches(pytester, bug, expected, subprocess=True)


# --- the bug classes of issue 21: registers, error rows, settings, connections ---

REG = "TestRegister::"
RRT = "TestRegistryRoundTrip::"
GEN = "TestGenerate::"
REGISTRY = "TestRegister or TestRegistryRoundTrip"
RETURN_REF = "return ModelVersionRef(name=name, version=version, tags=self.tags, source=model_uri)"
NEXT_VERSION = "version = (last or 0) + 1"
MOVE_INSERT = "        previous = self._current(db, name, alias)\n"
MISSING_SOURCE = """        if row is None:
            raise errors.ModelNotFoundError(
                f"{name} has no version {version} (alias {alias}): see llmreg versions {name}"
            )
        return row[0]"""
OPTIONS = """            "temperature": row.get("temperature", d.temperature),
            "num_predict": row.get("max_tokens", d.max_tokens),
"""
CLOSE_ALL = """        with self._lock:
            connections, self._connections = list(self._connections.values()), {}
        for conn in connections:
            conn.close()
"""


def test_a_register_returning_a_dict(pytester):
    bug = {"registry.py": [(RETURN_REF, 'return {"name": name, "version": version}')]}
    expected = {
        REG + "test_versions_start_at_one_and_increase_per_name",
        RRT + "test_loads_by_version_and_alias",
    }
    assert_kit_catches(
        pytester,
        bug,
        expected,
        only=REGISTRY,
        says="to return llmreg.ModelVersionRef; the plugin returned dict",
    )


def test_versions_that_never_increase(pytester):
    bug = {"registry.py": [(NEXT_VERSION, "version = 1")]}
    expected = {
        REG + "test_versions_start_at_one_and_increase_per_name",
        REG + "test_versions_lists_every_version_oldest_first",
    }
    assert_kit_catches(
        pytester,
        bug,
        expected,
        only=REGISTRY,
        also=frozenset({"TestRegister"}),
        says="versions 1, 2, 3 (ints) for three models registered under one "
        "name; the plugin gave versions [1, 1, 1]",
    )


def test_an_alias_move_that_loses_the_previous_history_entry(pytester):
    """Each move replaces the alias's history instead of adding to it."""
    forget = '        db.execute("DELETE FROM moves WHERE name = ? AND alias = ?", (name, alias))\n'
    bug = {"registry.py": [(MOVE_INSERT, MOVE_INSERT + forget)]}
    expected = {
        REG + "test_an_alias_move_records_the_previous_version",
        REG + "test_four_processes_promoting_at_once_keep_the_history_whole",
    }
    assert_kit_catches(
        pytester, bug, expected, only=REGISTRY, says="history() to hold every move, oldest first"
    )


def test_a_missing_version_loaded_as_none(pytester):
    """The register answers None for a missing version, and the loader goes on with it."""
    bug = {"registry.py": [(MISSING_SOURCE, "        return row[0] if row else None")]}
    expected = {RRT + "test_a_missing_version_or_alias_is_model_not_found"}
    assert_kit_catches(
        pytester, bug, expected, only=REGISTRY, says="ModelNotFoundError for models:/"
    )


def test_a_failing_row_silently_dropped(pytester):
    """The loader's adapter leaves failed rows out of its outputs."""
    dropping = (
        "adapter = " + RETURN_ADAPTER.removeprefix("return ") + "\n"
        "        answer = adapter.predict\n\n"
        "        def predict(inputs, params=None):\n"
        "            outputs = answer(inputs, params)\n"
        "            kept = [r for r in outputs.rows if r.ok]\n"
        '            return outputs.model_copy(update={"rows": kept})\n\n'
        "        adapter.predict = predict\n"
        "        return adapter"
    )
    bug = {"folder.py": [(RETURN_ADAPTER, dropping)]}
    assert_kit_catches(
        pytester,
        bug,
        {RT + "test_a_failing_row_stays_in_its_place"},
        only="RoundTrip",
        says="predict() to return llmreg.Outputs with 3 rows",
    )


def test_a_provider_ignoring_temperature_and_max_tokens(pytester):
    bug = {"generate.py": [(OPTIONS, "")]}
    assert_kit_catches(
        pytester,
        bug,
        {GEN + "test_settings_reach_the_endpoint"},
        only="TestGenerate",
        says="'temperature': None, 'max_tokens': None",
    )


def test_a_provider_close_that_leaves_connections_open(pytester):
    bug = {"generate.py": [(CLOSE_ALL, "        pass  # the connections stay open\n")]}
    assert_kit_catches(
        pytester,
        bug,
        {GEN + "test_close_releases_every_connection"},
        only="TestGenerate",
        says="close() to close every HTTP connection",
    )


def test_an_adapter_close_that_leaves_the_clients_connections_open(pytester):
    keep = "adapter = " + RETURN_ADAPTER.removeprefix("return ")
    bug = {
        "folder.py": [
            (
                RETURN_ADAPTER,
                keep + "\n        adapter.close = lambda: None\n        return adapter",
            )
        ]
    }
    assert_kit_catches(
        pytester,
        bug,
        {RT + "test_close_releases_every_connection"},
        only="RoundTrip",
        says="close() to close every HTTP connection",
    )


def test_a_provider_with_an_untyped_rate_limit_and_timeout(pytester):
    """429 falls through to ProviderResponseError; a timeout to ProviderUnreachableError."""
    bug = {
        "generate.py": [
            ("    429: errors.ProviderRateLimitError,\n", ""),
            ("        except TimeoutError:", "        except ValueError:"),
        ]
    }
    expected = {
        GEN + "test_a_failing_endpoint_is_a_typed_error[429]",
        GEN + "test_a_failing_endpoint_is_a_typed_error[slow]",
    }
    assert_kit_catches(
        pytester, bug, expected, only="TestGenerate", says="ProviderRateLimitError for HTTP 429"
    )


def test_a_saver_that_drops_the_prompt_templates(pytester):
    """The definition is written without ``prompt`` and ``user_template``."""
    dropped = 'model.model_copy(update={"prompt": None, "user_template": None}).to_json()'
    bug = {"folder.py": [(WRITE_JSON, WRITE_JSON.replace("model.to_json()", dropped))]}
    expected = {RT + "test_templates_and_row_variables_reach_the_provider"}
    assert_kit_catches(
        pytester,
        bug,
        expected,
        only="RoundTrip",
        says="system 'Answer about Paris.' and user 'Q (Paris): hi'",
    )
