"""The ``echo`` provider's client: answers ``echo: <last message>`` with no network.

The plugin that registers it is :mod:`llmreg.echo`. A row whose text is
``"!fail"`` fails with :class:`~llmreg.errors.ProviderBadRequestError`, so that
per-row error handling can be tried too.
"""

from __future__ import annotations

import time

from llmreg.client import Client, Completion
from llmreg.definition import ModelDefinition
from llmreg.errors import ProviderBadRequestError
from llmreg.schemas import Request


class EchoClient(Client):
    """Answers ``echo: <last message>``; counts its calls in :attr:`calls`."""

    def __init__(self, definition: ModelDefinition) -> None:
        self.definition = definition
        self.calls = 0

    def complete(self, request: Request) -> Completion:
        """Answer one request by echoing its last message.

        Raises:
            ProviderBadRequestError: the last message is ``"!fail"``.
        """
        start = time.perf_counter()
        self.calls += 1
        text = request.chat_messages(self.definition.system_prompt)[-1]["content"]
        if text == "!fail":
            raise ProviderBadRequestError("echo provider was asked to fail", status_code=400)
        words = len(text.split())
        return Completion(
            text=f"echo: {text}",
            model=self.definition.model,
            latency_ms=(time.perf_counter() - start) * 1000,
            prompt_tokens=words,
            completion_tokens=words + 1,
            total_tokens=2 * words + 1,
            finish_reason="stop",
        )


__all__ = ["EchoClient"]
