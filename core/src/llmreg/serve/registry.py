"""Many models in one server: :class:`ServedModels` routes a request's ``model`` to one.

Each :class:`~llmreg.serve.model.ServedModel` loads and reloads on its own, so one
that fails to load answers 503 while the others serve.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from llmreg.errors import ConfigError
from llmreg.serve.model import ServedModel

if TYPE_CHECKING:
    from llmreg.bases import Loader
    from llmreg.manager import PluginManager


class ServedModels:
    """The models one app serves, in the order given (duplicates dropped).

    Args:
        model_uris: the URIs to serve (at least one).
        loader: the loader config or Loader every model loads through.
        manager: the plugin manager that builds the loader.

    Raises:
        ConfigError: no URI was given.
    """

    def __init__(
        self,
        model_uris: Sequence[str],
        *,
        loader: Mapping[str, Any] | Loader | None = None,
        manager: PluginManager | None = None,
    ) -> None:
        uris = list(dict.fromkeys(model_uris))
        if not uris:
            raise ConfigError("serve at least one model URI")
        self.models = [ServedModel(uri, loader=loader, manager=manager) for uri in uris]

    def __iter__(self) -> Iterator[ServedModel]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    @property
    def first(self) -> ServedModel:
        """The first model given (what a one-model app answers a request without ``model`` with)."""
        return self.models[0]

    def find(self, model: str | None) -> ServedModel | None:
        """Return the model a request's ``model`` names, or ``None``.

        ``model`` may be a served URI, a registered name or ``name@alias``; a full
        URI wins over a name, and a name served under two aliases goes to the first
        given. Without ``model``, the only served model, if just one is served.
        """
        if model is None:
            return self.first if len(self.models) == 1 else None
        for served in self.models:
            if served.model_uri == model:
                return served
        for served in self.models:
            if model in served.ids:
                return served
        return None

    def ids(self) -> list[str]:
        """Every model id a request can use, for error messages."""
        return [name for served in self.models for name in served.ids]

    def close(self) -> None:
        """Close every loaded model."""
        for served in self.models:
            served.close()


__all__ = ["ServedModels"]
