"""The data that goes into and comes out of a llmreg model: :class:`Inputs`, rows of a
text ``input`` or chat ``messages`` with optional ``params`` and ``vars``, and
:class:`Outputs`, a ``prediction`` and ``metadata`` per row, in input order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from llmreg.errors import SchemaError

#: The largest text a single row may carry, in characters: its ``input`` or all its
#: messages' contents together, plus the model's system prompt when it is sent. Larger
#: rows are refused before any endpoint is called.
MAX_ROW_CHARS = 1_000_000
#: At most this many problems are listed in one error message; the rest are counted.
MAX_PROBLEMS = 10


def strict_number(value: Any) -> Any:
    """Refuse booleans and strings where a number is expected (``true`` is not ``1``)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    if isinstance(value, str | bytes):
        raise ValueError("must be a number, not a string")
    return value


#: A finite number (``Infinity`` and ``NaN`` are refused; so are booleans and strings).
Number = Annotated[float, BeforeValidator(strict_number), AllowInfNan(False)]
#: An integer (booleans and strings are refused).
Integer = Annotated[int, BeforeValidator(strict_number)]


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str = Field(max_length=MAX_ROW_CHARS)


class Params(BaseModel):
    """Per-row generation overrides. Unset fields keep the model definition's value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: Number | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: Integer | None = Field(default=None, gt=0)
    top_p: Number | None = Field(default=None, gt=0.0, le=1.0)
    stop: list[Annotated[str, Field(max_length=1_000)]] | None = Field(default=None, max_length=16)
    seed: Integer | None = None


class Request(BaseModel):
    """One row of :class:`Inputs`: exactly one of ``input`` and ``messages``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: str | None = Field(default=None, max_length=MAX_ROW_CHARS)
    messages: list[Message] | None = Field(default=None, min_length=1)
    params: Params | None = None
    vars: dict[str, str] | None = Field(
        default=None, max_length=64, description="Values of the model's prompt template variables."
    )

    @model_validator(mode="after")
    def _one_of(self) -> Request:
        if (self.input is None) == (self.messages is None):
            raise ValueError("a row needs exactly one of 'input' (text) or 'messages' (chat)")
        size = self.text_chars()
        if size > MAX_ROW_CHARS:
            raise ValueError(
                f"the row holds {size:,} characters of text (all its messages together); "
                f"at most {MAX_ROW_CHARS:,} are allowed"
            )
        return self

    def text_chars(self) -> int:
        """The characters of text this row sends: its ``input``, or all message contents,
        and its template ``vars``."""
        extra = sum(len(v) for v in self.vars.values()) if self.vars else 0
        if self.messages is not None:
            return extra + sum(len(m.content) for m in self.messages)
        return extra + len(self.input or "")

    def chat_messages(self, system_prompt: str | None = None) -> list[dict[str, str]]:
        """Return this row as chat messages, with ``system_prompt`` first when given."""
        head = [{"role": "system", "content": system_prompt}] if system_prompt else []
        if self.messages is not None:
            return head + [m.model_dump() for m in self.messages]
        return [*head, {"role": "user", "content": self.input or ""}]


class Inputs(BaseModel):
    """A batch of requests.

    Besides ``{"rows": [...]}``, it validates from the shorter forms that
    callers naturally have: a string, a list of strings, one row as a dict, a
    list of row dicts, or MLflow's columnar ``{"input": ["a", "b"]}`` (whose
    optional ``params`` apply to every row).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    rows: list[Request] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _coerce(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"rows": [{"input": data}]}
        if isinstance(data, dict) and _is_columnar(data):
            return {"rows": _columns_to_rows(data)}
        if isinstance(data, list):
            return {"rows": [{"input": r} if isinstance(r, str) else r for r in data]}
        if (
            isinstance(data, dict)
            and "rows" not in data
            and ("input" in data or "messages" in data)
        ):
            return {"rows": [data]}
        return data

    @classmethod
    def parse(cls, data: Any) -> Inputs:
        """Validate ``data`` into :class:`Inputs`, raising :class:`SchemaError` on bad input."""
        if isinstance(data, Inputs):
            return data
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SchemaError(
                f"prediction input is invalid: {describe_problems(exc)}. Send rows with a text "
                "'input' or chat 'messages' (each with a 'role' and 'content')."
            ) from None
        except RecursionError:
            raise SchemaError("prediction input is nested too deeply") from None


def describe_problems(exc: ValidationError, prefix: str = "") -> str:
    """The problems of a validation error as ``where: what``, at most :data:`MAX_PROBLEMS`.

    ``prefix`` is put before each location (``"line 3: "``...).
    """
    errors = exc.errors()
    shown = [
        f"{prefix}{'.'.join(str(p) for p in e['loc'])[:200] or '(root)'}: {str(e['msg'])[:300]}"
        for e in errors[:MAX_PROBLEMS]
    ]
    more = len(errors) - MAX_PROBLEMS
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def check_row_sizes(rows: Sequence[Request], system_prompt: str | None) -> None:
    """Refuse a row whose text, with the system prompt sent before it, is too large.

    Raises:
        SchemaError: naming the first such row (0-based) and its size.
    """
    extra = len(system_prompt or "")
    for index, row in enumerate(rows):
        size = row.text_chars() + extra
        if size > MAX_ROW_CHARS:
            raise SchemaError(
                f"row {index} holds {size:,} characters of text with the model's system prompt "
                f"({extra:,}); at most {MAX_ROW_CHARS:,} are sent in one request"
            )


#: The keys a columnar dict ``{"input": [...]}`` may have.
COLUMNAR_KEYS = ("input", "params")


def _is_columnar(data: dict[str, Any]) -> bool:
    text = data.get("input")
    return "rows" not in data and isinstance(text, list) and all(isinstance(t, str) for t in text)


def _columns_to_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Read MLflow's columnar ``{"input": ["a", "b"], "params": {...}}`` as one row per text."""
    unknown = sorted(str(key) for key in data if key not in COLUMNAR_KEYS)
    if unknown:
        raise ValueError(
            f"a columnar input {{'input': [...]}} may carry only 'params' besides 'input', "
            f"not {unknown}; send chat rows as a list of {{'messages': [...]}} dicts"
        )
    params = data.get("params")
    extra = {} if params is None else {"params": params}
    return [{"input": text, **extra} for text in data["input"]]


class Result(BaseModel):
    """One row of :class:`Outputs`.

    ``prediction`` is ``None`` exactly when ``metadata["status"] == "error"``;
    a failed row never carries text that looks like an answer.
    """

    model_config = ConfigDict(extra="forbid")

    prediction: str | None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the row was answered."""
        return bool(self.metadata.get("status", "ok") == "ok")


class Outputs(BaseModel):
    """A batch of results, in the order of the :class:`Inputs` rows."""

    model_config = ConfigDict(extra="forbid")

    rows: list[Result]

    @property
    def predictions(self) -> list[str | None]:
        """The ``prediction`` of each row, in order."""
        return [r.prediction for r in self.rows]


__all__ = [
    "COLUMNAR_KEYS",
    "MAX_PROBLEMS",
    "MAX_ROW_CHARS",
    "Inputs",
    "Message",
    "Outputs",
    "Params",
    "Request",
    "Result",
    "check_row_sizes",
    "describe_problems",
]
