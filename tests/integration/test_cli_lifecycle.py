"""The whole lifecycle through the ``llmreg`` CLI, as a user runs it.

Every command is a subprocess, in a fresh folder with no ``MLFLOW_TRACKING_URI``:
the CLI's embedded default store (sqlite in the working folder) is used for
real, with the real plugins (pyfunc, mlflow, litellm) and the fake
OpenAI-compatible server on loopback as the endpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.integration

CANARY = "sk-canary-cli-7f3a9b2c41d0"


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["FAKE_KEY"] = CANARY
    env.setdefault("LLMREG_DISABLE_PLUGINS", "llmreg-broken,llmreg-incompatible")
    return env


def llmreg(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``llmreg ARGS`` in ``folder``; with ``check``, fail the test on a non-zero exit."""
    exe = str(Path(sys.executable).parent / "llmreg")
    done = subprocess.run(
        [exe, *args], cwd=folder, env=_env(folder), capture_output=True, text=True, timeout=300
    )
    if check:
        assert done.returncode == 0, f"llmreg {' '.join(args)}: {done.stderr}"
    return done


def write_config(folder: Path, base_url: str, model: str) -> Path:
    path = folder / f"{model}.json"
    path.write_text(
        json.dumps(
            {"provider": "openai", "model": model, "base_url": base_url, "api_key": "env:FAKE_KEY"}
        )
    )
    return path


@pytest.fixture(scope="module")
def endpoint():
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def store(tmp_path_factory, endpoint) -> Path:
    """A folder holding chat v1 (gpt-one, champion) and v2 (gpt-two), saved through the CLI."""
    folder = tmp_path_factory.mktemp("cli")
    one = write_config(folder, endpoint.base_url, "gpt-one")
    two = write_config(folder, endpoint.base_url, "gpt-two")
    llmreg(
        folder,
        "save",
        str(one),
        "--register",
        "--name",
        "chat",
        "--alias",
        "champion",
        "--tag",
        "team=nlp",
    )
    llmreg(folder, "save", str(two), "--register", "--name", "chat")
    return folder


def test_save_uses_the_default_sqlite_store_and_says_so(tmp_path, endpoint):
    config = write_config(tmp_path, endpoint.base_url, "gpt-solo")
    done = llmreg(tmp_path, "save", str(config), "--json")
    out = json.loads(done.stdout)
    assert out["model_uri"].startswith("models:/m-")
    assert out["store"]["tracking_uri"] == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert out["store"]["source"] == "default"
    assert (tmp_path / "mlflow.db").is_file()
    text = llmreg(tmp_path, "save", str(config))
    # stderr holds llmreg's line only: MLflow's INFO logs and warnings need --debug
    assert text.stderr == f"store: sqlite:///{tmp_path.resolve()}/mlflow.db\n"
    assert text.stdout.startswith("saved: models:/m-")


def test_versions_lists_aliases_tags_and_hashes(store):
    listed = json.loads(llmreg(store, "versions", "chat", "--json").stdout)["versions"]
    assert [v["version"] for v in listed] == [1, 2]
    assert listed[0]["aliases"] == ["champion"] and listed[1]["aliases"] == []
    assert listed[0]["tags"]["team"] == "nlp"
    assert listed[0]["content_hash"].startswith("sha256:")
    assert listed[0]["content_hash"] != listed[1]["content_hash"]
    text = llmreg(store, "versions", "chat").stdout.splitlines()
    assert text[0].startswith("1\tchampion\tsha256:") and text[0].endswith("team=nlp")


def test_saving_the_same_content_again_registers_no_new_version(store):
    again = llmreg(
        store, "save", str(store / "gpt-one.json"), "--register", "--name", "chat", "--json"
    )
    assert json.loads(again.stdout)["registered"]["version"] == 1
    assert json.loads(again.stdout)["registered"]["created"] is False  # reused, not made again
    assert len(json.loads(llmreg(store, "versions", "chat", "--json").stdout)["versions"]) == 2


def test_show_names_version_alias_run_hash_and_no_secret(store):
    done = llmreg(store, "show", "models:/chat@champion", "--json")
    shown = json.loads(done.stdout)
    assert shown["info"]["version"] in (1, "1")
    assert shown["info"]["alias"] == "champion"
    assert shown["info"]["run_id"]
    assert shown["content_hash"].startswith("sha256:")
    assert shown["definition"]["model"] == "gpt-one"
    assert shown["definition"]["api_key"] == "env:FAKE_KEY"
    assert CANARY not in done.stdout + done.stderr


