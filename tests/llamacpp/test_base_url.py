"""With a base_url, the provider starts no server and talks to that endpoint."""

from __future__ import annotations

import re

import pytest

from llmreg.errors import ProviderUnreachableError
from llmreg.schemas import Request
from llmreg_llamacpp import registry
from llmreg_llamacpp.server import free_port


def test_an_existing_server_is_used_and_none_is_started(
    shared_client, make_definition, new_client, child_pids
):
    servers, children = registry.running_servers(), child_pids()
    client = new_client(make_definition(base_url=shared_client.base_url))
    assert client.server is None
    assert client.base_url == shared_client.base_url
    done = client.complete(Request(input="What is the capital of France?"))
    assert done.text.strip()
    assert done.model == "gemma-3-270m"
    assert registry.running_servers() == servers
    assert child_pids() == children


def test_an_endpoint_that_is_down_is_a_typed_error_not_a_start(make_definition, new_client):
    url = f"http://127.0.0.1:{free_port()}/v1"
    client = new_client(make_definition(base_url=url, max_retries=0, timeout=5))
    assert client.server is None
    with pytest.raises(ProviderUnreachableError, match=re.escape(url)):
        client.complete(Request(input="Hello?"))
