"""The server's life: shared within a process, stopped after the last close and at exit,
typed start errors that carry the server's output. Each test uses settings of its own
(a distinct context size), so its server is not the session's shared one.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

from llmreg import ProviderError
from llmreg.errors import ProviderStartError
from llmreg.schemas import Request
from llmreg_llamacpp import registry


def test_two_clients_share_one_server_until_the_last_closes(make_definition, new_client, pid_alive):
    definition = make_definition(options={"context_size": 1024})
    first = new_client(definition)
    second = new_client(definition)
    assert first.server is not None and second.server is not None
    assert first.server is second.server
    pid = first.server.pid
    assert first.base_url == second.base_url == f"{first.server.url}/v1"
    assert sum(s.pid == pid for s in registry.running_servers()) == 1

    first.close()
    assert pid_alive(pid)
    done = second.complete(Request(input="What is the capital of France?"))
    assert done.text.strip()

    second.close()
    assert not pid_alive(pid)
    assert pid not in {s.pid for s in registry.running_servers()}


def test_clients_built_at_once_in_threads_get_one_server(make_definition, new_client, pid_alive):
    definition = make_definition(options={"context_size": 768})
    clients = []
    lock = threading.Lock()

    def build() -> None:
        client = new_client(definition)
        with lock:
            clients.append(client)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(clients) == 3
    pids = {c.server.pid for c in clients if c.server}
    assert len(pids) == 1
    for client in clients:
        client.close()
    assert not pid_alive(pids.pop())


def test_a_new_client_after_the_last_close_starts_a_new_server(make_definition, new_client):
    definition = make_definition(options={"context_size": 1024})
    first = new_client(definition)
    old_pid = first.server.pid
    first.close()
    again = new_client(definition)
    assert again.server.running
    assert again.server.pid != old_pid


def test_server_is_stopped_when_the_process_exits_without_closing(llmreg_cache, pid_alive):
    script = textwrap.dedent(
        """
        from llmreg import ModelDefinition
        from llmreg_llamacpp.provider import LlamaCppClient

        client = LlamaCppClient(ModelDefinition(provider="llamacpp", model="gemma-3-270m",
                                                options={"context_size": 512}))
        print(client.server.pid, flush=True)
        # no close(): the atexit hook must stop the server
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout.strip())
    assert not pid_alive(pid)


def test_a_bad_model_file_is_a_start_error_with_the_servers_output(
    make_definition, new_client, tmp_path, child_pids
):
    bad = tmp_path / "not-a-model.gguf"
    bad.write_text("this is not a GGUF file\n")
    before = child_pids()
    with pytest.raises(ProviderStartError) as caught:
        new_client(make_definition(options={"model_file": str(bad)}))
    message = str(caught.value)
    assert isinstance(caught.value, ProviderError)
    assert "exited with code" in message
    assert "last output lines" in message
    assert "failed to load model" in message  # a line llama-server itself wrote
    assert str(bad) in message
    assert child_pids() <= before


def test_a_server_that_is_not_ready_in_time_is_stopped_and_reported(
    make_definition, new_client, child_pids
):
    before = child_pids()
    with pytest.raises(ProviderStartError, match="start_timeout") as caught:
        new_client(make_definition(options={"context_size": 640, "start_timeout": 0.001}))
    assert "/health" in str(caught.value)
    assert child_pids() <= before
    assert not [s for s in registry.running_servers() if s.settings.context_size == 640]


def test_a_client_dropped_without_close_gives_its_server_back(make_definition, pid_alive):
    import gc

    from llmreg_llamacpp.provider import LlamaCppClient

    client = LlamaCppClient(make_definition(options={"context_size": 1024}))
    pid = client.server.pid
    del client
    gc.collect()
    assert not pid_alive(pid)


def test_output_tail_keeps_only_the_last_lines():
    from llmreg_llamacpp.server import KEPT_LINES, OutputTail

    code = "for i in range(5000): print('line', i)"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    tail = OutputTail(process.stdout, name="test-output")
    process.wait()
    assert tail.last(3, wait=5) == ["line 4997", "line 4998", "line 4999"]
    assert len(tail.last(10_000)) == KEPT_LINES


def test_a_forked_child_neither_sees_nor_stops_the_parents_server(shared_client, pid_alive):
    import os

    pid = shared_client.server.pid
    child = os.fork()
    if child == 0:  # the child: what its atexit hook would do, then leave at once
        code = 1
        try:
            code = 0 if registry.running_servers() == [] else 2
            registry.REGISTRY.stop_all()
            shared_client.server.stop()
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert pid_alive(pid)
    assert shared_client.server.running
