"""The provider the round trip answers through: an OpenAI-shaped client of the kit's server.

:class:`KitClient` is a small, correct provider: it applies the definition's
settings and each row's params to the request it sends (temperature, max_tokens,
stop, the system prompt), keeps one HTTP connection per thread, and closes every
one in :meth:`KitClient.close`. The round trip registers it under
:data:`ROUND_TRIP_PROVIDER` in the kit's own manager only, so a loader that asks
another manager (the process's default) cannot find it.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from typing import Any

from llmreg import errors
from llmreg.client import Client, Completion
from llmreg.definition import ModelDefinition
from llmreg.hookspecs import hookimpl
from llmreg.schemas import Request

#: The provider name the round trip's definitions use.
ROUND_TRIP_PROVIDER = "llmreg-contract-echo"

_ERRORS: dict[int, type[errors.ProviderError]] = {
    400: errors.ProviderBadRequestError,
    401: errors.ProviderAuthenticationError,
    403: errors.ProviderAuthenticationError,
    404: errors.ProviderNotFoundError,
    429: errors.ProviderRateLimitError,
}


class KitClient(Client):
    """Answers through the kit's server with OpenAI's chat-completions API."""

    def __init__(self, definition: ModelDefinition) -> None:
        super().__init__(definition)
        url = urllib.parse.urlsplit(definition.base_url or "http://127.0.0.1:9/v1")
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 80
        self._path = url.path.rstrip("/") + "/chat/completions"
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            timeout = float(self.definition.timeout or 60)
            conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def body(self, request: Request) -> dict[str, Any]:
        """The request body: the row's params over the definition's settings."""
        d, p = self.definition, request.params
        messages = request.chat_messages()
        if d.system_prompt and not any(m["role"] == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": d.system_prompt})
        body: dict[str, Any] = {"model": d.model, "messages": messages}
        for name in ("temperature", "max_tokens", "stop", "top_p", "seed"):
            value = getattr(p, name, None) if p is not None else None
            value = value if value is not None else getattr(d, name, None)
            if value is not None:
                body[name] = value
        return body

    def complete(self, request: Request) -> Completion:
        """Send one request; map HTTP errors and timeouts to typed errors."""
        start = time.perf_counter()
        conn = self._connection()
        try:
            conn.request(
                "POST",
                self._path,
                json.dumps(self.body(request)),
                {"Content-Type": "application/json"},
            )
            response = conn.getresponse()
            raw = response.read()
        except TimeoutError as exc:
            conn.close()
            raise errors.ProviderTimeoutError(f"kit endpoint timed out: {exc}") from None
        except OSError as exc:
            conn.close()
            raise errors.ProviderUnreachableError(f"kit endpoint unreachable: {exc}") from None
        if response.status != 200:
            kind = _ERRORS.get(response.status, errors.ProviderResponseError)
            raise kind(f"kit endpoint answered HTTP {response.status}", status_code=response.status)
        data = json.loads(raw)
        usage = data.get("usage") or {}
        return Completion(
            text=data["choices"][0]["message"]["content"],
            model=data.get("model", self.definition.model),
            latency_ms=(time.perf_counter() - start) * 1000,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            total_tokens=usage.get("total_tokens"),
            finish_reason="stop",
        )

    def close(self) -> None:
        """Close every connection any thread opened. Safe to call twice."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()


class RoundTripProvider:
    """The plugin that registers :class:`KitClient` as :data:`ROUND_TRIP_PROVIDER`."""

    @hookimpl
    def llmreg_register_providers(self, register: Any) -> None:
        """Register the kit's client."""
        register(ROUND_TRIP_PROVIDER, KitClient)


__all__ = ["ROUND_TRIP_PROVIDER", "KitClient", "RoundTripProvider"]
