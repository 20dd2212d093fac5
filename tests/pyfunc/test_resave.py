"""Re-saving a definition: a different artifact is a new model, the same one is the same.

A re-save with another signature, input example or ``config_file`` used to return the
model saved first, silently dropping them, while ``SavedModel.info`` reported them. Now
what the model files hold is part of the content hash: a re-save whose files would
differ writes a new logged model (registered, a new version), and ``info`` is what was
written; an identical re-save returns the same model. Real sqlite store, echo provider.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, Schema

from llmreg.definition import ModelDefinition
from llmreg_mlflow import MlflowRegister
from llmreg_pyfunc import CustomSaver
from llmreg_pyfunc.chat_schema import default_signature

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "input")]),
    outputs=Schema([ColSpec("string", "prediction"), ColSpec("string", "metadata")]),
)


@pytest.fixture
def definition() -> ModelDefinition:
    return ModelDefinition(provider="echo", model="resave", temperature=0.3)


def _files(uri: str, tmp_path: Path) -> Path:
    return Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path)))


def _written_signature(uri: str) -> dict[str, Any]:
    return mlflow.models.get_model_info(uri).signature.to_dict()


def test_a_new_signature_is_a_new_model_with_that_signature(experiment, definition):
    saver = CustomSaver(experiment=experiment)
    first = saver.save(definition)
    again = saver.save(definition, signature=SIGNATURE)
    assert again.model_id != first.model_id and again.content_hash != first.content_hash
    assert "reused" not in again.info
    assert _written_signature(again.uri) == SIGNATURE.to_dict() == again.info["signature"]
    assert _written_signature(first.uri) == default_signature().to_dict()


def test_a_new_input_example_is_a_new_model_with_that_example(experiment, definition, tmp_path):
    saver = CustomSaver(experiment=experiment)
    first = saver.save(definition)
    again = saver.save(definition, input_example=["How do I reset my password?"])
    assert again.model_id != first.model_id
    saved = json.loads((_files(again.uri, tmp_path / "b") / "input_example.json").read_text())
    assert "How do I reset my password?" in json.dumps(saved)


def test_a_new_config_file_is_a_new_model_with_that_file(experiment, definition, tmp_path):
    first = CustomSaver(experiment=experiment).save(definition)
    again = CustomSaver(experiment=experiment, config_file="bot.json").save(definition)
    assert again.model_id != first.model_id
    assert (_files(again.uri, tmp_path) / "artifacts" / "bot.json").is_file()
    assert again.info["metadata"]["llmreg_config_file"] == "bot.json"


def test_an_identical_resave_is_the_same_model(experiment, definition):
    saver = CustomSaver(experiment=experiment)
    first = saver.save(definition, signature=SIGNATURE, input_example=["hi"])
    again = saver.save(definition, signature=SIGNATURE, input_example=["hi"])
    assert again.model_id == first.model_id and again.info["reused"] is True
    assert again.info["signature"] == _written_signature(again.uri)
    # the defaults, given explicitly, are the defaults
    plain = saver.save(definition)
    assert saver.save(definition, signature=default_signature()).model_id == plain.model_id


def test_registered_a_different_artifact_is_a_new_version(experiment, definition):
    name = f"resave-{experiment[-24:].replace('[', '-').replace(']', '')}"
    register = MlflowRegister()
    saver = CustomSaver(experiment=experiment)
    one = register.register(name, saver.save(definition).uri)
    two = register.register(name, saver.save(definition, signature=SIGNATURE).uri)
    same = register.register(name, saver.save(definition, signature=SIGNATURE).uri)
    assert (one.version, two.version, same.version) == (1, 2, 2)
    assert not same.created
