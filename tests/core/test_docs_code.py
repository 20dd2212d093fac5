"""The guides show their code inline, and what they show is the code that runs.

A fenced block whose first line says where it comes from,
``# file: <path from the repository root>`` or ``# file: <path>#<region>``, must
be identical to that file, or to the lines between ``# region: <region>`` and
``# endregion: <region>`` in it (dedented). Blocks that name no file are prose
examples and are not checked here. tests/core/test_fresh_install.py runs the
console blocks of the guides in a fresh virtual environment.

The guide's snippet of a saver's secret check is a region of this file, and the
test below runs it, as it runs tests/plugins/example/more_hooks.py.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import textwrap
import tomllib
from pathlib import Path

import pytest

from llmreg import CliSetup, ModelDefinition, SecretPersistError
from llmreg.testing import isolated_manager
from support.docs import MARK, RUNNERS, all_blocks, commands, page_blocks

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLE = ROOT / "tests/plugins/example"
#: The pages that show their code inline (no snippet includes).
GUIDES = ("writing-a-plugin.md", "architecture.md")

FENCE = re.compile(r"^(?P<fence>```+|~~~+)[^\n]*\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S)
SOURCE = re.compile(r"^\s*#\s*file:\s*(?P<path>[^\s#]+)(?:#(?P<region>[\w-]+))?\s*$")


def sourced_blocks() -> list[tuple[str, str, str | None, str]]:
    """Every fenced block of the docs that names its source: (page, path, region, code)."""
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        for block in FENCE.finditer(page.read_text()):
            first, _, rest = block["body"].partition("\n")
            source = SOURCE.match(first)
            if source:
                name = str(page.relative_to(ROOT))
                found.append((name, source["path"], source["region"], rest))
    return found


def region(text: str, name: str) -> str:
    """The lines between ``# region: name`` and ``# endregion: name``, dedented."""
    lines = text.splitlines(keepends=True)
    marks = [
        i for i, line in enumerate(lines) if re.fullmatch(rf"\s*# (end)?region: {name}\s*", line)
    ]
    assert len(marks) == 2, f"region {name!r} needs one start and one end marker"
    return textwrap.dedent("".join(lines[marks[0] + 1 : marks[1]])).strip("\n") + "\n"


BLOCKS = sourced_blocks()


@pytest.mark.parametrize(
    "page, path, name, shown",
    BLOCKS,
    ids=[f"{page}:{path}{'#' + name if name else ''}" for page, path, name, _ in BLOCKS],
)
def test_a_block_is_its_source(page, path, name, shown):
    source = ROOT / path
    assert source.is_file(), f"{page} shows {path}, which does not exist"
    text = source.read_text()
    expected = region(text, name) if name else text
    assert textwrap.dedent(shown).strip("\n") == expected.strip("\n"), (
        f"{page}: the block from {path}{'#' + name if name else ''} differs from the file; "
        "copy the file into the page"
    )


@pytest.mark.parametrize("guide", GUIDES)
def test_the_guides_show_code_inline(guide):
    text = (DOCS / guide).read_text()
    assert "--8<--" not in text, f"{guide} includes a snippet: show the code inline"
    assert any(page == f"docs/{guide}" for page, *_ in BLOCKS), f"{guide} shows no sourced code"


def test_the_guide_shows_every_file_of_the_example_plugin():
    shown = {path for page, path, name, _ in BLOCKS if page == "docs/writing-a-plugin.md"}
    package = ROOT / "tests/plugins/example"
    files = {str(p.relative_to(ROOT)) for p in package.rglob("*") if p.suffix in {".py", ".toml"}}
    files -= {"tests/plugins/example/src/llmreg_example/__init__.py"}  # empty
    files -= {"tests/plugins/example/host.py"}  # docs/architecture.md shows it
    assert files <= shown, f"the guide does not show {sorted(files - shown)}"


def test_the_region_helper_finds_a_region():
    text = "a\n    # region: x\n    b = 1\n\n    c = 2\n    # endregion: x\nd\n"
    assert region(text, "x") == "b = 1\n\nc = 2\n"


# --- the snippets the guide shows, run ------------------------------------------


def check_tags(model: ModelDefinition, note: str) -> dict[str, str]:
    """What a saver does before it writes anything that is not ``model.to_json()``."""
    # region: secret-check
    from llmreg.errors import SecretPersistError
    from llmreg.secrets import find_secret

    tags = {"llmreg.model": model.model, "note": note}
    field = find_secret(tags, model.resolved_secrets())  # every form: raw, escaped, URL-encoded
    if field is not None:
        raise SecretPersistError(f"tag {field!r} would hold a secret; nothing was written")
    # endregion: secret-check
    return tags


def test_the_secret_check_refuses_a_tag_holding_the_resolved_key(monkeypatch):
    monkeypatch.setenv("DEMO_KEY", "sk-demo/7f3a 9c1e")
    model = ModelDefinition(provider="echo", model="demo", api_key="env:DEMO_KEY")
    assert check_tags(model, "made by the nightly job")["note"] == "made by the nightly job"
    with pytest.raises(SecretPersistError, match="'note'"):
        check_tags(model, "key=sk-demo%2F7f3a%209c1e")  # URL-encoded


