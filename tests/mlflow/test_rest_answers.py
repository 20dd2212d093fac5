"""The REST reader against a real server that answers garbage: a typed error naming the
endpoint, never an untyped one, and pages that never end are refused, never a loop.

A real HTTP server on 127.0.0.1 plays the registry (tests/support/scripted_server.py).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from llmreg.cli import cli
from llmreg.errors import StoreUnavailableError
from llmreg_mlflow import rest_shapes
from llmreg_mlflow.rest import RestRegistry
from llmreg_mlflow.rest_shapes import RegistryAnswerError
from support.scripted_server import Reply, ScriptedServer, Seen

MODEL = {"name": "chat", "aliases": [{"alias": "champion", "version": "1"}], "tags": []}
VERSION = {"name": "chat", "version": "1", "tags": [], "creation_timestamp": 1}


def _route(seen: Seen) -> str:
    return seen.path.split("/api/2.0/mlflow/", 1)[1].split("?", 1)[0]


def registry(answers: dict[str, Callable[[Seen], Reply]]) -> ScriptedServer:
    """A registry server answering each endpoint as ``answers`` says (else a normal answer)."""
    normal: dict[str, Callable[[Seen], Reply]] = {
        "registered-models/get": lambda s: Reply.json({"registered_model": MODEL}),
        "model-versions/search": lambda s: Reply.json({"model_versions": [VERSION]}),
        "model-versions/get": lambda s: Reply.json({"model_version": VERSION}),
        "registered-models/search": lambda s: Reply.json({"registered_models": [MODEL]}),
        "registered-models/alias": lambda s: Reply.json({"model_version": VERSION}),
    }
    normal.update(answers)
    return ScriptedServer(lambda seen: normal[_route(seen)](seen))


@pytest.fixture
def forever() -> Iterator[Callable[[str, str], ScriptedServer]]:
    """A server whose ``endpoint`` answers the same next_page_token, or a new one each time."""
    servers: list[ScriptedServer] = []

    def make(endpoint: str, how: str) -> ScriptedServer:
        counter = itertools.count()
        key = "model_versions" if endpoint.startswith("model") else "registered_models"
        item = VERSION if key == "model_versions" else MODEL

        def page(seen: Seen) -> Reply:
            token = "same" if how == "same" else f"t{next(counter)}"
            return Reply.json({key: [item], "next_page_token": token})

        server = registry({endpoint: page}).__enter__()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.__exit__(None, None, None)


def _searches(server: ScriptedServer, endpoint: str) -> int:
    return sum(1 for s in server.requests() if _route(s) == endpoint)


@pytest.mark.parametrize(
    ("endpoint", "read"),
    [
        ("model-versions/search", lambda r: r.versions("chat")),
        ("registered-models/search", lambda r: r.models()),
    ],
)
def test_a_repeated_page_token_is_a_typed_error_not_a_loop(endpoint, read, forever):
    server = forever(endpoint, "same")
    with pytest.raises(RegistryAnswerError, match="same next_page_token") as info:
        read(RestRegistry(server.url))
    assert endpoint in str(info.value)
    assert _searches(server, endpoint) == 2  # the first page, and the one that repeated


def test_pages_that_never_end_stop_at_the_bound(forever, monkeypatch):
    monkeypatch.setattr(rest_shapes, "MAX_PAGES", 5)
    server = forever("model-versions/search", "new")
    with pytest.raises(RegistryAnswerError, match="more than 5 pages"):
        RestRegistry(server.url).versions("chat")
    assert _searches(server, "model-versions/search") == 5


GARBAGE: list[tuple[str, Any, Callable[[RestRegistry], Any]]] = [
    ("registered-models/get", [MODEL], lambda r: r.versions("chat")),
    ("registered-models/get", {"registered_model": [MODEL]}, lambda r: r.history("chat", "x")),
    ("registered-models/get", {"registered_model": {**MODEL, "aliases": "champion"}},
     lambda r: r.versions("chat")),
    ("registered-models/get", {"registered_model": {**MODEL, "tags": {"a": "b"}}},
     lambda r: r.history("chat", "champion")),
    ("registered-models/get",
     {"registered_model": {**MODEL, "aliases": [{"alias": "c", "version": "two"}]}},
     lambda r: r.version("chat", 1)),
    ("model-versions/search", {"model_versions": {"version": "1"}}, lambda r: r.versions("chat")),
    ("model-versions/search", {"model_versions": [{"version": "1"}]}, lambda r: r.versions("chat")),
    ("model-versions/search", {"model_versions": [{**VERSION, "version": None}]},
     lambda r: r.versions("chat")),
    ("model-versions/search", {"model_versions": [VERSION], "next_page_token": 7},
     lambda r: r.versions("chat")),
    ("model-versions/get", {"model_version": "1"}, lambda r: r.version("chat", 1)),
    ("model-versions/get", {"other": 1}, lambda r: r.version("chat", 1)),
    ("model-versions/get", {"model_version": {**VERSION, "creation_timestamp": "noon"}},
     lambda r: r.version("chat", 1)),
    ("registered-models/search", {"registered_models": ["chat"]}, lambda r: r.models()),
    ("registered-models/search", {"registered_models": [{**MODEL, "latest_versions": [{}]}]},
     lambda r: r.models()),
    ("registered-models/alias", {"model_version": []}, lambda r: r.alias_version("chat", "c")),
]  # fmt: skip


@pytest.mark.parametrize(("endpoint", "answer", "read"), GARBAGE)
def test_a_garbage_shape_is_a_typed_error_naming_the_endpoint(endpoint, answer, read):
    server = registry({endpoint: lambda s: Reply.json(answer)})
    with server, pytest.raises(RegistryAnswerError) as info:
        read(RestRegistry(server.url))
    message = str(info.value)
    assert endpoint in message and server.url in message
    assert "not MLflow's REST API" in message


def test_a_page_that_is_no_json_is_a_typed_error():
    html = Reply(200, {"Content-Type": "text/html"}, b"<html>login</html>")
    server = registry({"model-versions/search": lambda s: html})
    with server, pytest.raises(RegistryAnswerError, match="model-versions/search with no JSON"):
        RestRegistry(server.url).versions("chat")


def test_the_answer_error_is_a_store_error_for_callers_that_catch_that():
    assert issubclass(RegistryAnswerError, StoreUnavailableError)


@pytest.mark.parametrize(
    ("command", "endpoint"),
    [(["list"], "registered-models/search"), (["versions", "chat"], "model-versions/search")],
)
def test_the_cli_reports_a_typed_error_and_exits_1(command, endpoint, forever, monkeypatch):
    server = forever(endpoint, "same")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.delenv("LLMREG_MLFLOW_REST", raising=False)
    done = CliRunner().invoke(cli, [*command, "--json"], catch_exceptions=False)
    error = json.loads(done.stdout)["error"]
    assert done.exit_code == 1
    assert error["type"] == "RegistryAnswerError" and "unexpected" not in error
    assert endpoint in error["message"]
