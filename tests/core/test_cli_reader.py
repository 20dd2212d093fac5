"""CliSetup.reader: a plugin's light reader answers the reading commands without the
register being built; ``None`` makes the CLI build it (issue 16)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from llmreg import hookimpl
from llmreg.cli import cli
from llmreg.hookspecs import CliSetup
from llmreg.manager import set_plugin_manager
from llmreg.results import AliasMove, ModelVersionRef
from llmreg.testing import isolated_manager


class _Reader:
    """Answers as a register would; its KIND is registered by no plugin."""

    KIND = "LightOnly"

    def versions(self, name: str) -> list[ModelVersionRef]:
        return [ModelVersionRef(name=name, version=3, created=False, aliases=("champion",))]

    def models(self) -> list[dict[str, Any]]:
        return [{"name": "m", "latest_version": 3, "aliases": {"champion": 3}}]

    def history(self, name: str, alias: str = "champion") -> list[AliasMove]:
        return [AliasMove(name, alias, 3, None, "promote")]


class _Plugin:
    def __init__(self) -> None:
        self.configs: list[dict[str, Any]] = []

    @hookimpl
    def llmreg_defaults(self, register):
        register("register", {"KIND": "LightOnly"})

    @hookimpl
    def llmreg_cli_setup(self, debug):
        return CliSetup(reader=self.reader)

    def reader(self, config):
        self.configs.append(dict(config))
        return _Reader() if config == {"KIND": "LightOnly"} else None


@pytest.fixture
def plugin():
    found = _Plugin()
    set_plugin_manager(isolated_manager(found))
    try:
        yield found
    finally:
        set_plugin_manager(None)


def _run(*args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(cli, [*args, "--json"])
    return result.exit_code, json.loads(result.output)


def test_the_reader_answers_versions_list_and_history(plugin):
    """LightOnly is no registered class: only the reader can have answered."""
    code, out = _run("versions", "m")
    assert code == 0, out
    assert [v["version"] for v in out["versions"]] == [3]
    assert out["versions"][0]["aliases"] == ["champion"]
    code, out = _run("list")
    assert code == 0 and out["models"][0]["latest_version"] == 3
    code, out = _run("history", "m")
    assert code == 0 and [m["version"] for m in out["moves"]] == [3]
    assert plugin.configs == [{"KIND": "LightOnly"}] * 3


def test_a_config_the_reader_declines_is_built(plugin):
    """The reader returns None for another config: the CLI builds it, and building an
    unknown KIND is the usual typed error."""
    code, out = _run("--register", '{"KIND": "LightOnly", "x": 1}', "versions", "m")
    assert code == 1 and out["error"]["type"] == "UnknownKindError"
    assert plugin.configs == [{"KIND": "LightOnly", "x": 1}]
