"""The OpenAI chat-completions request: its body checked and turned into an llmreg row.

Pure functions over dicts, no web framework: the app calls them, tests can too. The
answer shapes are in :mod:`llmreg_gateway.completions` (re-exported here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from llmreg.schemas import Message, Params, Request
from llmreg_gateway.completions import (
    chunk_event,
    completion,
    model_entry,
    models_list,
    new_completion_id,
    stream_chunks,
    usage_event,
)
from llmreg_gateway.errors import bad_request

if TYPE_CHECKING:
    from llmreg.bases import Adapter
    from llmreg.client import Client

#: Request fields that map onto llmreg's per-row :class:`~llmreg.Params`.
PARAM_FIELDS = ("temperature", "max_tokens", "top_p", "stop", "seed")
#: Request fields accepted and ignored (they change nothing a llmreg model does).
IGNORED_FIELDS = frozenset(
    {
        "user",
        "n",
        "stream_options",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "metadata",
        "store",
        "service_tier",
        "max_completion_tokens",
    }
)


#: Request fields passed through to a provider that takes them (``Client.CHAT_FIELDS``).
PASSTHROUGH_FIELDS = (
    "tools",
    "tool_choice",
    "response_format",
    "logprobs",
    "top_logprobs",
    "n",
    "parallel_tool_calls",
)
#: The name (in ``Client.CHAT_FIELDS``) of messages that carry tool calls or results.
TOOL_MESSAGES = "tool_messages"


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat-completions request.

    Attributes:
        row: the llmreg row it becomes.
        model: the ``model`` the caller asked for.
        stream: whether to answer with server-sent events.
        include_usage: ``stream_options.include_usage``: send a final usage chunk.
        extras: the pass-through fields the request uses (see
            :data:`PASSTHROUGH_FIELDS`, and :data:`TOOL_MESSAGES`); empty for text chat.
        forward: the body to pass through when ``extras`` is not empty: the
            messages as sent, the generation settings and the extra fields.
    """

    row: Request
    model: str
    stream: bool
    include_usage: bool
    extras: tuple[str, ...] = ()
    forward: dict[str, Any] | None = None


def _content_text(content: Any, index: int) -> str:
    """Return a message's text: a string, or the text parts of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not (isinstance(part, dict) and part.get("type") == "text"):
                raise bad_request(
                    f"messages[{index}].content holds a part that is not text; "
                    "this model accepts text only",
                    param=f"messages[{index}].content",
                )
            texts.append(str(part.get("text", "")))
        return "".join(texts)
    raise bad_request(
        f"messages[{index}].content must be a string or a list of text parts",
        param=f"messages[{index}].content",
    )


def _has_tool_parts(message: dict[str, Any]) -> bool:
    """Whether a message carries tool calls or a tool result (passed through as sent)."""
    return message.get("tool_calls") is not None or message.get("role") == "tool"


def _messages(raw: Any) -> list[Message]:
    if not isinstance(raw, list) or not raw:
        raise bad_request("'messages' must be a non-empty list of messages", param="messages")
    out = []
    for index, message in enumerate(raw):
        if not isinstance(message, dict) or "role" not in message:
            raise bad_request(
                f"messages[{index}] has no 'role': give each message a role "
                "(system, user, assistant) and its content",
                param=f"messages[{index}].role",
            )
        content = message.get("content")
        if content is None and _has_tool_parts(message):
            content = ""  # an assistant message that only calls tools
        if _has_tool_parts(message) and not (
            message.get("tool_calls") is None or isinstance(message.get("tool_calls"), list)
        ):
            raise bad_request(
                f"messages[{index}].tool_calls must be a list",
                param=f"messages[{index}].tool_calls",
            )
        try:
            out.append(Message(role=message["role"], content=_content_text(content, index)))
        except ValidationError as exc:
            problem = "; ".join(e["msg"] for e in exc.errors())
            raise bad_request(
                f"messages[{index}] is invalid: {problem}", param=f"messages[{index}]"
            ) from None
    return out


def parse_chat_request(body: Any) -> ChatRequest:
    """Validate an OpenAI chat-completions request body.

    Raises:
        ApiError: a 400 naming the field at fault.
    """
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    model = _check_model(body)
    _integral_counts(body)
    _check_n(body)
    stream = _check_stream(body)
    options = _check_stream_options(body)
    _check_known_fields(body)
    params = _params(body)
    row = _row(_messages(body.get("messages")), params)
    extras = _extras(body)
    return ChatRequest(
        row=row,
        model=model,
        stream=stream,
        include_usage=bool((options or {}).get("include_usage")),
        extras=extras,
        forward=_forward_body(body, params) if extras else None,
    )


def _check_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("'model' is required: the served model URI or name", param="model")
    return model


def _integral_counts(body: dict[str, Any]) -> None:
    """Read ``n`` and ``top_logprobs`` given as ``3.0`` as integers (JSON Schema's are)."""
    for name in ("n", "top_logprobs"):
        value = body.get(name)
        if isinstance(value, float) and value.is_integer():
            body[name] = int(value)


def _check_n(body: dict[str, Any]) -> None:
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 128):
        raise bad_request(
            f"'n' must be 1 (one choice per request), or a number of choices up to 128 for a "
            f"provider that passes n through; not {json.dumps(n)[:40]}",
            param="n",
        )


def _check_stream(body: dict[str, Any]) -> bool:
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request(
            f"'stream' must be true or false, not {json.dumps(stream)[:40]}", param="stream"
        )
    return bool(stream)


