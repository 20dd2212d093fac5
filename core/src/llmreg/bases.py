"""The abstract bases that plugins implement: :class:`Saver`, :class:`Loader`, :class:`Register`.

Each is a frozen pydantic model (``extra="forbid"``) that a concrete class tags with
its ``KIND`` (``KIND: Literal["MySaver"] = "MySaver"``), so that a config such as
``{"KIND": "MySaver", "path": "model"}`` validates into it through the plugin manager.
Every component holds the manager that built it (:attr:`Component.manager`) and asks
it, never the process-wide one, for other plugins' work. Results are typed
(:mod:`llmreg.results`).
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from llmreg.adapter import Adapter, ClientAdapter
from llmreg.errors import ConfigError
from llmreg.names import ROLE_BASES, Role

if TYPE_CHECKING:
    from collections.abc import Mapping

    from llmreg.definition import ModelDefinition
    from llmreg.manager import PluginManager
    from llmreg.results import AliasMove, ModelVersionRef, SavedModel


class Component(BaseModel, abc.ABC):
    """Common ground of the three bases: frozen, strict about fields, tagged by KIND.

    Added in llmreg 0.1.0; :attr:`manager` and :meth:`bind` in 0.2.0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ROLE: ClassVar[Role]
    KIND: str

    _manager: PluginManager | None = PrivateAttr(default=None)

    @property
    def manager(self) -> PluginManager:
        """The plugin manager that built this component (the process's default manager
        for one made directly, ``MySaver()``)."""
        if self._manager is None:
            from llmreg.manager import get_plugin_manager

            return get_plugin_manager()
        return self._manager

    def bind(self, manager: PluginManager) -> None:
        """Make ``manager`` the one this component asks for other plugins' work."""
        self._manager = manager


