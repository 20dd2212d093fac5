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
import textwrap
from pathlib import Path

import pytest

from llmreg import CliSetup, ModelDefinition, SecretPersistError
from llmreg.testing import isolated_manager

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
