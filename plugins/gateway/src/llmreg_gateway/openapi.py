"""The serving app's OpenAPI document: request and response models for every route.

The routes read their bodies themselves (size and time limits, then the checks of
:mod:`llmreg_gateway.openai_compat` and :class:`llmreg.Inputs`); these pydantic models
say the same in the OpenAPI document, so that client generators and schema-driven
fuzzers (schemathesis) know what each route takes and answers. Fields the app accepts
and ignores are declared with any value.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmreg.schemas import Params


class TextPart(BaseModel):
    """A text part of a message's content list."""

    model_config = ConfigDict(extra="allow")
    type: Literal["text"]
    text: str = ""


#: The document's summary: what the server is, never which models it serves (their
#: names are for the keys that may call them: ``GET /v1/models``).
SUMMARY = "An OpenAI-compatible gateway for models versioned with llmreg and MLflow"
_ROLES = Literal["system", "user", "assistant", "developer", "tool"]


class ChatMessage(BaseModel):
    """A chat message with content (``tool_calls`` go to providers that take tools)."""

    model_config = ConfigDict(extra="allow")
    role: _ROLES
    content: str | list[TextPart]
    tool_calls: list[dict[str, Any]] | None = None


class ToolCallsMessage(BaseModel):
    """A message that calls tools; its content may be ``null``."""

    model_config = ConfigDict(extra="allow")
    role: _ROLES
    content: str | list[TextPart] | None = None
    tool_calls: list[dict[str, Any]]


class ToolMessage(BaseModel):
    """A tool's result (role ``tool``); its content may be ``null``."""

    model_config = ConfigDict(extra="allow")
    role: Literal["tool"]
    content: str | list[TextPart] | None = None
    tool_calls: list[dict[str, Any]] | None = None


class TextChatMessage(BaseModel):
    """A text chat message (for a model whose provider takes text chat only)."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "developer"]
    content: str | list[TextPart]
    tool_calls: None = None


class StreamOptions(BaseModel):
    """``stream_options``."""

    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ResponseFormat(BaseModel):
    """``response_format``: text, JSON mode or a JSON schema."""

    model_config = ConfigDict(extra="allow")
    type: Literal["text", "json_object", "json_schema"]


class _ChatBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, description="a served URI, registered name or name@alias")
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = Field(default=None, max_length=16)
    seed: int | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    user: Any = None
    presence_penalty: Any = None
    frequency_penalty: Any = None
    logit_bias: Any = None
    metadata: Any = None
    store: Any = None
    service_tier: Any = None


class TextChatCompletionRequest(_ChatBase):
    """A text chat-completions request (the body a text-only provider takes)."""

    messages: list[TextChatMessage] = Field(min_length=1)
    n: Literal[1] | None = None
    response_format: ResponseFormat | None = None
    logprobs: Literal[False] | None = None
    parallel_tool_calls: Any = None


class ChatCompletionRequest(_ChatBase):
    """A chat-completions request; tools, JSON mode, logprobs and ``n`` pass through."""

    messages: list[ChatMessage | ToolCallsMessage | ToolMessage] = Field(min_length=1)
    n: int | None = Field(default=None, ge=1, le=128)
    tools: list[dict[str, Any]] | None = Field(default=None, min_length=1)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)


class ErrorDetail(BaseModel):
    """What went wrong."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    """Every error answer, as OpenAI's API sends it."""

    error: ErrorDetail


class Usage(BaseModel):
    """Token counts."""

    model_config = ConfigDict(extra="allow")
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Choice(BaseModel):
    """One choice of a completion."""

    model_config = ConfigDict(extra="allow")
    index: int
    message: dict[str, Any]
    finish_reason: str | None = None


class ChatCompletion(BaseModel):
    """A ``chat.completion`` (with ``stream: true``, server-sent ``chat.completion.chunk``s)."""

    model_config = ConfigDict(extra="allow")
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class ModelObject(BaseModel):
    """A served model; ``id`` is its URI."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(BaseModel):
    """The served models."""

    object: Literal["list"]
    data: list[ModelObject]


class Health(BaseModel):
    """The process answers."""

    status: Literal["ok"]
    llmreg: str
    pid: int = Field(description="the process that answered (one of the --workers)")


class ReadyBody(BaseModel):
    """Whether the model(s) are loaded."""

    model_config = ConfigDict(extra="allow")
    status: str


class ReloadBody(BaseModel):
    """A reload's outcome (``changed``, ``previous``, ``current``; ``models`` for several)."""

    model_config = ConfigDict(extra="allow")


