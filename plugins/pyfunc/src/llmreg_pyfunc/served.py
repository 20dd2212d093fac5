"""What the pyfunc model speaks inside MLflow: its inputs, chat answers, errors and origin.

MLflow hands a loaded model (``mlflow.pyfunc.load_model``, ``mlflow models serve``,
``mlflow.models.predict``) the data as sent, since the saved signature declares no
input schema (:mod:`llmreg_pyfunc.chat_schema`):

- a DataFrame, a list of strings or row dicts, or the columnar ``{"input": [...]}``
  are answered as a DataFrame with the columns ``prediction`` and ``metadata``;
- a chat request, ``{"messages": [{role, content}, ...]}`` with optional params
  beside them (``temperature``, ``max_tokens``...), as MLflow's chat format sends it
  at the top level of a serving request or under ``inputs``, is answered as a chat
  completion in the shape of MLflow's ``ChatCompletionResponse``
  (``choices[0].message.content``, ``usage``, llmreg's row metadata under
  ``custom_outputs.metadata``).

A llmreg error becomes an ``MlflowException`` whose message is llmreg's own one-line
message, so that ``mlflow models serve`` answers it as a JSON error (400 for bad
input), not as an "unexpected error" with a stack trace.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llmreg.errors import LlmregError, PredictionError, SchemaError
from llmreg.schemas import Outputs
from llmreg_pyfunc.chat_schema import PARAM_TYPES

#: The file MLflow writes beside a registered model it downloads (name and version).
REGISTERED_META_FILE = "registered_model_meta"


def _plain(value: Any) -> Any:
    """Turn the numpy arrays MLflow's serving parser makes into plain Python values."""
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return _plain(value.tolist())
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def plain_input(model_input: Any) -> Any:
    """Return ``model_input`` with numpy values made plain; a DataFrame unchanged."""
    from llmreg_pyfunc.frames import is_dataframe

    return model_input if is_dataframe(model_input) else _plain(model_input)


def is_chat_request(model_input: Any) -> bool:
    """Whether ``model_input`` is one chat request: a dict whose ``messages`` is a list of
    message dicts (a columnar ``{"messages": [[...], [...]]}`` is not)."""
    if not isinstance(model_input, Mapping):
        return False
    messages = model_input.get("messages")
    return (
        isinstance(messages, list)
        and bool(messages)
        and all(isinstance(m, Mapping) for m in messages)
    )


