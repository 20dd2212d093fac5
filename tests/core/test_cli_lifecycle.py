"""The CLI lifecycle commands, run in-process against the example plugin and a test register.

The commands are generic over KINDs: here the saver is the example plugin's
FolderSaver, the loader its FolderLoader, the provider the echo client, and the
register a small file-backed AliasRegister defined below.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest
from click.testing import CliRunner

import llmreg_example.plugin as example_plugin
from llmreg import AliasRegister, hookimpl
from llmreg.cli import cli
from llmreg.errors import ModelNotFoundError, RegistrationError
from llmreg.manager import set_plugin_manager
from llmreg.results import AliasMove, ModelVersionRef
from llmreg.testing import echo_plugin, isolated_manager


class FileRegister(AliasRegister):
    """An AliasRegister that keeps each registered model in ``<root>/<name>.json``."""

    KIND: Literal["FileRegister"] = "FileRegister"
    root: str

    def _path(self, name: str) -> Path:
        return Path(self.root) / f"{name}.json"

    def _load(self, name: str) -> dict:
        path = self._path(name)
        if not path.exists():
            return {"versions": [], "aliases": {}, "moves": []}
        return json.loads(path.read_text())

    def _save(self, name: str, state: dict) -> None:
        self._path(name).write_text(json.dumps(state))

    def register(self, name: str, model_uri: str) -> ModelVersionRef:
        if not model_uri.startswith("folder:"):
            raise RegistrationError(f"{model_uri} is not a saved model")
        state = self._load(name)
        version = len(state["versions"]) + 1
        state["versions"].append({"version": version, "uri": model_uri, "tags": dict(self.tags)})
        self._save(name, state)
        return ModelVersionRef(name=name, version=version, tags=dict(self.tags), source=model_uri)

    def promote(self, name: str, version: int | str, alias: str = "champion") -> AliasMove:
        state = self._load(name)
        if not str(version).isdigit() or not 0 < int(version) <= len(state["versions"]):
            raise ModelNotFoundError(f"{name} has no version {version}")
        move = {"alias": alias, "version": int(version), "previous": state["aliases"].get(alias)}
        state["moves"].append(move)
        state["aliases"][alias] = int(version)
        self._save(name, state)
        return AliasMove(name=name, **move)

    def rollback(self, name: str, alias: str = "champion") -> AliasMove:
        state = self._load(name)
        moves = [m for m in state["moves"] if m["alias"] == alias]
        if not moves or moves[-1]["previous"] is None:
            raise RegistrationError(f"{name}@{alias} has no earlier version to go back to")
        return self.promote(name, moves[-1]["previous"], alias)

    def history(self, name: str, alias: str = "champion") -> list[AliasMove]:
        return [AliasMove(name=name, **m) for m in self._load(name)["moves"] if m["alias"] == alias]

    def versions(self, name: str) -> list[ModelVersionRef]:
        state = self._load(name)
        return [
            ModelVersionRef(
                name=name,
                version=v["version"],
                aliases=tuple(sorted(a for a, n in state["aliases"].items() if n == v["version"])),
                tags=v["tags"],
            )
            for v in state["versions"]
        ]


class _RegisterPlugin:
    @hookimpl
    def llmreg_register_registers(self, register):
        register(FileRegister)


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Run the CLI in-process with the example plugin, echo provider and FileRegister."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # restored after the test
    (tmp_path / "registry").mkdir()
    monkeypatch.setenv("LLMREG_SAVER", json.dumps({"KIND": "FolderSaver", "root": str(tmp_path)}))
    monkeypatch.setenv("LLMREG_LOADER", "FolderLoader")
    monkeypatch.setenv(
        "LLMREG_REGISTER", json.dumps({"KIND": "FileRegister", "root": str(tmp_path / "registry")})
    )
    set_plugin_manager(isolated_manager(echo_plugin, example_plugin, _RegisterPlugin()))

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    yield invoke
    set_plugin_manager(None)


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "chat.json"
    path.write_text(json.dumps({"provider": "echo", "model": "m", "api_key": "env:ECHO_KEY"}))
    return path


def test_save_register_alias_and_versions(run, config, tmp_path):
    done = run(
        "save",
        str(config),
        "--register",
        "--name",
        "chat",
        "--alias",
        "champion",
        "--tag",
        "team=a",
        "--json",
    )
    assert done.exit_code == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["model_uri"] == f"folder:{tmp_path / 'model'}"
    assert out["registered"]["version"] == 1  # an int, as everywhere in --json
    assert out["registered"]["created"] is True
    assert out["registered"]["alias_uri"] == "models:/chat@champion"
    listed = json.loads(run("versions", "chat", "--json").stdout)
    [row] = listed["versions"]
    assert row["version"] == 1 and row["aliases"] == ["champion"]
    assert row["tags"] == {"team": "a"} and row["content_hash"] is None
    assert row["uri"] == "models:/chat/1"


def test_promote_and_rollback_move_the_alias(run, config):
    assert (
        run("save", str(config), "--register", "--name", "chat", "--alias", "champion").exit_code
        == 0
    )
    assert run("save", str(config), "--register", "--name", "chat").exit_code == 0
    promoted = run("promote", "chat", "2", "--json")
    moved = json.loads(promoted.stdout)
    assert moved["version"] == 2 and moved["previous"] == 1
    text = run("versions", "chat").stdout.splitlines()
    assert text[0].startswith("1\t-") and text[1].startswith("2\tchampion")
    back = run("rollback", "chat")
    assert back.exit_code == 0
    assert back.stdout.strip() == "models:/chat@champion -> version 1"


def test_register_command_takes_tags(run, config, tmp_path):
    saved = json.loads(run("save", str(config), "--json").stdout)
    done = run("register", saved["model_uri"], "--name", "chat", "--tag", "k=v=w", "--json")
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["registered"]["uri"] == "models:/chat/1"
    assert json.loads(run("versions", "chat", "--json").stdout)["versions"][0]["tags"] == {
        "k": "v=w"
    }


def test_show_prints_the_definition_with_the_reference_only(run, config, monkeypatch):
    monkeypatch.setenv("ECHO_KEY", "sk-canary-0123456789")
    uri = json.loads(run("save", str(config), "--json").stdout)["model_uri"]
    done = run("show", uri, "--json")
    assert done.exit_code == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["definition"]["api_key"] == "env:ECHO_KEY"
    assert shown["definition"]["provider"] == "echo"
    assert "sk-canary" not in done.stdout + done.stderr


def test_promote_to_a_missing_version_is_one_typed_line(run, config):
    run("save", str(config), "--register", "--name", "chat")
    done = run("promote", "chat", "7")
    assert done.exit_code == 1
    # one line; where a store is configured, the line names it
    assert done.stderr.startswith("error: ModelNotFoundError: chat has no version 7")
    assert done.stderr.count("\n") == 1


def test_rollback_without_history_is_a_registration_error(run, config):
    run("save", str(config), "--register", "--name", "chat", "--alias", "champion")
    done = run("rollback", "chat")
    assert done.exit_code == 1
    assert done.stderr.startswith("error: RegistrationError: chat@champion has no earlier")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--register"], "--register needs --name"),
        (["--name", "chat"], "go with --register"),
        (["--register", "--name", "chat", "--tag", "novalue"], "is not KEY=VALUE"),
        (["--register", "--name", "chat", "--tag", "=v"], "is not KEY=VALUE"),
    ],
)
def test_save_usage_errors_exit_2(run, config, args, message):
    done = run("save", str(config), *args)
    assert done.exit_code == 2
    assert message in done.stderr


def test_save_of_a_missing_config_is_a_typed_error(run, tmp_path):
    done = run("save", str(tmp_path / "nope.json"))
    assert done.exit_code == 1
    assert done.stderr.startswith("error: ConfigFileNotFoundError: config file")
    assert not (tmp_path / "model").exists()


def test_a_register_without_aliases_is_refused_for_promote(run, monkeypatch):
    monkeypatch.setenv("LLMREG_REGISTER", "NoSuchRegister")
    done = run("promote", "chat", "1")
    assert done.exit_code == 1
    assert "UnknownKindError" in done.stderr and "FileRegister" in done.stderr


def test_kind_option_must_be_a_json_object(run):
    done = run("--loader", "{not json", "show", "folder:x")
    assert done.exit_code == 1
    assert done.stderr.startswith("error: ConfigError: the loader config is not valid JSON")


def test_a_bad_register_kind_fails_before_anything_is_saved(run, config, tmp_path):
    done = run("--register", "NoSuchRegister", "save", str(config), "--register", "--name", "c")
    assert done.exit_code == 1
    assert done.stderr.startswith("error: UnknownKindError: unknown register KIND 'NoSuchRegister'")
    assert not (tmp_path / "model").exists()


def test_a_tag_value_with_a_newline_keeps_versions_one_line_each(run, config):
    run("save", str(config), "--register", "--name", "chat", "--tag", "note=a\nb\tc")
    run("save", str(config), "--register", "--name", "chat")
    lines = run("versions", "chat").stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["1", "2"]
    assert "note=a\\nb\\tc" in lines[0]


def test_a_plugin_returning_the_wrong_type_is_named(run, config, monkeypatch):
    """A register that returns a dict (the round-1 habit) is a typed error naming it."""

    class DictRegister(FileRegister):
        KIND: Literal["DictRegister"] = "DictRegister"  # type: ignore[assignment]

        def register(self, name, model_uri):
            return {"name": name, "version": 1}

    class _Plugin:
        @hookimpl
        def llmreg_register_registers(self, register):
            register(DictRegister)

    set_plugin_manager(isolated_manager(echo_plugin, example_plugin, _Plugin()))
    monkeypatch.setenv("LLMREG_REGISTER", json.dumps({"KIND": "DictRegister", "root": "."}))
    done = run("save", str(config), "--register", "--name", "chat")
    assert done.exit_code == 1
    assert done.stderr.startswith(
        "error: PluginContractError: DictRegister.register() returned dict, not "
        "llmreg.ModelVersionRef"
    )


def test_an_error_under_json_is_one_json_object_on_stdout(run, config):
    run("save", str(config), "--register", "--name", "chat")
    done = run("promote", "chat", "7", "--json")
    assert done.exit_code == 1
    assert json.loads(done.stdout) == {
        "error": {"type": "ModelNotFoundError", "message": "chat has no version 7"}
    }
    assert done.stderr == ""


def test_a_usage_error_under_json_keeps_exit_code_2(run, config):
    done = run("save", str(config), "--register", "--json")
    assert done.exit_code == 2
    error = json.loads(done.stdout)["error"]
    assert error["type"] == "UsageError" and "--register needs --name" in error["message"]


@pytest.mark.parametrize(
    "args, says",
    [
        (["--name", "a/b"], "invalid registered model name 'a/b'"),
        (["--name", ".."], "invalid registered model name '..'"),
        (["--name", "a@b"], "invalid registered model name"),
        (["--name", "a\x01b"], "invalid registered model name"),
        (["--name", "caf\u00e9"], "invalid registered model name"),
        (["--name", "x" * 257], "invalid registered model name"),
        (["--name", "chat", "--alias", "1"], "invalid alias '1'"),
        (["--name", "chat", "--alias", "latest"], "reserves 'latest'"),
        (["--name", "chat", "--tag", "k=" + "v" * 100_001], "100,001 characters"),
    ],
)
def test_names_aliases_and_tags_are_checked_before_anything_is_written(
    run, config, tmp_path, args, says
):
    done = run("save", str(config), "--register", *args)
    assert done.exit_code == 1
    assert done.stderr.startswith("error: RegistrationInputError: ")
    assert says in done.stderr and done.stderr.count("\n") == 1
    assert not (tmp_path / "model").exists()  # nothing was saved
    assert list((tmp_path / "registry").iterdir()) == []  # nothing was registered


def test_register_checks_its_tags_first(run, config, tmp_path):
    saved = json.loads(run("save", str(config), "--json").stdout)
    done = run("register", saved["model_uri"], "--name", "chat", "--tag", "k=" + "v" * 100_001)
    assert done.exit_code == 1 and "RegistrationInputError" in done.stderr
    assert list((tmp_path / "registry").iterdir()) == []


def test_a_failure_after_the_save_names_what_was_written(run, config, tmp_path, monkeypatch):
    def refuse(self, name, model_uri):
        raise RegistrationError("the registry refused")

    monkeypatch.setattr(FileRegister, "register", refuse)
    done = run("save", str(config), "--register", "--name", "chat")
    assert done.exit_code == 1
    uri = f"folder:{tmp_path / 'model'}"
    assert "the registry refused [the model was saved as " in done.stderr
    assert f"llmreg register {uri} --name chat" in done.stderr


def test_an_alias_failure_after_the_register_names_the_version(run, config, monkeypatch):
    def refuse(self, name, version, alias="champion"):
        raise RegistrationError("the alias could not be set")

    monkeypatch.setattr(FileRegister, "promote", refuse)
    done = run("save", str(config), "--register", "--name", "chat", "--alias", "prod")
    assert done.exit_code == 1
    assert "version 1 of 'chat' was registered" in done.stderr
    assert "llmreg promote chat 1 --alias prod" in done.stderr


def test_versions_output_keeps_one_line_per_version(run, config, monkeypatch):
    monkeypatch.setenv(
        "LLMREG_REGISTER",
        json.dumps(
            {
                "KIND": "FileRegister",
                "root": str(Path.cwd() / "registry"),
                "tags": {"note": "line one\nline two\tcol\\x", "sep": "a\u2028b"},
            }
        ),
    )
    assert run("save", str(config), "--register", "--name", "chat").exit_code == 0
    lines = run("versions", "chat").stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].split("\t")[3] == "note=line one\\nline two\\tcol\\\\x sep=a\\u2028b"


def test_a_deeply_nested_kind_option_is_a_config_error(run, config):
    done = run("--saver", '{"a": ' + "[" * 100_000, "save", str(config))
    assert done.exit_code == 1
    assert done.stderr.startswith("error: ConfigError: the saver config is nested 100001 levels")
