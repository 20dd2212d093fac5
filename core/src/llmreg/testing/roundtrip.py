"""RoundTripContract: a plugin's Saver and Loader (and Register) together, by behaviour.

The saved definition names the kit's provider (:mod:`llmreg.testing.kit_client`),
which answers through the kit's local server (:mod:`llmreg.testing.server`): so the
checks see the very request each row sent, and count the connections left open.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from llmreg.bases import Adapter, Loader, Saver
from llmreg.definition import ModelDefinition
from llmreg.errors import LlmregError, ModelNotFoundError, SecretPersistError
from llmreg.manager import PluginManager
from llmreg.results import SavedModel
from llmreg.schemas import Outputs
from llmreg.testing import isolated_manager
from llmreg.testing.failures import (
    check_signature,
    contract_failure,
    expect,
    expect_raises,
    files_holding,
)
from llmreg.testing.kit_client import ROUND_TRIP_PROVIDER, RoundTripProvider
from llmreg.testing.registry_uris import RegistryURIChecks
from llmreg.testing.server import FAIL_ROW, KitServer

#: The environment variable the round trip's definition references as its key.
CANARY_ENV = "LLMREG_CONTRACT_KEY"
#: The canary value it holds: it must never be written.
CANARY = "sk-contract-canary-7f3a9c1e5b"
#: The settings the settings check saves, and what the endpoint must receive.
SETTINGS = {"temperature": 0.3, "max_tokens": 21, "stop": ["\nEND"], "system_prompt": "Be brief."}


class RoundTripContract(RegistryURIChecks):
    """Behaviour checks for a plugin's Saver and Loader together.

    Set ``plugin`` (the object or module with the hook implementations), and the
    ``saver`` and ``loader`` configs; ``register`` (a config) to check loading by
    ``models:/NAME/VERSION`` and ``models:/NAME@ALIAS`` too, with
    ``extra_plugins`` if another plugin provides it. Override :meth:`missing_uri`
    if appending ``-missing`` to a saved URI does not name a missing model, and
    :meth:`drop_caches` if the loader keeps clients beyond an adapter's life.
    """

    plugin: ClassVar[object]
    saver: ClassVar[dict[str, Any]]
    loader: ClassVar[dict[str, Any]]
    #: Other plugins the manager needs (one that provides the register).
    extra_plugins: ClassVar[tuple[object, ...]] = ()
    #: Extra fields of the definition that the round trip saves.
    definition: ClassVar[dict[str, Any]] = {}

    @pytest.fixture
    def kit_server(self) -> Iterator[KitServer]:
        """The kit's endpoint, started for one check."""
        with KitServer() as server:
            yield server

    @pytest.fixture
    def manager(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kit_server: KitServer
    ) -> PluginManager:
        """An isolated manager with the plugin and the kit's provider, in a temporary folder."""
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv(CANARY_ENV, CANARY)
        for name, value in self.store_env(tmp_path).items():
            monkeypatch.setenv(name, value)
        self._base_url = kit_server.base_url
        return isolated_manager(self.plugin, *self.extra_plugins, RoundTripProvider())

    def store_env(self, folder: Path) -> dict[str, str]:
        """Environment variables that put the saver's store inside ``folder`` (default none)."""
        return {}

    def drop_caches(self) -> None:
        """Drop what the loader keeps after every adapter is closed (default nothing)."""

    def model(self, **extra: Any) -> ModelDefinition:
        """The definition the round trip saves: the kit's provider, a key by reference."""
        data = {
            "provider": ROUND_TRIP_PROVIDER,
            "model": "echo-1",
            "api_key": f"env:{CANARY_ENV}",
            "base_url": self._base_url,
            "max_retries": 0,
            **self.definition,
            **extra,
        }
        return ModelDefinition.from_dict(data)

    def missing_uri(self, saved: SavedModel) -> str:
        """A URI in the loader's scheme that names no model."""
        if saved.model_id and saved.uri == f"models:/{saved.model_id}":
            return saved.uri.replace(saved.model_id, "m-" + "0" * 32)
        return saved.uri + "-missing"

    def _save(self, manager: PluginManager, **extra: Any) -> SavedModel:
        saved = manager.saver(self.saver).save(self.model(**extra))
        if not isinstance(saved, SavedModel) or not saved.uri:
            contract_failure(
                expected="save() to return llmreg.SavedModel with a uri",
                got=f"returned {type(saved).__name__}: {saved!r}",
            )
        return saved

    def _load(self, manager: PluginManager, uri: str) -> Adapter:
        adapter = manager.loader(self.loader).load(uri)
        if not isinstance(adapter, Adapter):
            contract_failure(
                expected=f"load({uri!r}) to return a llmreg.Adapter",
                got=f"returned {type(adapter).__name__}: {adapter!r}",
            )
        return adapter

    def _predict(self, adapter: Adapter, rows: list[Any], **params: Any) -> Outputs:
        outputs = adapter.predict(rows, params or None)
        expect(
            isinstance(outputs, Outputs) and len(outputs.rows) == len(rows),
            expected=f"predict() to return llmreg.Outputs with {len(rows)} rows",
            got=f"returned {outputs!r}",
        )
        return outputs

    def test_save_returns_a_saved_model(self, manager: PluginManager) -> None:
        """``save`` returns a :class:`SavedModel` with a URI."""
        self._save(manager)

    def test_round_trip_answers_every_row_in_order(self, manager: PluginManager) -> None:
        """The saved model loads by its URI, and predicts every row, in order."""
        adapter = self._load(manager, self._save(manager).uri)
        try:
            rows = ["first row", "second row", "third row"]
            got = self._predict(adapter, rows).predictions
            expect(
                got == [f"echo: {r}" for r in rows],
                expected=f"the answers of {rows} in order",
                got=f"answered {got}",
            )
            if adapter.definition is not None:
                d = adapter.definition
                expect(
                    (d.model, d.api_key) == ("echo-1", f"env:{CANARY_ENV}"),
                    expected="the loaded definition to be the saved one",
                    got=f"loaded model {d.model!r}, api_key {d.api_key!r}",
                )
        finally:
            adapter.close()

    def test_a_failing_row_stays_in_its_place(self, manager: PluginManager) -> None:
        """A row the endpoint refuses is an error row in its place; the others are answered."""
        adapter = self._load(manager, self._save(manager).uri)
        try:
            rows = self._predict(adapter, ["one", FAIL_ROW, "three"]).rows
        finally:
            adapter.close()
        shape = [(r.ok, r.prediction) for r in rows]
        expect(
            [r.ok for r in rows] == [True, False, True]
            and [rows[0].prediction, rows[2].prediction] == ["echo: one", "echo: three"],
            expected="rows [answered 'echo: one', error, answered 'echo: three']",
            got=f"gave (ok, prediction) {shape}",
        )

    def test_settings_reach_the_provider(
        self, manager: PluginManager, kit_server: KitServer
    ) -> None:
        """temperature, max_tokens, stop and the system prompt survive save and load and reach
        the endpoint; a batch param (temperature) overrides the definition's."""
        adapter = self._load(manager, self._save(manager, **SETTINGS).uri)
        try:
            self._predict(adapter, ["hello"])
            self._predict(adapter, ["again"], temperature=0.9)
        finally:
            adapter.close()
        sent = [kit_server.endpoint.settings(r["body"]) for r in kit_server.requests]
        want = {"temperature": 0.3, "max_tokens": 21, "stop": ["\nEND"], "system": "Be brief."}
        got = [{k: s.get(k) for k in want} for s in sent]
        expect(
            got == [want, {**want, "temperature": 0.9}],
            expected=f"the endpoint to receive {want}, then temperature 0.9 (a batch param)",
            got=f"sent {got}",
        )

    def test_templates_and_row_variables_reach_the_provider(
        self, manager: PluginManager, kit_server: KitServer
    ) -> None:
        """``prompt`` and ``user_template`` are filled from each row's vars before sending."""
        templates = {"prompt": "Answer about {city}.", "user_template": "Q ({city}): {input}"}
        adapter = self._load(manager, self._save(manager, **templates).uri)
        try:
            self._predict(adapter, [{"input": "hi", "vars": {"city": "Paris"}}])
        finally:
            adapter.close()
        sent = [kit_server.endpoint.settings(r["body"]) for r in kit_server.requests]
        got = [(s["system"], s["user"]) for s in sent]
        expect(
            got == [("Answer about Paris.", "Q (Paris): hi")],
            expected="system 'Answer about Paris.' and user 'Q (Paris): hi'",
            got=f"sent (system, user) {got}",
        )

    def test_close_releases_every_connection(
        self, manager: PluginManager, kit_server: KitServer
    ) -> None:
        """After ``adapter.close()`` no connection the adapter opened is left open."""
        adapter = self._load(manager, self._save(manager).uri)
        self._predict(adapter, [f"row {i}" for i in range(6)], concurrency=3)
        adapter.close()
        self.drop_caches()
        left = kit_server.wait_closed(timeout=5.0)
        expect(
            left == 0,
            expected="close() to close every HTTP connection the adapter opened",
            got=f"left {left} of {kit_server.connections} open",
        )

    def test_no_resolved_secret_is_written(self, manager: PluginManager, tmp_path: Path) -> None:
        """The resolved key is written nowhere, in no form, neither in a file nor a file name."""
        self._save(manager)
        found = files_holding(tmp_path, CANARY)
        expect(not found, expected="the resolved key written nowhere", got=f"wrote it in {found}")

    def test_a_definition_carrying_a_secret_is_refused(
        self, manager: PluginManager, tmp_path: Path
    ) -> None:
        """A resolved key inside a free-text field is refused, and nothing holds it."""
        expect_raises(
            SecretPersistError,
            lambda: manager.saver(self.saver).save(self.model(system_prompt=CANARY)),
            expected="SecretPersistError for a key in system_prompt",
            what="save()",
        )
        found = files_holding(tmp_path, CANARY)
        expect(not found, expected="nothing written", got=f"wrote the key in {found}")

    def test_a_malformed_uri_is_a_typed_error(self, manager: PluginManager) -> None:
        """An empty or malformed URI raises a :class:`LlmregError`, not a bare exception."""
        loader = manager.loader(self.loader)
        for uri in ("", "\x00not a uri", "::::"):
            expect_raises(
                LlmregError,
                lambda u=uri: loader.load(u),
                expected="a LlmregError for a malformed URI",
                what=f"load({uri!r})",
            )

    def test_a_missing_model_is_model_not_found(self, manager: PluginManager) -> None:
        """A well-formed URI naming no model raises :class:`ModelNotFoundError`."""
        uri = self.missing_uri(self._save(manager))
        expect_raises(
            ModelNotFoundError,
            lambda: manager.loader(self.loader).load(uri),
            expected="ModelNotFoundError for a missing model",
            what=f"load({uri!r})",
        )

    def test_methods_keep_the_base_signatures(self, manager: PluginManager) -> None:
        """``save`` and ``load`` accept every call the bases accept."""
        saver, loader = manager.saver(self.saver), manager.loader(self.loader)
        check_signature(type(saver).save, Saver.save, f"{type(saver).__name__}.save")
        check_signature(type(loader).load, Loader.load, f"{type(loader).__name__}.load")


__all__ = ["CANARY", "CANARY_ENV", "SETTINGS", "RoundTripContract"]
