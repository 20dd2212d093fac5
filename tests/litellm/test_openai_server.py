"""The fake OpenAI server itself (tests/support/openai_server.py), as other suites rely on it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import openai
import pytest

from support.openai_server import FakeOpenAIServer

TESTS = Path(__file__).resolve().parents[1]


def _raw(server: FakeOpenAIServer, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-raw", max_retries=0, **kwargs)


def test_streaming_ends_with_done_and_carries_the_answer(server, unique):
    model = unique("stream")
    client = _raw(server)
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "a b c"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: a b c"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.total_tokens == 3 + 4
    raw_request = urllib.request.Request(  # noqa: S310 - loopback
        f"{server.base_url}/chat/completions",
        data=json.dumps({"model": model, "messages": [], "stream": True}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(raw_request) as response:  # noqa: S310 - loopback
        assert response.read().decode().rstrip().endswith("data: [DONE]")


def test_health_and_models(server, unique):
    model = unique("listed")
    _raw(server).chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    with urllib.request.urlopen(f"{server.url}/health") as response:  # noqa: S310
        assert json.load(response) == {"status": "ok"}
    ids = [m.id for m in _raw(server).models.list()]
    assert "fake-model" in ids and model in ids


def test_flaky_counts_per_model_and_reset_forgets(unique):
    with FakeOpenAIServer() as own:
        client = _raw(own)
        model = unique("flaky-1-500")
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
        answer = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "x"}]
        )
        assert answer.choices[0].message.content == "echo: x"
        assert own.count(model) == 2
        own.reset()
        assert own.count() == 0 and own.requests == []
        with pytest.raises(openai.InternalServerError):  # counted from zero again
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])


def test_429_carries_retry_after(server, unique):
    with pytest.raises(openai.RateLimitError) as info:
        _raw(server).chat.completions.create(
            model=unique("fault-429"), messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.response.headers["Retry-After"] == "0"
    assert info.value.response.headers["retry-after-ms"] == "10"


def test_the_record_never_prints_the_key(server, unique):
    model = unique("record")
    _raw(server).chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    (record,) = server.chat_requests(model)
    assert record.authorization == "Bearer sk-raw"
    assert "sk-raw" not in repr(record)


def test_nagle_is_off_on_accepted_sockets():
    with FakeOpenAIServer() as own, socket.create_connection(("127.0.0.1", own.port)) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in sock.recv(4096)
        # the connection is kept alive: look at the server's end of it
        (accepted,) = own._state.connections
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_standalone_process_serves(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    cmd = [sys.executable, "-m", "support.openai_server", "--port", "0", "--latency", "0.01"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        base_url = line.split()[-1]
        client = openai.OpenAI(base_url=base_url, api_key="k", max_retries=0, timeout=10)
        answer = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "standalone"}]
        )
        assert answer.choices[0].message.content == "echo: standalone"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
