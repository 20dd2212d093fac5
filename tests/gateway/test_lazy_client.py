"""The gateway's pass-through check reaches the real client behind a lazy one."""

from __future__ import annotations

from llmreg.adapter import ClientAdapter
from llmreg.definition import ModelDefinition
from llmreg.echo_client import EchoClient
from llmreg_gateway.openai_compat import parse_chat_request, passthrough_client


class _ToolsClient(EchoClient):
    """An echo client that declares it passes ``tools`` through."""

    CHAT_FIELDS = frozenset({"tools"})


def test_pass_through_picks_the_real_client_of_a_lazy_adapter():
    definition = ModelDefinition(provider="echo", model="m")
    adapter = ClientAdapter(lambda: _ToolsClient(definition), definition)
    tool = {"type": "function", "function": {"name": "f"}}
    user = {"role": "user", "content": "x"}
    chat = parse_chat_request({"model": "m", "messages": [user], "tools": [tool]})
    assert isinstance(passthrough_client(adapter, chat), _ToolsClient)
    plain = parse_chat_request({"model": "m", "messages": [user]})
    assert plain is not None


def test_importing_the_gateway_and_its_plugin_imports_no_web_framework():
    import json
    import subprocess
    import sys

    probe = (
        "import sys, json\nimport llmreg_gateway, llmreg_gateway.plugin\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = {m.split(".")[0] for m in json.loads(out.stdout)}
    assert not loaded & {"fastapi", "uvicorn", "starlette", "prometheus_client", "mlflow"}
