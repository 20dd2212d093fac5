"""The playground's streamed form: every target's answer as it is generated.

``POST /playground/stream`` takes the same form as ``POST /playground`` and
answers NDJSON, one event a line: ``{"targets": [...]}`` first, then
``{"i": N, "text": "..."}`` pieces of target N's answer as they arrive (an
adapter that is a :class:`~llmreg.adapter.ClientAdapter` streams through its
client; any other answers in one piece), ``{"i": N, "error": "..."}`` for a
target that failed, and last ``{"html": "..."}``: the same answers, word diff and
save button as the plain form renders, which the page puts in place.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from llmreg.adapter import ClientAdapter
from llmreg.errors import ConfigError
from llmreg.schemas import Request as Row
from llmreg_gateway.console.context import Console, Ctx
from llmreg_gateway.console.playground import Answer, ask, results, validated

Events = asyncio.Queue[dict[str, Any] | None]


async def _stream_one(console: Console, i: int, uri: str, prompt: str, out: Events) -> Answer:
    if console.loader is None:
        raise ConfigError("the console was started without a loader: the playground needs one")
    try:
        adapter = await run_in_threadpool(console.loader.load, uri)
    except Exception as exc:  # shown in the target's column
        await out.put({"i": i, "error": f"{type(exc).__name__}: {exc}"})
        return Answer(uri, None, f"{type(exc).__name__}: {exc}", 0.0)
    if not isinstance(adapter, ClientAdapter):
        await adapter.aclose()
        answer = await run_in_threadpool(ask, console, uri, prompt)
        await out.put({"i": i, "text": answer.text or ""} if answer.error is None
                      else {"i": i, "error": answer.error})  # fmt: skip
        return answer
    start, parts, usage = time.perf_counter(), [], {}
    try:
        async for chunk in adapter.astream(Row(input=prompt)):
            if chunk.text:
                parts.append(chunk.text)
                await out.put({"i": i, "text": chunk.text})
            if chunk.done is not None:
                done = chunk.done
                usage = {k: v for k, v in (("prompt_tokens", done.prompt_tokens),
                         ("completion_tokens", done.completion_tokens),
                         ("total_tokens", done.total_tokens)) if v is not None}  # fmt: skip
                if not parts and done.text:
                    parts.append(done.text)
                    await out.put({"i": i, "text": done.text})
    except Exception as exc:  # a provider error mid-stream ends this target only
        await out.put({"i": i, "error": f"{type(exc).__name__}: {exc}"})
        return Answer(uri, None, f"{type(exc).__name__}: {exc}", 0.0)
    finally:
        await adapter.aclose()
    latency = (time.perf_counter() - start) * 1000
    return Answer(uri, "".join(parts), None, latency, usage, dict(adapter.info))


async def stream(console: Console, ctx: Ctx) -> Response:
    """``POST /playground/stream``: the NDJSON events described in the module doc."""
    targets, prompt = validated(ctx)
    queue: Events = asyncio.Queue()

    async def run() -> list[Answer]:
        try:
            return list(await asyncio.gather(
                *(_stream_one(console, i, t, prompt, queue) for i, t in enumerate(targets))
            ))  # fmt: skip
        finally:
            await queue.put(None)

    async def events() -> AsyncIterator[str]:
        task = asyncio.create_task(run())
        try:
            yield json.dumps({"targets": targets}) + "\n"
            while (event := await queue.get()) is not None:
                yield json.dumps(event) + "\n"
            answers = await task
            html = "<h2>Answers</h2>" + results(console, ctx, prompt, answers)
            yield json.dumps({"html": html}) + "\n"
        finally:
            task.cancel()

    return StreamingResponse(
        events(),
        media_type="application/x-ndjson",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


__all__ = ["stream"]
