"""The contract kit catches deliberate bugs.

Each bug is a small edit of the example plugin (tests/plugins/example), copied
into pytester's folder under another package name. The kit's classes are run on
the copy exactly as tests/core/test_contract.py runs them on the example: the
copy without the bug (the control) passes every check, and the copy with it
fails exactly the checks named here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import llmreg
import llmreg.testing.contract

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
    return run(str(tests), "-p", "no:cacheprovider", "-rf")


def failed(result: pytest.RunResult) -> set[str]:
    """The failed tests of a run, as ``Class::test`` (from the short summary)."""
    return {
        m.group(1) for line in result.outlines if (m := re.match(r"FAILED \S+?\.py::(\S+)", line))
    }


def assert_kit_catches(
    pytester: pytest.Pytester,
    bug: Edits,
    expected: set[str],
    *,
    setup: Edits | None = None,
    deterministic: bool = True,
    subprocess: bool = False,
) -> None:
    """The control (``setup`` only) passes; with ``bug`` too, exactly ``expected`` fail."""
    setup = setup or {}
    control = run_kit(
        pytester, "control", setup, deterministic=deterministic, subprocess=subprocess
    )
    passed = control.parseoutcomes().get("passed", 0)
    control.assert_outcomes(passed=passed)  # and nothing failed, errored or was skipped
    assert passed >= 20, control.outlines  # every class of the kit ran
    merged = {name: setup.get(name, []) + bug.get(name, []) for name in {*setup, *bug}}
    result = run_kit(pytester, "buggy", merged, deterministic=deterministic, subprocess=subprocess)
    result.assert_outcomes(failed=len(expected), passed=passed - len(expected))
    assert failed(result) == expected


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
