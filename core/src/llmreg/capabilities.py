"""Capabilities: what a command may ask of a component beyond its base's methods.

A Saver, Loader, Register or provider client does what its base says. Some
commands need more: ``llmreg predict --spark`` a loader that runs Spark jobs,
``llmreg evaluate`` a loader that logs evaluations or runs its own scorers, the
gateway a client that streams or passes OpenAI's chat fields through. Each such
extra is a named capability here, and a component *declares* it by subclassing
it (a loader: ``class MyLoader(Loader, SparkPredictor)``; a client:
``class MyClient(StreamingClient, Client)``). The core asks with ``isinstance``
(or :func:`require`), never by probing attribute names: a method of the right
name on a class that does not declare the capability is not used.

A component that lacks a capability a command needs gets a
:class:`~llmreg.errors.CapabilityMissingError` naming the capability, its KIND
(or provider) and what to install or choose instead.

The capabilities are abstract bases (a pydantic component can mix them in),
except :class:`Closeable`, a structural protocol: anything with ``close()``.

Added in llmreg 0.2.0.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, cast, runtime_checkable

from llmreg.errors import CapabilityMissingError

if TYPE_CHECKING:
    from llmreg.client import StreamChunk
    from llmreg.schemas import Request

C = TypeVar("C")


class SparkPredictor(abc.ABC):
    """A loader that answers a JSON Lines file on Spark (``llmreg predict --spark``).

    :meth:`spark_predict` reads ``file`` (one row a line), answers every row on a
    Spark session (``master``, default ``local[*]``), keeps the rows' order, marks a
    failed row ``status: error`` in place, and writes the results to ``output``
    (JSON Lines) or returns them. It returns an object with ``records`` (the result
    rows when ``output`` is ``None``, else empty), ``failed`` and ``total`` (ints).

    Added in llmreg 0.2.0.
    """

    @abc.abstractmethod
    def spark_predict(
        self,
        model_uri: str,
        file: str,
        output: str | None = None,
        *,
        master: str | None = None,
        concurrency: int | None = None,
    ) -> Any:
        """Answer ``file`` with the model at ``model_uri`` on Spark; see the class."""


class EvaluationLogger(abc.ABC):
    """A loader that records an evaluation of a model it loads (``llmreg evaluate``).

    :meth:`log_evaluation` gets the model URI, the adapter's ``info``, the metrics
    (name to float), the number of rows and, per row, what was asked, answered and
    scored (``results``, secrets already redacted). It stores them where its
    models live (llmreg-pyfunc: an MLflow run linked to the model) and returns an
    id the CLI prints (``evaluation run: <id>``).

    Added in llmreg 0.2.0.
    """

    @abc.abstractmethod
    def log_evaluation(
        self,
        model_uri: str,
        info: Mapping[str, Any],
        metrics: Mapping[str, float],
        rows: int,
        *,
        results: Sequence[Mapping[str, Any]] | None = None,
    ) -> str:
        """Record the evaluation; return its id. See the class."""


class ScorerSource(abc.ABC):
    """A loader that provides scorers of its own (``llmreg evaluate --scorer PREFIX:NAME``).

    :meth:`genai_scorers` builds, before any prediction, a callable
    ``scorer(inputs, answers, expectations) -> {metric: [score or None per row]}``
    for ``specs`` (such as ``mlflow:Correctness``) and the judge model. A spec it
    does not know is a :class:`~llmreg.errors.ConfigError` naming it.

    Added in llmreg 0.2.0.
    """

    @abc.abstractmethod
    def genai_scorers(self, specs: Sequence[str], judge_model: str | None = None) -> Any:
        """Return the scoring callable for ``specs``; see the class."""


class StreamingClient(abc.ABC):
    """A provider client whose endpoint streams: :meth:`astream` yields text as it arrives.

    Every :class:`~llmreg.client.Client` has an ``astream`` that answers in one
    chunk; a client that declares this capability streams for real: text chunks
    in order, then one chunk whose ``done`` holds the whole answer (text, usage,
    finish reason). A failure before the first chunk or after it raises a typed
    :class:`~llmreg.errors.ProviderError`. The gateway streams token by token only
    for such a client; the contract kit checks it chunk by chunk.

    Added in llmreg 0.2.0.
    """

    @abc.abstractmethod
    def astream(self, request: Request) -> AsyncIterator[StreamChunk]:
        """Stream one request's answer; see the class."""