def test_the_defaults_and_cli_hooks_as_the_guide_shows_them():
    spec = importlib.util.spec_from_file_location("more_hooks", EXAMPLE / "more_hooks.py")
    assert spec is not None and spec.loader is not None
    more_hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(more_hooks)
    manager = isolated_manager(more_hooks)
    assert manager.default("saver") == {"KIND": "FolderSaver"}
    assert manager.default("serve.loader") == {"KIND": "FolderLoader"}  # falls back to loader
    store = {"tracking_uri": f"folder:{Path.cwd()}", "source": "default"}
    assert manager.cli_setup(debug=False) == [CliSetup(store=store, quiet=("my_sdk",))]


# --- every runnable block is run by a test -------------------------------------


def test_every_runnable_block_of_the_docs_is_run_by_a_test():
    unclaimed = [
        f"{b.where} ({b.lang or 'no language'}: {b.body.partition(chr(10))[0][:60]!r})"
        for b in all_blocks()
        if b.runnable and b.label.partition(":")[0] not in RUNNERS
    ]
    assert unclaimed == [], (
        "these blocks are run by no test: mark each with the <!-- run: LABEL --> of the "
        "test that runs it (tests/support/docs.py lists them), or fence output as text:\n"
        + "\n".join(unclaimed)
    )


@pytest.mark.parametrize("word", sorted(set(RUNNERS)))
def test_each_runner_exists_and_reads_its_marks(word):
    test = ROOT / RUNNERS[word]
    assert test.is_file(), f"{word}: {RUNNERS[word]} does not exist"
    labels = {b.label for b in all_blocks() if b.label.partition(":")[0] == word}
    assert labels, f"no page has a <!-- run: {word} --> block: drop it from RUNNERS"
    assert re.search(rf"\b{re.escape(word)}\b", test.read_text()), (
        f"{RUNNERS[word]} never names {word!r}: it does not pick the blocks marked for it"
    )


def test_marks_sit_on_fenced_blocks_only():
    """A mark that does not sit right above a fence claims nothing: it is a typo."""
    for page in sorted(DOCS.rglob("*.md")):
        lines = page.read_text().splitlines()
        for i, line in enumerate(lines):
            if "<!-- run:" in line:
                assert MARK.match(line), f"{page}:{i + 1}: malformed mark {line!r}"
                fence = lines[i + 1].lstrip() if i + 1 < len(lines) else ""
                assert fence.startswith(("```", "~~~")), f"{page}:{i + 1}: the mark is on no block"


def test_the_docs_helper_finds_marks_and_continued_commands():
    assert commands("$ a \\\n    --b\nout\n$ c\n") == [("a \\\n    --b", ["out"]), ("c", [])]
    marks = [b.label for b in page_blocks("docs/writing-a-plugin.md") if b.label]
    assert marks == ["root", "scratch", "scratch"]


# --- install lines (<!-- run: install -->) ---------------------------------------


def _local_distributions() -> dict[str, Path]:
    """The repository's distributions by name: the core, the plugins, the test plugins."""
    found = {}
    folders = [ROOT / "core", *ROOT.glob("plugins/*"), *ROOT.glob("tests/plugins/*")]
    for folder in folders:
        if (folder / "pyproject.toml").is_file():
            project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
            found[project["name"]] = folder
    return found


INSTALLS = [b for b in all_blocks() if b.label == "install"]


@pytest.mark.parametrize("block", INSTALLS, ids=[b.where for b in INSTALLS])
def test_an_install_line_names_folders_extras_and_local_dependencies_that_exist(block):
    """What pip would need from the repository, checked without installing.

    Each argument of ``pip install`` is a distribution's folder (with the extras it
    declares), and every llmreg distribution it depends on is named beside it, so
    that pip never looks for one on an index. The lines that install into a fresh
    venv for real are run by tests/core/test_fresh_install.py (``run: root``).
    """
    dists = _local_distributions()
    by_folder = {path.resolve(): name for name, path in dists.items()}
    for command, _ in commands(block.body):
        words = shlex.split(command.replace("\\\n", " "), comments=True)
        while "=" in words[0]:  # VAR=value before the command
            words.pop(0)
        assert words[:2] == ["pip", "install"], f"{block.where}: {command}"
        named: dict[str, set[str]] = {}
        for arg in words[2:]:
            folder, _, extras = arg.partition("[")
            path = (ROOT / folder).resolve()
            assert path in by_folder, f"{block.where}: {folder} is no distribution's folder"
            named[by_folder[path]] = set(filter(None, extras.rstrip("]").split(",")))
        for name, extras in named.items():
            project = tomllib.loads((dists[name] / "pyproject.toml").read_text())["project"]
            declared = set(project.get("optional-dependencies", {}))
            assert extras <= declared, f"{block.where}: {name} has no extra {extras - declared}"
            for requirement in project["dependencies"]:
                dep = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
                if dep in dists:
                    assert dep in named, f"{block.where}: {name} needs {dep}: name its folder too"
