"""The abstract bases that plugins implement: :class:`Saver`, :class:`Loader`, :class:`Register`.

Each base is a frozen pydantic model with ``extra="forbid"`` and a ``KIND``
discriminator. A concrete class pins its ``KIND`` with a ``Literal``::

    class CustomSaver(Saver):
        KIND: Literal["CustomSaver"] = "CustomSaver"

        def save(self, model, signature=None, input_example=None): ...

A config such as ``{"KIND": "CustomSaver", "path": "model"}`` then validates
into that class through the plugin manager (see :meth:`PluginManager.build`).
The bases are abstract: instantiating one directly raises ``TypeError``.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from llmreg.definition import ModelDefinition
    from llmreg.schemas import Inputs, Outputs

#: The three roles a KIND can play.
Role = Literal["saver", "loader", "register"]


class Component(BaseModel, abc.ABC):
    """Common ground of the three bases: frozen, strict about fields, tagged by KIND."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ROLE: ClassVar[Role]
    KIND: str


class Saver(Component, abc.ABC):
    """Saves a model definition as a versionable model.

    Attributes:
        path: the artifact name the model is saved under (MLflow's ``name``).
        config_file: the name of the JSON artifact that holds the model definition.
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
    ) -> Any:
        """Save ``model`` and return the saved model's info (for MLflow savers, a ``ModelInfo``).

        Raises:
            SecretPersistError: a secret value would be written.
            SchemaError: ``signature`` or ``input_example`` does not fit the chat schema.
        """


class Adapter(abc.ABC):
    """A loaded model, ready to predict. What :meth:`Loader.load` returns."""

    @abc.abstractmethod
    def predict(self, inputs: Inputs | Any, params: dict[str, Any] | None = None) -> Outputs:
        """Answer every row of ``inputs``, in order.

        Args:
            inputs: :class:`Inputs`, or anything :meth:`Inputs.parse` accepts.
            params: batch-level options; ``{"strict": True}`` raises on the first
                failed row instead of marking it ``status: error``.
        """

    async def apredict(self, inputs: Inputs | Any, params: dict[str, Any] | None = None) -> Outputs:
        """Async form of :meth:`predict`, for async hosts such as the serving app.

        The default runs :meth:`predict` in a worker thread; an adapter whose
        client has an async path overrides it.
        """
        import asyncio

        return await asyncio.to_thread(self.predict, inputs, params)

    @property
    def definition(self) -> ModelDefinition | None:
        """The model definition behind this adapter, where the loader knows it."""
        return None

    @property
    def info(self) -> dict[str, Any]:
        """What is known of the loaded model: uri, version, alias, run id."""
        return {}


class Loader(Component, abc.ABC):
    """Loads a saved model by URI."""

    ROLE: ClassVar[Role] = "loader"

    @abc.abstractmethod
    def load(self, uri: str) -> Adapter:
        """Load the model at ``uri`` and return an :class:`Adapter`.

        Raises:
            InvalidModelURIError: ``uri`` is malformed.
            ModelNotFoundError: the model, version, alias or run does not exist.
            UnsupportedModelFormatError: the model was not saved by a matching saver.
        """


class Register(Component, abc.ABC):
    """Registers saved models as named versions.

    Attributes:
        tags: tags set on every version this register creates.
    """

    ROLE: ClassVar[Role] = "register"

    tags: dict[str, str] = Field(default_factory=dict)

    @abc.abstractmethod
    def register(self, name: str, model_uri: str) -> Any:
        """Register the model at ``model_uri`` under ``name`` and return the model version.

        Raises:
            RegistrationError: the URI is not a model, or the registry refused.
        """


class AliasRegister(Register, abc.ABC):
    """A :class:`Register` that also lists versions and moves aliases with an audit trail.

    The CLI's ``promote``, ``rollback``, ``versions`` and ``history`` need one.
    """

    @abc.abstractmethod
    def promote(self, name: str, version: int | str, alias: str = "champion") -> Any:
        """Point ``alias`` at ``version`` and record the move.

        Raises:
            ModelNotFoundError: the version does not exist; the alias is left where it was.
        """

    @abc.abstractmethod
    def rollback(self, name: str, alias: str = "champion") -> Any:
        """Point ``alias`` back at the version that held it before the last move.

        Raises:
            RegistrationError: there is no earlier version to go back to.
        """

    @abc.abstractmethod
    def history(self, name: str, alias: str = "champion") -> list[dict[str, Any]]:
        """Return the recorded moves of ``alias``, oldest first."""

    @abc.abstractmethod
    def versions(self, name: str) -> list[dict[str, Any]]:
        """Return every version of ``name`` with its tags, aliases and content hash."""


__all__ = ["Adapter", "AliasRegister", "Component", "Loader", "Register", "Role", "Saver"]
