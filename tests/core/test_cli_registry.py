"""The registry commands in the core (list, history, tag, describe, delete, diff), reading
commands that never resolve a key (show, diff), ``-h`` on every command, and the lazy
client of :class:`llmreg.adapter.ClientAdapter`.

Run in-process against the example plugin's FolderSaver/FolderLoader, the test
JsonRegister below (which implements none of the optional methods), and a
``keyed`` provider that resolves its api_key when built.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest
from click.testing import CliRunner

import llmreg_example.plugin as example_plugin
from llmreg import AliasRegister, hookimpl
from llmreg.adapter import ClientAdapter, LazyClient, client_for, deferred_clients
from llmreg.cli import cli
from llmreg.cli.registry import compare, flatten
from llmreg.definition import ModelDefinition, resolve_api_key
from llmreg.echo_client import EchoClient
from llmreg.errors import PredictionError, SecretResolutionError
from llmreg.manager import set_plugin_manager
from llmreg.results import AliasMove, ModelVersionRef
from llmreg.testing import echo_plugin, isolated_manager

BUILT: list[str] = []


class JsonRegister(AliasRegister):
    """A minimal AliasRegister in ``<root>/<name>.json``; none of the optional methods."""

    KIND: Literal["JsonRegister"] = "JsonRegister"
    root: str

    def _state(self, name: str) -> dict:
        path = Path(self.root) / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else {"n": 0, "moves": []}

    def _write(self, name: str, state: dict) -> None:
        (Path(self.root) / f"{name}.json").write_text(json.dumps(state))

    def register(self, name: str, model_uri: str) -> ModelVersionRef:
        state = self._state(name)
        state["n"] += 1
        self._write(name, state)
        return ModelVersionRef(name=name, version=state["n"], source=model_uri)

    def promote(self, name: str, version: int | str, alias: str = "champion") -> AliasMove:
        state = self._state(name)
        held = [m["version"] for m in state["moves"] if m["alias"] == alias]
        move = {"alias": alias, "version": int(version), "previous": held[-1] if held else None}
        state["moves"].append(move)
        self._write(name, state)
        return AliasMove(name=name, **move)

    def rollback(self, name: str, alias: str = "champion") -> AliasMove:
        raise NotImplementedError

    def history(self, name: str, alias: str = "champion") -> list[AliasMove]:
        moves = self._state(name)["moves"]
        return [AliasMove(name=name, **m) for m in moves if m["alias"] == alias]

    def versions(self, name: str) -> list[ModelVersionRef]:
        n = self._state(name)["n"]
        return [ModelVersionRef(name=name, version=v) for v in range(1, n + 1)]


class _RegisterPlugin:
    @hookimpl
    def llmreg_register_registers(self, register):
        register(JsonRegister)


def keyed_client(definition: ModelDefinition) -> EchoClient:
    """An echo client that needs its key, as a real provider does."""
    resolve_api_key(definition.api_key)
    BUILT.append(definition.model)
    return EchoClient(definition)


class _KeyedPlugin:
    @hookimpl
    def llmreg_register_providers(self, register):
        register("keyed", keyed_client)


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Run the CLI in-process; models are saved under ``tmp_path/<path>``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("LLMREG_TEST_XK", raising=False)
    (tmp_path / "registry").mkdir()
    monkeypatch.setenv("LLMREG_LOADER", "FolderLoader")
    monkeypatch.setenv(
        "LLMREG_REGISTER", json.dumps({"KIND": "JsonRegister", "root": str(tmp_path / "registry")})
    )
    set_plugin_manager(
        isolated_manager(echo_plugin, example_plugin, _RegisterPlugin(), _KeyedPlugin())
    )
    BUILT.clear()

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    yield invoke
    set_plugin_manager(None)


def _save(run, tmp_path, path: str, **fields) -> str:
    config = tmp_path / f"{path}.json"
    definition = {"provider": "keyed", "model": "m", "api_key": "env:LLMREG_TEST_XK", **fields}
    config.write_text(json.dumps(definition))
    saver = json.dumps({"KIND": "FolderSaver", "root": str(tmp_path), "path": path})
    done = run("--saver", saver, "save", str(config), "--json")
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)["model_uri"]


def test_show_needs_no_key_and_predict_resolves_it(run, tmp_path):
    """``show`` works while the key's variable is unset; ``predict`` then names it."""
    uri = _save(run, tmp_path, "a")
    shown = run("show", uri, "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["definition"]["api_key"] == "env:LLMREG_TEST_XK"
    assert BUILT == []  # no client was built
    predicted = run("predict", uri, "hello", "--json")
    assert predicted.exit_code == 1
    error = json.loads(predicted.stdout)["error"]
    assert error["type"] == "SecretResolutionError" and "LLMREG_TEST_XK" in error["message"]


def test_diff_lists_changed_settings_without_a_key(run, tmp_path):
    """``diff`` names the settings that differ, side by side, and resolves no key."""
    left = _save(run, tmp_path, "a", temperature=0.1, stop=["x"])
    right = _save(run, tmp_path, "b", temperature=0.7, system_prompt="Be brief.")
    done = run("diff", left, right, "--json")
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout)
    changes = {c["key"]: (c["left"], c["right"]) for c in out["changes"]}
    assert changes == {
        "temperature": (0.1, 0.7),
        "stop": (["x"], None),
        "system_prompt": (None, "Be brief."),
    }
    assert out["same"] is False and BUILT == []
    text = run("diff", left, right).stdout
    assert "temperature    0.1  ->  0.7" in text.splitlines()
    same = json.loads(run("diff", left, left, "--json").stdout)
    assert same["changes"] == [] and same["same"] is True


