"""The plugin: provider 'openai' found through the entry point, cheap to load, contract kept."""

from __future__ import annotations

import subprocess
import sys

import pytest

from llmreg import ModelDefinition, Request, get_plugin_manager
from llmreg.testing import isolated_manager
from llmreg.testing.contract import ProviderContract
from llmreg_litellm import plugin
from llmreg_litellm.client import OpenAICompatibleClient


class TestOpenAIProviderContract(ProviderContract):
    """The core's provider contract, run against the fake server."""

    provider = "openai"
    plugin = plugin

    @pytest.fixture(autouse=True)
    def _endpoint(self, server):
        self.definition = {"provider": "openai", "model": "contract", "base_url": server.base_url}


def test_the_entry_point_registers_openai():
    assert "openai" in get_plugin_manager().providers()


def test_the_manager_builds_this_client(server):
    manager = isolated_manager(plugin)
    client = manager.client(ModelDefinition(model="via-manager", base_url=server.base_url))
    try:
        assert isinstance(client, OpenAICompatibleClient)
        assert client.complete(Request(input="hi")).text == "echo: hi"
    finally:
        client.close()


def test_loading_the_plugin_imports_no_openai():
    code = (
        "import sys, llmreg_litellm.plugin as p\n"
        "assert p.PROVIDER == 'openai'\n"
        "print('openai' in sys.modules, 'httpx2' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["False", "False"]
