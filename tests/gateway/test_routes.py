"""``/predict``, ``/health``, ``/ready``, the error shapes, and loading, over real HTTP."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from typing import Literal

import httpx
import pytest

from llmreg import Adapter, Loader, ModelDefinition
from llmreg.errors import ModelNotFoundError
from llmreg_gateway import ServedModel, create_app

URI = "models:/chat@champion"


def test_predict_rows(served):
    body = {
        "rows": [
            {"input": "one"},
            {"messages": [{"role": "user", "content": "two"}], "params": {"max_tokens": 3}},
        ]
    }
    answer = httpx.post(f"{served.url}/predict", json=body)
    assert answer.status_code == 200
    rows = answer.json()["rows"]
    assert [r["prediction"] for r in rows] == ["echo: one", "echo: two"]
    assert rows[0]["metadata"]["model"] == "echo-v1"
    assert rows[0]["metadata"]["status"] == "ok"


@pytest.mark.parametrize(
    "body, expected",
    [("solo", ["echo: solo"]), (["a", "b"], ["echo: a", "echo: b"]), ({"input": "x"}, ["echo: x"])],
)
def test_predict_short_forms(served, body, expected):
    answer = httpx.post(f"{served.url}/predict", json=body)
    assert [r["prediction"] for r in answer.json()["rows"]] == expected


def test_partial_failure_keeps_the_other_rows(served):
    answer = httpx.post(f"{served.url}/predict", json=["ok", "!fail"])
    assert answer.status_code == 200
    rows = answer.json()["rows"]
    assert rows[0]["prediction"] == "echo: ok"
    assert rows[1]["prediction"] is None and rows[1]["metadata"]["status"] == "error"


def test_every_row_refused_upstream_as_a_bad_request_is_400(served):
    answer = httpx.post(f"{served.url}/predict", json=["!fail", "!fail"])
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "message": "echo provider was asked to fail",
        "type": "ProviderBadRequestError",
        "param": None,
        "code": "upstream_bad_request",
    }


BAD_REQUESTS = [
    ("/predict", b"{not json", 400, "invalid_json"),
    ("/predict", b"", 400, "empty_body"),
    ("/predict", b"   ", 400, "empty_body"),
    ("/predict", b'{"rows": []}', 400, "SchemaError"),
    ("/predict", b'{"prompt": "wrong column"}', 400, "SchemaError"),
    ("/predict", b'{"rows": [{"messages": [{"content": "x"}]}]}', 400, "SchemaError"),
    ("/predict", b'{"rows": [{"input": 3}]}', 400, "SchemaError"),
    ("/predict", b'"\xff\xfe"', 400, "invalid_encoding"),
    ("/v1/chat/completions", b"{not json", 400, "invalid_json"),
    ("/v1/chat/completions", b"[]", 400, "invalid_request"),
    ("/v1/chat/completions", b'{"messages": [{"role": "user", "content": "x"}]}', 400, None),
    ("/v1/chat/completions", b'{"model": "chat", "messages": []}', 400, "invalid_request"),
    ("/v1/chat/completions", b'{"model": "chat", "messages": [{"content": "x"}]}', 400, None),
    (
        "/v1/chat/completions",
        b'{"model": "chat", "messages": [{"role": "cat", "content": "x"}]}',
        400,
        None,
    ),
    (
        "/v1/chat/completions",
        b'{"model": "chat", "messages": [{"role": "user", "content": "x"}], "temperature": 9}',
        400,
        None,
    ),
    (
        "/v1/chat/completions",
        b'{"model": "chat", "messages": [{"role": "user", "content": "x"}], "tools": []}',
        400,
        None,
    ),
    (
        "/v1/chat/completions",
        b'{"model": "chat", "messages": [{"role": "user", "content": "x"}], "n": 2}',
        400,
        None,
    ),
    ("/v1/chat/completions", b'{"model": "chat", "messages": "\xc3\x28"}', 400, "invalid_encoding"),
    ("/no/such/route", b"{}", 404, "not_found"),
]


@pytest.mark.parametrize("path, raw, status, code", BAD_REQUESTS)
def test_request_errors_are_4xx_in_the_openai_shape(served, path, raw, status, code):
    answer = httpx.post(f"{served.url}{path}", content=raw)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code


def test_wrong_method_is_405_in_the_openai_shape(served):
    answer = httpx.get(f"{served.url}/predict")
    assert answer.status_code == 405
    assert answer.json()["error"]["code"] == "method_not_allowed"


def test_oversized_body_is_413(serve, manager):
    app = create_app(URI, loader={"KIND": "SwitchLoader"}, manager=manager, max_body_bytes=1000)
    server = serve(app)
    answer = httpx.post(f"{server.url}/predict", json=["x" * 2000])
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"
    assert httpx.post(f"{server.url}/predict", json=["x" * 10]).status_code == 200


def test_oversized_row_is_400_before_any_call(served):
    answer = httpx.post(f"{served.url}/predict", json=["x" * 1_000_001])
    assert answer.status_code == 400
    assert "at most 1000000 characters" in answer.json()["error"]["message"]


def test_health_and_ready(served):
    assert httpx.get(f"{served.url}/health").json()["status"] == "ok"
    ready = httpx.get(f"{served.url}/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "model_uri": URI,
        "info": {"model_uri": URI, "version": "1"},
    }


def test_not_ready_until_loaded(serve, manager, switch, ready):
    switch.gate = threading.Event()
    server = serve(create_app(URI, loader={"KIND": "SwitchLoader"}, manager=manager))
    assert httpx.get(f"{server.url}/health").status_code == 200
    waiting = httpx.get(f"{server.url}/ready")
    assert waiting.status_code == 503 and waiting.json()["status"] == "loading"
    switch.gate.set()
    assert ready(server.url)["info"]["version"] == "1"
    assert switch.loads == [URI]  # loaded once


def test_a_model_that_does_not_load_is_503(serve, manager, switch):
    switch.targets = {}
    server = serve(create_app(URI, loader={"KIND": "SwitchLoader"}, manager=manager))
    answer = httpx.post(f"{server.url}/predict", json=["x"])
    assert answer.status_code == 503
    assert answer.json()["error"]["type"] == "ModelNotFoundError"
    not_ready = httpx.get(f"{server.url}/ready").json()
    assert not_ready["status"] == "failed"
    assert not_ready["error"] == "ModelNotFoundError (the server's log has the detail)"
    assert "request id" in answer.json()["error"]["message"]


def test_import_serve_does_not_import_fastapi():
    probe = "import sys, llmreg, llmreg_gateway\nprint('fastapi' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_serves_the_example_plugins_folder_models(serve, tmp_path):
    """Any Loader's models: the example plugin's FolderLoader, found by its entry point."""
    from llmreg.manager import create_plugin_manager
    from llmreg.testing import echo_plugin, registered

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model_definition.json").write_text(json.dumps({"provider": "echo", "model": "f"}))
    # FolderAdapter builds its client through the default manager: give it echo there.
    from llmreg.manager import get_plugin_manager, set_plugin_manager

    set_plugin_manager(create_plugin_manager(load_plugins="llmreg-example"))
    try:
        with registered(echo_plugin, get_plugin_manager()):
            uri = f"folder:{folder}"
            server = serve(create_app(uri, loader={"KIND": "FolderLoader"}))
            answer = httpx.post(f"{server.url}/predict", json=["from a folder"])
            assert answer.json()["rows"][0]["prediction"] == "echo: from a folder"
            models = httpx.get(f"{server.url}/v1/models").json()
            assert models["data"][0]["id"] == uri
    finally:
        set_plugin_manager(None)


class KeyedAdapter(Adapter):
    def __init__(self, definition: ModelDefinition) -> None:
        self._definition = definition

    @property
    def definition(self) -> ModelDefinition:
        return self._definition

    def predict(self, inputs, params=None):
        raise AssertionError("not called")


class KeyedLoader(Loader):
    KIND: Literal["KeyedLoader"] = "KeyedLoader"

    def load(self, uri: str) -> KeyedAdapter:
        return KeyedAdapter(ModelDefinition(provider="echo", model="m", api_key="env:SERVE_KEY"))


def test_error_messages_mask_the_models_resolved_key(monkeypatch):
    monkeypatch.setenv("SERVE_KEY", "sk-very-secret-123")
    served = ServedModel(URI, loader=KeyedLoader())
    text = "Incorrect API key provided: sk-very-secret-123"
    assert served.redact(text) == text  # nothing loaded, nothing known
    served.load()
    assert served.redact(text) == "Incorrect API key provided: ***"


SECRET = "sk-very-secret-123"


class BuggyAdapter(KeyedAdapter):
    """A plugin bug: ``predict`` raises a KeyError that quotes the model's key."""

    def predict(self, inputs, params=None):
        raise KeyError(f"no entry for {SECRET}")


