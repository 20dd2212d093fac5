"""Every command under ``--json`` against the contract written in docs/cli.md.

- stdout is exactly one JSON object (``predict`` of one TEXT: one result row);
- a version is an int wherever it appears (``version``, ``previous``, ``latest_version``,
  alias targets);
- ``save``/``register`` say ``created`` (true, or false when the content was reused);
- ``show`` has no null value and names the URI and the content hash once;
- an error is ``{"error": {"type", "message"}}`` on stdout with exit code 1 (2 for a
  usage error), and nothing else on stdout.

In-process, against the example plugin's FolderSaver/FolderLoader, the echo
provider, and FullRegister below (a file-backed AliasRegister with every optional
method).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest
from click.testing import CliRunner

import llmreg_example.plugin as example_plugin
from llmreg import AliasRegister, hookimpl
from llmreg.cli import cli
from llmreg.errors import ModelNotFoundError, RegistrationError
from llmreg.manager import set_plugin_manager
from llmreg.results import AliasMove, ModelVersionRef
from llmreg.testing import echo_plugin, isolated_manager

#: The keys that hold a version number, wherever they are in a document.
VERSION_KEYS = {"version", "previous", "latest_version"}


class FullRegister(AliasRegister):
    """Every AliasRegister method, in ``<root>/registry.json``; a same URI is reused."""

    KIND: Literal["FullRegister"] = "FullRegister"
    root: str

    def _state(self) -> dict[str, Any]:
        path = Path(self.root) / "registry.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _write(self, state: dict[str, Any]) -> None:
        (Path(self.root) / "registry.json").write_text(json.dumps(state))

    def _model(self, state: dict[str, Any], name: str) -> dict[str, Any]:
        if name not in state:
            raise ModelNotFoundError(f"no registered model {name!r}")
        return state[name]

    def _ref(self, model: dict[str, Any], name: str, number: int, created: bool = False):
        v = model["versions"].get(str(number))
        if v is None:
            raise ModelNotFoundError(f"{name} has no version {number}")
        held = tuple(sorted(a for a, n in model["aliases"].items() if n == number))
        return ModelVersionRef(
            name=name,
            version=number,
            created=created,
            tags=v["tags"],
            aliases=held,
            source=v["uri"],
            description=v.get("description"),
        )

    def register(self, name: str, model_uri: str) -> ModelVersionRef:
        state = self._state()
        model = state.setdefault(name, {"versions": {}, "aliases": {}, "moves": [], "n": 0})
        for number, v in model["versions"].items():
            if v["uri"] == model_uri:
                return self._ref(model, name, int(number))
        model["n"] += 1
        model["versions"][str(model["n"])] = {"uri": model_uri, "tags": dict(self.tags)}
        self._write(state)
        return self._ref(model, name, model["n"], created=True)

    def promote(self, name: str, version: int | str, alias: str = "champion") -> AliasMove:
        state = self._state()
        model = self._model(state, name)
        self._ref(model, name, int(version))
        move = {"alias": alias, "version": int(version), "previous": model["aliases"].get(alias)}
        model["moves"].append({**move, "action": "promote"})
        model["aliases"][alias] = int(version)
        self._write(state)
        return AliasMove(name=name, **move)

    def rollback(self, name: str, alias: str = "champion") -> AliasMove:
        moves = [m for m in self._model(self._state(), name)["moves"] if m["alias"] == alias]
        if not moves or moves[-1]["previous"] is None:
            raise RegistrationError(f"{name}@{alias} has no earlier version")
        return self.promote(name, moves[-1]["previous"], alias)

    def history(self, name: str, alias: str = "champion") -> list[AliasMove]:
        moves = self._model(self._state(), name)["moves"]
        return [AliasMove(name=name, **m) for m in moves if m["alias"] == alias]

    def versions(self, name: str) -> list[ModelVersionRef]:
        model = self._model(self._state(), name)
        return [self._ref(model, name, int(n)) for n in sorted(model["versions"], key=int)]

    def models(self) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "latest_version": max(map(int, m["versions"])) if m["versions"] else None,
                "aliases": dict(m["aliases"]),
                "description": None,
                "tags": {},
            }
            for name, m in sorted(self._state().items())
        ]

    def set_tags(self, name, version, tags) -> ModelVersionRef:
        state = self._state()
        model = self._model(state, name)
        self._ref(model, name, int(version))
        model["versions"][str(int(version))]["tags"].update(tags)
        self._write(state)
        return self._ref(model, name, int(version))

    def describe(self, name, version, description) -> ModelVersionRef:
        state = self._state()
        model = self._model(state, name)
        self._ref(model, name, int(version))
        model["versions"][str(int(version))]["description"] = description
        self._write(state)
        return self._ref(model, name, int(version))

    def delete(self, name, version, *, force=False) -> ModelVersionRef:
        state = self._state()
        model = self._model(state, name)
        ref = self._ref(model, name, int(version))
        if ref.aliases and not force:
            raise RegistrationError(f"version {version} is held by {ref.aliases}")
        for alias in ref.aliases:
            del model["aliases"][alias]
        del model["versions"][str(int(version))]
        self._write(state)
        return ref


class _Plugin:
    @hookimpl
    def llmreg_register_registers(self, register):
        register(FullRegister)


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Run ``llmreg ARGS --json`` in-process; return (exit code, the one JSON document)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("LLMREG_SAVER", json.dumps({"KIND": "FolderSaver", "root": str(tmp_path)}))
    monkeypatch.setenv("LLMREG_LOADER", "FolderLoader")
    monkeypatch.setenv("LLMREG_REGISTER", json.dumps({"KIND": "FullRegister", "root": "."}))
    set_plugin_manager(isolated_manager(echo_plugin, example_plugin, _Plugin()))

    def invoke(*args: str) -> tuple[int, Any]:
        done = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
        assert done.stdout.strip(), f"{args}: nothing on stdout"
        document = json.loads(done.stdout)  # exactly one JSON document, or this fails
        check_versions_are_ints(document, args)
        if done.exit_code != 0:
            assert set(document) == {"error"}, document
            assert isinstance(document["error"]["type"], str)
            assert isinstance(document["error"]["message"], str) and document["error"]["message"]
        return done.exit_code, document

    yield invoke
    set_plugin_manager(None)


def check_versions_are_ints(document: Any, args: tuple[str, ...], key: str = "") -> None:
    """Every version-like value is an int, or null where it is unknown; never a string."""
    if isinstance(document, dict):
        for k, v in document.items():
            if k in VERSION_KEYS and not isinstance(v, dict):
                # null where unknown (a model loaded by path has no version), never a string
                ok = (isinstance(v, int) and not isinstance(v, bool)) or v is None
                assert ok, (args, k, v)
            if k == "aliases" and isinstance(v, dict):
                assert all(isinstance(n, int) for n in v.values()), (args, v)
            check_versions_are_ints(v, args, k)
    elif isinstance(document, list):
        for item in document:
            check_versions_are_ints(item, args, key)


def no_nulls(document: Any) -> bool:
    """Whether no value anywhere in ``document`` is null."""
    if isinstance(document, dict):
        return all(v is not None and no_nulls(v) for v in document.values())
    if isinstance(document, list):
        return all(no_nulls(v) for v in document)
    return True


def test_every_command_keeps_the_json_contract(run, tmp_path):
    config = tmp_path / "chat.json"
    config.write_text(json.dumps({"provider": "echo", "model": "m", "temperature": 0.1}))
    other = tmp_path / "chat2.json"
    other.write_text(json.dumps({"provider": "echo", "model": "m", "temperature": 0.5}))
    saver = json.dumps({"KIND": "FolderSaver", "root": str(tmp_path), "path": "two"})

    code, saved = run("save", str(config), "--register", "--name", "chat", "--alias", "champion")
    assert code == 0 and saved["registered"]["created"] is True
    assert saved["registered"]["version"] == 1
    code, again = run("register", saved["model_uri"], "--name", "chat")
    assert code == 0 and again["registered"]["created"] is False  # the same model: reused
    code, second = run("--saver", saver, "save", str(other), "--register", "--name", "chat")
    assert code == 0 and second["registered"] == {**second["registered"], "version": 2}
    assert second["registered"]["created"] is True

    code, moved = run("promote", "chat", "2")
    assert code == 0 and (moved["version"], moved["previous"]) == (2, 1)
    code, back = run("rollback", "chat")
    assert code == 0 and back["version"] == 1
    code, listed = run("versions", "chat")
    assert code == 0 and [v["version"] for v in listed["versions"]] == [1, 2]
    code, models = run("list")
    assert code == 0 and models["models"][0]["aliases"] == {"champion": 1}
    code, moves = run("history", "chat")
    assert code == 0 and [m["version"] for m in moves["moves"]] == [1, 2, 1]
    code, tagged = run("tag", "chat", "2", "k=v")
    assert code == 0 and tagged["version"]["tags"] == {"k": "v"}
    code, described = run("describe", "chat", "2", "two")
    assert code == 0 and described["version"]["description"] == "two"

    code, shown = run("show", saved["model_uri"])
    assert code == 0 and shown["model_uri"] == saved["model_uri"]
    assert no_nulls({k: v for k, v in shown.items() if k != "store"})
    assert "uri" not in shown["info"] and "model_uri" not in shown["info"]
    code, answer = run("predict", saved["model_uri"], "hi")
    assert code == 0 and answer["prediction"] == "echo: hi"
    code, compared = run("diff", saved["model_uri"], second["model_uri"])
    assert code == 0 and compared["changes"] == [{"key": "temperature", "left": 0.1, "right": 0.5}]
    code, _ = run("plugins")
    assert code == 0

    code, refused = run("delete", "chat", "1")
    assert code == 1 and refused["error"]["type"] == "RegistrationError"
    code, deleted = run("delete", "chat", "1", "--force")
    assert code == 0 and deleted["deleted"]["aliases"] == ["champion"]


@pytest.mark.parametrize(
    ("args", "code", "kind"),
    [
        (("promote", "nosuch", "1"), 1, "ModelNotFoundError"),
        (("show", "ftp://x/y"), 1, "InvalidModelURIError"),
        (("versions",), 2, "MissingParameter"),
        (("tag", "chat", "1"), 2, "BadParameter"),
        (("diff", "folder:/nope", "folder:/nope2"), 1, "ModelNotFoundError"),
    ],
)
def test_errors_are_one_json_object_with_the_exit_code(run, args, code, kind):
    exit_code, document = run(*args)
    assert exit_code == code
    assert document["error"]["type"] == kind
