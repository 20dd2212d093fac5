"""The official openai SDK and LiteLLM (as a client) against a live ``llmreg serve``, keys on.

Two registered models, ``chat`` and ``summarize`` (both ``@champion``), saved through the
CLI into a sqlite store, in front of the fake OpenAI server on 127.0.0.1; ``llmreg serve``
runs in its own process with a user key (``--api-key env:``) and a keys file whose second
key may call ``summarize`` only. Each client: plain, streamed, tools (streamed and not),
JSON mode (``json_object`` and ``json_schema``), routing by ``model``, bad keys (401; 404
for a model outside the key's list).
docs/serving.md's streaming-with-tools and LiteLLM examples run here too.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from support.docs import marked
from support.openai_server import FakeOpenAIServer
from support.serve_process import free_port

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # offline: no cost-map download
litellm = pytest.importorskip("litellm")

pytestmark = pytest.mark.integration

USER_KEY = "sk-clients-user-7d41a0"
LIMITED_KEY = "sk-clients-summarize-only-2be9f3"
ADMIN_KEY = "sk-clients-admin-c0ffee"
PAGE = Path(__file__).resolve().parents[2] / "docs" / "serving.md"
BLOCK = re.compile(r"```(\w+)([^\n]*)\n(.*?)```", re.S)
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
SCHEMA = {
    "name": "echo",
    "schema": {"type": "object", "properties": {"echo": {"type": "string"}}},
}


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    env["UPSTREAM_KEY"] = "sk-upstream-clients-55aa"
    env["LLMREG_API_KEY"] = USER_KEY
    env["LLMREG_ADMIN_KEY"] = ADMIN_KEY
    env.setdefault("LLMREG_DISABLE_PLUGINS", "llmreg-broken,llmreg-incompatible")
    return env


def _llmreg(folder: Path, *args: str) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "llmreg"), *args],
        cwd=folder,
        env=_env(folder),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"llmreg {' '.join(args)}: {done.stderr}"


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def url(tmp_path_factory, upstream) -> Iterator[str]:
    """``llmreg serve`` of chat@champion and summarize@champion, keys on; its base URL."""
    folder = tmp_path_factory.mktemp("clients")
    for name, model in (("chat", "gpt-chat"), ("summarize", "gpt-summarize")):
        definition = {"provider": "openai", "model": model, "base_url": upstream.base_url,
                      "api_key": "env:UPSTREAM_KEY", "max_retries": 0}  # fmt: skip
        (folder / f"{name}.json").write_text(json.dumps(definition))
        _llmreg(folder, "save", f"{name}.json", "--register", "--name", name, "--alias", "champion")
    digest = hashlib.sha256(LIMITED_KEY.encode()).hexdigest()
    (folder / "keys.txt").write_text(f"# summarize only\n{digest} summarize\n")
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "llmreg"), "serve",
        "models:/chat@champion", "models:/summarize@champion", "--port", str(port),
        "--api-key", "env:LLMREG_API_KEY", "--keys-file", "keys.txt",
        "--admin-key", "env:LLMREG_ADMIN_KEY", "--reload-interval", "0",
    ]  # fmt: skip
    log = (folder / "serve.log").open("w")
    process = subprocess.Popen(command, cwd=folder, env=_env(folder), stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert process.poll() is None, (folder / "serve.log").read_text()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/ready").json().get("status") == "ready":
                    break
            assert time.monotonic() < deadline, (folder / "serve.log").read_text()
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        log.close()


@pytest.fixture
def sdk(url) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{url}/v1", api_key=USER_KEY, max_retries=0) as client:
        yield client


def _ask(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def _arguments(deltas: list[Any]) -> dict[int, dict[str, Any]]:
    """Tool-call deltas (objects with index, id, function) joined per index."""
    calls: dict[int, dict[str, Any]] = {}
    for delta in deltas:
        call = calls.setdefault(delta.index, {"id": None, "name": None, "arguments": ""})
        call["id"] = call["id"] or delta.id
        call["name"] = call["name"] or (delta.function.name if delta.function else None)
        call["arguments"] += (delta.function.arguments or "") if delta.function else ""
    return calls


# --- the official openai SDK ---------------------------------------------------------


def test_openai_plain_and_streamed(sdk, upstream):
    answer = sdk.chat.completions.create(model="chat", messages=_ask("plain please"))
    assert answer.choices[0].message.content == "echo: plain please"
    assert answer.system_fingerprint == "llmreg:chat:v1"
    assert answer.model == "chat" and answer.usage.completion_tokens == 3
    chunks = list(
        sdk.chat.completions.create(
            model="chat",
            messages=_ask("stream this now"),
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert texts == ["echo:", " stream", " this", " now"]  # the upstream's chunks, one by one
    assert chunks[-1].usage.completion_tokens == 4
    assert upstream.chat_requests("gpt-chat")[-1].body["stream"] is True


def test_openai_tools_not_streamed_and_streamed(sdk, upstream):
    answer = sdk.chat.completions.create(
        model="chat", messages=_ask("Paris"), tools=[TOOL], tool_choice="auto"
    )
    (call,) = answer.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"text": "Paris"}
    assert answer.choices[0].finish_reason == "tool_calls"
    chunks = list(
        sdk.chat.completions.create(
            model="chat", messages=_ask("[two calls] Rome"), tools=[TOOL], stream=True
        )
    )
    deltas = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or ()]
    assert len(deltas) > 2  # heads and argument fragments, as they came
    calls = _arguments(deltas)
    assert sorted(calls) == [0, 1]
    for call in calls.values():
        assert call["name"] == "get_weather" and call["id"].startswith("call_")
        assert json.loads(call["arguments"]) == {"text": "[two calls] Rome"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert {c.system_fingerprint for c in chunks} == {"llmreg:chat:v1"}
    sent = upstream.chat_requests("gpt-chat")[-1].body
    assert sent["stream"] is True and sent["tools"] == [TOOL]


def test_openai_json_mode_and_json_schema(sdk):
    answer = sdk.chat.completions.create(
        model="chat", messages=_ask("as json"), response_format={"type": "json_object"}
    )
    assert json.loads(answer.choices[0].message.content) == {"echo": "as json"}
    streamed = sdk.chat.completions.create(
        model="chat",
        messages=_ask("schema it"),
        response_format={"type": "json_schema", "json_schema": SCHEMA},
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert json.loads(text) == {"echo": "schema it"}


def test_openai_many_models_routed_by_model(sdk, upstream):
    listed = {m.id for m in sdk.models.list().data}
    assert listed == {"models:/chat@champion", "models:/summarize@champion"}
    for model, upstream_model in (
        ("chat", "gpt-chat"),
        ("summarize", "gpt-summarize"),
        ("summarize@champion", "gpt-summarize"),
        ("models:/chat@champion", "gpt-chat"),
    ):
        raw = sdk.chat.completions.with_raw_response.create(model=model, messages=_ask(model))
        assert raw.headers["x-llmreg-model-version"] == "1"
        assert raw.parse().choices[0].message.content == f"echo: {model}"
        assert upstream.chat_requests(upstream_model)[-1].body["messages"][-1]["content"] == model
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="nope", messages=_ask("x"))


def test_openai_bad_keys(url):
    for key in ("sk-wrong", ""):
        with (
            openai.OpenAI(base_url=f"{url}/v1", api_key=key or "x", max_retries=0) as bad,
            pytest.raises(openai.AuthenticationError) as caught,
        ):
            bad.chat.completions.create(model="chat", messages=_ask("x"))
        assert caught.value.status_code == 401
        assert caught.value.body["code"] == "invalid_api_key"
    with openai.OpenAI(base_url=f"{url}/v1", api_key=LIMITED_KEY, max_retries=0) as limited:
        with pytest.raises(openai.NotFoundError) as denied:  # as if "chat" did not exist
            limited.chat.completions.create(model="chat", messages=_ask("x"), stream=True)
        assert denied.value.body["code"] == "model_not_found"
        ok = limited.chat.completions.create(model="summarize", messages=_ask("fine"))
        assert ok.choices[0].message.content == "echo: fine"
        assert [m.id for m in limited.models.list().data] == ["models:/summarize@champion"]


# --- LiteLLM as a client --------------------------------------------------------------


def _litellm(url: str, model: str, key: str = USER_KEY, **kwargs: Any) -> Any:
    return litellm.completion(
        model=f"openai/{model}", api_base=f"{url}/v1", api_key=key, num_retries=0, **kwargs
    )


def test_litellm_plain_and_streamed(url):
    answer = _litellm(url, "chat", messages=_ask("hello litellm"))
    assert answer.choices[0].message.content == "echo: hello litellm"
    assert answer.usage.completion_tokens == 3
    chunks = list(_litellm(url, "chat", messages=_ask("one two"), stream=True))
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(texts) == "echo: one two" and len(texts) == 3


def test_litellm_tools_not_streamed_and_streamed(url):
    answer = _litellm(url, "chat", messages=_ask("Oslo"), tools=[TOOL], tool_choice="auto")
    (call,) = answer.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"text": "Oslo"}
    messages = _ask("[two calls] Lima")
    chunks = list(_litellm(url, "chat", messages=messages, tools=[TOOL], stream=True))
    deltas = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or ()]
    assert len(deltas) > 2
    rebuilt = litellm.stream_chunk_builder(chunks, messages=messages)
    calls = rebuilt.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_weather"]
    assert [json.loads(c.function.arguments) for c in calls] == [{"text": "[two calls] Lima"}] * 2
    assert rebuilt.choices[0].finish_reason == "tool_calls"
    # the tool's answer goes back as a tool message and is answered
    follow = _litellm(
        url,
        "chat",
        tools=[TOOL],
        messages=[
            *messages,
            {"role": "assistant", "content": None, "tool_calls": [calls[0].model_dump()]},
            {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny"},
        ],
    )
    assert follow.choices[0].message.content == "tool said: sunny"


def test_litellm_json_mode_and_json_schema(url):
    answer = _litellm(
        url, "chat", messages=_ask("json please"), response_format={"type": "json_object"}
    )
    assert json.loads(answer.choices[0].message.content) == {"echo": "json please"}
    answer = _litellm(
        url,
        "chat",
        messages=_ask("schema please"),
        response_format={"type": "json_schema", "json_schema": SCHEMA},
    )
    assert json.loads(answer.choices[0].message.content) == {"echo": "schema please"}


def test_litellm_many_models(url, upstream):
    for model, upstream_model in (("chat", "gpt-chat"), ("summarize", "gpt-summarize")):
        answer = _litellm(url, model, messages=_ask(f"to {model}"))
        assert answer.choices[0].message.content == f"echo: to {model}"
        assert upstream.chat_requests(upstream_model)[-1].body["messages"][-1]["content"] == (
            f"to {model}"
        )


def test_litellm_bad_keys(url):
    with pytest.raises(litellm.AuthenticationError) as caught:
        _litellm(url, "chat", key="sk-wrong", messages=_ask("x"))
    assert caught.value.status_code == 401
    # a model outside the key's list is a 404, as if it did not exist
    with pytest.raises((litellm.NotFoundError, litellm.APIError)) as denied:
        _litellm(url, "chat", key=LIMITED_KEY, messages=_ask("x"))
    assert denied.value.status_code == 404
    assert "is not served here" in str(denied.value)
    ok = _litellm(url, "summarize", key=LIMITED_KEY, messages=_ask("allowed"))
    assert ok.choices[0].message.content == "echo: allowed"


# --- docs/serving.md's examples -------------------------------------------------------


def _page_blocks() -> dict[str, str]:
    blocks = {}
    for _, head, body in BLOCK.findall(PAGE.read_text()):
        title = re.search(r'title="([^"]+)"', head)
        if title:
            blocks[title.group(1)] = body
    return blocks


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("stream_tools.py", 'get_weather {"text": "What is the weather in Paris?"}\n'),
        ("litellm_client.py", "echo: What is MLflow?\necho: Stream it.\n"),
    ],
)
def test_docs_examples(url, monkeypatch, block, expected):
    assert block in {b.title for b in marked("docs/serving.md", "serve-clients")}
    code = _page_blocks()[block]
    port = url.rsplit(":", 1)[1]
    monkeypatch.setenv("LLMREG_API_KEY", USER_KEY)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code.replace("8000", port), {"__name__": "__main__"})  # noqa: S102 - the doc's code
    assert out.getvalue() == expected
