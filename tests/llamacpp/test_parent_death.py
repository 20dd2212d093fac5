"""The llama.cpp server dies with its parent, even one killed with SIGKILL (Linux).

A stand-in binary (a Python script that sleeps) is started the way the real
server is, so these tests need neither the model nor a built llama.cpp.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")

PARENT = textwrap.dedent(
    """
    import sys, threading, time
    from pathlib import Path
    from llmreg_llamacpp.server import LlamaServer, ServerSettings

    settings = ServerSettings(
        binary=Path(sys.argv[1]), model_file=Path("none.gguf"), chat_template_file=None,
        context_size=512, threads=1, parallel=1,
    )
    started = []
    # started from a worker thread that then ends, as a thread pool's would
    worker = threading.Thread(target=lambda: started.append(LlamaServer._spawn(settings)))
    worker.start()
    worker.join()
    print(started[0].pid, flush=True)
    time.sleep(600)
    """
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def fake_binary(tmp_path: Path) -> Path:
    script = tmp_path / "fake-llama-server"
    script.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(600)\n")
    script.chmod(0o755)
    return script


def test_the_server_dies_when_its_parent_is_killed_with_sigkill(fake_binary):
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(fake_binary)], stdout=subprocess.PIPE, text=True
    )
    child = 0
    try:
        child = int(parent.stdout.readline())
        time.sleep(1.0)
        # the worker thread that started it has ended: the server still runs
        assert _alive(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the server outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        if child and _alive(child):
            os.kill(child, signal.SIGKILL)
