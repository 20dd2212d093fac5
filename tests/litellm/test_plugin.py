"""The plugin: provider 'openai' registered by import path, found through the entry point,
cheap to load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from llmreg import ModelDefinition, Request, create_plugin_manager
from llmreg.testing import isolated_manager
from llmreg_litellm import plugin
from llmreg_litellm.client import OpenAICompatibleClient


def test_the_entry_point_registers_openai_by_import_path():
    # a manager of its own: the test neither needs nor touches the process-wide one
    registration = create_plugin_manager().providers()["openai"]
    assert registration.distribution == "llmreg-litellm"
    assert registration.obj in (plugin.CLIENT, OpenAICompatibleClient)
    assert plugin.CLIENT == "llmreg_litellm.client:OpenAICompatibleClient"


def test_the_manager_builds_this_client(server):
    manager = isolated_manager(plugin)
    assert manager.providers()["openai"].obj == plugin.CLIENT  # not imported yet
    client = manager.client(ModelDefinition(model="via-manager", base_url=server.base_url))
    try:
        assert isinstance(client, OpenAICompatibleClient)
        assert client.complete(Request(input="hi")).text == "echo: hi"
    finally:
        client.close()
    assert manager.providers()["openai"].obj is OpenAICompatibleClient  # resolved once


def test_loading_the_plugin_imports_no_sdk_no_client_and_no_pydantic():
    code = (
        "import json, sys, llmreg_litellm.plugin as p\n"
        "assert p.PROVIDER == 'openai'\n"
        "heavy = ('openai', 'httpx', 'pydantic', 'llmreg_litellm')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == ["llmreg_litellm", "llmreg_litellm.plugin"]


def test_no_module_reaches_for_the_process_wide_manager():
    # a plugin works for the manager that built it; the default one may not be the host's
    package = Path(plugin.__file__).parent
    users = [p.name for p in sorted(package.glob("*.py")) if "get_plugin_manager" in p.read_text()]
    assert users == []
