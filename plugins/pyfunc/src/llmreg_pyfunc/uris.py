"""Parse and validate the model URIs the loader accepts, before MLflow sees them.

Accepted forms:

- ``runs:/<run_id>/<path>``
- ``models:/<name>/<version>`` (version a positive integer)
- ``models:/<name>@<alias>``
- ``models:/m-<model_id>`` (an MLflow 3 logged model)
- a local directory path (absolute, relative, or ``file://``)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from llmreg.errors import InvalidModelURIError

UriKind = Literal["run", "version", "alias", "logged_model", "local"]

_RUN = re.compile(r"^runs:/(?P<run_id>[A-Za-z0-9]+)/(?P<path>[^\s]+?)/?$")
_ALIAS = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[A-Za-z0-9_\-]+)$")
_VERSION = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>[^/]+)$")
_LOGGED = re.compile(r"^models:/(?P<model_id>m-[0-9a-f]+)$")
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):")

FORMS = (
    "runs:/<run_id>/<path>, models:/<name>/<version>, models:/<name>@<alias>, "
    "models:/m-<model_id> or a local path"
)


@dataclass(frozen=True)
class ModelURI:
    """A validated model URI, split into its parts."""

    uri: str
    kind: UriKind
    name: str | None = None
    version: int | None = None
    alias: str | None = None
    run_id: str | None = None
    path: str | None = None
    model_id: str | None = None


def _invalid(uri: str, why: str) -> InvalidModelURIError:
    return InvalidModelURIError(f"model URI {uri!r} is invalid: {why}. Use one of: {FORMS}")


def parse_model_uri(uri: object) -> ModelURI:
    """Validate ``uri`` and return its parts.

    Raises:
        InvalidModelURIError: the URI is empty, malformed, or uses another scheme.
    """
    if not isinstance(uri, str) or not uri.strip():
        raise _invalid(str(uri), "it is empty or not a string")
    if uri.startswith("runs:"):
        return _parse_run(uri)
    if uri.startswith("models:"):
        return _parse_models(uri)
    if uri.startswith("file://"):
        return ModelURI(uri=uri, kind="local", path=uri[len("file://") :])
    scheme = _SCHEME.match(uri)
    if scheme and len(scheme.group("scheme")) > 1:  # "C:" is a Windows drive, not a scheme
        raise _invalid(uri, f"the scheme {scheme.group('scheme')!r} is not supported")
    return ModelURI(uri=uri, kind="local", path=uri)


def _parse_run(uri: str) -> ModelURI:
    match = _RUN.match(uri)
    if match is None:
        raise _invalid(uri, "a run URI needs a run id and an artifact path")
    return ModelURI(uri=uri, kind="run", run_id=match["run_id"], path=match["path"])


def _parse_models(uri: str) -> ModelURI:
    if match := _LOGGED.match(uri):
        return ModelURI(uri=uri, kind="logged_model", model_id=match["model_id"])
    if match := _ALIAS.match(uri):
        return ModelURI(uri=uri, kind="alias", name=match["name"], alias=match["alias"])
    if match := _VERSION.match(uri):
        return ModelURI(
            uri=uri, kind="version", name=match["name"], version=_version(uri, match["version"])
        )
    if uri.rstrip("/") in ("models:", "models:/") or uri.startswith(("models:/@", "models://")):
        raise _invalid(uri, "the model name is empty")
    raise _invalid(uri, "a registry URI needs a name and a version or an @alias")


def _version(uri: str, text: str) -> int:
    if not text.isdigit():
        raise _invalid(uri, f"the version {text!r} is not a positive integer")
    version = int(text)
    if version < 1:
        raise _invalid(uri, "versions start at 1")
    return version
