"""The header timeout holds on the protocol ``llmreg serve`` runs (httptools' when installed).

The timing tests of test_hardening.py run again here against the protocol class of
:func:`llmreg.serve.app.timed_http_protocol`, which is what the CLI and its workers use.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from llmreg.serve.app import timed_http_protocol

from .conftest import URI, wait_ready
from .test_hardening import (  # noqa: F401 - collected again, with this module's ``timed``
    test_a_body_sent_too_slowly_gets_408,
    test_a_kept_alive_connection_is_timed_out_on_its_next_request,
    test_an_idle_connection_is_closed_too,
    test_headers_sent_too_slowly_get_408_and_the_connection_closed,
    test_normal_requests_are_not_slowed,
)


class _Served:
    def __init__(self, app: Any, header_timeout: float) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", http=timed_http_protocol(header_timeout), lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture
def timed(manager) -> Iterator[_Served]:
    """The app on the CLI's protocol with a 0.5 s header and body timeout."""
    from llmreg.serve import create_app

    app = create_app(URI, loader={"KIND": "SwitchLoader"}, manager=manager, reload_interval=0)
    app.state.llmreg_routes.body_timeout = 0.5
    server = _Served(app, header_timeout=0.5)
    wait_ready(f"http://127.0.0.1:{server.port}")
    yield server
    server.stop()


def test_the_cli_protocol_is_httptools_where_installed():
    pytest.importorskip("httptools")
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    assert issubclass(timed_http_protocol(1.0), HttpToolsProtocol)
