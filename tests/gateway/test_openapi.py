"""The OpenAPI document says what every route takes and answers; schemathesis finds nothing.

``schemathesis run --checks all`` runs against a live app twice: a text-only model (the
echo provider) and a model whose provider passes tools, JSON mode, logprobs and ``n``
through (the openai provider in front of the fake OpenAI server). Examples are few so
that each run stays well under a minute.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent))


def _fuzz(url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert SCHEMATHESIS, "schemathesis is in the serve env's deps"
    return subprocess.run(
        [SCHEMATHESIS, "run", f"{url}/openapi.json", "--checks", "all",
         "--max-examples", "10", "--seed", "1", "--no-color"],
        capture_output=True, text=True, timeout=240, cwd=tmp_path, check=False,
    )  # fmt: skip


def test_every_route_documents_its_body_and_statuses(served):
    document = httpx.get(f"{served.url}/openapi.json").json()
    paths = document["paths"]
    for path in ("/predict", "/v1/chat/completions"):
        assert paths[path]["post"]["requestBody"]["required"] is True
    chat = paths["/v1/chat/completions"]["post"]
    assert {"200", "400", "401", "403", "404", "408", "413", "500", "502", "503"} <= set(
        chat["responses"]
    )
    assert "text/event-stream" in chat["responses"]["200"]["content"]
    schema = document["components"]["schemas"]["TextChatCompletionRequest"]
    assert "tools" not in schema["properties"]  # the echo provider takes text chat only
    assert "enum" not in schema["properties"]["model"]
    assert "chat@champion" not in json.dumps(document)  # no model name, key or not
    for item in paths.values():
        for operation in item.values():
            assert "422" not in operation["responses"]


def test_schemathesis_finds_nothing_on_a_text_only_model(served, tmp_path):
    done = _fuzz(served.url, tmp_path)
    assert done.returncode == 0, done.stdout[-4000:]


def test_schemathesis_finds_nothing_with_pass_through(app_url, tmp_path):
    document = httpx.get(f"{app_url}/openapi.json").json()
    assert "tools" in document["components"]["schemas"]["ChatCompletionRequest"]["properties"]
    done = _fuzz(app_url, tmp_path)
    assert done.returncode == 0, done.stdout[-4000:]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_a_wrong_method_says_what_is_allowed(served, method):
    answer = httpx.request(method, f"{served.url}/predict")
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    assert answer.json()["error"]["code"] == "method_not_allowed"
