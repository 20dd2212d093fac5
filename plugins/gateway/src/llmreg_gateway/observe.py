"""What the serving app says about each request: a JSON access log line and Prometheus metrics.

The access log goes to the ``llmreg_gateway.access`` logger at INFO, one JSON object
per request: time, method, route, status, latency, model, resolved version and
alias, tokens, key id (a hash prefix, never the key). The prompt and the answer
are never logged.

Metrics need ``prometheus-client`` (in llmreg-gateway's dependencies); each app has its own
registry, served at ``/metrics``. Without the package, ``/metrics`` answers 404.
With ``PROMETHEUS_MULTIPROC_DIR`` set (``llmreg serve --workers N`` sets it to a
temporary folder of its own), every worker writes its values there and ``/metrics``
answers the sum over the workers, whichever of them answers.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

access_logger = logging.getLogger("llmreg_gateway.access")

#: prometheus-client's multiprocess folder: set, the workers' metrics are summed.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: At most this many (route, model, version, status) series are kept looked up.
MAX_CACHED_SERIES = 4096

#: Latency histogram buckets, in seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The app's Prometheus metrics, in a registry of their own.

    ``llmreg_requests_total{route,model,version,status}``,
    ``llmreg_errors_total{route,model,version,code}``,
    ``llmreg_request_seconds{route,model,version}`` (histogram),
    ``llmreg_tokens_total{model,version,kind}`` (kind: prompt, completion),
    ``llmreg_alias_swaps_total{model}`` and ``llmreg_load_failures_total{model}``.
    """

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("route", "model", "version")
        self.requests = Counter(
            "llmreg_requests", "Requests answered", (*labels, "status"), registry=self.registry
        )
        self.errors = Counter(
            "llmreg_errors", "Requests answered with an error", (*labels, "code"),
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "llmreg_request_seconds", "Time to answer a request", labels,
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.tokens = Counter(
            "llmreg_tokens", "Tokens used", ("model", "version", "kind"), registry=self.registry
        )
        self.swaps = Counter(
            "llmreg_alias_swaps", "Reloads that changed the answering version", ("model",),
            registry=self.registry,
        )  # fmt: skip
        self.load_failures = Counter(
            "llmreg_load_failures", "Loads and reloads that failed", ("model",),
            registry=self.registry,
        )  # fmt: skip

    def render(self) -> tuple[bytes, str]:
        """Return the exposition text and its content type.

        In prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``), the
        values of every process writing to that folder, summed.
        """
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client.multiprocess import MultiProcessCollector

            shared = CollectorRegistry()
            MultiProcessCollector(shared)  # type: ignore[no-untyped-call, unused-ignore]
            return generate_latest(shared), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def new_metrics() -> Metrics | None:
    """Return a :class:`Metrics`, or ``None`` when prometheus-client is not installed."""
    try:
        return Metrics()
    except ImportError:
        return None


class Observer:
    """Records one finished request in the access log and the metrics.

    Args:
        metrics: the app's metrics, or ``None``.
        access_log: whether to write access log lines.
    """

    def __init__(self, metrics: Metrics | None, access_log: bool = True) -> None:
        self.metrics = metrics
        self.access_log = access_log
        # (route, model, version, status) -> its metric series, looked up once
        self._series: dict[tuple[str, str, str, int], list[Any]] = {}

    def record(
        self,
        *,
        method: str,
        route: str,
        status: int,
        started: float,
        model: str | None = None,
        version: str | None = None,
        alias: str | None = None,
        usage: dict[str, Any] | None = None,
        key_id: str | None = None,
        code: str | None = None,
        stream: bool = False,
    ) -> None:
        """Log and count one request that started at ``started`` (``time.perf_counter()``)."""
        elapsed = time.perf_counter() - started
        prompt = int((usage or {}).get("prompt_tokens") or 0)
        completion = int((usage or {}).get("completion_tokens") or 0)
        metrics = self.metrics
        if metrics is not None:
            key = (route, model or "", version or "", status)
            series = self._series.get(key)
            if series is None:  # this route, model, version and status: looked up once
                series = [
                    metrics.requests.labels(*key[:3], str(status)),
                    metrics.latency.labels(*key[:3]),
                    None,  # the token series, made at their first tokens
                    None,
                ]
                if len(self._series) < MAX_CACHED_SERIES:
                    self._series[key] = series
            series[0].inc()
            series[1].observe(elapsed)
            if status >= 400:
                metrics.errors.labels(*key[:3], code or "error").inc()
            if prompt:
                if series[2] is None:
                    series[2] = metrics.tokens.labels(key[1], key[2], "prompt")
                series[2].inc(prompt)
            if completion:
                if series[3] is None:
                    series[3] = metrics.tokens.labels(key[1], key[2], "completion")
                series[3].inc(completion)
        if self.access_log and access_logger.isEnabledFor(logging.INFO):
            line = {
                "ts": round(time.time(), 3),
                "method": method,
                "route": route,
                "status": status,
                "latency_ms": round(elapsed * 1000, 3),
                "model": model,
                "version": version,
                "alias": alias,
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "key_id": key_id,
            }
            if code:
                line["error_code"] = code
            if usage is not None and "cost_usd" in usage:
                line["cost_usd"] = usage["cost_usd"]
            if stream:
                line["stream"] = True
            # what Logger.info does, less looking up the caller's frame (never shown)
            record = access_logger.makeRecord(
                access_logger.name, logging.INFO, __file__, 0,
                json.dumps(line, separators=(",", ":")), (), None,
            )  # fmt: skip
            access_logger.handle(record)


__all__ = [
    "LATENCY_BUCKETS",
    "MULTIPROC_ENV",
    "Metrics",
    "Observer",
    "access_logger",
    "new_metrics",
]
