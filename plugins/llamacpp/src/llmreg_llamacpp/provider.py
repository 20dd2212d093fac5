"""The ``llamacpp`` provider's client: a local llama.cpp server behind the OpenAI-compatible client.

:class:`LlamaCppClient` validates the definition's ``options``, leases the shared
server for them (or, with a ``base_url``, starts nothing and talks to that
endpoint), and hands every call to ``llmreg-litellm``'s
:class:`~llmreg_litellm.client.OpenAICompatibleClient`, reused, not copied. Closing
the client (``close()``, or ``await aclose()`` from async code) gives its lease
back, so the last client to close stops the server.

This module imports no ``openai``: the OpenAI-compatible client is imported when a
client is built.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llmreg.client import Client, Completion, RowResult
from llmreg.definition import ModelDefinition
from llmreg.errors import ConfigError
from llmreg.schemas import Request
from llmreg_llamacpp import discovery, registry
from llmreg_llamacpp.options import LlamaCppOptions, effective_stop
from llmreg_llamacpp.server import LlamaServer, ServerSettings

if TYPE_CHECKING:
    from llmreg_litellm.client import OpenAICompatibleClient


def server_settings(options: LlamaCppOptions) -> ServerSettings:
    """Find the binary, the model file and the template file for ``options``.

    Raises:
        ConfigError: a package is missing (the message says which to install).
        ConfigFileNotFoundError: ``options.model_file`` names no file.
    """
    template = options.chat_template
    return ServerSettings(
        binary=discovery.server_binary(),
        model_file=discovery.model_file(options.model_file),
        chat_template_file=discovery.chat_template_file(template) if template else None,
        context_size=options.context_size,
        threads=options.threads,
        parallel=options.parallel,
        server_args=tuple(options.server_args),
    )


def _openai_client_class() -> type[OpenAICompatibleClient]:
    try:
        from llmreg_litellm.client import OpenAICompatibleClient
    except ImportError:
        raise ConfigError(
            "the 'llamacpp' provider talks to its server through llmreg-litellm's client, "
            "which is not installed: run `pip install llmreg-litellm`"
        ) from None
    return OpenAICompatibleClient


class LlamaCppClient(Client):
    """A :class:`~llmreg.client.Client` for the ``llamacpp`` provider.

    Without ``definition.base_url`` it starts (or shares) a local llama.cpp server
    for ``definition.options``; with one, it starts nothing and calls that endpoint.
    Unless the definition sets ``stop``, the default template's stop strings are
    sent, and ``cache_prompt`` is sent as the option says (off: same request, same
    answer at temperature 0). ``definition.model`` is the model name reported.

    Args:
        definition: a definition whose provider is ``llamacpp``.

    Raises:
        ConfigError: an option is invalid, or a package is missing.
        ConfigFileNotFoundError: ``options.model_file`` names no file.
        ProviderStartError: the server did not start; the message carries its
            last output lines.
    """

    def __init__(self, definition: ModelDefinition) -> None:
        options = LlamaCppOptions.from_definition(definition)
        client_class = _openai_client_class()
        self.definition = definition
        self.options = options
        self._lease: registry.Lease | None = None
        if definition.base_url is None:
            self._lease = registry.acquire(server_settings(options), options.start_timeout)
        # A client dropped without close() still gives its lease back.
        self._release = weakref.finalize(self, self._lease.release if self._lease else _nothing)
        try:
            self._client = client_class(
                self._endpoint_definition(), extra_body={"cache_prompt": options.cache_prompt}
            )
        except BaseException:
            self._release()
            raise

    def __repr__(self) -> str:
        where = self.server.url if self.server else self.definition.base_url
        return f"LlamaCppClient(model={self.definition.model!r}, endpoint={where})"

    @property
    def server(self) -> LlamaServer | None:
        """The local server this client uses, or ``None`` when it calls a ``base_url``."""
        return self._lease.server if self._lease else None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible endpoint the calls go to."""
        return self._client.definition.base_url or ""

    def _endpoint_definition(self) -> ModelDefinition:
        update: dict[str, Any] = {"stop": effective_stop(self.definition, self.options)}
        if self._lease is not None:
            update.update(base_url=f"{self._lease.server.url}/v1", api_key=None)
        return self.definition.model_copy(update=update)

    def complete(self, request: Request) -> Completion:
        """Answer one request (see :meth:`llmreg.client.Client.complete`)."""
        return self._client.complete(request)

    def batch(
        self, requests: Sequence[Request], *, concurrency: int | None = None
    ) -> list[RowResult]:
        """Answer many requests in order (see :meth:`llmreg.client.Client.batch`).

        The server answers ``options.parallel`` rows at once; more wait in its queue.
        """
        return self._client.batch(requests, concurrency=concurrency)

    async def abatch(
        self, requests: Sequence[Request], *, concurrency: int | None = None
    ) -> list[RowResult]:
        """Async form of :meth:`batch`."""
        return await self._client.abatch(requests, concurrency=concurrency)

    def close(self) -> None:
        """Close the HTTP client and give back the server lease. Safe to call twice.

        The last lease to be given back stops the server (and waits for it to exit).
        """
        try:
            self._client.close()
        finally:
            self._release()

    async def aclose(self) -> None:
        """Async form of :meth:`close`: it never blocks the caller's loop.

        The HTTP client's pools are closed as
        :meth:`~llmreg_litellm.client.OpenAICompatibleClient.aclose` closes them;
        the lease is given back in a worker thread, since the last one waits for
        the server to exit (up to a few seconds). Safe to call twice, and after
        :meth:`close`.
        """
        try:
            await self._client.aclose()
        finally:
            if self._lease is not None and self._release.alive:
                await asyncio.to_thread(self._release)
            else:
                self._release()


def _nothing() -> None:
    """No lease to give back (the client calls a ``base_url``)."""


__all__ = ["LlamaCppClient", "server_settings"]
