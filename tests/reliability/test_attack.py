"""The classes of defects and weak spots an outside attack found (issue 12), one test each.

Each test checks its class end to end, with real parts (sqlite stores, a real
``mlflow server``, the fake OpenAI server, ``llmreg`` in subprocesses), and
records whether the class held: the summary prints ``attack classes: N checked,
N held``. Single bad inputs of these classes are also rows of the bad-inputs
table (``test_bad_inputs.py``), counted there.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from reliability import tally
from reliability.models import KEY_VAR, definition, llmreg_command, load, register, run_cli, save
from reliability.serving import serving
from reliability.stores import Store, cli_env, use_store

from llmreg import ModelDefinition
from llmreg.errors import (
    ConfigError,
    DefinitionError,
    InvalidModelURIError,
    SchemaError,
    SecretResolutionError,
)
from llmreg.manager import get_plugin_manager
from support.mlflow_server import MlflowServer, free_port
from support.openai_server import FakeOpenAIServer

#: Seconds a test that starts servers or processes may take on a loaded 2-core machine.
SLOW_TEST_TIMEOUT = 900


@contextlib.contextmanager
def checking(name: str) -> Iterator[None]:
    """Record in the summary whether the class ``name`` held (the block raised nothing)."""
    held = False
    try:
        yield
        held = True
    finally:
        tally.note_class(name, held)


def _one_error_line(done: Any, error: str) -> str:
    """Assert that ``done`` failed with exit code 1 and one ``error: <error>:`` line."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, (done.returncode, done.stderr[-1500:])
    assert len(lines) == 1 and lines[0].startswith(f"error: {error}: "), done.stderr[-1500:]
    return lines[0]


def _config(folder: Path, name: str, data: dict[str, Any]) -> str:
    path = folder / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


# --- defects -----------------------------------------------------------------------------


