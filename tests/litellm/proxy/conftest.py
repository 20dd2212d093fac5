"""The LiteLLM proxy in mock mode on 127.0.0.1: a peer OpenAI-compatible server no one here wrote.

The proxy is a heavy install (``litellm[proxy]``, see docs/plugins/litellm.md),
so these smoke tests run only where a ``litellm`` executable is on PATH: the
``litellm-proxy`` tox env. Everywhere else they are skipped.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: The answer every mock model gives, whatever it is asked.
MOCK_TEXT = "Hello from the LiteLLM mock."
#: How long the proxy may take to answer /health/liveliness (7 s on a quiet machine).
START_TIMEOUT = 180.0

CONFIG = f"""\
model_list:
  - model_name: mock-gpt
    litellm_params:
      model: openai/mock-gpt
      mock_response: "{MOCK_TEXT}"
      api_key: not-needed
  - model_name: mock-backup
    litellm_params:
      model: openai/mock-backup
      mock_response: "backup answer"
      api_key: not-needed
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"""


@dataclass(frozen=True)
class Proxy:
    """A running proxy: where it listens and the env variable holding its master key."""

    base_url: str
    key_env: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_alive(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    pytest.fail(f"the LiteLLM proxy did not answer {url} in {START_TIMEOUT} s:\n{tail}")


@pytest.fixture(scope="session")
def litellm_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """Start ``litellm --config`` in mock mode on a free loopback port; stop it after."""
    binary = shutil.which("litellm")
    if binary is None:
        pytest.skip("no 'litellm' executable on PATH: run these in the litellm-proxy tox env")
    folder = tmp_path_factory.mktemp("litellm-proxy")
    config = folder / "config.yaml"
    config.write_text(CONFIG)
    log = folder / "proxy.log"
    port = _free_port()
    key_env = "LLMREG_TEST_LITELLM_MASTER_KEY"
    master_key = f"sk-{secrets.token_hex(16)}"
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_MASTER_KEY": master_key,
    }
    cmd = [binary, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_alive(f"http://127.0.0.1:{port}/health/liveliness", proc, log)
        os.environ[key_env] = master_key
        yield Proxy(base_url=f"http://127.0.0.1:{port}/v1", key_env=key_env)
    finally:
        os.environ.pop(key_env, None)
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
