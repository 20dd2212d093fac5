"""The pyfunc model in MLflow's own tools speaks MLflow's shapes (issue 16, section 4).

``mlflow.pyfunc.load_model`` takes a plain list of strings and MLflow's chat request,
names the registered version and alias it was loaded through, and loads without
MLflow's "Add type hints" warning; a real ``mlflow models serve`` answers the chat
format at the top level and under ``inputs`` in the chat completion shape, and a bad
column with llmreg's one-line ``SchemaError``, not a stack trace.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.types.llm import ChatCompletionResponse

from llmreg import hookimpl
from llmreg.client import Client, Completion
from llmreg.definition import ModelDefinition
from llmreg.schemas import Request
from llmreg.testing import registered as plugged_in
from llmreg_mlflow import MlflowRegister
from llmreg_pyfunc import CustomSaver

NAME = "shapes-chat"
CHAT = {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def registered(store: Path, providers: Any) -> int:
    """One echo model registered as NAME, version 1, with the alias ``champion``."""
    saved = CustomSaver(experiment="shapes").save(ModelDefinition(provider="echo", model="e-1"))
    register = MlflowRegister()
    version = register.register(NAME, saved.uri).version
    register.promote(NAME, version, "champion")
    return version


@pytest.fixture(scope="module")
def champion(registered: int) -> Any:
    return mlflow.pyfunc.load_model(f"models:/{NAME}@champion")


def test_a_plain_list_of_strings(champion: Any) -> None:
    out = champion.predict(["first", "second"])
    assert isinstance(out, pd.DataFrame)
    assert out["prediction"].tolist() == ["echo: first", "echo: second"]
    assert out["metadata"][0]["status"] == "ok"


def test_a_single_string_and_row_dicts(champion: Any) -> None:
    assert champion.predict("alone")["prediction"].tolist() == ["echo: alone"]
    rows = [{"input": "a"}, {"messages": [{"role": "user", "content": "b"}]}]
    assert champion.predict(rows)["prediction"].tolist() == ["echo: a", "echo: b"]


def test_a_frame_with_one_unnamed_column(champion: Any) -> None:
    # pandas.DataFrame(["a"]) and spark_udf's frame for udf("input") name the column 0
    out = champion.predict(pd.DataFrame(["u1", "u2"]))
    assert out["prediction"].tolist() == ["echo: u1", "echo: u2"]
    chat = pd.DataFrame([[[{"role": "user", "content": "u3"}]]])
    assert champion.predict(chat)["prediction"].tolist() == ["echo: u3"]


def test_mlflows_chat_request_gets_a_chat_completion(champion: Any) -> None:
    answer = champion.predict({**CHAT, "temperature": 0.2, "max_tokens": 7})
    parsed = ChatCompletionResponse.from_dict(answer)  # MLflow's own class accepts it
    assert parsed.choices[0].message.content == "echo: hi"
    assert answer["choices"][0]["message"]["role"] == "assistant"
    assert answer["object"] == "chat.completion"
    assert answer["model"] == "e-1"
    assert answer["usage"]["total_tokens"] >= answer["usage"]["prompt_tokens"] >= 1
    assert answer["custom_outputs"]["metadata"]["status"] == "ok"


class _ParamsClient(Client):
    """Answers with the generation params its request carried."""

    def __init__(self, definition: ModelDefinition) -> None:
        self.definition = definition

    def complete(self, request: Request) -> Completion:
        """Answer ``temperature=<t> max_tokens=<n>``."""
        params = request.params
        text = (
            f"temperature={params and params.temperature} max_tokens={params and params.max_tokens}"
        )
        return Completion(text=text, model=self.definition.model, latency_ms=0.0)


class _ParamsProvider:
    @hookimpl
    def llmreg_register_providers(self, register: Any) -> None:
        register("params-echo", _ParamsClient)


def test_the_params_beside_the_messages_reach_the_provider(store: Path) -> None:
    with plugged_in(_ParamsProvider()):
        definition = ModelDefinition(provider="params-echo", model="p-1")
        saved = CustomSaver(experiment="shapes-params").save(definition)
        model = mlflow.pyfunc.load_model(saved.uri)
        answer = model.predict({**CHAT, "temperature": 0.2, "max_tokens": 7})
        content = answer["choices"][0]["message"]["content"]
        assert content == "temperature=0.2 max_tokens=7"
        # params passed the MLflow way apply too; those beside the messages win
        answer = model.predict({**CHAT, "max_tokens": 3}, params={"temperature": 0.5})
        assert answer["choices"][0]["message"]["content"] == "temperature=0.5 max_tokens=3"
        assert answer["usage"] == {}  # the provider reported no token counts


def test_a_chat_request_with_an_unknown_key_is_a_one_line_error(champion: Any) -> None:
    with pytest.raises(MlflowException) as info:
        champion.predict({**CHAT, "n_best": 3})
    assert info.value.message.startswith("SchemaError: the chat request has keys")
    assert "n_best" in info.value.message and "\n" not in info.value.message


def test_the_metadata_names_the_alias_and_version(champion: Any, registered: int) -> None:
    meta = champion.predict(["which"])["metadata"][0]
    assert meta["name"] == NAME
    assert meta["version"] == registered and isinstance(meta["version"], int)
    assert meta["alias"] == "champion"
    assert meta["model_uri"] == f"models:/{NAME}@champion"
    info = champion.unwrap_python_model().info
    assert (info["name"], info["version"], info["alias"]) == (NAME, registered, "champion")


def test_a_version_uri_names_the_version_and_no_alias(registered: int) -> None:
    model = mlflow.pyfunc.load_model(f"models:/{NAME}/{registered}")
    meta = model.predict(["v"])["metadata"][0]
    assert (meta["name"], meta["version"], meta["alias"]) == (NAME, registered, None)


def test_a_bad_column_is_llmregs_one_line_error(champion: Any) -> None:
    with pytest.raises(MlflowException) as info:
        champion.predict(pd.DataFrame({"question": ["x"]}))
    assert info.value.message.startswith("SchemaError: the DataFrame has the columns ['question']")
    assert info.value.get_http_status_code() == 400


def test_loading_emits_no_type_hint_warning(registered: int, store: Path) -> None:
    # the warning comes once per process, when MLflow first sees the class: a fresh one
    code = (
        "import json, warnings, mlflow\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        f"    model = mlflow.pyfunc.load_model('models:/{NAME}@champion')\n"
        "    model.predict(['x'])\n"
        "print(json.dumps([str(w.message) for w in caught]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, check=True
    )
    caught = json.loads(done.stdout.strip().splitlines()[-1])
    assert not [m for m in caught if "type hint" in m.lower()], caught
    assert "type hints" not in done.stderr.lower()


def test_the_hint_leaves_the_signature_as_saved(champion: Any) -> None:
    signature = champion.metadata.signature
    assert signature.inputs is None  # no schema inferred from the predict hint
    assert [c.name for c in signature.outputs.inputs] == ["prediction", "metadata"]
    assert not champion.metadata._is_signature_from_type_hint()


# --- mlflow models serve -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(url: str, payload: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - loopback URL
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def served(registered: int, store: Path) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [
        sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{NAME}@champion",
        "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port),
    ]  # fmt: skip
    log_path = store / "shapes-serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/ping", timeout=2):  # noqa: S310
                        break
                except (urllib.error.URLError, ConnectionError, OSError):
                    if proc.poll() is not None or time.monotonic() > deadline:
                        text = log_path.read_text(errors="replace")
                        if "'FastAPI' object has no attribute 'route'" in text:
                            # MLflow 3.4's scoring server predates the installed FastAPI
                            pytest.skip(f"mlflow {mlflow.__version__}'s models serve cannot run")
                        message = f"mlflow models serve did not start:\n{text[-3000:]}"
                        raise RuntimeError(message) from None
                    time.sleep(0.25)
            yield base
        finally:
            with contextlib.suppress(ProcessLookupError):  # it exited (see the skip above)
                os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()


def test_served_chat_format_at_the_top_level(served: str, registered: int) -> None:
    status, answer = _post(f"{served}/invocations", {**CHAT, "temperature": 0.1, "max_tokens": 9})
    assert status == 200, answer
    assert ChatCompletionResponse.from_dict(answer).choices[0].message.content == "echo: hi"
    assert answer["usage"]["completion_tokens"] >= 1
    meta = answer["custom_outputs"]["metadata"]
    assert (meta["name"], meta["version"]) == (NAME, registered)


def test_served_chat_format_under_inputs(served: str) -> None:
    payload = {"inputs": CHAT, "params": {"temperature": 0.3}}
    status, answer = _post(f"{served}/invocations", payload)
    assert status == 200, answer
    chat = ChatCompletionResponse.from_dict(answer["predictions"])
    assert chat.choices[0].message.content == "echo: hi"


@pytest.mark.parametrize(
    "payload",
    [
        {"inputs": ["served a", "served b"]},
        {"dataframe_records": [{"input": "served a"}, {"input": "served b"}]},
        {"inputs": {"input": ["served a", "served b"]}, "params": {"max_tokens": 5}},
    ],
)
def test_served_rows(served: str, payload: dict[str, Any]) -> None:
    status, answer = _post(f"{served}/invocations", payload)
    assert status == 200, answer
    assert [r["prediction"] for r in answer["predictions"]] == ["echo: served a", "echo: served b"]


def test_served_bad_column_answers_the_schema_error_first(served: str) -> None:
    status, answer = _post(f"{served}/invocations", {"dataframe_records": [{"question": "x"}]})
    assert status == 400
    assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
    assert answer["message"].startswith("SchemaError: the DataFrame has the columns ['question']")
    assert "\n" not in answer["message"]
    assert "stack_trace" not in answer and "Traceback" not in json.dumps(answer)