def split_chat_request(
    request: Mapping[str, Any], params: Mapping[str, Any] | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Return the rows (one conversation) and params of a chat request.

    Params written beside ``messages`` override those passed separately (MLflow fills
    every declared param with its default when the request leaves it out).

    Raises:
        SchemaError: the request has a key the model does not read.
    """
    unknown = sorted(str(key) for key in request if key != "messages" and key not in PARAM_TYPES)
    if unknown:
        raise SchemaError(
            f"the chat request has keys the model does not read: {unknown}; send 'messages' "
            f"and any of the params {sorted(PARAM_TYPES)}"
        )
    merged = dict(params or {})
    merged.update({key: value for key, value in request.items() if key != "messages"})
    return [{"messages": request["messages"]}], merged


def chat_response(outputs: Outputs) -> dict[str, Any]:
    """Return the one row of ``outputs`` as MLflow's ``ChatCompletionResponse`` dict.

    Raises:
        PredictionError: the row failed (a chat answer has no error rows).
    """
    (row,) = outputs.rows
    metadata = dict(row.metadata)
    if row.prediction is None or metadata.get("status") == "error":
        raise PredictionError(
            f"the chat request failed: {metadata.get('error_type') or 'error'}: "
            f"{metadata.get('error') or 'no answer'}"
        )
    found = metadata.get("usage")
    usage: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    counts = {
        key: int(usage[key])
        for key in ("prompt_tokens", "completion_tokens", "total_tokens")
        if isinstance(usage.get(key), int)
    }
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(metadata.get("model") or ""),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": row.prediction},
                "finish_reason": str(metadata.get("finish_reason") or "stop"),
            }
        ],
        "usage": counts,
        "custom_outputs": {"metadata": metadata},
    }


def mlflow_error(exc: LlmregError) -> Exception:
    """Return ``exc`` as an error that is both its llmreg type and an ``MlflowException``.

    ``except SchemaError`` (or any llmreg class) still catches it, with the same
    ``str()`` and attributes; ``mlflow models serve``, which answers an
    ``MlflowException`` as JSON and anything else as an "unexpected error" with a
    stack trace, answers ``{"error_code": ..., "message": "SchemaError: <llmreg's
    one-line message>"}``: 400 for a :class:`~llmreg.errors.SchemaError`, else 500.
    MLflow's serving prefixes a failed prediction's message with the whole request
    (``Failed to predict data '...'``); the error keeps llmreg's line first and that
    prefix out of the answer.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE

    code = INVALID_PARAMETER_VALUE if isinstance(exc, SchemaError) else INTERNAL_ERROR
    line = " ".join(f"{type(exc).__name__}: {exc}".split())
    for cls in (type(exc), LlmregError):
        try:
            # built without the llmreg class's own __init__ (its arguments vary)
            error = _served_class(cls).__new__(_served_class(cls), str(exc))
        except TypeError:  # a class whose C layout refuses it (an OSError subclass)
            continue
        break
    error._line = line
    error.__dict__.update(vars(exc))
    MlflowException.__init__(error, line, error_code=code)
    error.args = exc.args or (str(exc),)
    return error  # type: ignore[no-any-return]


_SERVED_CLASSES: dict[type, type] = {}


def _served_class(cls: type[LlmregError]) -> Any:
    """The subclass of ``cls`` and ``MlflowException`` that :func:`mlflow_error` returns."""
    if cls not in _SERVED_CLASSES:
        from mlflow.exceptions import MlflowException

        def _message(self: Any) -> str:
            return str(self._line)

        def _ignore(self: Any, value: str) -> None:
            """MLflow's serving assigns ``Failed to predict data '<request>'...``: not sent."""

        _SERVED_CLASSES[cls] = type(
            cls.__name__,
            (cls, MlflowException),
            {
                "__module__": cls.__module__,
                "__qualname__": cls.__qualname__,
                "__doc__": f"{cls.__doc__}\n\nRaised inside MLflow, as an MlflowException too.",
                "message": property(_message, _ignore, doc="llmreg's one-line message."),
            },
        )
    return _SERVED_CLASSES[cls]


def loaded_through(config_file: Path) -> dict[str, Any]:
    """Return ``name``, ``version`` (an int) and ``alias`` of the registered model the pyfunc
    model was loaded through, and the ``model_uri`` it was loaded by, where known.

    The name and version come from the ``registered_model_meta`` file MLflow writes
    beside a model it downloads from the registry (``models:/name/N`` or
    ``models:/name@alias``, also under ``mlflow models serve``); the alias and the URI
    from the ``model_uri`` argument of the ``mlflow.pyfunc.load_model`` call that is
    loading the model, when there is one (``mlflow models serve`` loads a local copy,
    so it knows the version but not the alias).
    """
    found: dict[str, Any] = {}
    meta = config_file.parent.parent / REGISTERED_META_FILE
    if meta.is_file():
        import yaml

        try:
            data = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
            found = {"name": str(data["model_name"]), "version": int(data["model_version"])}
        except (OSError, ValueError, TypeError, KeyError, yaml.YAMLError):
            found = {}
    uri = _load_model_uri()
    if uri is None:
        return found
    from llmreg.errors import InvalidModelURIError
    from llmreg.uris import parse_model_uri

    try:
        parsed = parse_model_uri(uri)
    except InvalidModelURIError:
        return found
    if parsed.kind in ("alias", "version") and found.get("name") in (None, parsed.name):
        found["model_uri"] = uri
        found["name"] = parsed.name
        if parsed.kind == "alias" and parsed.alias != "latest":
            found["alias"] = parsed.alias
        elif parsed.version is not None:
            found.setdefault("version", int(parsed.version))
    return found


def _load_model_uri() -> str | None:
    """The ``model_uri`` of the ``mlflow.pyfunc.load_model`` call on this thread's stack."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "load_model" and frame.f_globals.get("__name__") == (
            "mlflow.pyfunc"
        ):
            uri = frame.f_locals.get("model_uri")
            return str(uri) if uri is not None else None
        frame = frame.f_back  # type: ignore[assignment]
    return None


__all__ = [
    "REGISTERED_META_FILE",
    "chat_response",
    "is_chat_request",
    "loaded_through",
    "mlflow_error",
    "plain_input",
    "split_chat_request",
]