class ChatPassThrough(abc.ABC):
    """A provider client that passes OpenAI chat fields beyond text through (``achat``).

    :data:`CHAT_FIELDS` names the fields it passes (``tools``, ``tool_choice``,
    ``response_format``, ``logprobs``, ``top_logprobs``, ``n``,
    ``parallel_tool_calls``, ``tool_messages``); :meth:`achat` sends such a body and
    returns the ``chat.completion`` JSON (``achat_stream`` its chunks). The gateway
    refuses a request with a field the model's client does not list, naming it.

    Added in llmreg 0.2.0.
    """

    #: The OpenAI chat fields this client passes through.
    CHAT_FIELDS: ClassVar[frozenset[str]]

    @abc.abstractmethod
    async def achat(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send an OpenAI chat-completions body; return the endpoint's answer."""


@runtime_checkable
class Closeable(Protocol):
    """Anything that holds connections, threads or files until ``close()``.

    ``close()`` releases all of it (every HTTP connection the object opened is
    closed when it returns) and is safe to call twice. Every
    :class:`~llmreg.client.Client` and :class:`~llmreg.bases.Adapter` is one; a
    loader or register that holds a pool (a database connection, a cache) adds a
    ``close()`` and the host calls it when done.

    Added in llmreg 0.2.0.
    """

    def close(self) -> None:
        """Release what the object holds. Safe to call twice."""


#: What each capability lets a command do, and what a user does without it.
_NEEDS: dict[type[Any], tuple[str, str]] = {
    SparkPredictor: (
        "run a Spark job (llmreg predict --spark)",
        "use a loader that can, such as llmreg-pyfunc's loader (pip install llmreg-pyfunc pyspark)",
    ),
    EvaluationLogger: (
        "log an evaluation",
        "use a loader that can, such as llmreg-pyfunc's loader (pip install llmreg-pyfunc)",
    ),
    ScorerSource: (
        "run scorers of its own (--scorer PREFIX:NAME)",
        "use exact_match, contains, regex:PATTERN or json_valid, or a loader with scorers "
        "such as llmreg-pyfunc's loader (MLflow scorers: pip install llmreg-pyfunc)",
    ),
    StreamingClient: (
        "stream an answer as it is generated",
        "ask without stream, or use a provider that streams, such as openai "
        "(pip install llmreg-litellm)",
    ),
    ChatPassThrough: (
        "pass tools, response_format, logprobs or n through",
        "send text chat only, or use a provider that passes them, such as openai "
        "(pip install llmreg-litellm)",
    ),
    Closeable: ("be closed", "give the class a close() method"),
}


def describe(component: object) -> str:
    """How an error names ``component``: ``KIND 'X'``, ``provider 'p'``, or ``class Name``."""
    from llmreg.bases import Component
    from llmreg.client import Client

    if isinstance(component, Component):
        return f"KIND {component.KIND!r}"
    if isinstance(component, Client):
        return f"provider {component.definition.provider!r}"
    return f"class {type(component).__name__}"


def require(component: object, capability: Callable[..., C], role: str) -> C:
    """Return ``component`` if it declares ``capability``; else raise a typed error.

    ``role`` says what the component is here (``"loader"``, ``"client"``...), for
    the message.

    Example:
        >>> from llmreg.echo_client import EchoClient
        >>> from llmreg.definition import ModelDefinition
        >>> client = EchoClient(ModelDefinition(provider="echo", model="e"))
        >>> require(client, Closeable, "client") is client
        True
        >>> try:
        ...     require(client, StreamingClient, "client")
        ... except CapabilityMissingError as exc:
        ...     print(str(exc).split(":")[0])
        the client provider 'echo' cannot stream an answer as it is generated

    Raises:
        CapabilityMissingError: naming the capability, the component's KIND or
            provider, and what to do.
    """
    # Callable, not type[C]: mypy refuses an abstract class where type[C] is expected.
    cls = cast("type[Any]", capability)
    if isinstance(component, cls):
        return cast("C", component)
    action, remedy = _NEEDS.get(cls, ("do this", f"use one that declares {cls.__name__}"))
    raise CapabilityMissingError(
        f"the {role} {describe(component)} cannot {action}: it does not declare "
        f"llmreg.capabilities.{cls.__name__}; {remedy}"
    )


__all__ = [
    "ChatPassThrough",
    "Closeable",
    "EvaluationLogger",
    "ScorerSource",
    "SparkPredictor",
    "StreamingClient",
    "describe",
    "require",
]
