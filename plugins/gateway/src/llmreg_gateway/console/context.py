"""What every console view gets: the collaborators, and the request's own context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request

from llmreg_gateway.console.session import Session, Sessions

if TYPE_CHECKING:
    from llmreg.bases import AliasRegister, Loader
    from llmreg_gateway.controls import Controls
    from llmreg_gateway.rollout.stats import StatsSink


@dataclass
class Console:
    """The console's collaborators, given to :func:`~llmreg_gateway.console.create_console`.

    Attributes:
        sessions: the admin key check and session table.
        register: the registry (models, versions, aliases, history, rollouts' tags).
        loader: loads versions for the playground and the definition diff, or ``None``.
        controls: the shared gateway's keys and spend, or ``None`` (no keys page data).
        stats: the rollouts' per-arm numbers, or ``None``.
        tracking_uri: the MLflow tracking URI; an ``http(s)`` one gets links to its UI.
    """

    sessions: Sessions
    register: AliasRegister
    loader: Loader | None = None
    controls: Controls | None = None
    stats: StatsSink | None = None
    tracking_uri: str | None = None

    @property
    def ui(self) -> str | None:
        """The MLflow UI's base URL, when the store is an http(s) server."""
        uri = self.tracking_uri or ""
        return uri.rstrip("/") if uri.startswith(("http://", "https://")) else None


@dataclass
class Ctx:
    """One request to a logged-in view: the mount path, session, form and query."""

    request: Request
    root: str
    session: Session
    form: dict[str, list[str]] = field(default_factory=dict)

    def field(self, name: str, default: str = "") -> str:
        """The first value of form field ``name`` (stripped), else ``default``."""
        values = self.form.get(name)
        return values[0].strip() if values else default

    def query(self, name: str, default: str = "") -> str:
        """The first value of query parameter ``name`` (stripped), else ``default``."""
        return self.request.query_params.get(name, default).strip()


__all__ = ["Console", "Ctx"]
