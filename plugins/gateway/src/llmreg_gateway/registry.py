"""Many models in one server: :class:`ServedModels` routes a request's ``model`` to one.

Each :class:`~llmreg_gateway.model.ServedModel` loads and reloads on its own, so one
that fails to load answers 503 while the others serve.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from llmreg.errors import ConfigError, LlmregError
from llmreg.uris import shorten, uri_for_model_alias
from llmreg_gateway.errors import ApiError
from llmreg_gateway.model import ServedModel

if TYPE_CHECKING:
    from llmreg.bases import AliasRegister, Loader
    from llmreg.manager import PluginManager
    from llmreg_gateway.auth import ApiKey
    from llmreg_gateway.rollout.routing import ArmChoice

logger = logging.getLogger(__name__)


def alias_finder(register: AliasRegister, alias: str) -> Callable[[], list[str]]:
    """Return a function listing ``models:/NAME@ALIAS`` for every registered model that
    has ``alias`` now (through the register's optional ``models()``).

    A registered model whose name llmreg's URI grammar refuses (``café-model``,
    registered by another MLflow client), or an entry of another shape, is skipped
    with one WARNING naming it (once per process), never failing the listing: the
    other models are served. A listing that fails as a whole raises, for the caller
    to retry.
    """
    warned: set[str] = set()

    def skip(entry: Any, why: str) -> None:
        shown = repr(entry.get("name")) if isinstance(entry, Mapping) else repr(entry)[:80]
        if shown in warned:
            return
        warned.add(shown)
        logger.warning("not serving registered model %s with alias %r: %s", shown, alias, why)

    def find() -> list[str]:
        uris = []
        for entry in register.models():
            aliases = entry.get("aliases") if isinstance(entry, Mapping) else None
            if not isinstance(aliases, Mapping) or alias not in aliases:
                continue
            name = entry.get("name")
            if not isinstance(name, str):
                skip(entry, "the register listed it without a name")
                continue
            try:
                uris.append(uri_for_model_alias(name, alias))
            except LlmregError as exc:
                skip(entry, f"{exc} (rename it, or serve it by a URI llmreg accepts)")
        return uris

    return find


class ServedModels:
    """The models one app serves, in the order given (duplicates dropped).

    Args:
        model_uris: the URIs to serve (at least one, unless ``discover`` is given).
        loader: the loader config or Loader every model loads through.
        manager: the plugin manager that builds the loader.
        discover: returns URIs to serve too, asked at start and then periodically
            (``llmreg serve --alias champion``); new ones are added as they appear.

    Raises:
        ConfigError: no URI was given and nothing discovers more.
    """

    def __init__(
        self,
        model_uris: Sequence[str],
        *,
        loader: Mapping[str, Any] | Loader | None = None,
        manager: PluginManager | None = None,
        discover: Callable[[], list[str]] | None = None,
    ) -> None:
        uris = list(dict.fromkeys(model_uris))
        if not uris and discover is None:
            raise ConfigError("serve at least one model URI")
        self._loader = loader
        self._manager = manager
        self._lock = threading.Lock()
        self.discover = discover
        self.models = [ServedModel(uri, loader=loader, manager=manager) for uri in uris]
        #: the rollouts' arms: one pinned ``models:/NAME/V`` each, loaded on first use
        self.arms: dict[str, ServedModel] = {}

    def add(self, uri: str) -> ServedModel | None:
        """Serve ``uri`` too; return its :class:`ServedModel`, or ``None`` if it is served."""
        with self._lock:
            if any(m.model_uri == uri for m in self.models):
                return None
            served = ServedModel(uri, loader=self._loader, manager=self._manager)
            self.models = [*self.models, served]  # readers iterate the old list undisturbed
        logger.info("serving %s too: its alias appeared in the registry", uri)
        return served

    def arm(self, choice: ArmChoice) -> ServedModel:
        """The served model of a rollout arm's pinned version (made on first use; it
        loads on its first request, through the same loader)."""
        served = self.arms.get(choice.model_uri)
        if served is None:
            with self._lock:
                served = self.arms.get(choice.model_uri)
                if served is None:
                    served = ServedModel(
                        choice.model_uri, loader=self._loader, manager=self._manager
                    )
                    self.arms = {**self.arms, choice.model_uri: served}
        if served.arm != choice:  # a new step or rollout: the latest choice names it
            served.arm = choice
        return served

    def discover_new(self) -> list[ServedModel]:
        """Ask :attr:`discover` for URIs and add the new ones; return those added.

        Raises:
            LlmregError: the registry could not be listed.
        """
        if self.discover is None:
            return []
        added = []
        for uri in self.discover():
            try:
                served = self.add(uri)
            except LlmregError as exc:  # one odd URI never keeps the others out
                logger.warning("not serving %s: %s", uri, exc)
                continue
            if served is not None:
                added.append(served)
        return added

    def __iter__(self) -> Iterator[ServedModel]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    @property
    def first(self) -> ServedModel | None:
        """The first model given (what a one-model app answers a request without ``model``
        with); ``None`` while a discovering app serves nothing yet."""
        return self.models[0] if self.models else None

    def find(self, model: str | None) -> ServedModel | None:
        """Return the model a request's ``model`` names, or ``None``.

        ``model`` may be a served URI, a registered name or ``name@alias``; a full
        URI wins over a name, and a name served under two aliases goes to the first
        given. Without ``model``, the only served model, if just one is served.
        """
        if model is None:
            return self.models[0] if len(self.models) == 1 else None
        for served in self.models:
            if served.model_uri == model:
                return served
        for served in self.models:
            if model in served.ids:
                return served
        return None

    def pick(self, model: str | None, key: ApiKey | None) -> ServedModel:
        """Return the model a request's ``model`` names, if ``key`` may call it.

        A model outside the key's scope is answered as one that does not exist (the
        same 404, the same words), and the ids an error lists are those the key may
        call: a key learns nothing of the models it may not call.

        Raises:
            ApiError: 404 for a model not served here or not to this key; 400 when no
                model is named and several are served.
        """
        served = self.find(model)
        if served is not None and (key is None or key.allows(served.ids)):
            return served
        ids = ", ".join(
            repr(i) for m in self.models if key is None or key.allows(m.ids) for i in m.ids
        )
        if not model:
            raise ApiError(400, f"name a model; use one of {ids or 'none'}",
                           param="model", code="model_required")  # fmt: skip
        raise ApiError(
            404,
            f"model {shorten(model)} is not served here; use one of {ids or 'none'}",
            param="model",
            code="model_not_found",
        )

    def ids(self) -> list[str]:
        """Every model id a request can use, for error messages."""
        return [name for served in self.models for name in served.ids]

    def close(self) -> None:
        """Close every loaded model."""
        for served in [*self.models, *self.arms.values()]:
            served.close()


__all__ = ["ServedModels", "alias_finder"]