def test_history_lists_the_moves(run, tmp_path):
    """``history`` lists promote moves, oldest first; ``--alias`` picks the alias."""
    uri = _save(run, tmp_path, "a")
    for _ in range(2):
        assert run("register", uri, "--name", "chat").exit_code == 0
    run("promote", "chat", "1")
    run("promote", "chat", "2")
    run("promote", "chat", "1", "--alias", "canary")
    out = json.loads(run("history", "chat", "--json").stdout)
    assert [(m["version"], m["previous"]) for m in out["moves"]] == [(1, None), (2, 1)]
    assert out["alias"] == "champion"
    canary = json.loads(run("history", "chat", "--alias", "canary", "--json").stdout)
    assert [m["version"] for m in canary["moves"]] == [1]
    assert run("history", "chat").stdout.splitlines()[-1].endswith("1 -> 2")


@pytest.mark.parametrize(
    ("args", "method"),
    [
        (["list"], "models"),
        (["tag", "chat", "1", "k=v"], "set_tags"),
        (["describe", "chat", "1", "text"], "describe"),
        (["delete", "chat", "1"], "delete"),
    ],
)
def test_optional_methods_missing_are_a_typed_error(run, args, method):
    """A register without the optional method fails with ConfigError naming it (JSON too)."""
    done = run(*args, "--json")
    assert done.exit_code == 1
    error = json.loads(done.stdout)["error"]
    assert error["type"] == "ConfigError"
    assert f"{method}()" in error["message"] and "JsonRegister" in error["message"]


def test_tag_needs_key_value_pairs(run):
    """``tag NAME VERSION`` with no pair, or a malformed one, is a usage error (2)."""
    assert run("tag", "chat", "1").exit_code == 2
    assert run("tag", "chat", "1", "novalue").exit_code == 2


@pytest.mark.parametrize(
    "command",
    [
        "save",
        "register",
        "promote",
        "rollback",
        "versions",
        "show",
        "predict",
        "serve",
        "plugins",
        "list",
        "history",
        "tag",
        "describe",
        "delete",
        "diff",
    ],
)
def test_dash_h_works_like_help_on_every_command(run, command):
    """``llmreg <command> -h`` prints the same help as ``--help``."""
    short = run(command, "-h")
    assert short.exit_code == 0
    assert short.stdout == run(command, "--help").stdout
    assert short.stdout.startswith(f"Usage: cli {command}")  # CliRunner names the group cli


