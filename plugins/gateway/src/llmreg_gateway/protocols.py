"""uvicorn's HTTP protocols with a header timeout: a client that sends its request
headers too slowly gets a 408 and its connection closed.

uvicorn itself only times out idle kept-alive connections, so a client that sends
its headers slowly would hold a connection forever.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from llmreg_gateway.errors import ApiError
from llmreg_gateway.settings import HEADER_TIMEOUT_S

logger = logging.getLogger(__name__)


class HeaderTimeout(asyncio.Protocol):
    """Mixed into one of uvicorn's HTTP protocols: connections whose request headers
    do not arrive within :attr:`header_timeout` seconds get a 408 and are closed
    (logged at INFO).

    The timer is armed when a connection is made and at the first byte of the next
    request on a kept-alive connection; the protocol class calls :meth:`_disarm`
    once a request's headers are in.
    """

    #: Seconds a client has to send a request's headers (set by the class made).
    header_timeout: float = HEADER_TIMEOUT_S
    # uvicorn's protocols set these; named here for the type checker
    loop: asyncio.AbstractEventLoop
    transport: Any
    cycle: Any
    client: Any
    _header_timer: asyncio.TimerHandle | None = None
    _deadline: float | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline = None
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def _arm(self) -> None:
        # One timer per connection: arming sets a deadline, and the timer, when it
        # fires early (a request in between), sleeps again until the deadline. No
        # timer is made and cancelled per request.
        self._deadline = self.loop.time() + self.header_timeout
        if self._header_timer is None:
            self._header_timer = self.loop.call_at(self._deadline, self._check)

    def _disarm(self) -> None:
        self._deadline = None

    def _check(self) -> None:
        self._header_timer = None
        if self._deadline is None:
            return
        if self.loop.time() < self._deadline:
            self._header_timer = self.loop.call_at(self._deadline, self._check)
            return
        self._deadline = None
        self._too_slow()

    def _too_slow(self) -> None:
        if self.transport.is_closing():
            return
        logger.info(
            "closing a connection from %s: no request headers within %g s",
            self.client,
            self.header_timeout,
        )
        body = json.dumps(
            ApiError(
                408,
                f"the request headers did not arrive within {self.header_timeout:g} s",
                code="header_timeout",
            ).body()
        ).encode()
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        self.transport.close()


def timed_h11_protocol(header_timeout: float = HEADER_TIMEOUT_S) -> type[asyncio.Protocol]:
    """Return uvicorn's h11 protocol class with a header timeout, for ``uvicorn.Config(http=)``.

    A client must send a request's headers within ``header_timeout`` seconds of
    connecting, or of the first byte of its next request on a kept-alive
    connection; otherwise it gets a 408 and the connection is closed (logged at
    INFO). uvicorn itself only times out idle kept-alive connections, so a client
    that sends its headers slowly would hold a connection forever.
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    timeout = header_timeout

    class TimedH11Protocol(HeaderTimeout, H11Protocol):  # type: ignore[misc,unused-ignore]
        """uvicorn's h11 protocol, closing connections whose headers do not arrive in time."""

        header_timeout = timeout

        def handle_events(self) -> None:
            before = self.cycle
            super().handle_events()
            if self.cycle is not before:  # a request's headers arrived
                self._disarm()

    return TimedH11Protocol


def timed_httptools_protocol(header_timeout: float = HEADER_TIMEOUT_S) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol (llhttp, in C) with the header timeout of
    :func:`timed_h11_protocol`. Needs ``httptools``."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    timeout = header_timeout

    class TimedHttpToolsProtocol(HeaderTimeout, HttpToolsProtocol):  # type: ignore[misc,unused-ignore]
        """uvicorn's httptools protocol, closing connections whose headers are late."""

        header_timeout = timeout

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

    return TimedHttpToolsProtocol


def timed_http_protocol(header_timeout: float = HEADER_TIMEOUT_S) -> type[asyncio.Protocol]:
    """The protocol ``llmreg serve`` runs: httptools' (a fraction of h11's CPU per
    request) when installed, else h11's; both with the header timeout."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return timed_h11_protocol(header_timeout)
    return timed_httptools_protocol(header_timeout)


__all__ = ["HeaderTimeout", "timed_h11_protocol", "timed_http_protocol", "timed_httptools_protocol"]
