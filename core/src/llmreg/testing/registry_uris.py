"""The round trip's checks by registry URIs: ``models:/NAME/VERSION`` and ``models:/NAME@ALIAS``.

They run when a :class:`~llmreg.testing.roundtrip.RoundTripContract` sets ``register``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from llmreg.bases import Adapter, AliasRegister, Register
from llmreg.errors import ModelNotFoundError
from llmreg.manager import PluginManager
from llmreg.results import ModelVersionRef, SavedModel
from llmreg.schemas import Outputs
from llmreg.testing.failures import expect, expect_raises


class RegistryURIChecks:
    """Mixed into the round trip: a registered model loads by version and by alias."""

    loader: ClassVar[dict[str, Any]]
    #: A register config: the round trip then loads by registry URIs too.
    register: ClassVar[dict[str, Any] | None] = None

    def _save(self, manager: PluginManager, **extra: Any) -> SavedModel:
        raise NotImplementedError  # the round trip's

    def _load(self, manager: PluginManager, uri: str) -> Adapter:
        raise NotImplementedError  # the round trip's

    def _predict(self, adapter: Adapter, rows: list[Any], **params: Any) -> Outputs:
        raise NotImplementedError  # the round trip's

    def _registered(self, manager: PluginManager) -> tuple[str, Register]:
        if self.register is None:
            pytest.skip("no register config: set register to check registry URIs")
        register = manager.register(self.register)
        name = f"kit-{Path.cwd().name[-12:].replace('_', '-')}"
        ref = register.register(name, self._save(manager).uri)
        expect(
            isinstance(ref, ModelVersionRef) and ref.version == 1,
            expected="register() to return llmreg.ModelVersionRef version 1 for a new name",
            got=f"returned {ref!r}",
        )
        if isinstance(register, AliasRegister):
            register.promote(name, 1, "champion")
        return name, register

    def test_loads_by_version_and_alias(self, manager: PluginManager) -> None:
        """A registered model loads by ``models:/NAME/1`` and by ``models:/NAME@champion``."""
        name, register = self._registered(manager)
        uris = [f"models:/{name}/1"]
        uris += [f"models:/{name}@champion"] if isinstance(register, AliasRegister) else []
        for uri in uris:
            adapter = self._load(manager, uri)
            try:
                got = self._predict(adapter, ["hi"]).predictions
            finally:
                adapter.close()
            expect(got == ["echo: hi"], expected=f"{uri} to answer 'echo: hi'", got=f"gave {got}")

    def test_a_missing_version_or_alias_is_model_not_found(self, manager: PluginManager) -> None:
        """``models:/NAME/99`` and ``models:/NAME@nosuch`` raise ModelNotFoundError, never None."""
        name, _ = self._registered(manager)
        for uri in (f"models:/{name}/99", f"models:/{name}@nosuch", "models:/kit-nosuch/1"):
            expect_raises(
                ModelNotFoundError,
                lambda u=uri: manager.loader(self.loader).load(u),
                expected=f"ModelNotFoundError for {uri}",
                what=f"load({uri!r})",
            )


__all__ = ["RegistryURIChecks"]
