"""An answer larger than the cap is refused as it arrives (the lean HTTP path), so one
huge upstream answer cannot fill the server's memory; an answer under it is read whole."""

from __future__ import annotations

import json

import pytest

from llmreg import Request
from llmreg.errors import ProviderResponseError
from llmreg_litellm import _http
from support.scripted_server import Reply, ScriptedServer, Seen

LIMIT = 4096


def _answer(text: str, end: str) -> Reply:
    body = json.dumps(
        {
            "id": "c1",
            "object": "chat.completion",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
        }
    ).encode()
    return Reply(200, {"Content-Type": "application/json"}, body, end=end)  # type: ignore[arg-type]


@pytest.mark.parametrize("end", ["length", "close"])
def test_an_answer_over_the_cap_is_a_typed_error_and_one_under_it_is_read(
    make_client, monkeypatch, end
):
    monkeypatch.setattr(_http, "MAX_ANSWER_BYTES", LIMIT)
    sizes = iter([LIMIT * 10, 100])

    def script(seen: Seen) -> Reply:
        return _answer("x" * next(sizes), end)

    with ScriptedServer(script) as upstream:
        client = make_client("m", base_url=f"{upstream.url}/v1", max_retries=0)
        with pytest.raises(ProviderResponseError, match=f"larger than {LIMIT} bytes"):
            client.complete(Request(input="hi"))
        assert client.complete(Request(input="hi")).text == "x" * 100
