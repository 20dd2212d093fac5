"""The contract kit: pytest checks of what a plugin *does*, run against its own classes.

Subclass the contract that fits, name your class ``Test...`` so pytest collects
it, and set its class attributes. For a plugin with a Saver and a Loader, the
round trip is the one to run::

    from llmreg.testing.contract import ProviderContract, RoundTripContract

    class TestMyPlugin(RoundTripContract):
        plugin = my_package.plugin              # the module with the hook implementations
        saver = {"KIND": "MySaver"}
        loader = {"KIND": "MyLoader"}

    class TestMyProvider(ProviderContract):
        plugin = my_package.plugin
        definition = {"provider": "mine", "model": "m", "base_url": "http://127.0.0.1:9/v1"}

What they check:

- :class:`RoundTripContract`: ``save`` returns a :class:`~llmreg.results.SavedModel`;
  loading its URI returns an :class:`~llmreg.bases.Adapter` whose ``predict``
  answers every row, in order, as :class:`~llmreg.schemas.Outputs`; no resolved
  secret is written anywhere in any form, and a definition that carries one is
  refused; a malformed URI and a missing model are typed errors; the methods
  keep the bases' full signatures.
- :class:`SaverContract`, :class:`LoaderContract`, :class:`RegisterContract`: the
  component's shape (KIND, config validation, frozen, signatures).
- :class:`ProviderContract`: ``complete`` returns a
  :class:`~llmreg.client.Completion`; ``batch`` answers every row in order,
  checked by reported token counts or, for a deterministic provider, by
  permuting the rows; ``close`` twice.

The round trip answers through the core's echo client, registered under a name
only the kit's own manager knows (so a loader that asks the process's default
manager instead of its own fails), saves in a temporary working folder, and
scans that folder afterwards, file names and contents. A saver that writes
to a store elsewhere overrides :meth:`RoundTripContract.store_env` to point its
store into that folder (for an MLflow store: a sqlite file there).
"""

from __future__ import annotations

import abc
import inspect
import json
import urllib.parse
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from llmreg.bases import Adapter, Component, Loader, Register, Role, Saver
from llmreg.client import Client, Completion
from llmreg.definition import ModelDefinition
from llmreg.echo_client import EchoClient
from llmreg.errors import (
    ConfigError,
    LlmregError,
    ModelNotFoundError,
    ProviderError,
    SecretPersistError,
    UnknownKindError,
)
from llmreg.hookspecs import hookimpl
from llmreg.manager import PluginManager
from llmreg.results import SavedModel
from llmreg.schemas import Outputs, Request
from llmreg.testing import isolated_manager

#: The environment variable the round trip's definition references as its key.
CANARY_ENV = "LLMREG_CONTRACT_KEY"
#: The canary value it holds: it must never be written.
CANARY = "sk-contract-canary-7f3a9c1e5b"
#: The provider the round trip answers through: the echo client, under a name that
#: only the kit's isolated manager registers. A loader that asks another manager
#: than the one that built it (the process's default) cannot find it.
ROUND_TRIP_PROVIDER = "llmreg-contract-echo"


class _RoundTripProvider:
    """Registers the echo client as :data:`ROUND_TRIP_PROVIDER`."""

    @hookimpl
    def llmreg_register_providers(self, register: Any) -> None:
        register(ROUND_TRIP_PROVIDER, EchoClient)


def secret_forms(value: str) -> set[str]:
    """The forms a secret can take in a file: raw, ``repr``, JSON-escaped, URL-encoded."""
    return {
        value,
        repr(value)[1:-1],
        json.dumps(value)[1:-1],
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
    }


def files_holding(root: Path, value: str) -> list[str]:
    """Return the files under ``root`` whose name or bytes hold any form of ``value``."""
    forms = secret_forms(value)
    encoded = [f.encode() for f in forms]
    found = []
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if any(form in relative for form in forms):
            found.append(relative)
        elif path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(form in data for form in encoded):
                found.append(relative)
    return found