class BuggyLoader(Loader):
    KIND: Literal["BuggyLoader"] = "BuggyLoader"
    fail_load: bool = False

    def load(self, uri: str) -> BuggyAdapter:
        if self.fail_load:
            raise KeyError("models_dir")
        return BuggyAdapter(ModelDefinition(provider="echo", model="m", api_key="env:SERVE_KEY"))


def _unexpected_records(caplog):
    return [
        r for r in caplog.records if r.name == "llmreg_gateway.context" and r.levelname == "ERROR"
    ]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/predict", ["hi"]),
        ("/v1/chat/completions", {"model": URI, "messages": [{"role": "user", "content": "hi"}]}),
    ],
)
def test_an_unexpected_error_is_logged_masked_then_500(serve, monkeypatch, caplog, path, body):
    monkeypatch.setenv("SERVE_KEY", SECRET)
    caplog.set_level(logging.ERROR, logger="llmreg_gateway.context")
    server = serve(create_app(URI, loader=BuggyLoader(), reload_interval=0))
    answer = httpx.post(f"{server.url}{path}", json=body)

    assert answer.status_code == 500
    error = answer.json()["error"]
    assert error["type"] == "internal_error"
    assert error["message"].startswith("internal error: KeyError")
    (record,) = _unexpected_records(caplog)
    logged = record.getMessage()
    assert f"POST {path} failed with an unexpected KeyError" in logged
    assert "Traceback (most recent call last)" in logged and "in predict" in logged
    assert "no entry for ***" in logged
    assert SECRET not in logged and record.exc_info is None