@pytest.mark.timeout(SLOW_TEST_TIMEOUT)
def test_d1_names_aliases_and_tags_are_checked_before_anything_is_written(
    store: Store, fake_openai: FakeOpenAIServer, api_key: str
) -> None:
    """Bad names, aliases and tags write nothing; a registry that fails after the save is
    named with the saved model and the command that finishes the job."""
    with checking("D1 validation after writing"):
        env = cli_env(store, **{KEY_VAR: api_key})
        good = {"model": "d1", "base_url": fake_openai.base_url, "api_key": f"env:{KEY_VAR}"}
        config = _config(store.folder, "d1.json", good)
        before = store.snapshot()
        bad = [
            ["--name", "a/b"],
            ["--name", ".."],
            ["--name", "a@b"],
            ["--name", "a\x07b"],
            ["--name", "n\u00e4me"],
            ["--name", "n" * 257],
            ["--name", "d1", "--alias", "1"],
            ["--name", "d1", "--tag", "k=" + "v" * 100_001],
        ]
        for args in bad:
            done = run_cli(["save", config, "--register", *args], env, store.folder)
            _one_error_line(done, "RegistrationInputError")
        assert store.snapshot().left_behind(before) == []
        # the registry fails after the save (it cannot be reached): the error names the save
        register_kind = json.dumps({"KIND": "MlflowRegister", "tracking_uri": "http://127.0.0.1:9"})
        done = run_cli(
            ["--register", register_kind, "save", config, "--register", "--name", "d1"],
            {**env, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
            store.folder,
        )
        line = _one_error_line(done, "StoreUnavailableError")
        assert "the model was saved as models:/m-" in line and "llmreg register models:/m-" in line
        saved = line.split("the model was saved as ", 1)[1].split()[0]
        assert load(saved).definition.model == "d1"  # what the message names exists


def test_d2_credentials_in_base_url_are_refused_and_never_shown(store: Store) -> None:
    """A base_url with user:password@ is refused at save, and the password is shown nowhere."""
    with checking("D2 credentials in base_url"):
        password = f"pw-{uuid.uuid4().hex}"
        url = f"http://user:{password}@127.0.0.1:9/v1"
        before = store.snapshot()
        config = _config(store.folder, "d2.json", {"model": "d2", "base_url": url})
        done = run_cli(["save", config, "--register", "--name", "d2"], cli_env(store), store.folder)
        line = _one_error_line(done, "ConfigError")
        assert "credentials" in line and "extra_headers" in line and "env:" in line
        assert password not in done.stdout + done.stderr
        with pytest.raises(DefinitionError) as info:
            ModelDefinition(model="d2", base_url=url)
        assert password not in str(info.value) and password not in repr(info.value)
        assert store.snapshot().left_behind(before) == []
        files = [p for p in store.folder.rglob("*") if p.is_file() and p.name != "d2.json"]
        assert not any(password.encode() in p.read_bytes() for p in files)


@pytest.mark.timeout(SLOW_TEST_TIMEOUT)
def test_d3_a_key_with_a_newline_is_refused_unseen_everywhere(
    store: Store, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key variable ending in a newline: load, predict and serve fail with a typed error that
    shows the key in no form; nothing reaches the endpoint."""
    with checking("D3 key with CR or LF"):
        key = f"sk-nl-{uuid.uuid4().hex}"
        var = "LLMREG_RELIABILITY_NL_CANARY"
        monkeypatch.setenv(var, key)
        model = definition(fake_openai.base_url, "d3", api_key=f"env:{var}")
        uri = f"models:/d3/{register('d3', save(model))}"
        monkeypatch.setenv(var, key + "\n")
        fake_openai.reset()
        with pytest.raises(SecretResolutionError) as info:
            load(uri)
        outputs = [str(info.value), repr(info.value)]
        env = cli_env(store, **{var: key + "\n"})
        predicted = run_cli(["predict", uri, "hi"], env, store.folder)
        _one_error_line(predicted, "SecretResolutionError")
        port = free_port()
        served = run_cli(["serve", uri, "--port", str(port), "--no-auth"], env, store.folder)
        _one_error_line(served, "SecretResolutionError")
        outputs += [predicted.stdout, predicted.stderr, served.stdout, served.stderr]
        found = sum(o.count(key) for o in outputs)
        tally.note("secrets", found=found, log_chars=sum(len(o) for o in outputs))
        assert found == 0, [o for o in outputs if key in o]
        assert fake_openai.count("d3") == 0


def test_d4_json_lines_split_on_newline_only(
    store: Store, fake_openai: FakeOpenAIServer, api_key: str
) -> None:
    """Rows whose text holds U+2028, U+2029 or U+0085 are read whole and answered."""
    with checking("D4 JSON Lines split inside strings"):
        uri = f"models:/d4/{register('d4', save(definition(fake_openai.base_url, 'd4')))}"
        texts = [f"one\u2028two {i}" for i in range(2)] + ["three\u2029four", "five\u0085six"]
        prompts = store.folder / "d4.jsonl"
        prompts.write_text(
            "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8"
        )
        done = run_cli(
            ["predict", uri, "--file", str(prompts)],
            cli_env(store, **{KEY_VAR: api_key}),
            store.folder,
        )
        assert done.returncode == 0, done.stderr[-1500:]
        answers = [json.loads(line)["prediction"] for line in done.stdout.split("\n") if line]
        assert answers == [f"echo: {t}" for t in texts]


@pytest.mark.timeout(SLOW_TEST_TIMEOUT)
def test_d5_nothing_answered_is_lost(
    store: Store, fake_openai: FakeOpenAIServer, api_key: str
) -> None:
    """--output to a folder fails before any request; Ctrl-C keeps the answered rows and says
    where; --resume sends only the rest; ids are echoed."""
    with checking("D5 predict output lost"):
        name = f"d5-{uuid.uuid4().hex[:6]}"
        uri = f"models:/{name}/{register(name, save(definition(fake_openai.base_url, name)))}"
        env = cli_env(store, **{KEY_VAR: api_key})
        rows = [{"id": f"row-{i}", "input": f"[slow 300] question {i}"} for i in range(12)]
        prompts = store.folder / "d5.jsonl"
        prompts.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        fake_openai.reset()
        folder = store.folder / "answers"
        folder.mkdir()
        done = run_cli(
            ["predict", uri, "--file", str(prompts), "--output", str(folder)], env, store.folder
        )
        _one_error_line(done, "ConfigError")
        assert fake_openai.count(name) == 0  # nothing was sent (nor paid for)

        output = store.folder / "answers.jsonl"
        partial = store.folder / "answers.jsonl.partial"
        command = [*llmreg_command(), "predict", uri, "--file", str(prompts)]
        command += ["--output", str(output), "--concurrency", "1"]
        process = subprocess.Popen(
            command, env=env, cwd=store.folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if partial.exists() and len(partial.read_text().splitlines()) >= 4:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        kept = [json.loads(line) for line in partial.read_text().splitlines()]
        assert process.returncode == 1, stderr[-1500:]
        assert stderr.strip().startswith("error: PredictionInterruptedError: interrupted: ")
        assert str(partial) in stderr and "--resume" in stderr
        assert 4 <= len(kept) < 12 and not output.exists()
        assert [r["id"] for r in kept] == [f"row-{i}" for i in range(len(kept))]

        sent_before = fake_openai.count(name)
        resumed = run_cli([*command[len(llmreg_command()) :], "--resume"], env, store.folder)
        assert resumed.returncode == 0, resumed.stderr[-1500:]
        answers = [json.loads(line) for line in output.read_text().splitlines()]
        assert [a["id"] for a in answers] == [r["id"] for r in rows]
        assert [a["prediction"] for a in answers] == [f"echo: {r['input']}" for r in rows]
        assert fake_openai.count(name) - sent_before == 12 - len(kept)
        assert not partial.exists()
        tally.note("faults", tried=1, typed=1, rows_lost=12 - len(answers))


PROMOTE_SCRIPT = """
import json, sys, time
from pathlib import Path
from llmreg_mlflow import MlflowRegister

name, version, folder = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
register = MlflowRegister()
register.client()  # import and connect before the barrier
(folder / f"ready-{version}").write_text("ready")
deadline = time.monotonic() + 300
while not (folder / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.005)
moved = register.promote(name, version, "champion")
print(json.dumps({"version": int(moved.version)}))
"""


@pytest.mark.timeout(SLOW_TEST_TIMEOUT)
def test_d6_concurrent_promotes_lose_no_move(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    """8 processes promote one alias at once on a real mlflow server: every move is recorded,
    the previous-version chain is whole, the alias holds the last move, rollback walks back."""
    with checking("D6 concurrent promotes"), use_store(tmp_path, mlflow_server.url):
        from llmreg_mlflow import MlflowRegister

        name = f"promote-{uuid.uuid4().hex[:8]}"
        uri = save(definition("http://127.0.0.1:9/v1", "d6"))
        register_ = MlflowRegister()
        versions = [int(register_.register(name, uri, force=True).version) for _ in range(8)]
        assert versions == list(range(1, 9))
        script = tmp_path / "promote_one.py"
        script.write_text(PROMOTE_SCRIPT, encoding="utf-8")
        env = {**cli_env(Store(tmp_path)), "MLFLOW_TRACKING_URI": mlflow_server.url}
        env["MLFLOW_REGISTRY_URI"] = mlflow_server.url
        processes = [
            subprocess.Popen(
                [sys.executable, str(script), name, str(v), str(tmp_path)],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for v in versions
        ]
        deadline = time.monotonic() + 300
        while len(list(tmp_path.glob("ready-*"))) < 8 and time.monotonic() < deadline:
            if any(p.poll() not in (None, 0) for p in processes):
                break
            time.sleep(0.05)
        (tmp_path / "go").write_text("go")
        outputs = [p.communicate(timeout=300) for p in processes]
        failures = [
            err[-800:] for p, (_, err) in zip(processes, outputs, strict=True) if p.returncode
        ]
        history = register_.history(name)
        holder = register_.client().get_registered_model(name).aliases["champion"]
        chain = all(
            later.previous == earlier.version for earlier, later in itertools.pairwise(history)
        )
        tally.note("load", promoters=8, moves_recorded=len(history), chain_whole=int(chain))
        assert failures == []
        assert sorted(m.version for m in history) == versions, history
        assert history[0].previous is None and chain, history
        assert int(holder) == history[-1].version
        for step in range(3):
            back = register_.rollback(name)
            assert back.version == history[-2 - step].version


def test_d7_deeply_nested_json_is_a_typed_error(
    store: Store, fake_openai: FakeOpenAIServer, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A deeply nested config is a ConfigError in the CLI; a deeply nested body is a 400 with
    no ERROR logged."""
    with checking("D7 deeply nested JSON"):
        deep = store.folder / "deep.json"
        deep.write_text('{"model": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
        done = run_cli(["save", str(deep)], cli_env(store), store.folder)
        assert "nested" in _one_error_line(done, "ConfigError")
        from llmreg_gateway import create_app

        uri = f"models:/d7/{register('d7', save(definition(fake_openai.base_url, 'd7')))}"
        app = create_app(uri, reload_interval=0)
        caplog.set_level("INFO")
        with serving(app) as url:
            for path, body in (("/predict", b"[" * 50_000), ("/v1/chat/completions", b"{" * 9)):
                answer = httpx.post(
                    f"{url}{path}", content=body, headers={"content-type": "application/json"}
                )
                assert answer.status_code == 400, answer.text[:300]
                assert answer.json()["error"]["code"] == "invalid_json"
        assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_d8_the_row_limit_counts_the_whole_row(
    store: Store, fake_openai: FakeOpenAIServer, api_key: str
) -> None:
    """Two 600,000-character messages are one 1,200,000-character row; the system prompt is
    counted; a 30 MB system prompt is refused at save. Nothing reaches the endpoint."""
    with checking("D8 row limit per message"):
        name = f"d8-{uuid.uuid4().hex[:6]}"
        prompted = definition(fake_openai.base_url, name, system_prompt="s" * 150_000)
        adapter = load(f"models:/{name}/{register(name, save(prompted))}")
        fake_openai.reset()
        two = {"messages": [{"role": "user", "content": "m" * 600_000}] * 2}
        with pytest.raises(SchemaError, match="1,200,000"):
            adapter.predict([two])
        with pytest.raises(SchemaError, match="system prompt"):
            adapter.predict(["r" * 900_000])
        assert fake_openai.count(name) == 0
        with pytest.raises(ConfigError, match="system_prompt"):
            ModelDefinition.from_dict({"model": "m", "system_prompt": "s" * 30_000_000})


# --- weak spots --------------------------------------------------------------------------


FIRST_SAVE = json.dumps({"model": "first-save", "base_url": "http://127.0.0.1:9/v1"})


@pytest.mark.timeout(SLOW_TEST_TIMEOUT)
def test_w1_untyped_errors_are_typed(tmp_path: Path, store: Store) -> None:
    """Each input that gave an untyped error is a typed LlmregError naming the input, and
    four first saves at once on a new default store all succeed."""
    with checking("W1 untyped errors"):
        for uri in ("models:/chat/\u00b2", "models:/chat/\uff11"):
            with pytest.raises(InvalidModelURIError, match="ASCII"):
                load(uri)
        with pytest.raises(ConfigError, match="port"):
            ModelDefinition.from_dict({"model": "m", "base_url": "http://127.0.0.1:99999/v1"})
        with pytest.raises(DefinitionError, match="model"):
            ModelDefinition(model=None)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="int"):
            ModelDefinition.from_file(123)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="is a folder"):
            ModelDefinition.from_file("/etc")
        # four first saves race on a new default store (sqlite in the working folder)
        folder = tmp_path / "fresh"
        folder.mkdir()
        (folder / "tmp").mkdir()
        config = folder / "first.json"
        config.write_text(FIRST_SAVE)
        env = cli_env(Store(folder))
        env.pop("MLFLOW_TRACKING_URI")
        env.pop("MLFLOW_REGISTRY_URI")
        processes = [
            subprocess.Popen(
                [*llmreg_command(), "save", str(config)],
                env=env,
                cwd=folder,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        results = [(p, *p.communicate(timeout=300)) for p in processes]
        ok = [p for p, _, _ in results if p.returncode == 0]
        tally.note("load", first_saves=4, first_saves_ok=len(ok))
        assert len(ok) == 4, [err[-600:] for p, _, err in results if p.returncode]


def test_w2_booleans_are_not_numbers_and_only_ascii_digits_are_versions(
    store: Store, fake_openai: FakeOpenAIServer, api_key: str
) -> None:
    """true is not 1 in a definition or a request; Infinity is not JSON; "false" does not
    stream; a full-width digit is no version."""
    with checking("W2 loose types"):
        for field in ("max_tokens", "temperature", "concurrency"):
            with pytest.raises(ConfigError, match=field):
                ModelDefinition.from_dict({"model": "m", field: True})
        inf = store.folder / "inf.json"
        inf.write_text('{"model": "m", "timeout": Infinity}')
        with pytest.raises(ConfigError, match="Infinity"):
            ModelDefinition.from_file(inf)
        with pytest.raises(InvalidModelURIError):
            load("models:/chat/\uff11")
        from llmreg_gateway import create_app

        uri = f"models:/w2/{register('w2', save(definition(fake_openai.base_url, 'w2')))}"
        hi = [{"role": "user", "content": "hi"}]
        with serving(create_app(uri, reload_interval=0)) as url:
            for extra in ({"n": True}, {"temperature": True}, {"stream": "false"}):
                body = {"model": uri, "messages": hi, **extra}
                answer = httpx.post(f"{url}/v1/chat/completions", json=body)
                assert answer.status_code == 400, (extra, answer.text[:300])
            fine = httpx.post(f"{url}/v1/chat/completions", json={"model": uri, "messages": hi})
            assert fine.status_code == 200


def test_w3_late_checks_happen_at_save(store: Store) -> None:
    """A base_url with CR/LF or an invalid port is refused at save, before anything is written."""
    with checking("W3 late checks"):
        before = store.snapshot()
        for url in ("http://127.0.0.1:9/v1\r\nX-Injected: 1", "http://127.0.0.1:99999/v1"):
            config = _config(store.folder, "w3.json", {"model": "w3", "base_url": url})
            done = run_cli(["save", config], cli_env(store), store.folder)
            _one_error_line(done, "ConfigError")
        assert store.snapshot().left_behind(before) == []


def test_w4_messages_are_true_name_the_line_and_are_bounded(
    store: Store, fake_openai: FakeOpenAIServer, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty api_key says so; a non-ASCII key is blamed, not the endpoint; a JSONL error
    names the file line; n: null is fine; 2,000 bad rows make one short message."""
    with checking("W4 messages"):
        with pytest.raises(ConfigError) as empty:
            ModelDefinition.from_dict({"model": "m", "api_key": ""})
        assert "empty" in str(empty.value) and "literal" not in str(empty.value)
        monkeypatch.setenv("LLMREG_RELIABILITY_NON_ASCII", "sk-cl\u00e9")
        model = definition(fake_openai.base_url, "w4", api_key="env:LLMREG_RELIABILITY_NON_ASCII")
        version = register("w4", save(model))
        with pytest.raises(SecretResolutionError, match="non-ASCII") as info:
            load(f"models:/w4/{version}")
        assert "answer" not in str(info.value)
        uri = f"models:/w4b/{register('w4b', save(definition(fake_openai.base_url, 'w4b')))}"
        env = cli_env(store, **{KEY_VAR: api_key})
        bad = store.folder / "w4.jsonl"
        bad.write_text('"ok"\n\n' + "".join(json.dumps({"prompt": i}) + "\n" for i in range(2000)))
        done = run_cli(["predict", uri, "--file", str(bad)], env, store.folder)
        line = _one_error_line(done, "SchemaError")
        assert "line 3: " in line and "and 1990 more lines" in line and len(line) < 3000
        from llmreg_gateway import create_app

        with serving(create_app(uri, reload_interval=0)) as url:
            hi = [{"role": "user", "content": "hi"}]
            answer = httpx.post(
                f"{url}/v1/chat/completions", json={"model": uri, "messages": hi, "n": None}
            )
            assert answer.status_code == 200, answer.text[:300]


@pytest.mark.timeout(SLOW_TEST_TIMEOUT)
def test_w5_the_store_fails_fast_and_is_named(store: Store, tmp_path: Path) -> None:
    """An unreachable http:// store fails in seconds with one line naming it; a mistyped
    sqlite path says it is a new, empty store; a corrupt sqlite file is StoreUnavailableError."""
    with checking("W5 store"):
        port = free_port()  # nothing listens there
        env = {**cli_env(store), "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"}
        env["MLFLOW_REGISTRY_URI"] = env["MLFLOW_TRACKING_URI"]
        start = time.monotonic()
        done = run_cli(["versions", "chat"], env, store.folder)
        took = time.monotonic() - start
        line = _one_error_line(done, "StoreUnavailableError")
        assert f"127.0.0.1:{port}" in line and took < 30, (took, line)
        mistyped = {**cli_env(store), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'typo.db'}"}
        mistyped.pop("MLFLOW_REGISTRY_URI")
        done = run_cli(["show", "models:/chat/1"], mistyped, store.folder)
        line = _one_error_line(done, "ModelNotFoundError")
        assert "typo.db" in line and "new, empty store" in line
        corrupt = tmp_path / "corrupt.db"
        corrupt.write_bytes(b"garbage" * 1000)
        env = {**cli_env(store), "MLFLOW_TRACKING_URI": f"sqlite:///{corrupt}"}
        env.pop("MLFLOW_REGISTRY_URI")
        done = run_cli(["versions", "chat"], env, store.folder)
        assert "corrupt.db" in _one_error_line(done, "StoreUnavailableError")


def _serve(store: Store, uri: str, env: dict[str, str], *args: str) -> tuple[Any, str, Path]:
    port = free_port()
    log = store.folder / f"serve-{port}.log"
    process = subprocess.Popen(
        [*llmreg_command(), "--debug", "serve", uri, "--port", str(port), "--no-auth", *args],
        env=env, cwd=store.folder, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-2000:]
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return process, url, log
        time.sleep(0.2)
    process.kill()
    raise AssertionError(log.read_text()[-2000:])


@pytest.mark.timeout(SLOW_TEST_TIMEOUT)
def test_w6_serving_times_out_slow_clients_and_answers_with_the_right_status(
    store: Store, fake_openai: FakeOpenAIServer, api_key: str
) -> None:
    """40 clients that send headers slowly are closed; a disconnect mid-upload is INFO; an
    upstream 400 is a 400; a port in use is one line and exit 1."""
    with checking("W6 serving"):
        uri = f"models:/w6/{register('w6', save(definition(fake_openai.base_url, 'w6')))}"
        env = cli_env(store, **{KEY_VAR: api_key})
        process, url, log = _serve(store, uri, env, "--header-timeout", "1", "--body-timeout", "1")
        port = int(url.rsplit(":", 1)[1])
        try:
            slow = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(40)]
            for sock in slow:
                sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
            start = time.monotonic()
            closed = []
            for sock in slow:
                with sock:
                    data = b""
                    with contextlib.suppress(OSError):
                        while chunk := sock.recv(4096):
                            data += chunk
                    closed.append(data.startswith(b"HTTP/1.1 408"))
            assert all(closed) and time.monotonic() - start < 15
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(
                    b"POST /predict HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                    b"content-length: 100000\r\n\r\n" + b" " * 100
                )
            hi = {"role": "user", "content": "[fault 400] refused"}
            refused = httpx.post(
                f"{url}/v1/chat/completions", json={"model": uri, "messages": [hi]}, timeout=30
            )
            assert refused.status_code == 400
            assert refused.json()["error"]["code"] == "upstream_bad_request"
            assert httpx.get(f"{url}/health").status_code == 200
            time.sleep(0.5)
        finally:
            process.terminate()
            process.wait(timeout=30)
        text = log.read_text()
        assert "ERROR" not in text, text[-2000:]
        assert "INFO" in text and ("disconnected" in text or "body did not arrive" in text)
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            done = run_cli(["serve", uri, "--port", str(taken.getsockname()[1])], env, store.folder)
        assert "already in use" in _one_error_line(done, "ServeError")
        assert "serving" not in done.stderr


PARENT = textwrap.dedent(
    """
    import sys, threading, time
    from pathlib import Path
    from llmreg_llamacpp.server import LlamaServer, ServerSettings

    settings = ServerSettings(
        binary=Path(sys.argv[1]), model_file=Path("none.gguf"), chat_template_file=None,
        context_size=512, threads=1, parallel=1,
    )
    started = []
    worker = threading.Thread(target=lambda: started.append(LlamaServer._spawn(settings)))
    worker.start()
    worker.join()
    print(started[0].pid, flush=True)
    time.sleep(600)
    """
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_w7_the_local_model_server_dies_with_its_parent(tmp_path: Path) -> None:
    """The llama.cpp server (here a stand-in binary, started the same way) dies when its
    parent is killed with SIGKILL, though the thread that started it ended long before."""
    with checking("W7 processes outliving their parent"):
        binary = tmp_path / "fake-llama-server"
        binary.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(600)\n")
        binary.chmod(0o755)
        parent = subprocess.Popen(
            [sys.executable, "-c", PARENT, str(binary)], stdout=subprocess.PIPE, text=True
        )
        child = 0
        try:
            child = int(parent.stdout.readline())  # type: ignore[union-attr]
            time.sleep(0.5)
            assert _alive(child)
            os.kill(parent.pid, signal.SIGKILL)
            parent.wait(timeout=30)
            deadline = time.monotonic() + 10
            while _alive(child) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _alive(child)
        finally:
            if parent.poll() is None:
                parent.kill()
            if child and _alive(child):
                os.kill(child, signal.SIGKILL)


def test_w8_versions_keeps_one_line_per_version(store: Store, api_key: str) -> None:
    """A tag value holding newlines and tabs is escaped: one line per version."""
    with checking("W8 output"):
        env = cli_env(store, **{KEY_VAR: api_key})
        for index, note in enumerate(("first\nsecond", "tab\there", "plain")):
            model = {"model": f"w8-{index}", "base_url": "http://127.0.0.1:9/v1"}
            config = _config(store.folder, f"w8-{index}.json", model)
            done = run_cli(
                ["save", config, "--register", "--name", "w8", "--tag", f"note={note}"],
                env,
                store.folder,
            )
            assert done.returncode == 0, done.stderr[-1500:]
        listed = run_cli(["versions", "w8"], env, store.folder)
        lines = listed.stdout.splitlines()
        assert listed.returncode == 0 and len(lines) == 3, listed.stdout
        assert lines[0].endswith("note=first\\nsecond") and lines[1].endswith("note=tab\\there")
        assert all(len(line.split("\t")) == 4 for line in lines)


def test_every_class_of_the_issue_is_checked() -> None:
    """The module checks the eight defects and eight weak-spot classes, each by one test."""
    names = [n for n in globals() if n.startswith(("test_d", "test_w"))]
    assert len([n for n in names if n.startswith("test_d")]) == 8
    assert len([n for n in names if n.startswith("test_w")]) == 8
    assert threading.active_count() >= 1
    assert get_plugin_manager() is not None