class InputRow(BaseModel):
    """A text row."""

    model_config = ConfigDict(extra="forbid")
    input: str
    params: Params | None = None


class RowMessage(BaseModel):
    """A message of a ``/predict`` chat row."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str


class MessagesRow(BaseModel):
    """A chat row."""

    model_config = ConfigDict(extra="forbid")
    messages: list[RowMessage] = Field(min_length=1)
    params: Params | None = None


class Rows(BaseModel):
    """``{"rows": [...]}``."""

    model_config = ConfigDict(extra="forbid")
    rows: list[InputRow | MessagesRow] = Field(min_length=1)


class ResultRow(BaseModel):
    """One answered row: its prediction (``null`` when it failed) and metadata."""

    prediction: str | None
    metadata: dict[str, Any]


class PredictOutputs(BaseModel):
    """``/predict``'s answer."""

    rows: list[ResultRow]


#: The smallest positive float: ``minimum`` of a number that must be greater than 0.
_TINY = 5e-324


def positive_minimums(node: Any) -> Any:
    """Make number bounds standard JSON Schema, read alike by every tool; return ``node``
    (changed in place).

    pydantic writes the bounds of llmreg's strict number types as ``ge``/``gt``/``le``/
    ``lt``: they become ``minimum``/``maximum`` (``exclusive...`` for ``gt``/``lt``);
    and a number greater than 0 gets ``minimum: 5e-324``, the same set of floats.
    """
    if isinstance(node, dict):
        for key, standard in (("ge", "minimum"), ("le", "maximum"),
                              ("gt", "exclusiveMinimum"), ("lt", "exclusiveMaximum")):  # fmt: skip
            if key in node and node.get("type") in {"number", "integer"}:
                node[standard] = node.pop(key)
        if node.get("exclusiveMinimum") == 0 and node.get("type") in {"number", "integer"}:
            del node["exclusiveMinimum"]
            node["minimum"] = _TINY if node["type"] == "number" else 1
        for value in node.values():
            positive_minimums(value)
    elif isinstance(node, list):
        for value in node:
            positive_minimums(value)
    return node


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


#: The error statuses every model route can answer.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("the request is invalid (the message and param say what)"),
    401: _error("no API key, or an unknown one"),
    403: _error("the key may not call this model"),
    404: _error("the model is not served here"),
    408: _error("the body did not arrive in time"),
    413: _error("the body is too large"),
    500: _error("an unexpected error (logged with its traceback)"),
    502: _error("the upstream endpoint and every fallback failed"),
    503: _error("the model is not loaded, or the store cannot be reached"),
}


def chat_body(text_only: bool) -> type[BaseModel]:
    """The request model of ``/v1/chat/completions``: text chat only, or with pass-through."""
    return TextChatCompletionRequest if text_only else ChatCompletionRequest


def request_bodies(text_only: bool) -> dict[str, tuple[str, dict[str, Any]]]:
    """Per path, the request body's component name and JSON schema (refs to components)."""
    chat = chat_body(text_only)
    predict: dict[str, Any] = {
        "title": "PredictInputs",
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}, "minItems": 1},
            {"$ref": "#/components/schemas/Rows"},
            {"$ref": "#/components/schemas/InputRow"},
            {"$ref": "#/components/schemas/MessagesRow"},
        ],
    }
    return {
        "/v1/chat/completions": (
            chat.__name__,
            chat.model_json_schema(ref_template="#/components/schemas/{model}"),
        ),
        "/predict": ("PredictInputs", predict),
    }


def components(text_only: bool) -> dict[str, Any]:
    """Every schema the request bodies refer to, for ``components.schemas``."""
    out: dict[str, Any] = {}
    for model in (chat_body(text_only), Rows, InputRow, MessagesRow):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


__all__ = [
    "COMMON_ERRORS",
    "SUMMARY",
    "ChatCompletion",
    "ChatCompletionRequest",
    "ErrorBody",
    "Health",
    "ModelList",
    "ModelObject",
    "PredictOutputs",
    "ReadyBody",
    "ReloadBody",
    "TextChatCompletionRequest",
    "chat_body",
    "components",
    "positive_minimums",
    "request_bodies",
]
