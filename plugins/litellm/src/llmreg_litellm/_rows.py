"""What both providers' clients (``openai`` and ``litellm``) do with rows and chains.

:func:`answer_rows` is the bounded batch: every request answered at most
``concurrency`` at once, in order, a failed row giving its typed error in place.
:func:`chain_failed` is the error of a row that every model of the chain failed.
:func:`row_settings` are the generation settings a row is sent with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from llmreg.client import Completion, RowResult
from llmreg.definition import ModelDefinition
from llmreg.errors import ProviderError
from llmreg.schemas import Request


async def answer_rows(
    answer: Callable[[Request], Awaitable[Completion]],
    requests: Sequence[Request],
    concurrency: int,
) -> list[RowResult]:
    """Answer every request with ``answer``, at most ``concurrency`` at once, in order.

    A row whose ``answer`` raised a :class:`~llmreg.errors.ProviderError` holds that
    error in place of its completion; any other exception propagates.
    """
    gate = asyncio.Semaphore(concurrency)

    async def row(request: Request) -> RowResult:
        async with gate:
            try:
                return await answer(request)
            except ProviderError as exc:
                return exc

    return list(await asyncio.gather(*(row(r) for r in requests)))


def chain_failed(failures: list[ProviderError], attempts: int) -> ProviderError:
    """The error for a row that every model of the chain failed: the last error's type.

    One failure is returned as is; several make one error naming each in turn, with
    the attempts of the whole chain.
    """
    last = failures[-1]
    if len(failures) == 1:
        return last
    steps = "; then ".join(str(f) for f in failures)
    return type(last)(
        f"every model of the chain failed: {steps}",
        status_code=last.status_code,
        attempts=attempts,
    )


def row_settings(definition: ModelDefinition, request: Request) -> dict[str, Any]:
    """The generation settings one row is sent with: the row's params over the
    definition's (``temperature``, ``max_tokens``, ``stop``; ``top_p`` and ``seed`` from
    the row only), unset ones left out."""
    d = definition
    p = request.params
    settings: dict[str, Any] = {
        "temperature": p.temperature if p and p.temperature is not None else d.temperature,
        "max_tokens": p.max_tokens if p and p.max_tokens is not None else d.max_tokens,
        "stop": p.stop if p and p.stop is not None else d.stop,
        "top_p": p.top_p if p else None,
        "seed": p.seed if p else None,
    }
    return {k: v for k, v in settings.items() if v is not None}


__all__ = ["answer_rows", "chain_failed", "row_settings"]
