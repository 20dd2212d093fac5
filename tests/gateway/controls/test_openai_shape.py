"""Refusals as the official openai SDK sees them over HTTP: typed errors; quota not retried."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest

from llmreg_gateway.controls import ControlsUnavailableError, QuotaExceededError, RateLimitError
from llmreg_gateway.errors import ApiError

REFUSALS: dict[str, ApiError] = {
    "rate": RateLimitError(
        "Rate limit reached for chat on requests per minute (key limit): Limit 3, Used 3",
        retry_after=0.2,
        headers=[("x-ratelimit-limit-requests", "3"), ("x-ratelimit-remaining-requests", "0")],
    ),
    "quota": QuotaExceededError("This API key (id k) has spent its daily budget", 3600),
    "down": ControlsUnavailableError("limits and budgets cannot be checked"),
}


class Handler(BaseHTTPRequestHandler):
    """Answers every POST with the refusal its path names, as the app would send it."""

    hits: dict[str, int] = {}

    def do_POST(self) -> None:
        name = self.path.split("/")[1]
        Handler.hits[name] = Handler.hits.get(name, 0) + 1
        self.rfile.read(int(self.headers["content-length"]))
        err = REFUSALS[name]
        body = json.dumps(err.body()).encode()
        self.send_response(err.status)
        for header, value in err.headers:  # type: ignore[attr-defined]
            self.send_header(header, value)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def client(base: str, name: str, retries: int) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/{name}/v1", api_key="sk-test", max_retries=retries)


def ask(c: openai.OpenAI) -> None:
    c.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])


def test_rate_limit_is_a_rate_limit_error_with_headers(server: str) -> None:
    Handler.hits.clear()
    with pytest.raises(openai.RateLimitError) as caught:
        ask(client(server, "rate", retries=1))
    err = caught.value
    assert err.code == "rate_limit_exceeded"
    assert err.type == "rate_limit_exceeded"
    assert err.response.headers["retry-after"] == "1"
    assert err.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert Handler.hits["rate"] == 2  # the SDK retried once after Retry-After


def test_a_spent_budget_is_not_retried(server: str) -> None:
    Handler.hits.clear()
    with pytest.raises(openai.RateLimitError) as caught:
        ask(client(server, "quota", retries=2))
    assert caught.value.code == "insufficient_quota"
    assert caught.value.type == "insufficient_quota"
    assert Handler.hits["quota"] == 1  # x-should-retry: false


def test_state_down_is_a_503(server: str) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        ask(client(server, "down", retries=0))
    assert caught.value.status_code == 503
    assert caught.value.code == "state_unavailable"