class Saver(Component, abc.ABC):
    """Saves a model definition as a versionable model.

    Attributes:
        path: the artifact name the model is saved under (MLflow's ``name``).
        config_file: the name of the JSON artifact that holds the model definition.

    Added in llmreg 0.1.0; ``save`` returns a :class:`~llmreg.results.SavedModel` since 0.2.0.
    """

    ROLE: ClassVar[Role] = "saver"

    path: str = Field(default="model", min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    config_file: str = Field(default="model_definition.json", pattern=r"^[A-Za-z0-9_.\-]+\.json$")

    @abc.abstractmethod
    def save(
        self,
        model: ModelDefinition,
        signature: Any | None = None,
        input_example: Any | None = None,
    ) -> SavedModel:
        """Save ``model`` and return where it went, as a :class:`~llmreg.results.SavedModel`.

        ``path`` is the name the model is saved under (a folder name, MLflow's
        artifact ``name``); ``config_file`` is the file name of the definition JSON
        inside it. Write ``model.to_json()``: it holds key references only and
        refuses a literal key. It does not look inside free-text fields
        (``system_prompt``, ``options``): a saver that writes anything else must
        check it holds none of ``model.resolved_secrets()``.

        Raises:
            SecretPersistError: a secret value would be written.
            SchemaError: ``signature`` or ``input_example`` does not fit the chat schema.
            ConfigError: ``model`` is not a :class:`~llmreg.definition.ModelDefinition`.
        """


class Loader(Component, abc.ABC):
    """Loads a saved model by URI.

    Added in llmreg 0.1.0; ``load`` returns an :class:`Adapter` and :meth:`adapter`
    is new in 0.2.0. Optional capabilities (Spark, evaluation logging, scorers) are
    declared by subclassing them (:mod:`llmreg.capabilities`).
    """

    ROLE: ClassVar[Role] = "loader"

    @abc.abstractmethod
    def load(self, uri: str) -> Adapter:
        """Load the model at ``uri`` and return an :class:`Adapter`.

        Read the definition, then ``return self.adapter(definition, info)``.

        Raises:
            InvalidModelURIError: ``uri`` is malformed.
            ModelNotFoundError: the model, version, alias or run does not exist.
            UnsupportedModelFormatError: the model was not saved by a matching saver.
        """

    def adapter(
        self, definition: ModelDefinition, info: Mapping[str, Any] | None = None
    ) -> ClientAdapter:
        """Return a :class:`~llmreg.adapter.ClientAdapter` for ``definition``.

        Its client comes from :attr:`manager` (the manager that built this loader).

        Args:
            definition: the loaded model definition.
            info: what is known of the model (``model_uri``, ``name``, ``version``,
                ``alias``, ``run_id``), copied into every answered row's metadata.
        """
        return ClientAdapter.build(definition, info, manager=self.manager)


class Register(Component, abc.ABC):
    """Registers saved models as named versions.

    Attributes:
        tags: tags set on every version this register creates (``llmreg register
            --tag KEY=VALUE`` and ``save --register --tag`` add to them).

    Added in llmreg 0.1.0; ``register`` returns a :class:`~llmreg.results.ModelVersionRef`
    (versions start at 1 and rise per name) since 0.2.0.
    """

    ROLE: ClassVar[Role] = "register"

    tags: dict[str, str] = Field(default_factory=dict)

    @abc.abstractmethod
    def register(self, name: str, model_uri: str) -> ModelVersionRef:
        """Register the model at ``model_uri`` under ``name``; return the version.

        Raises:
            RegistrationError: the URI is not a model, or the registry refused.
        """


class AliasRegister(Register, abc.ABC):
    """A :class:`Register` that also lists versions and moves aliases with an audit trail.

    The CLI's ``promote``, ``rollback``, ``versions`` and ``history`` need one. Every
    move names the version it left (``previous``), and ``history`` keeps every move
    even when several processes move the alias at once.

    Added in llmreg 0.2.0.
    """

    @abc.abstractmethod
    def promote(self, name: str, version: int | str, alias: str = "champion") -> AliasMove:
        """Point ``alias`` at ``version`` and record the move.

        Raises:
            ModelNotFoundError: the version does not exist; the alias is left where it was.
        """

    @abc.abstractmethod
    def rollback(self, name: str, alias: str = "champion") -> AliasMove:
        """Point ``alias`` back at the version that held it before the last move.

        Raises:
            RegistrationError: there is no earlier version to go back to.
        """

    @abc.abstractmethod
    def history(self, name: str, alias: str = "champion") -> list[AliasMove]:
        """Return the recorded moves of ``alias``, oldest first."""

    @abc.abstractmethod
    def versions(self, name: str) -> list[ModelVersionRef]:
        """Return every version of ``name``, oldest first, with tags, aliases and hash."""

    # --- optional: the registry workflow of the CLI (list, tag, describe, delete) ---
    # A register that lacks one keeps working; the command that needs it fails with
    # a ConfigError naming the KIND and the method.

    def models(self) -> list[dict[str, Any]]:
        """Return every registered model, by name: ``{"name", "latest_version" (int or
        None), "aliases" ({alias: version}), "description", "tags"}``.

        Raises:
            ConfigError: this register does not list models (the default).
        """
        raise self._unsupported("models")

    def set_tags(self, name: str, version: int | str, tags: Mapping[str, str]) -> ModelVersionRef:
        """Set ``tags`` on an existing version (others kept); return the version.

        Raises:
            ModelNotFoundError: the version does not exist.
            ConfigError: this register does not tag versions (the default).
        """
        raise self._unsupported("set_tags")

    def describe(self, name: str, version: int | str, description: str) -> ModelVersionRef:
        """Set the description of an existing version; return the version.

        Raises:
            ModelNotFoundError: the version does not exist.
            ConfigError: this register does not describe versions (the default).
        """
        raise self._unsupported("describe")

    def delete(self, name: str, version: int | str, *, force: bool = False) -> ModelVersionRef:
        """Delete a version and return what it was.

        Refused while an alias points at it, unless ``force`` (the aliases go with it).

        Raises:
            ModelNotFoundError: the version does not exist.
            RegistrationError: an alias points at it and ``force`` is false.
            ConfigError: this register does not delete versions (the default).
        """
        raise self._unsupported("delete")

    # --- optional: registered-model tags and notes (llmreg-gateway's rollouts) ---------
    # Progressive delivery keeps its state on the registered model, so that every
    # gateway replica on the same store reads it with no new service.

    def read_model_tags(self, name: str) -> dict[str, str]:
        """Return the tags of the registered model ``name`` (not of a version).

        Raises:
            ModelNotFoundError: the registered model does not exist.
            ConfigError: this register does not keep model tags (the default).
        """
        raise self._unsupported("read_model_tags")

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        """Set one tag on the registered model ``name`` (others kept; last writer wins).

        Raises:
            ModelNotFoundError: the registered model does not exist.
            ConfigError: this register does not keep model tags (the default).
        """
        raise self._unsupported("set_model_tag")

    def note_alias(self, name: str, alias: str, note: str) -> AliasMove:
        """Record ``note`` in the history of ``alias`` without moving it.

        :meth:`history` returns it as a move with ``action="note"`` and ``version``
        equal to ``previous`` (the version the alias holds).

        Raises:
            ModelNotFoundError: the registered model does not exist.
            RegistrationError: the alias points at no version.
            ConfigError: this register does not record notes (the default).
        """
        raise self._unsupported("note_alias")

    def _unsupported(self, method: str) -> ConfigError:
        return ConfigError(
            f"the register KIND {self.KIND!r} does not implement {method}(); choose a register "
            "that does with --register (llmreg plugins lists the installed register KINDs)"
        )


# The manager checks registered classes against these without importing this module.
ROLE_BASES.update(saver=Saver, loader=Loader, register=Register)

__all__ = ["Adapter", "AliasRegister", "Component", "Loader", "Register", "Role", "Saver"]
