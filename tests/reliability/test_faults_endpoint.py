"""Faults of the LLM endpoint, injected by a real OpenAI-compatible server on loopback.

For each fault (HTTP 500, 429 with Retry-After, a timeout, a dropped connection,
a malformed JSON body, HTTP 401) a model is saved, registered and loaded as a
user would, then:

- without a fallback, one row of a batch hits the fault: it is retried as the
  client promises (counted on the server), ends as a typed per-row error with
  no text, and the other rows of the batch are answered;
- with a fallback, every row hits the fault on the primary model, is retried,
  and is answered by the fallback model.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from reliability import tally
from reliability.models import KEY_VAR, definition, load, register, save
from reliability.stores import Store, use_store

from llmreg.errors import (
    PredictionError,
    ProviderAuthenticationError,
    ProviderError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnreachableError,
)
from support.openai_server import FakeOpenAIServer

#: Retries every definition of this module allows (so up to 3 HTTP requests per model).
RETRIES = 2
#: Seconds before a hanging request times out.
TIMEOUT = 0.5


@dataclass(frozen=True)
class Fault:
    """One fault the server injects, and how the client must end it."""

    kind: str
    error: type[ProviderError]
    attempts: int


FAULTS = [
    Fault("500", ProviderResponseError, 1 + RETRIES),
    Fault("429", ProviderRateLimitError, 1 + RETRIES),
    Fault("hang", ProviderTimeoutError, 1 + RETRIES),
    Fault("drop", ProviderUnreachableError, 1 + RETRIES),
    Fault("malformed", ProviderResponseError, 1),
    Fault("401", ProviderAuthenticationError, 1),
]


@pytest.fixture(scope="module")
def fault_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One sqlite store for the module, with a key in the environment."""
    with (
        pytest.MonkeyPatch.context() as patch,
        use_store(tmp_path_factory.mktemp("faults")) as store,
    ):
        patch.setenv(KEY_VAR, f"sk-faults-{uuid.uuid4().hex}")
        yield store


def _loaded(name: str, model: Any) -> Any:
    """Save, register and load ``model`` as version 1 of ``name``."""
    assert register(name, save(model)) == 1
    return load(f"models:/{name}/1")


def _requests_for(server: FakeOpenAIServer, text: str) -> int:
    """How many chat requests carried ``text`` as their last message."""
    return sum(
        1
        for r in server.chat_requests()
        if r.body and (r.body.get("messages") or [{}])[-1].get("content") == text
    )


@pytest.mark.parametrize("fault", FAULTS, ids=[f.kind for f in FAULTS])
def test_a_failing_row_is_retried_then_typed_and_the_batch_is_kept(
    fault: Fault, fault_store: Store, fake_openai: FakeOpenAIServer
) -> None:
    """The faulty row is retried, ends typed with no text; the other rows are answered."""
    uid = uuid.uuid4().hex[:8]
    adapter = _loaded(
        f"row-{fault.kind}",
        definition(fake_openai.base_url, f"ok-{uid}", max_retries=RETRIES, timeout=TIMEOUT),
    )
    bad = f"[fault {fault.kind}] beta {uid}"
    rows = [f"alpha {uid}", bad, f"gamma {uid}"]
    out = adapter.predict(rows)
    first, failed, last = out.rows
    kept = [first.prediction, last.prediction] == [f"echo: {rows[0]}", f"echo: {rows[2]}"]
    typed = failed.metadata.get("error_type") == fault.error.__name__
    fake = failed.prediction is not None
    tally.note("faults", tried=1, typed=int(typed), fake_text=int(fake), rows_lost=int(not kept))
    assert kept, out.predictions
    assert not fake and failed.metadata["status"] == "error"
    assert typed, failed.metadata
    assert _requests_for(fake_openai, bad) == fault.attempts
    assert failed.metadata["attempts"] == fault.attempts
    assert f"ok-{uid}" in failed.metadata["error"]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.kind for f in FAULTS])
def test_a_failing_model_is_retried_then_answered_by_the_fallback(
    fault: Fault, fault_store: Store, fake_openai: FakeOpenAIServer
) -> None:
    """Every row fails on the primary after its retries and is answered by the fallback."""
    uid = uuid.uuid4().hex[:8]
    primary, fallback = f"fault-{fault.kind}-{uid}", f"fallback-{uid}"
    adapter = _loaded(
        f"fallback-{fault.kind}",
        definition(
            fake_openai.base_url,
            primary,
            max_retries=RETRIES,
            timeout=TIMEOUT,
            fallbacks=[{"model": fallback}],
        ),
    )
    rows = [f"one {uid}", f"two {uid}"]
    out = adapter.predict(rows)
    answered = out.predictions == [f"echo: {r}" for r in rows]
    by_fallback = all(r.metadata.get("model") == fallback for r in out.rows)
    tally.note("faults", tried=1, typed=int(answered and by_fallback), rows_lost=int(not answered))
    assert answered, out.predictions
    assert by_fallback and all(r.metadata["fallback_index"] == 1 for r in out.rows)
    assert fake_openai.count(primary) == len(rows) * fault.attempts
    assert fake_openai.count(fallback) == len(rows)
    assert all(r.metadata["attempts"] == fault.attempts + 1 for r in out.rows)


def test_strict_mode_raises_a_typed_error_naming_the_row(
    fault_store: Store, fake_openai: FakeOpenAIServer
) -> None:
    """With ``strict``, a failed row raises PredictionError caused by the typed provider error."""
    uid = uuid.uuid4().hex[:8]
    adapter = _loaded("strict", definition(fake_openai.base_url, f"ok-{uid}", max_retries=0))
    with pytest.raises(PredictionError) as info:
        adapter.predict([f"fine {uid}", f"[fault 500] {uid}"], {"strict": True})
    tally.note("faults", tried=1, typed=1)
    assert "row 1 failed" in str(info.value)
    assert isinstance(info.value.__cause__, ProviderResponseError)
