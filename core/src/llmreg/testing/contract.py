"""The contract kit: pytest checks a plugin runs against its own classes.

Subclass the contract that fits, name your class ``Test...`` so pytest
collects it, and set the class attributes::

    from llmreg.testing.contract import SaverContract

    class TestMySaver(SaverContract):
        component_class = MySaver
        config = {"KIND": "MySaver", "path": "model"}

    class TestMyProvider(ProviderContract):
        provider = "mine"
        plugin = my_plugin_module
        definition = {"provider": "mine", "model": "m", "base_url": "http://127.0.0.1:9/v1"}

Every check asserts behaviour that a broken plugin fails. They need pytest, and
nothing else than the plugin under test.
"""

from __future__ import annotations

import abc
import inspect
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from llmreg.bases import Component, Loader, Register, Role, Saver
from llmreg.client import Client, Completion
from llmreg.definition import ModelDefinition
from llmreg.errors import ConfigError, ProviderError, UnknownKindError
from llmreg.hookspecs import hookimpl
from llmreg.schemas import Request
from llmreg.testing import isolated_manager


class ComponentContract:
    """Checks every Saver, Loader and Register must pass."""

    role: ClassVar[Role]
    base: ClassVar[type[Component]]
    #: The class under test.
    component_class: ClassVar[type[Component]]
    #: A valid config for it, with its ``KIND``.
    config: ClassVar[dict[str, Any]]

    def _manager(self) -> Any:
        cls = self.component_class
        hook = {"saver": "savers", "loader": "loaders", "register": "registers"}[self.role]

        class _Plugin:
            pass

        def impl(register: Any) -> None:
            register(cls)

        impl.__name__ = f"llmreg_register_{hook}"
        setattr(_Plugin, impl.__name__, staticmethod(hookimpl(impl)))
        return isolated_manager(_Plugin())

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
        """The plugin manager validates the config into this very class."""
        built = self._manager().build(self.role, self.config)
        assert type(built) is self.component_class

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
            built.KIND = "changed"


class SaverContract(ComponentContract):
    """Checks for a :class:`~llmreg.bases.Saver`."""

    role = "saver"
    base = Saver
    component_class: ClassVar[type[Saver]]

    def test_save_signature(self) -> None:
        """``save(model, signature, input_example)`` keeps the base's parameters."""
        params = inspect.signature(self.component_class.save).parameters
        assert list(params)[:4] == ["self", "model", "signature", "input_example"]


class LoaderContract(ComponentContract):
    """Checks for a :class:`~llmreg.bases.Loader`."""

    role = "loader"
    base = Loader
    component_class: ClassVar[type[Loader]]

    def test_load_signature(self) -> None:
        """``load(uri)`` keeps the base's parameter."""
        params = list(inspect.signature(self.component_class.load).parameters)
        assert params[:2] == ["self", "uri"]


class RegisterContract(ComponentContract):
    """Checks for a :class:`~llmreg.bases.Register`."""

    role = "register"
    base = Register

    def test_tags_default_to_empty(self) -> None:
        """``tags`` defaults to an empty dict."""
        built = self._manager().build(self.role, self.config)
        assert isinstance(getattr(built, "tags", None), dict)

    def test_register_signature(self) -> None:
        """``register(name, model_uri)`` keeps the base's parameters."""
        params = list(inspect.signature(self.component_class.register).parameters)
        assert params[:3] == ["self", "name", "model_uri"]


class ProviderContract(abc.ABC):
    """Checks for an LLM client provider.

    Set ``provider`` (the registered name), ``plugin`` (the object or module
    with the hook implementation) and ``definition`` (a dict for a reachable
    endpoint). The checks call the endpoint.
    """

    provider: ClassVar[str]
    plugin: ClassVar[object]
    definition: ClassVar[dict[str, Any]]

    def _client(self) -> Client:
        manager = isolated_manager(self.plugin)
        assert self.provider in manager.providers()
        client = manager.client(ModelDefinition.model_validate(self.definition))
        assert isinstance(client, Client)
        return client

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
        """A batch answers every row, in order, against a reachable endpoint."""
        client = self._client()
        # Prompts of clearly different lengths: where the provider reports usage, the
        # prompt token counts must rise with the rows, which shows the order was kept.
        rows = [Request(input="Say yes. " * (1 + 6 * i)) for i in range(4)]
        try:
            results = client.batch(rows, concurrency=3)
        finally:
            client.close()
        assert len(results) == len(rows)
        failed = [r for r in results if isinstance(r, ProviderError)]
        assert not failed, f"rows failed against a reachable endpoint: {failed}"
        counts = [r.prompt_tokens for r in results if isinstance(r, Completion)]
        known = [c for c in counts if c is not None]
        if len(known) == len(counts):
            assert known == sorted(known) and len(set(known)) == len(known)

    def test_close_is_idempotent(self) -> None:
        """``close()`` can be called twice."""
        client = self._client()
        client.close()
        client.close()