def test_promote_and_rollback_move_champion(store, endpoint):
    assert llmreg(store, "predict", "models:/chat@champion", "who").stdout == "echo: who\n"
    promoted = json.loads(llmreg(store, "promote", "chat", "2", "--json").stdout)
    assert promoted["version"] == 2 and promoted["alias_uri"] == "models:/chat@champion"
    answer = json.loads(llmreg(store, "predict", "models:/chat@champion", "who", "--json").stdout)
    assert answer["metadata"]["model"] == "gpt-two"
    back = llmreg(store, "rollback", "chat")
    assert back.stdout.strip() == "models:/chat@champion -> version 1"
    answer = json.loads(llmreg(store, "predict", "models:/chat@champion", "who", "--json").stdout)
    assert answer["metadata"]["model"] == "gpt-one"
    # the key was resolved at load and sent to the endpoint
    assert endpoint.chat_requests(model="gpt-one")[-1].authorization == f"Bearer {CANARY}"


def test_predict_file_keeps_the_input_order(store):
    prompts = store / "prompts.jsonl"
    rows = [f"row {i}" for i in range(20)]
    lines = [json.dumps(r) for r in rows]
    lines[5] = json.dumps({"messages": [{"role": "user", "content": "row 5"}]})
    prompts.write_text("\n".join(lines) + "\n")
    done = llmreg(store, "predict", "models:/chat/1", "--file", str(prompts))
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["prediction"] for a in answers] == [f"echo: {r}" for r in rows]
    assert {a["metadata"]["status"] for a in answers} == {"ok"}


def test_predict_file_concurrency_override(store):
    prompts = store / "few.jsonl"
    prompts.write_text('"a"\n"b"\n')
    done = llmreg(
        store,
        "predict",
        "models:/chat/1",
        "--file",
        str(prompts),
        "--concurrency",
        "2",
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["prediction"] for a in answers] == ["echo: a", "echo: b"]


BAD = [
    (["save", "missing.json"], "ConfigFileNotFoundError"),
    (["save", "bad.json"], "ConfigError"),
    (["save", "secret.json"], "SecretPersistError"),
    (["predict", "models:/chat@nosuchalias", "x"], "ModelNotFoundError"),
    (["predict", "models:/chat/0", "x"], "InvalidModelURIError"),
    (["predict", "nosuch:/x", "x"], "InvalidModelURIError"),
    (["predict", "models:/chat/1", "--file", "latin1.jsonl"], "SchemaError"),
    (["predict", "models:/chat/1", "--file", "nofile.jsonl"], "ConfigFileNotFoundError"),
    (["promote", "chat", "99"], "ModelNotFoundError"),
    (["versions", "nosuchmodel"], "ModelNotFoundError"),
    (["register", "models:/m-doesnotexist", "--name", "chat"], "RegistrationError"),
    (["--saver", "NoSuchSaver", "save", "gpt-one.json"], "UnknownKindError"),
]


@pytest.mark.parametrize("args, error", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_exits_1_with_one_typed_line(store, args, error):
    (store / "bad.json").write_text('{"model": "m", "max_tokens": -1}')
    (store / "secret.json").write_text('{"model": "m", "api_key": "sk-literal-1234"}')
    (store / "latin1.jsonl").write_bytes('"caf\xe9"\n'.encode("latin-1"))
    done = llmreg(store, *args, check=False)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: {error}: ")
    assert "Traceback" not in done.stderr


def test_bad_input_registered_nothing(store):
    listed = json.loads(llmreg(store, "versions", "chat", "--json").stdout)["versions"]
    assert [v["version"] for v in listed] == [1, 2]


@pytest.mark.parametrize(
    "args",
    [
        ["save"],
        ["promote", "chat"],
        ["predict", "models:/chat/1"],
        ["save", "x.json", "--register"],
        ["save", "x.json", "--register", "--name", "c", "--tag", "notatag"],
        ["serve", "models:/chat/1", "--port", "notaport"],
        ["nosuchcommand"],
    ],
)
def test_usage_errors_exit_2(store, args):
    done = llmreg(store, *args, check=False)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback_and_never_the_key(store):
    done = llmreg(store, "--debug", "predict", "models:/chat@nosuchalias", "x", check=False)
    assert done.returncode == 1 and "Traceback" in done.stderr
    ok = llmreg(store, "--debug", "predict", "models:/chat/1", "x")
    assert ok.stdout == "echo: x\n"
    assert "DEBUG" in ok.stderr
    assert CANARY not in ok.stdout + ok.stderr


def test_the_key_is_nowhere_in_the_store(store):
    for path in store.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
