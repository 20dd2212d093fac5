"""The core's behavioural contract kit, run against CustomSaver and CustomLoader together."""

from __future__ import annotations

import llmreg_mlflow.plugin
import llmreg_pyfunc.plugin
from llmreg.results import SavedModel
from llmreg.testing.contract import RoundTripContract
from llmreg_pyfunc.cache import MODEL_CACHE


class TestCustomSaverAndLoaderRoundTrip(RoundTripContract):
    plugin = llmreg_pyfunc.plugin
    saver = {"KIND": "CustomSaver", "experiment": "contract"}
    loader = {"KIND": "CustomLoader", "alias_ttl_seconds": 0}
    register = {"KIND": "MlflowRegister"}  # loads by models:/NAME/1 and models:/NAME@champion
    extra_plugins = (llmreg_mlflow.plugin,)

    def missing_uri(self, saved: SavedModel) -> str:
        """A logged-model URI no model has (``models:/m-<id>-missing`` is malformed)."""
        assert saved.model_id is not None
        return saved.uri.replace(saved.model_id, "m-" + "0" * 32)

    def drop_caches(self) -> None:
        """The loader keeps a model's client for later loads: drop it (closing it)."""
        MODEL_CACHE.clear()


class TestTheDefaultsRoundTrip(TestCustomSaverAndLoaderRoundTrip):
    """The configs the plugin registers as defaults pass the kit as they are."""

    saver = {"KIND": "CustomSaver"}
    loader = {"KIND": "CustomLoader"}
