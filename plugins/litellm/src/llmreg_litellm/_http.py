"""The lean HTTP path of one endpoint: a JSON ``POST`` on aiohttp, with the SDK's retries.

The openai SDK's generic request path (request options, httpx's client and connection
pool checks) cost most of a served request's CPU. :class:`LeanPoster` sends the
non-streaming chat-completion ``POST`` over one ``aiohttp.ClientSession`` (one per
event loop, like the endpoint that owns it) and keeps what the SDK promises:

- the same headers (the SDK's own defaults, the bearer key, the definition's headers)
  and timeouts (``timeout`` for connect and each read; else 5 s to connect and 600 s
  to read, the SDK's default);
- the SDK's retries: ``max_retries`` more attempts on a timeout, a connection error or
  a 408, 409, 429 or 5xx answer (``x-should-retry`` obeyed), waiting what
  ``retry-after-ms``/``Retry-After`` asks (up to 60 s, the SDK's limit; a longer one is
  not retried) or 0.5 s doubling up to 8 s with up to 25 % jitter;
- redirects within the endpoint's origin followed (as httpx follows them: a ``POST``
  becomes a ``GET`` after 301, 302 and 303), and a redirect to another origin refused
  before anything is sent there (:mod:`llmreg_litellm._redirects`);
- the SDK's exceptions, so that the typed errors stay truthful: a timeout is
  ``openai.APITimeoutError``; a refused, reset or dropped connection is
  ``openai.APIConnectionError`` whose cause is aiohttp's error (which says which); an
  HTTP error status is the SDK's own status error for that answer (built by the SDK
  from the answer); a body that is not JSON is decoded as the SDK does.

An endpoint whose settings this path does not cover (a proxy from the environment,
credentials in the base_url, a header value HTTP cannot carry) keeps the SDK's path:
:func:`lean_ok` says which.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import math
import os
import random
import ssl
import time
import weakref
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import openai

from llmreg_litellm._redirects import (
    MAX_REDIRECTS,
    REDIRECT_STATUSES,
    RedirectRefused,
    origin,
    redirect_target,
)

#: The SDK's defaults (openai._constants): connect and read timeouts, retry delays.
DEFAULT_CONNECT_S = 5.0
DEFAULT_READ_S = 600.0
INITIAL_RETRY_DELAY_S = 0.5
MAX_RETRY_DELAY_S = 8.0
MAX_RETRY_AFTER_S = 60.0
#: The largest answer body read whole, in bytes (``LLMREG_MAX_ANSWER_BYTES``): a larger
#: one is refused as it arrives, so one huge answer cannot fill the server's memory.
MAX_ANSWER_BYTES = int(os.environ.get("LLMREG_MAX_ANSWER_BYTES", str(16 * 1024 * 1024)))
#: The SDK's pool: at most this many connections, idle ones kept this long.
MAX_CONNECTIONS = 1000
KEEPALIVE_S = 5.0

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


def lean_ok(base_url: str, headers: dict[str, str]) -> bool:
    """Whether the lean path sends exactly what the SDK would for these settings.

    Not for a proxy set in the environment (the SDK's httpx honours more forms of
    it), credentials or a query in ``base_url``, or a header value with a character
    HTTP cannot carry (the SDK's path reports it as a typed error that names it).
    """
    if any(os.environ.get(v) or os.environ.get(v.upper()) for v in _PROXY_VARIABLES):
        return False
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.username or parts.password or parts.query or parts.fragment:
        return False
    for name, value in headers.items():
        text = f"{name}{value}"
        if not text.isascii() or any(c in text for c in "\r\n\0"):
            return False
    return True


def _ssl_context() -> ssl.SSLContext:
    """The CA bundle httpx uses (certifi, or SSL_CERT_FILE / SSL_CERT_DIR)."""
    cafile = os.environ.get("SSL_CERT_FILE")
    capath = os.environ.get("SSL_CERT_DIR")
    if not cafile and not capath:
        try:
            import certifi

            cafile = certifi.where()
        except ImportError:  # pragma: no cover - httpx requires certifi
            cafile = None
    return ssl.create_default_context(cafile=cafile, capath=capath)


def retry_after(headers: Any) -> float | None:
    """Seconds a ``retry-after-ms`` or ``Retry-After`` header asks to wait, as the SDK reads
    them (milliseconds first, then seconds as a number, then an HTTP date)."""
    for name, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            delay = float(value)
        except ValueError:
            continue
        if delay == math.inf and value.strip().lower() not in ("inf", "+inf", "infinity"):
            return MAX_RETRY_AFTER_S + 1
        return delay / divisor
    value = headers.get("retry-after")
    try:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return float(email.utils.mktime_tz(parsed) - time.time())
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def should_retry(status: int, headers: Any) -> bool:
    """Whether the SDK retries an answer with this status and these headers."""
    wait = retry_after(headers)
    if wait is not None and math.isfinite(wait) and wait > MAX_RETRY_AFTER_S:
        return False
    hint = headers.get("x-should-retry")
    if hint == "true":
        return True
    if hint == "false":
        return False
    return status in (408, 409, 429) or status >= 500


def retry_delay(retries_taken: int, headers: Any = None) -> float:
    """Seconds to wait before retry number ``retries_taken + 1`` (the SDK's backoff)."""
    wait = retry_after(headers) if headers is not None else None
    if wait is not None and math.isfinite(wait) and 0 < wait <= MAX_RETRY_AFTER_S:
        return wait
    delay = min(INITIAL_RETRY_DELAY_S * 2.0 ** min(retries_taken, 1000), MAX_RETRY_DELAY_S)
    return max(delay * (1 - 0.25 * random.random()), 0.0)  # noqa: S311 - jitter, as the SDK


class LeanPoster:
    """``POST`` JSON to one URL on one event loop, through one ``aiohttp.ClientSession``.

    Args:
        sdk: the endpoint's ``AsyncOpenAI`` (its headers, and its status errors).
        url: the full URL of the route.
        headers: the request headers (the key among them).
        timeout: the definition's timeout in seconds, or ``None`` for the SDK's.
        max_retries: the SDK's ``max_retries``.
    """

    def __init__(
        self,
        sdk: openai.AsyncOpenAI,
        url: str,
        headers: dict[str, str],
        timeout: float | None,
        max_retries: int,
    ) -> None:
        self._sdk = sdk
        self.url = url
        self._headers = headers
        self._max_retries = max_retries
        connect = DEFAULT_CONNECT_S if timeout is None else timeout
        read = DEFAULT_READ_S if timeout is None else timeout
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        tls = _ssl_context() if self.url.startswith("https:") else False
        connector = aiohttp.TCPConnector(
            limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_S, ssl=tls
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),  # the SDK's own is in the headers
        )
        # A client dropped without close() (as the SDK's httpx pool could be) closes its
        # connections without aiohttp's "Unclosed client session" error log.
        weakref.finalize(self, _drop, connector)
        return self._session

    async def post(self, body: dict[str, Any], attempts: Any) -> Any:
        """Send ``body``; return the decoded answer (JSON, or text for another type).

        ``attempts.count`` grows by one per request sent. Raises the SDK's exceptions.
        """
        answer = await self.send(body, attempts, whole=True)
        try:
            raw = answer.llmreg_body  # type: ignore[attr-defined]  # set by send(whole=True)
        finally:
            answer.release()
        kind = answer.headers.get("content-type", "*").split(";")[0]
        if kind.endswith("json"):
            return json.loads(raw)
        return raw.decode(answer.charset or "utf-8", "replace") if raw else ""

    async def send(
        self, body: dict[str, Any], attempts: Any, *, whole: bool = False
    ) -> aiohttp.ClientResponse:
        """``POST`` ``body`` with the SDK's retries; return the answer (a status below 400).

        Retries ``max_retries`` times a timeout, a connection error or a retryable
        status (:func:`should_retry`), after :func:`retry_delay`, with the SDK's
        ``x-stainless-retry-count`` header; then raises the SDK's exception
        (``APITimeoutError``, ``APIConnectionError`` or the status error).
        ``attempts.count`` grows by one per request sent.

        With ``whole`` the body is read here, so that a failure while reading it is
        retried too (the answer's ``read()`` gives it again); without, the caller reads
        the open answer as it comes. Either way the caller releases or closes it.
        """
        session = self._session or self._open()
        data = json.dumps(body).encode()
        retries = 0
        while True:
            headers = self._headers
            if retries:
                headers = {**headers, "x-stainless-retry-count": str(retries)}
            attempts.count += 1
            left = retries < self._max_retries
            try:
                answer = await self._post_once(session, data, headers)
                raw = await read_capped(answer) if whole or answer.status >= 400 else b""
            except TimeoutError as exc:  # aiohttp's timeouts are TimeoutErrors too
                if left:
                    await asyncio.sleep(retry_delay(retries))
                    retries += 1
                    continue
                raise openai.APITimeoutError(request=self._request()) from exc
            except (aiohttp.ClientError, OSError) as exc:
                if left:
                    await asyncio.sleep(retry_delay(retries))
                    retries += 1
                    continue
                raise openai.APIConnectionError(request=self._request()) from exc
            if answer.status < 400:
                answer.llmreg_body = raw  # type: ignore[attr-defined]
                return answer
            answer.release()
            if left and should_retry(answer.status, answer.headers):
                await asyncio.sleep(retry_delay(retries, answer.headers))
                retries += 1
                continue
            raise self._status_error(answer.status, answer.headers, raw)

    async def _post_once(
        self, session: aiohttp.ClientSession, data: bytes, headers: dict[str, str]
    ) -> aiohttp.ClientResponse:
        """One ``POST`` of ``data``, following redirects within the URL's origin.

        Raises:
            RedirectRefused: a redirect to another origin (nothing is sent there).
            openai.APIConnectionError: more than :data:`MAX_REDIRECTS` redirects.
        """
        method, url = "POST", self.url
        payload: bytes | None = data
        for _ in range(MAX_REDIRECTS + 1):
            answer = await session.request(
                method, url, data=payload, headers=headers, allow_redirects=False
            )
            location = answer.headers.get("location")
            if answer.status not in REDIRECT_STATUSES or location is None:
                return answer
            answer.release()
            target = redirect_target(url, location)
            if origin(target) != origin(url):
                raise RedirectRefused(answer.status, target, self._request())
            if answer.status == 303 or (answer.status in (301, 302) and method == "POST"):
                method, payload = "GET", None  # what httpx (so the SDK's path) does
            url = target
        raise openai.APIConnectionError(request=self._request()) from ValueError(
            f"more than {MAX_REDIRECTS} redirects"
        )

    def _request(self) -> Any:
        """The SDK's request object for this URL (what its exceptions hold)."""
        http = _sdk_http()
        return http.Request("POST", self.url)

    def _status_error(self, status: int, headers: Any, raw: bytes) -> openai.APIStatusError:
        """The SDK's status error for this answer, made by the SDK from it."""
        http = _sdk_http()
        response = http.Response(
            status, headers=list(headers.items()), content=raw, request=self._request()
        )
        error: openai.APIStatusError = self._sdk._make_status_error_from_response(response)
        return error

    async def aclose(self) -> None:
        """Close the session and its connections."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _drop(connector: aiohttp.BaseConnector) -> None:
    """Close ``connector``'s connections now, quietly, if nothing closed it (its loop may be
    closed already: then the sockets go with the process)."""
    if connector.closed:
        return
    with contextlib.suppress(Exception):  # best effort, at garbage collection or exit
        connector._close()  # the synchronous part of close(): aiohttp's own __del__ calls it


def _sdk_http() -> Any:
    """The HTTP library the SDK is built on (``httpx2`` in recent releases, else ``httpx``)."""
    from openai import _base_client

    names = vars(_base_client)
    return names.get("httpx2") or names["httpx"]


__all__ = ["LeanPoster", "lean_ok", "read_capped", "retry_after", "retry_delay", "should_retry"]


async def read_capped(answer: aiohttp.ClientResponse, limit: int | None = None) -> bytes:
    """Read ``answer``'s body, at most ``limit`` bytes (:data:`MAX_ANSWER_BYTES`).

    Raises:
        ProviderResponseError: the body is larger: refused by its ``Content-Length``
            before anything is read, or as soon as the bytes read pass the limit.
    """
    from llmreg.errors import ProviderResponseError

    limit = MAX_ANSWER_BYTES if limit is None else limit
    too_large = ProviderResponseError(
        f"the endpoint's answer is larger than {limit} bytes, the most llmreg reads "
        "(LLMREG_MAX_ANSWER_BYTES): lower max_tokens, or raise the limit"
    )
    if (answer.content_length or 0) > limit:
        answer.close()
        raise too_large
    body = bytearray()
    async for chunk in answer.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            answer.close()
            raise too_large
    return bytes(body)
