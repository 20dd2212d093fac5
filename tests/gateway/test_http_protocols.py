"""The header timeout holds on the protocol ``llmreg serve`` runs (httptools' when installed).

The timing tests of test_hardening.py run again here against the protocol class of
:func:`llmreg_gateway.protocols.timed_http_protocol`, which is what the CLI and its workers use.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmreg_gateway.protocols import timed_http_protocol

from .test_hardening import (  # noqa: F401 - collected again, with this module's ``timed``
    TimedServer,
    test_a_body_sent_too_slowly_gets_408,
    test_a_kept_alive_connection_is_timed_out_on_its_next_request,
    test_an_idle_connection_is_closed_too,
    test_headers_sent_too_slowly_get_408_and_the_connection_closed,
    test_normal_requests_are_not_slowed,
    timed_server,
)


@pytest.fixture
def timed(manager) -> Iterator[TimedServer]:
    """The app on the CLI's protocol with a 0.5 s header and body timeout."""
    yield from timed_server(manager, timed_http_protocol(0.5))


def test_the_cli_protocol_is_httptools_where_installed():
    pytest.importorskip("httptools")
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    assert issubclass(timed_http_protocol(1.0), HttpToolsProtocol)