def test_a_loader_bug_is_logged_then_500(serve, caplog):
    caplog.set_level(logging.ERROR, logger="llmreg_gateway.context")
    server = serve(create_app(URI, loader=BuggyLoader(fail_load=True), reload_interval=0))
    answer = httpx.post(f"{server.url}/predict", json=["hi"])

    assert answer.status_code == 500
    assert answer.json()["error"]["message"].startswith("internal error: KeyError")
    assert any(
        "unexpected KeyError" in r.getMessage() and "models_dir" in r.getMessage()
        for r in _unexpected_records(caplog)
    )


def test_a_typed_error_is_not_logged_as_unexpected(served, caplog):
    caplog.set_level(logging.ERROR, logger="llmreg_gateway.context")
    assert httpx.post(f"{served.url}/predict", content=b"{").status_code == 400
    assert _unexpected_records(caplog) == []


class FlakyKeyedLoader(Loader):
    """Loads a keyed model once; every later load fails with a message quoting the key."""

    KIND: Literal["FlakyKeyedLoader"] = "FlakyKeyedLoader"
    loaded: list[str] = []

    def load(self, uri: str) -> KeyedAdapter:
        if self.loaded:
            raise ModelNotFoundError(f"registry refused key {SECRET} for {uri}")
        self.loaded.append(uri)
        return KeyedAdapter(ModelDefinition(provider="echo", model="m", api_key="env:SERVE_KEY"))


def test_last_error_is_masked_with_the_loaded_models_secrets(monkeypatch):
    monkeypatch.setenv("SERVE_KEY", SECRET)
    served = ServedModel(URI, loader=FlakyKeyedLoader(loaded=[]))
    served.load()
    with pytest.raises(ModelNotFoundError):
        served.reload()
    assert served.last_error == f"ModelNotFoundError: registry refused key *** for {URI}"


def test_last_error_before_any_load_is_the_loaders_own(monkeypatch):
    """Nothing loaded, no secret known: the error is kept as raised (docs/serving.md says so)."""
    monkeypatch.setenv("SERVE_KEY", SECRET)
    served = ServedModel(URI, loader=FlakyKeyedLoader(loaded=["earlier"]))
    with pytest.raises(ModelNotFoundError):
        served.load()
    assert served.last_error == f"ModelNotFoundError: registry refused key {SECRET} for {URI}"
