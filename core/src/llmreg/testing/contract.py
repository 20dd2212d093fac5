"""The contract kit: pytest checks of what a plugin *does*, run against its own classes.

Install it with ``pip install "llmreg[testing]"``. Subclass the contract that
fits, name your class ``Test...`` so pytest collects it, and set its class
attributes::

    from llmreg.testing.contract import ProviderContract, RegisterContract, RoundTripContract

    class TestMyPlugin(RoundTripContract):
        plugin = my_package.plugin              # the module with the hook implementations
        saver = {"KIND": "MySaver"}
        loader = {"KIND": "MyLoader"}
        register = {"KIND": "MyRegister"}       # optional: load by models:/NAME@ALIAS too

    class TestMyRegister(RegisterContract):
        component_class = MyRegister
        config = {"KIND": "MyRegister"}

    class TestMyProvider(ProviderContract):
        plugin = my_package.plugin
        definition = {"provider": "mine", "model": "m"}   # the kit sets base_url

What they check:

- :class:`RoundTripContract` (:mod:`llmreg.testing.roundtrip`): save and load;
  every row answered in order; a failing row kept in its place as an error row;
  the definition's settings (and templates with row variables) reach the
  endpoint; ``close()`` leaves no connection open; no resolved secret written;
  typed errors for a malformed URI and a missing model (and, with a register,
  a missing version or alias).
- :class:`RegisterContract` (:mod:`llmreg.testing.register`): versions from 1,
  rising per name; ``ModelVersionRef`` results; tags; alias moves that record
  the previous version, whole under four processes promoting at once;
  ``ModelNotFoundError`` for a missing version.
- :class:`ProviderContract` (:mod:`llmreg.testing.provider`): against the kit's
  own endpoint: completion, batch order, settings forwarding, typed errors for
  401, 429, 500 and timeouts, streaming where declared, connections released.
- :class:`SaverContract`, :class:`LoaderContract`: the component's shape.

Every failure says what the contract expects and what the plugin did
(:func:`~llmreg.testing.failures.contract_failure`).
"""

from __future__ import annotations

from llmreg.testing.components import ComponentContract, LoaderContract, SaverContract
from llmreg.testing.failures import (
    ContractError,
    check_signature,
    contract_failure,
    files_holding,
    secret_forms,
)
from llmreg.testing.kit_client import ROUND_TRIP_PROVIDER, KitClient
from llmreg.testing.provider import ProviderContract
from llmreg.testing.register import RegisterContract
from llmreg.testing.roundtrip import CANARY, CANARY_ENV, RoundTripContract
from llmreg.testing.server import Endpoint, KitServer

__all__ = [
    "CANARY",
    "CANARY_ENV",
    "ROUND_TRIP_PROVIDER",
    "ComponentContract",
    "ContractError",
    "Endpoint",
    "KitClient",
    "KitServer",
    "LoaderContract",
    "ProviderContract",
    "RegisterContract",
    "RoundTripContract",
    "SaverContract",
    "check_signature",
    "contract_failure",
    "files_holding",
    "secret_forms",
]
