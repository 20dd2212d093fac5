"""A host with its own plugin manager: what its saver and loader build comes from that manager."""

from __future__ import annotations

from typing import Any

import pytest

import llmreg_pyfunc.plugin
from llmreg import hookimpl
from llmreg.definition import ModelDefinition
from llmreg.errors import UnknownKindError
from llmreg.testing import EchoClient, isolated_manager
from llmreg_pyfunc import CustomLoader, CustomSaver


class _CountingHere:
    """The provider ``counting``, as an isolated manager has it: building its own clients."""

    def __init__(self) -> None:
        self.built: list[str] = []

    def build(self, definition: ModelDefinition) -> EchoClient:
        """Build an echo client, recording the model."""
        self.built.append(definition.model)
        return EchoClient(definition)

    @hookimpl
    def llmreg_register_providers(self, register: Any) -> None:
        register("counting", self.build)


def test_an_isolated_loader_gets_its_client_from_its_own_manager(
    store: Any, providers: Any
) -> None:
    here = _CountingHere()
    manager = isolated_manager(llmreg_pyfunc.plugin, here)
    saved = manager.saver({"KIND": "CustomSaver", "experiment": "isolation"}).save(
        ModelDefinition(provider="counting", model="iso")
    )
    before = list(providers.built)  # the default manager's ``counting`` factory

    loader = manager.loader()  # the plugin's default loader, built by this manager
    assert loader.manager is manager
    adapter = loader.load(saved.uri)
    assert here.built == ["iso"]
    assert providers.built == before
    assert adapter.predict(["a"]).predictions == ["echo: a"]

    # The same URI through the process's default manager: its own factory, its own client.
    default = CustomLoader().load(saved.uri)
    assert providers.built == [*before, "iso"]
    assert here.built == ["iso"]
    assert default.client is not adapter.client
    # and a second load by the isolated manager reuses its cached client
    again = loader.load(saved.uri)
    assert again.client is adapter.client and here.built == ["iso"]
    for each in (adapter, default, again):
        each.close()


def test_an_isolated_saver_resolves_providers_with_its_own_manager(store: Any) -> None:
    """Requirements are computed by the saver's manager: a provider only it has is known."""

    class _OnlyHere:
        @hookimpl
        def llmreg_register_providers(self, register: Any) -> None:
            register("only-here", EchoClient)

    definition = ModelDefinition(provider="only-here", model="iso")
    manager = isolated_manager(llmreg_pyfunc.plugin, _OnlyHere())
    plan = manager.saver({"KIND": "CustomSaver"}).plan(definition)
    # pinned, or carried as a wheel (llmreg_pyfunc.wheels) when installed from source
    assert any(
        r.startswith(("llmreg-pyfunc==", "artifacts/wheels/llmreg_pyfunc-"))
        for r in plan.requirements
    )
    with pytest.raises(UnknownKindError, match="only-here"):
        CustomSaver().plan(definition)  # the process's default manager has no such provider
