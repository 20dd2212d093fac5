"""The gateway routes a rollout's traffic: a request to NAME or NAME@ALIAS goes to the
arm the router picks, answered with ``x-llmreg-arm`` and the arm's
``system_fingerprint``, and counted per arm. A real sqlite MLflow store (llmreg-mlflow,
llmreg-pyfunc versions of the example plugin's echo and shout providers), a real app on
uvicorn, the official ``openai`` SDK."""

from __future__ import annotations

import time
import uuid

import openai
import pytest

from llmreg.definition import ModelDefinition
from llmreg_gateway.rollout import operations
from llmreg_gateway.rollout.spec import Guards
from llmreg_gateway.rollout.state import RolloutStore, SystemClock

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def versions(store, register) -> str:
    """A model with v1 (echo) and v2 (shout), @champion on v1."""
    from llmreg_pyfunc import CustomSaver

    name = f"bot-{uuid.uuid4().hex[:8]}"
    saver = CustomSaver(experiment="wire")
    for provider in ("echo", "shout"):
        register.register(name, saver.save(ModelDefinition(provider=provider, model="m")).uri)
    register.promote(name, 1, "champion")
    return name


def _answer(client: openai.OpenAI, model: str, session: str = "s-1"):
    return client.chat.completions.with_raw_response.create(
        model=model, messages=HI, extra_headers={"x-session": session}
    )


def _wait_for(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        assert time.monotonic() < deadline, "the gateway never picked the rollout up"
        time.sleep(0.1)


def test_a_rollout_sends_requests_to_the_arm_and_counts_them(
    store, register, versions, serve, ready
):
    from llmreg_gateway import create_app

    name = versions
    app = create_app(f"models:/{name}@champion", register=register, reload_interval=0,
                     rollout_interval=0.2)  # fmt: skip
    url = serve(app).url
    ready(url)
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    before = _answer(client, name)
    assert "x-llmreg-arm" not in before.headers
    stable_text = before.parse().choices[0].message.content

    rollouts = RolloutStore(register)
    rollout = operations.start(
        rollouts, SystemClock(), name, to="2", alias="champion", steps=(100,),
        interval_s=600.0, sticky_by="header:x-session", guards=Guards(),
    )  # fmt: skip
    routed = _wait_for(lambda: (a := _answer(client, name)).headers.get("x-llmreg-arm") and a)
    assert routed.headers["x-llmreg-arm"] == f"canary; version=2; rollout={rollout.id}"
    body = routed.parse()
    assert body.system_fingerprint == f"llmreg-{name}-v2-canary"
    assert body.choices[0].message.content != stable_text  # shout answered, not echo
    also = _answer(client, f"{name}@champion", "s-2")  # NAME@ALIAS routes the same
    assert also.headers["x-llmreg-arm"].startswith("canary; version=2")
    # the counts reach the rollout's MLflow run, where llmreg rollout watch reads them
    from llmreg_gateway.rollout.mlflow_stats import MlflowRunSink

    controller = MlflowRunSink(tracking_uri=store.uri)
    stats = _wait_for(
        lambda: (
            w
            if (w := controller.window(rollout.id, rollout.step))["canary"].requests >= 2
            else None
        )
    )
    assert stats["canary"].errors == 0 and stats["stable"].requests == 0

    operations.abort(rollouts, name, "champion", "test")
    back = _wait_for(
        lambda: a if "x-llmreg-arm" not in (a := _answer(client, name)).headers else None
    )
    assert back.parse().choices[0].message.content == stable_text
    client.close()
