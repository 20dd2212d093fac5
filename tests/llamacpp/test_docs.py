"""The plugin's docs page and the examples: every code block is run or checked."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from llmreg import Inputs, ModelDefinition
from llmreg_llamacpp.options import DEFAULT_CHAT_TEMPLATE, LlamaCppOptions
from support.docs import marked

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "plugins" / "llamacpp.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$', re.MULTILINE)


def _blocks(language: str) -> list[str]:
    """The page's fenced blocks in ``language``, with snippet lines replaced by the file."""
    text = PAGE.read_text(encoding="utf-8")
    found = [body for lang, body in FENCE.findall(text) if lang == language]

    def include(match: re.Match[str]) -> str:
        return (ROOT / match.group(1)).read_text(encoding="utf-8")

    return [SNIPPET.sub(include, body) for body in found]


@pytest.mark.usefixtures("shared_client")  # the example's client shares the session's server
def test_python_examples_run_as_written(monkeypatch):
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {"__name__": "docs_example"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in _blocks("python"):
            exec(compile(block, str(PAGE), "exec"), namespace)  # noqa: S102
    printed = out.getvalue().splitlines()
    assert "'prompt_tokens'" in printed[0]
    assert printed[-1] == "openai http://127.0.0.1:4000/v1"


def test_json_examples_are_valid_definitions():
    blocks = _blocks("json")
    assert len(blocks) == 2
    local, remote = (ModelDefinition.from_dict(json.loads(b)) for b in blocks)
    assert local.provider == "llamacpp"
    LlamaCppOptions.from_definition(local)
    assert remote.provider == "openai"
    assert remote.base_url
    assert remote.persistable()["api_key"] == "env:LITELLM_API_KEY"


def test_the_documented_template_is_the_default():
    (template,) = _blocks("jinja")
    assert template == DEFAULT_CHAT_TEMPLATE


def test_the_options_table_lists_every_option():
    text = PAGE.read_text(encoding="utf-8")
    documented = re.findall(r"^\| `(\w+)` \|", text, re.MULTILINE)
    assert documented == list(LlamaCppOptions.model_fields)


def test_example_definition_is_the_local_model():
    definition = ModelDefinition.from_file(ROOT / "examples" / "chat.json")
    assert definition.provider == "llamacpp"
    assert definition.base_url is None
    LlamaCppOptions.from_definition(definition)


def test_example_prompts_are_three_rows():
    lines = (ROOT / "examples" / "prompts.jsonl").read_text(encoding="utf-8").splitlines()
    inputs = Inputs.parse([json.loads(line) for line in lines])
    assert len(inputs.rows) == 3
    assert all(row.input and row.input.endswith("?") for row in inputs.rows)


def test_the_python_blocks_run_here_are_the_ones_the_page_marks():
    marks = marked("docs/plugins/llamacpp.md", "llamacpp-plugin")
    assert [b.body for b in marks] == _blocks("python")