def check_signature(method: Any, base_method: Any, what: str) -> None:
    """Assert ``method`` accepts every call ``base_method`` accepts.

    Same parameters in the same order and of the same kind; any extra parameter
    has a default.
    """
    mine = list(inspect.signature(method).parameters.values())
    base = list(inspect.signature(base_method).parameters.values())
    names = [p.name for p in mine[: len(base)]]
    assert names == [p.name for p in base], (
        f"{what} takes {[p.name for p in mine]}; the base takes {[p.name for p in base]}"
    )
    for got, want in zip(mine, base, strict=False):
        assert got.kind == want.kind, f"{what}: parameter {got.name} is {got.kind}, not {want.kind}"
        if want.default is not inspect.Parameter.empty:
            assert got.default is not inspect.Parameter.empty, (
                f"{what}: parameter {got.name} must keep a default"
            )
    extra = [
        p.name
        for p in mine[len(base) :]
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    assert not extra, f"{what} adds required parameters {extra}: give them defaults"


def _class_plugin(role: Role, cls: type[Component]) -> object:
    hook = {"saver": "savers", "loader": "loaders", "register": "registers"}[role]

    class _Plugin:
        pass

    def impl(register: Any) -> None:
        register(cls)

    impl.__name__ = f"llmreg_register_{hook}"
    setattr(_Plugin, impl.__name__, staticmethod(hookimpl(impl)))
    return _Plugin()


class ComponentContract:
    """Checks every Saver, Loader and Register must pass: its shape."""

    role: ClassVar[Role]
    base: ClassVar[type[Component]]
    #: The class under test.
    component_class: ClassVar[type[Component]]
    #: A valid config for it, with its ``KIND``.
    config: ClassVar[dict[str, Any]]

    def _manager(self) -> PluginManager:
        return isolated_manager(_class_plugin(self.role, self.component_class))

    def test_is_a_concrete_subclass_of_the_base(self) -> None:
        """The class subclasses its role's base and implements every abstract method."""
        assert issubclass(self.component_class, self.base)
        assert not inspect.isabstract(self.component_class)

    def test_kind_is_pinned(self) -> None:
        """``KIND`` is a non-empty literal that the config names; another value is refused."""
        kind = self.component_class.model_fields["KIND"].default
        assert isinstance(kind, str) and kind
        assert self.config["KIND"] == kind
        with pytest.raises(ValidationError):
            self.component_class.model_validate({**self.config, "KIND": kind + "Other"})

    def test_builds_from_config_through_the_manager(self) -> None:
        """The plugin manager validates the config into this very class, bound to itself."""
        manager = self._manager()
        built = manager.build(self.role, self.config)
        assert type(built) is self.component_class
        assert built.manager is manager

    def test_unknown_kind_is_a_typed_error(self) -> None:
        """A config naming an unknown KIND raises ``UnknownKindError`` naming it."""
        with pytest.raises(UnknownKindError, match="NoSuchKind"):
            self._manager().build(self.role, {**self.config, "KIND": "NoSuchKind"})

    def test_forbids_unknown_fields(self) -> None:
        """An unknown field is a ``ConfigError`` naming the field."""
        with pytest.raises(ConfigError, match="not_a_field"):
            self._manager().build(self.role, {**self.config, "not_a_field": 1})

    def test_is_frozen(self) -> None:
        """A built component cannot be changed after validation."""
        built = self._manager().build(self.role, self.config)
        with pytest.raises(ValidationError):
            built.KIND = "changed"  # type: ignore[misc]

    def test_methods_keep_the_base_signatures(self) -> None:
        """Every abstract method of the base is overridden with a compatible signature."""
        for name in sorted(getattr(self.base, "__abstractmethods__", ())):
            check_signature(
                getattr(self.component_class, name),
                getattr(self.base, name),
                f"{self.component_class.__name__}.{name}",
            )


class SaverContract(ComponentContract):
    """Shape checks for a :class:`~llmreg.bases.Saver`."""

    role = "saver"
    base = Saver


class LoaderContract(ComponentContract):
    """Shape checks for a :class:`~llmreg.bases.Loader`."""

    role = "loader"
    base = Loader


class RegisterContract(ComponentContract):
    """Shape checks for a :class:`~llmreg.bases.Register`."""

    role = "register"
    base = Register

    def test_tags_default_to_empty(self) -> None:
        """``tags`` defaults to an empty dict."""
        built = self._manager().build(self.role, self.config)
        assert isinstance(getattr(built, "tags", None), dict)


class RoundTripContract:
    """Behaviour checks for a plugin's Saver and Loader together.

    Set ``plugin`` (the object or module with the hook implementations), and the
    ``saver`` and ``loader`` configs. Override :meth:`missing_uri` if appending
    ``-missing`` to a saved URI does not name a missing model in your scheme.
    """

    #: The plugin registering the Saver and Loader under test.
    plugin: ClassVar[object]
    #: The saver config, with its KIND.
    saver: ClassVar[dict[str, Any]]
    #: The loader config, with its KIND.
    loader: ClassVar[dict[str, Any]]
    #: Extra fields of the definition that the round trip saves.
    definition: ClassVar[dict[str, Any]] = {}

    @pytest.fixture
    def manager(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PluginManager:
        """An isolated manager with the plugin and ``echo``, in a temporary working folder."""
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv(CANARY_ENV, CANARY)
        for name, value in self.store_env(tmp_path).items():
            monkeypatch.setenv(name, value)
        return isolated_manager(self.plugin, _RoundTripProvider())

    def store_env(self, folder: Path) -> dict[str, str]:
        """Environment variables that put the saver's store inside ``folder`` (default none).

        The secret scan reads ``folder`` only: a saver writing elsewhere must be
        pointed here (llmreg-pyfunc points its tracking URI at a sqlite file in it).
        """
        return {}

    def model(self, **extra: Any) -> ModelDefinition:
        """The definition the round trip saves: an echo provider, a key by reference."""
        data = {
            "provider": ROUND_TRIP_PROVIDER,
            "model": "echo-1",
            "api_key": f"env:{CANARY_ENV}",
            **self.definition,
            **extra,
        }
        return ModelDefinition.from_dict(data)

    def missing_uri(self, saved: SavedModel) -> str:
        """A URI in the loader's scheme that names no model.

        An MLflow logged model (``models:/m-<hex>``) gets another id of the same
        form; any other URI gets ``-missing`` appended.
        """
        if saved.model_id and saved.uri == f"models:/{saved.model_id}":
            return saved.uri.replace(saved.model_id, "m-" + "0" * 32)
        return saved.uri + "-missing"

    def _save(self, manager: PluginManager, **extra: Any) -> SavedModel:
        saved = manager.saver(self.saver).save(self.model(**extra))
        assert isinstance(saved, SavedModel), (
            f"save() returned {type(saved).__name__}, not llmreg.SavedModel"
        )
        assert isinstance(saved.uri, str) and saved.uri
        return saved

    def test_save_returns_a_saved_model(self, manager: PluginManager) -> None:
        """``save`` returns a :class:`SavedModel` with a URI."""
        self._save(manager)

    def test_round_trip_answers_every_row_in_order(self, manager: PluginManager) -> None:
        """The saved model loads by its URI, and predicts every row, in order."""
        saved = self._save(manager)
        adapter = manager.loader(self.loader).load(saved.uri)
        assert isinstance(adapter, Adapter), (
            f"load() returned {type(adapter).__name__}, not a llmreg.Adapter"
        )
        try:
            rows = ["first row", "second row", "third row"]
            outputs = adapter.predict(rows)
            assert isinstance(outputs, Outputs)
            assert outputs.predictions == [f"echo: {r}" for r in rows]
            assert all(r.ok for r in outputs.rows)
            if adapter.definition is not None:
                assert adapter.definition.model == "echo-1"
                assert adapter.definition.api_key == f"env:{CANARY_ENV}"
        finally:
            adapter.close()

    def test_no_resolved_secret_is_written(self, manager: PluginManager, tmp_path: Path) -> None:
        """The resolved key is written nowhere, in no form (raw, repr, escaped, URL-encoded),
        neither in a file nor in a file's name."""
        self._save(manager)
        assert files_holding(tmp_path, CANARY) == []

    def test_a_definition_carrying_a_secret_is_refused(
        self, manager: PluginManager, tmp_path: Path
    ) -> None:
        """A resolved key inside a free-text field is refused, and nothing holds it."""
        with pytest.raises(SecretPersistError):
            manager.saver(self.saver).save(self.model(system_prompt=f"the key is {CANARY}"))
        assert files_holding(tmp_path, CANARY) == []

    def test_a_malformed_uri_is_a_typed_error(self, manager: PluginManager) -> None:
        """An empty or malformed URI raises a :class:`LlmregError`, not a bare exception."""
        loader = manager.loader(self.loader)
        for uri in ("", "\x00not a uri", "::::"):
            with pytest.raises(LlmregError):
                loader.load(uri)

    def test_a_missing_model_is_model_not_found(self, manager: PluginManager) -> None:
        """A well-formed URI naming no model raises :class:`ModelNotFoundError`."""
        saved = self._save(manager)
        with pytest.raises(ModelNotFoundError):
            manager.loader(self.loader).load(self.missing_uri(saved))

    def test_methods_keep_the_base_signatures(self, manager: PluginManager) -> None:
        """``save`` and ``load`` accept every call the bases accept."""
        saver = manager.saver(self.saver)
        loader = manager.loader(self.loader)
        check_signature(type(saver).save, Saver.save, f"{type(saver).__name__}.save")
        check_signature(type(loader).load, Loader.load, f"{type(loader).__name__}.load")


class ProviderContract(abc.ABC):
    """Behaviour checks for an LLM client provider.

    Set ``plugin`` (the object or module with the hook implementation) and
    ``definition`` (a dict for a reachable endpoint, naming the provider). The
    checks call the endpoint. A provider that answers the same prompt the same
    way (temperature 0 against a deterministic endpoint) keeps ``deterministic``;
    others set it to ``False``, and the order check then relies on token counts.
    """

    plugin: ClassVar[object]
    definition: ClassVar[dict[str, Any]]
    deterministic: ClassVar[bool] = True

    def _client(self) -> Client:
        manager = isolated_manager(self.plugin)
        definition = ModelDefinition.from_dict(self.definition)
        assert definition.provider in manager.providers()
        client = manager.client(definition)
        assert isinstance(client, Client)
        return client

    def test_methods_keep_the_base_signatures(self) -> None:
        """``complete`` and ``batch`` accept every call the base accepts."""
        client = self._client()
        client.close()
        for name in ("complete", "batch", "abatch"):
            check_signature(getattr(type(client), name), getattr(Client, name), name)

    def test_complete_returns_text_and_metadata(self) -> None:
        """One request returns a ``Completion`` with text, model, latency and attempts."""
        client = self._client()
        try:
            done = client.complete(Request(input="Say hello."))
        finally:
            client.close()
        assert isinstance(done, Completion)
        assert isinstance(done.text, str)
        assert done.model
        assert done.latency_ms >= 0
        assert done.attempts >= 1

    def test_batch_keeps_order_and_length(self) -> None:
        """A batch answers every row, in order.

        Rows have prompts of clearly different lengths. Where the provider reports
        prompt tokens, they must rise with the rows. A deterministic provider must
        also give each prompt the same answer when the rows are rotated and when
        two are swapped (together these catch any reordering).
        """
        client = self._client()
        rows = [Request(input=f"Repeat: {'yes ' * (1 + 6 * i)}") for i in range(4)]
        rotated = rows[1:] + rows[:1]
        swapped = [rows[1], rows[0], *rows[2:]]
        try:
            runs = [client.batch(order, concurrency=3) for order in (rows, rotated, swapped)]
        finally:
            client.close()
        for order, results in zip((rows, rotated, swapped), runs, strict=True):
            assert isinstance(results, list) and len(results) == len(order)
            failed = [r for r in results if isinstance(r, ProviderError)]
            assert not failed, f"rows failed against a reachable endpoint: {failed}"
            assert all(isinstance(r, Completion) for r in results)
        counts = [r.prompt_tokens for r in runs[0] if isinstance(r, Completion)]
        if all(c is not None for c in counts):
            known = [c for c in counts if c is not None]
            assert known == sorted(known) and len(set(known)) == len(known), (
                f"prompt tokens {known} do not rise with the rows: the batch reordered them"
            )
        if self.deterministic:
            answers: dict[str, str] = {}
            for order, results in zip((rows, rotated, swapped), runs, strict=True):
                for request, result in zip(order, results, strict=True):
                    assert isinstance(result, Completion)
                    key = request.input or ""
                    assert answers.setdefault(key, result.text) == result.text, (
                        "the same prompt got another answer when the rows moved: the batch "
                        "does not keep the rows' order (or the provider is not deterministic: "
                        "set deterministic = False)"
                    )

    def test_close_is_idempotent(self) -> None:
        """``close()`` can be called twice."""
        client = self._client()
        client.close()
        client.close()


__all__ = [
    "CANARY",
    "CANARY_ENV",
    "ROUND_TRIP_PROVIDER",
    "ComponentContract",
    "LoaderContract",
    "ProviderContract",
    "RegisterContract",
    "RoundTripContract",
    "SaverContract",
    "check_signature",
    "files_holding",
    "secret_forms",
]
