"""The contract kit, run against the example plugin as a third party would; and its size."""

from pathlib import Path

# region: kit
from llmreg.testing.contract import (
    LoaderContract,
    ProviderContract,
    RoundTripContract,
    SaverContract,
)
from llmreg_example import plugin
from llmreg_example.folder import FolderLoader, FolderSaver


class TestFolderRoundTrip(RoundTripContract):
    plugin = plugin
    saver = {"KIND": "FolderSaver"}
    loader = {"KIND": "FolderLoader"}


class TestFolderSaver(SaverContract):
    component_class = FolderSaver
    config = {"KIND": "FolderSaver", "path": "chat"}


class TestFolderLoader(LoaderContract):
    component_class = FolderLoader
    config = {"KIND": "FolderLoader"}


class TestShoutProvider(ProviderContract):
    plugin = plugin
    definition = {"provider": "shout", "model": "shout-1"}
    endpoint = None  # it calls no endpoint: the checks of what it sends skip


# endregion: kit
# (docs/writing-a-plugin.md shows the region above.)

EXAMPLE = Path(__file__).resolve().parents[2] / "tests/plugins/example/src/llmreg_example"


def lines(path: Path) -> int:
    """Every non-blank line: code, imports, docstrings and comments alike."""
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def test_the_whole_example_plugin_fits_in_40_lines():
    """Saver, Loader, the shout provider and the hook module: the entry point's files.

    registry.py and generate.py are the guide's later sections, outside the entry point.
    """
    files = [EXAMPLE / name for name in ("__init__.py", "folder.py", "plugin.py")]
    assert sorted(f.name for f in EXAMPLE.rglob("*.py")) == sorted(
        ["__init__.py", "folder.py", "plugin.py", "registry.py", "generate.py"]
    )
    counts = {f.name: lines(f) for f in files}
    assert sum(counts.values()) <= 40, counts


def test_the_saver_and_loader_round_trip_fits_in_25_lines():
    """folder.py holds the Saver and the Loader, with its imports and docstrings."""
    assert lines(EXAMPLE / "folder.py") <= 25
