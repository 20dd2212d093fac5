"""A keys file made as docs/serving.md says (``sha256sum``) lets its key call every model.

``echo -n KEY | sha256sum`` prints ``HASH  -``: the ``-`` is sha256sum's name for its
input, not a model the key is limited to. The grammar of a line: ``HASH``, then after
whitespace an optional comma-separated list of model names; a lone ``-``, ``*-`` or
``*`` means every model.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import openai
import pytest

from llmreg.errors import ConfigError
from llmreg_gateway import create_app
from llmreg_gateway.auth import key_hash, read_keys_file
from support.docs import marked

from .conftest import URI, wait_ready

KEY = "sk-sha256sum-0042"

pytestmark = pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs sha256sum")


def _chat(url: str, model: str) -> str:
    with openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0) as client:
        answer = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}]
        )
    return answer.choices[0].message.content or ""


@pytest.mark.parametrize("flags", [[], ["-b"]], ids=["text", "binary"])
def test_a_keys_file_made_with_sha256sum_serves_every_model(
    flags, serve, manager, switch, tmp_path
):
    keys = tmp_path / "keys"
    with keys.open("w") as out:  # echo -n KEY | sha256sum > keys
        subprocess.run(["sha256sum", *flags], input=KEY.encode(), stdout=out, check=True)
    assert keys.read_text().split()[1] in ("-", "*-")  # what the documented command writes
    switch.targets["models:/other@champion"] = 3
    app = create_app([URI, "models:/other@champion"], loader={"KIND": "SwitchLoader"},
                     manager=manager, reload_interval=0, keys_file=keys)  # fmt: skip
    server = serve(app)
    wait_ready(server.url)
    assert _chat(server.url, URI) == "echo: hi"
    assert _chat(server.url, "other") == "echo: hi"


def test_the_pages_command_as_written_makes_a_file_that_serves_every_model(
    serve, manager, switch, tmp_path
):
    [block] = marked("docs/serving.md", "keys-file")  # echo -n "$KEY" | sha256sum >> keys
    env = {**os.environ, "KEY": KEY}
    subprocess.run(["bash", "-c", block.body], cwd=tmp_path, env=env, check=True)
    assert read_keys_file(tmp_path / "keys")[0].models is None  # every model
    switch.targets["models:/other@champion"] = 3
    app = create_app([URI, "models:/other@champion"], loader={"KIND": "SwitchLoader"},
                     manager=manager, reload_interval=0, keys_file=tmp_path / "keys")  # fmt: skip
    server = serve(app)
    wait_ready(server.url)
    assert _chat(server.url, "other") == "echo: hi"


def test_the_line_grammar():
    from llmreg_gateway.auth import parse_keys_line

    digest = key_hash(KEY)
    assert parse_keys_line(f"{digest}") == (digest, None)
    assert parse_keys_line(f"{digest}  -") == (digest, None)
    assert parse_keys_line(f"{digest} *-") == (digest, None)
    assert parse_keys_line(f"{digest}\t*  # every model") == (digest, None)
    assert parse_keys_line(f"{digest.upper()}  chat, summarize@champion") == (
        digest,
        frozenset({"chat", "summarize@champion"}),
    )
    assert parse_keys_line("   # a comment") is None
    with pytest.raises(ValueError, match="64 hex"):
        parse_keys_line(f"{KEY}  -")


def test_a_key_limited_by_its_line_is_still_limited(serve, manager, switch, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(f"{key_hash(KEY)}  other\n")
    switch.targets["models:/other@champion"] = 3
    assert read_keys_file(keys)[0].models == frozenset({"other"})
    app = create_app([URI, "models:/other@champion"], loader={"KIND": "SwitchLoader"},
                     manager=manager, reload_interval=0, keys_file=keys)  # fmt: skip
    server = serve(app)
    wait_ready(server.url)
    assert _chat(server.url, "other") == "echo: hi"
    with pytest.raises(openai.NotFoundError):
        _chat(server.url, "chat")


def test_a_file_holding_the_key_itself_is_refused_naming_the_line(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(f"# ok\n{key_hash('other')}\n{KEY}\n")
    with pytest.raises(ConfigError, match="line 3") as caught:
        read_keys_file(keys)
    assert KEY not in str(caught.value)