def test_flatten_and_compare():
    """Nested settings are compared by dotted key; lists are values."""
    assert flatten({"options": {"a": {"b": 1}}, "stop": [1]}) == {"options.a.b": 1, "stop": [1]}
    assert compare({"a": 1, "o": {"x": 1}}, {"a": 1, "o": {"x": 2}}) == [
        {"key": "o.x", "left": 1, "right": 2}
    ]


def test_lazy_client_builds_once_at_first_use_and_closes(monkeypatch):
    """A ClientAdapter given a factory builds the client at the first predict, once."""
    built: list[EchoClient] = []
    definition = ModelDefinition(provider="echo", model="m")

    def factory() -> EchoClient:
        built.append(EchoClient(definition))
        return built[-1]

    adapter = ClientAdapter(factory, definition)
    assert isinstance(adapter.client, LazyClient) and built == []
    assert adapter.predict(["a", "b"]).rows[1].prediction == "echo: b"
    adapter.predict("c")
    assert len(built) == 1 and built[0].calls == 3
    adapter.close()
    with pytest.raises(PredictionError, match="closed"):
        adapter.client.batch([])


def test_client_for_defers_only_inside_the_block(monkeypatch):
    """Outside ``deferred_clients`` the key is resolved now; inside, at the first call."""
    monkeypatch.delenv("LLMREG_TEST_XK", raising=False)
    manager = isolated_manager(_KeyedPlugin())
    definition = ModelDefinition(provider="keyed", model="m", api_key="env:LLMREG_TEST_XK")
    with pytest.raises(SecretResolutionError):
        client_for(manager, definition)
    with deferred_clients():
        lazy = client_for(manager, definition)
    assert isinstance(lazy, LazyClient) and not lazy.built
    with pytest.raises(SecretResolutionError):
        lazy.batch([])
    monkeypatch.setenv("LLMREG_TEST_XK", "k")
    assert lazy.batch([]) == [] and lazy.built
    lazy.close()


def test_models_latest_is_accepted_and_the_alias_latest_still_refused():
    """``models:/chat/latest`` parses (resolved at load like an alias); ``@latest`` does not."""
    from llmreg.errors import InvalidModelURIError
    from llmreg.uris import LATEST, parse_model_uri

    parsed = parse_model_uri("models:/chat/latest")
    assert (parsed.kind, parsed.name, parsed.alias, parsed.version) == (
        "alias",
        "chat",
        LATEST,
        None,
    )
    with pytest.raises(InvalidModelURIError, match="reserves"):
        parse_model_uri("models:/chat@latest")


class _StreamingClient(EchoClient):
    """An echo client that streams word by word and passes ``tools`` through."""

    CHAT_FIELDS = frozenset({"tools"})

    async def astream(self, request):
        from llmreg.client import StreamChunk

        done = self.complete(request)
        for word in done.text.split(" "):
            yield StreamChunk(text=word)
        yield StreamChunk(done=done)

    async def achat(self, body):
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
                "tools_seen": len(body.get("tools") or [])}  # fmt: skip

    async def achat_stream(self, body):
        yield {"choices": [{"index": 0, "delta": {"content": "a"}}]}
        yield {"choices": [{"index": 0, "delta": {"content": "b"}}]}


def test_a_lazy_client_forwards_streaming_and_pass_through_to_the_real_one():
    """Streams, pass-through bodies and the serve check of ``CHAT_FIELDS`` reach the real
    client, built at that first call (not the text-only, one-chunk defaults)."""
    import asyncio

    from llmreg.schemas import Request

    definition = ModelDefinition(provider="echo", model="m")
    lazy = LazyClient(lambda: _StreamingClient(definition), definition)

    async def run():
        chunks = [c async for c in lazy.astream(Request(input="one two"))]
        answer = await lazy.achat({"messages": [], "tools": [{"type": "function"}]})
        events = [e async for e in lazy.achat_stream({"messages": []})]
        return chunks, answer, events

    chunks, answer, events = asyncio.run(run())
    assert [c.text for c in chunks[:-1]] == ["echo:", "one", "two"] and chunks[-1].done
    assert answer["tools_seen"] == 1 and len(events) == 2

    lazy.close()
