"""The ``generate`` provider: an HTTP API that is not OpenAI's (``POST <base_url>/generate``)."""

import http.client
import json
import threading
import time
import urllib.parse

from llmreg import Client, Completion, Request, errors, hookimpl

#: The typed error of each HTTP status; any other failure is a ProviderResponseError.
ERRORS = {
    400: errors.ProviderBadRequestError,
    401: errors.ProviderAuthenticationError,
    403: errors.ProviderAuthenticationError,
    404: errors.ProviderNotFoundError,
    429: errors.ProviderRateLimitError,
}


class GenerateClient(Client):
    """Sends ``{model, system, prompt, options}``; keeps one connection per thread until close()."""

    def __init__(self, definition):
        super().__init__(definition)
        url = urllib.parse.urlsplit(definition.base_url or "http://127.0.0.1:11434/api")
        self._host, self._port, self._path = (
            url.hostname,
            url.port,
            url.path.rstrip("/") + "/generate",
        )
        self._lock = threading.Lock()
        self._connections = {}  # thread id -> its connection, all closed by close()

    def _connection(self) -> http.client.HTTPConnection:
        with self._lock:
            conn = self._connections.get(threading.get_ident())
            if conn is None:
                conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self.definition.timeout
                )
                self._connections[threading.get_ident()] = conn
            return conn

    def body(self, request: Request) -> dict:
        """The provider applies the settings itself: the row's params, else the definition's."""
        d = self.definition
        row = request.params.model_dump(exclude_none=True) if request.params else {}
        messages = request.chat_messages(d.system_prompt)
        options = {
            "temperature": row.get("temperature", d.temperature),
            "num_predict": row.get("max_tokens", d.max_tokens),
            "stop": row.get("stop", d.stop),
        }
        system = [m["content"] for m in messages if m["role"] == "system"]
        return {
            "model": d.model,
            "system": "\n".join(system) or None,
            "prompt": messages[-1]["content"],
            "options": {k: v for k, v in options.items() if v is not None},
        }

    def complete(self, request: Request) -> Completion:
        start, conn = time.perf_counter(), self._connection()
        try:
            conn.request(
                "POST",
                self._path,
                json.dumps(self.body(request)),
                {"Content-Type": "application/json"},
            )
            response = conn.getresponse()
            data = response.read()
        except TimeoutError:
            conn.close()
            raise errors.ProviderTimeoutError(
                f"no answer within {self.definition.timeout} s"
            ) from None
        except OSError as exc:
            conn.close()
            raise errors.ProviderUnreachableError(f"cannot reach the endpoint: {exc}") from None
        if response.status != 200:
            error = ERRORS.get(response.status, errors.ProviderResponseError)
            raise error(
                f"the endpoint answered HTTP {response.status}", status_code=response.status
            )
        try:
            answer = json.loads(data)
            text = answer["response"]
        except (ValueError, KeyError, TypeError):
            raise errors.ProviderResponseError(
                "the endpoint's answer holds no 'response'"
            ) from None
        return Completion(
            text=text,
            model=self.definition.model,
            latency_ms=(time.perf_counter() - start) * 1000,
            prompt_tokens=answer.get("prompt_eval_count"),
            completion_tokens=answer.get("eval_count"),
        )

    def close(self) -> None:
        with self._lock:
            connections, self._connections = list(self._connections.values()), {}
        for conn in connections:
            conn.close()


@hookimpl
def llmreg_register_providers(register):
    register("generate", GenerateClient)
