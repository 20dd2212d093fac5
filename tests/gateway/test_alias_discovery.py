"""``create_app(alias=...)``: every registered model with the alias, picked up as it appears."""

from __future__ import annotations

import time
from typing import Any, ClassVar, Literal

import httpx
import pytest

from llmreg import AliasRegister
from llmreg.errors import ConfigError
from llmreg_gateway import create_app

from .conftest import URI


class ListRegister(AliasRegister):
    """A register that only lists models (``models()``): what alias discovery asks of one."""

    KIND: Literal["ListRegister"] = "ListRegister"
    entries: ClassVar[list[dict[str, Any]]] = []

    def models(self) -> list[dict[str, Any]]:
        return [dict(e) for e in self.entries]

    def register(self, name: str, model_uri: str) -> Any:
        raise NotImplementedError

    def promote(self, name: str, version: int | str, alias: str = "champion") -> Any:
        raise NotImplementedError

    def rollback(self, name: str, alias: str = "champion") -> Any:
        raise NotImplementedError

    def history(self, name: str, alias: str = "champion") -> list[Any]:
        raise NotImplementedError

    def versions(self, name: str) -> list[Any]:
        raise NotImplementedError


def _ids(url: str) -> list[str]:
    return [m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]]


def test_models_gaining_the_alias_are_served_as_they_appear(serve, manager, switch):
    ListRegister.entries = [
        {"name": "chat", "aliases": {"champion": 1}},
        {"name": "summarize", "aliases": {"challenger": 2}},
    ]
    switch.targets["models:/summarize@champion"] = 5
    app = create_app(
        alias="champion",
        register=ListRegister(),
        discover_interval=0.05,
        loader={"KIND": "SwitchLoader"},
        manager=manager,
        reload_interval=0,
    )
    server = serve(app)
    deadline = time.monotonic() + 10
    while _ids(server.url) != [URI]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    ListRegister.entries[1] = {"name": "summarize", "aliases": {"champion": 5, "challenger": 2}}
    while _ids(server.url) != [URI, "models:/summarize@champion"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    while httpx.get(f"{server.url}/ready").json()["status"] != "ready":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    rows = httpx.post(f"{server.url}/predict", params={"model": "summarize"}, json=["hi"])
    assert rows.json()["rows"][0]["metadata"]["model"] == "echo-v5"


def test_an_app_with_no_model_yet_is_not_ready(serve, manager, switch):
    ListRegister.entries = []
    app = create_app(alias="champion", register=ListRegister(), discover_interval=0.05,
                     loader={"KIND": "SwitchLoader"}, manager=manager)  # fmt: skip
    server = serve(app)
    ready = httpx.get(f"{server.url}/ready")
    assert ready.status_code == 503 and ready.json() == {"status": "loading", "models": []}
    assert _ids(server.url) == []


def test_no_uri_and_no_alias_is_a_config_error():
    with pytest.raises(ConfigError, match="at least one model URI"):
        create_app()
