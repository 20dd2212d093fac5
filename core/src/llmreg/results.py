"""What savers and registers return: :class:`SavedModel` (``save``),
:class:`ModelVersionRef` (``register``, listed by ``versions``) and :class:`AliasMove`
(``promote``, ``rollback``, listed by ``history``). URIs come from :mod:`llmreg.uris`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from llmreg.uris import uri_for_model_alias, uri_for_model_version


@dataclass(frozen=True)
class SavedModel:
    """A model a saver wrote.

    Attributes:
        uri: the URI a loader (and a register) takes, e.g. ``models:/m-<id>``.
        content_hash: the hash of what was saved, where the saver computes one
            (registers use it to reuse a version of identical content).
        run_id: the MLflow run it was logged in, where there is one.
        model_id: the MLflow logged-model id, where there is one.
        info: anything else the saver wants to report (JSON-ready values).
    """

    uri: str
    content_hash: str | None = None
    run_id: str | None = None
    model_id: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {**asdict(self), "info": dict(self.info)}


@dataclass(frozen=True)
class ModelVersionRef:
    """One version of a registered model.

    Attributes:
        name: the registered model name.
        version: the version number (an ``int``, always).
        created: ``True`` when this call created the version, ``False`` when a version
            of the same content already existed and was reused.
        tags: the version's tags.
        aliases: the aliases that point at it.
        source: where its files are, as the registry records it.
        run_id: the run it came from, where known.
        content_hash: the content hash it was registered with, where known.
        status: the registry's status (``READY``...), where known.
        description: the version's description, where set.
        created_at: creation time in milliseconds since the epoch, where known.
    """

    name: str
    version: int
    created: bool = True
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    source: str | None = None
    run_id: str | None = None
    content_hash: str | None = None
    status: str | None = None
    description: str | None = None
    created_at: int | None = None

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``."""
        return uri_for_model_version(self.name, self.version)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict, with ``uri``."""
        data = asdict(self)
        data["tags"] = dict(self.tags)
        data["aliases"] = list(self.aliases)
        return {**data, "uri": self.uri}


@dataclass(frozen=True)
class AliasMove:
    """One move of an alias.

    Attributes:
        name: the registered model name.
        alias: the alias that moved.
        version: the version it points at after the move.
        previous: the version it pointed at before, or ``None``.
        action: what moved it; ``"note"`` records a decision that left the alias where
            it was (``version == previous``), such as a rollout's step or rollback.
        at: when, in UTC ISO 8601, where recorded.
        by: who (the user name of the process), where recorded.
        note: a free-text reason, where given.
    """

    name: str
    alias: str
    version: int
    previous: int | None = None
    action: Literal["promote", "rollback", "note"] = "promote"
    at: str | None = None
    by: str | None = None
    note: str | None = None

    @property
    def uri(self) -> str:
        """``models:/<name>@<alias>``."""
        return uri_for_model_alias(self.name, self.alias)

    @property
    def moved(self) -> bool:
        """Whether the alias now points somewhere else than before."""
        return self.previous != self.version

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict, with ``uri``."""
        return {**asdict(self), "uri": self.uri}


def check_result(value: Any, expected: type[Any], who: str) -> Any:
    """Return ``value`` if it is an ``expected``; else raise a :class:`PluginContractError`.

    The core calls this on what a plugin returns, so that a plugin bug is named
    where it happens instead of surfacing as an ``AttributeError`` later.
    """
    if not isinstance(value, expected):
        from llmreg.errors import PluginContractError

        raise PluginContractError(
            f"{who} returned {type(value).__name__}, not llmreg.{expected.__name__}: "
            "fix the plugin (see docs/writing-a-plugin.md)"
        )
    return value


__all__ = ["AliasMove", "ModelVersionRef", "SavedModel", "check_result"]
