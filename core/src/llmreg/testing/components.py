"""Shape checks every Saver, Loader and Register must pass (KIND, config, frozen, signatures)."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from llmreg.bases import Component, Loader, Role, Saver
from llmreg.errors import ConfigError, UnknownKindError
from llmreg.hookspecs import hookimpl
from llmreg.manager import PluginManager
from llmreg.testing import isolated_manager
from llmreg.testing.failures import check_signature, expect


def class_plugin(role: Role, cls: type[Component]) -> object:
    """A plugin object that registers ``cls`` for ``role``."""
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
        return isolated_manager(class_plugin(self.role, self.component_class))

    def test_is_a_concrete_subclass_of_the_base(self) -> None:
        """The class subclasses its role's base and implements every abstract method."""
        name = self.component_class.__name__
        expect(
            issubclass(self.component_class, self.base),
            expected=f"{name} to subclass llmreg.{self.base.__name__}",
            got="does not",
        )
        expect(
            not inspect.isabstract(self.component_class),
            expected=f"{name} to implement every abstract method",
            got=f"leaves {sorted(getattr(self.component_class, '__abstractmethods__', ()))}",
        )

    def test_kind_is_pinned(self) -> None:
        """``KIND`` is a non-empty literal that the config names; another value is refused."""
        kind = self.component_class.model_fields["KIND"].default
        expect(
            isinstance(kind, str) and kind and self.config["KIND"] == kind,
            expected=f"KIND pinned to the config's {self.config['KIND']!r}",
            got=f"has KIND default {kind!r}",
        )
        with pytest.raises(ValidationError):
            self.component_class.model_validate({**self.config, "KIND": kind + "Other"})

    def test_builds_from_config_through_the_manager(self) -> None:
        """The plugin manager validates the config into this very class, bound to itself."""
        manager = self._manager()
        built = manager.build(self.role, self.config)
        expect(
            type(built) is self.component_class and built.manager is manager,
            expected=f"the manager to build a {self.component_class.__name__} bound to itself",
            got=f"built {type(built).__name__}",
        )

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


__all__ = ["ComponentContract", "LoaderContract", "SaverContract", "class_plugin"]