def _check_stream_options(body: dict[str, Any]) -> dict[str, Any] | None:
    options = body.get("stream_options")
    if options is not None and not (
        isinstance(options, dict) and isinstance(options.get("include_usage", False), bool)
    ):
        raise bad_request(
            "'stream_options' must be an object whose include_usage is true or false",
            param="stream_options",
        )
    return options


_KNOWN_FIELDS = frozenset(
    {"model", "messages", "stream", *PARAM_FIELDS, *IGNORED_FIELDS, *PASSTHROUGH_FIELDS}
)


def _check_known_fields(body: dict[str, Any]) -> None:
    unknown = sorted(set(body) - _KNOWN_FIELDS)
    if unknown:
        raise bad_request(f"unsupported field(s): {', '.join(unknown)}", param=unknown[0])


def _params(body: dict[str, Any]) -> Params | None:
    """The row's generation settings (``stop`` as a list, ``max_completion_tokens`` too)."""
    stop = body.get("stop")
    values = {k: body[k] for k in PARAM_FIELDS if body.get(k) is not None}
    if isinstance(stop, str):
        values["stop"] = [stop]
    if body.get("max_completion_tokens") is not None and "max_tokens" not in values:
        values["max_tokens"] = body["max_completion_tokens"]
    try:
        return Params(**values) if values else None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise bad_request(f"'{field}' is invalid: {first['msg']}", param=field) from None


def _row(messages: list[Message], params: Params | None) -> Request:
    try:
        return Request(messages=messages, params=params)
    except ValidationError as exc:
        problem = "; ".join(e["msg"] for e in exc.errors()[:3])
        raise bad_request(f"'messages' are invalid: {problem}", param="messages") from None


def _forward_body(body: dict[str, Any], params: Params | None) -> dict[str, Any]:
    """The body a pass-through request sends on: messages as sent, extras, settings."""
    forward = {k: v for k, v in body.items() if k in PASSTHROUGH_FIELDS and v is not None}
    forward["messages"] = body["messages"]
    forward.update(params.model_dump(exclude_none=True) if params else {})
    return forward


def _extras(body: dict[str, Any]) -> tuple[str, ...]:
    """The pass-through fields ``body`` uses; fields at their text-chat value do not count.

    Raises:
        ApiError: 400 for a pass-through field of the wrong type.
    """
    used = [*_tool_extras(body), *_format_extras(body), *_logprob_extras(body)]
    if body.get("n") not in (None, 1):
        used.append("n")
    if any(isinstance(m, dict) and _has_tool_parts(m) for m in body.get("messages") or ()):
        used.append(TOOL_MESSAGES)
    return tuple(used)


def _tool_extras(body: dict[str, Any]) -> list[str]:
    used = []
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not tools or not all(isinstance(t, dict) for t in tools):
            raise bad_request("'tools' must be a non-empty list of tool objects", param="tools")
        used.append("tools")
        if body.get("parallel_tool_calls") is not None:
            used.append("parallel_tool_calls")
    if body.get("tool_choice") is not None:
        if not isinstance(body["tool_choice"], str | dict):
            raise bad_request("'tool_choice' must be a string or an object", param="tool_choice")
        used.append("tool_choice")
    return used


def _format_extras(body: dict[str, Any]) -> list[str]:
    fmt = body.get("response_format")
    if fmt is None:
        return []
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if not isinstance(kind, str) or kind not in {"text", "json_object", "json_schema"}:
        raise bad_request(
            "'response_format' must be an object whose type is text, json_object or json_schema",
            param="response_format",
        )
    return [] if kind == "text" else ["response_format"]


def _logprob_extras(body: dict[str, Any]) -> list[str]:
    used = []
    logprobs = body.get("logprobs")
    if logprobs is not None and not isinstance(logprobs, bool):
        raise bad_request("'logprobs' must be true or false", param="logprobs")
    if logprobs:
        used.append("logprobs")
    top = body.get("top_logprobs")
    if top is not None:
        if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= 20:
            raise bad_request(
                "'top_logprobs' must be an integer from 0 to 20", param="top_logprobs"
            )
        used.append("top_logprobs")
    return used


def passthrough_client(adapter: Adapter, chat: ChatRequest) -> Client:
    """The client that passes ``chat``'s extra fields through to the model's endpoint.

    Raises:
        ApiError: 400 naming the first field the model's provider does not pass
            through (``Client.CHAT_FIELDS``), or the first field when the model is
            not served through a :class:`~llmreg.adapter.ClientAdapter`.
    """
    from llmreg.adapter import ClientAdapter, LazyClient

    client = adapter.client if isinstance(adapter, ClientAdapter) else None
    if isinstance(client, LazyClient):  # a deferred client is built when first needed: now
        client = client.real()
    supported = client.CHAT_FIELDS if client is not None else frozenset()
    missing = [f for f in chat.extras if f not in supported]
    if client is None or missing:
        field = missing[0] if missing else chat.extras[0]
        provider = adapter.definition.provider if adapter.definition else "?"
        what = "'n' must be 1:" if field == "n" else f"'{field}' is not supported:"
        shown = "messages with tool calls" if field == TOOL_MESSAGES else field
        raise bad_request(
            f"{what} the provider of this model ({provider}) does not pass {shown} "
            "through; send text chat only",
            param="messages" if field == TOOL_MESSAGES else field,
        )
    return client


__all__ = [
    "PASSTHROUGH_FIELDS",
    "TOOL_MESSAGES",
    "ChatRequest",
    "chunk_event",
    "completion",
    "model_entry",
    "models_list",
    "new_completion_id",
    "parse_chat_request",
    "passthrough_client",
    "stream_chunks",
    "usage_event",
]
