"""CustomSaver against a real sqlite MLflow store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, Schema

from llmreg import get_plugin_manager
from llmreg.definition import ModelDefinition
from llmreg.errors import (
    ConfigError,
    SchemaError,
    SecretPersistError,
    StoreUnavailableError,
    UnknownKindError,
)
from llmreg.hashing import CONTENT_HASH_KEY, content_hash
from llmreg.results import SavedModel
from llmreg.testing.contract import SaverContract
from llmreg_pyfunc import CustomSaver
from llmreg_pyfunc.layout import FORMAT, FORMAT_KEY
from llmreg_pyfunc.requirements import model_requirements
from llmreg_pyfunc.saver import MODEL_CODE

SECRET = "sk-test-0123456789abcdef"


class TestCustomSaverContract(SaverContract):
    component_class = CustomSaver
    config = {"KIND": "CustomSaver", "path": "model"}


def _signature(saved: SavedModel) -> ModelSignature:
    return ModelSignature.from_dict(saved.info["signature"])


def _files(model_uri: str, tmp_path: Path) -> Path:
    return Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=str(tmp_path)))


def _store_bytes(store: Path) -> bytes:
    return b"".join(p.read_bytes() for p in store.rglob("*") if p.is_file())


def test_plugin_module_imports_neither_mlflow_pandas_nor_the_classes() -> None:
    code = (
        "import sys, llmreg_pyfunc.plugin, llmreg_pyfunc;"
        "print([m for m in ('mlflow', 'pandas', 'pydantic', 'llmreg_pyfunc.saver',"
        " 'llmreg_pyfunc.loader') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_registered_through_the_entry_point(providers: Any) -> None:
    manager = get_plugin_manager()
    assert manager.component_class("saver", "CustomSaver") is CustomSaver
    assert manager.kinds("saver")["CustomSaver"].distribution == "llmreg-pyfunc"


def test_the_plugin_gives_the_default_saver_and_loaders(providers: Any) -> None:
    manager = get_plugin_manager()
    assert manager.default("saver") == {"KIND": "CustomSaver"}
    assert manager.default("loader") == {"KIND": "CustomLoader"}
    assert manager.default("serve.loader") == {"KIND": "CustomLoader", "alias_ttl_seconds": 0}
    assert type(manager.saver()) is CustomSaver
    assert manager.loader(manager.default("serve.loader")).alias_ttl_seconds == 0


def test_adapter_is_exposed_as_a_python_model() -> None:
    from llmreg_pyfunc.adapter import PyfuncAdapter

    assert CustomSaver.Adapter is PyfuncAdapter
    assert issubclass(CustomSaver.Adapter, mlflow.pyfunc.PythonModel)


def test_save_returns_a_saved_model_of_a_finished_run(saved: SavedModel) -> None:
    assert isinstance(saved, SavedModel)
    assert saved.uri == f"models:/{saved.model_id}"
    assert saved.uri.startswith("models:/m-")
    run = MlflowClient().get_run(saved.run_id)
    assert run.info.status == "FINISHED"
    logged = MlflowClient().get_logged_model(saved.model_id)
    assert logged.params == {
        "provider": "echo",
        "model": "echo-1",
        "temperature": "0.0",
        "content_hash": saved.content_hash,
    }
    assert logged.name == "echo-1"  # no registered name given: the definition's model
    assert run.data.params == logged.params
    assert logged.source_run_id == saved.run_id
    assert run.data.tags[CONTENT_HASH_KEY] == saved.content_hash
    assert saved.info["metadata"][CONTENT_HASH_KEY] == saved.content_hash
    json.dumps(saved.to_dict())  # info holds JSON values only


@pytest.mark.parametrize("value", [None, {"provider": "echo", "model": "m"}, "model.json"])
def test_save_of_something_else_than_a_definition_is_a_config_error(
    experiment: str, runs_of: Any, value: Any
) -> None:
    with pytest.raises(ConfigError, match="ModelDefinition") as caught:
        CustomSaver(experiment=experiment).save(value)
    assert ("None" if value is None else type(value).__name__) in str(caught.value)
    if isinstance(value, dict):
        assert "ModelDefinition.from_dict" in str(caught.value)
    assert runs_of(experiment) == []


def test_saved_layout_is_code_plus_json_no_pickle(saved: Any, tmp_path: Path) -> None:
    root = _files(saved.uri, tmp_path)
    names = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert {"MLmodel", "model_code.py", "artifacts/model_definition.json"} <= names
    assert not [n for n in names if n.endswith((".pkl", ".pickle", ".cloudpickle"))]
    assert (root / "model_code.py").read_text() == MODEL_CODE.read_text()
    persisted = json.loads((root / "artifacts/model_definition.json").read_text())
    assert persisted["api_key"] == "env:LLMREG_TEST_KEY"
    assert persisted["provider"] == "echo"


def test_metadata_holds_the_content_hash(saved: Any, tmp_path: Path) -> None:
    root = _files(saved.uri, tmp_path)
    definition_json = (root / "artifacts/model_definition.json").read_text()
    definition = ModelDefinition.from_dict(json.loads(definition_json))
    reqs = model_requirements(definition, get_plugin_manager()).lines
    expected = content_hash([definition_json, MODEL_CODE.read_text(), "\n".join(reqs)])
    assert saved.content_hash == expected
    metadata = mlflow.models.get_model_info(saved.uri).metadata
    assert metadata[CONTENT_HASH_KEY] == expected
    assert metadata[FORMAT_KEY] == FORMAT


def test_same_content_same_hash_other_content_other_hash(
    experiment: str, definition: ModelDefinition, runs_of: Any
) -> None:
    saver = CustomSaver(experiment=experiment)
    first = saver.save(definition)
    again = saver.save(definition)
    other = saver.save(definition.model_copy(update={"temperature": 0.9}))
    assert first.content_hash == again.content_hash
    assert first.content_hash != other.content_hash
    # the same content is the same logged model: no new run, no new logged model
    assert (again.uri, again.run_id) == (first.uri, first.run_id)
    assert again.info["reused"] is True
    assert other.uri != first.uri
    assert len(runs_of(experiment)) == 2
    fresh = CustomSaver(experiment=experiment, reuse=False).save(definition)
    assert fresh.uri != first.uri and fresh.content_hash == first.content_hash
    assert len(runs_of(experiment)) == 3


def test_pip_requirements_are_explicit(saved: Any, tmp_path: Path) -> None:
    root = _files(saved.uri, tmp_path)
    lines = (root / "requirements.txt").read_text().split()
    definition = ModelDefinition(provider="echo", model="echo-1")
    expected = model_requirements(definition, get_plugin_manager()).lines
    # MLflow adds its own pin; inference would have added pandas, cloudpickle and more.
    assert sorted(lines) == sorted([*expected, f"mlflow=={mlflow.__version__}"])


def test_signature_and_example_default_to_the_chat_schema(saved: Any, tmp_path: Path) -> None:
    for signature in (_signature(saved), mlflow.models.get_model_info(saved.uri).signature):
        assert signature.inputs is None  # no input schema: MLflow passes input as sent
        assert signature.outputs.input_names() == ["prediction", "metadata"]
        assert {p.name for p in signature.params.params} >= {"temperature", "strict"}
    root = _files(saved.uri, tmp_path)
    assert json.loads((root / "input_example.json").read_text())


def test_saving_never_builds_a_client(experiment: str, providers: Any) -> None:
    before = list(providers.built)
    definition = ModelDefinition(provider="counting", model="never-called")
    CustomSaver(experiment=experiment).save(definition)
    CustomSaver(experiment=experiment).save(definition, input_example=["a", "b"])
    assert providers.built == before


def test_given_signature_and_example_are_saved(experiment: str, definition: Any) -> None:
    sig = ModelSignature(
        inputs=Schema([ColSpec("string", "input")]),
        outputs=Schema([ColSpec("string", "prediction"), ColSpec("string", "metadata")]),
    )
    info = CustomSaver(experiment=experiment).save(definition, sig, ["hello there"])
    assert _signature(info).inputs.input_names() == ["input"]
    assert info.info["saved_input_example_info"] is not None


@pytest.mark.parametrize(
    "kwargs, why",
    [
        ({"signature": ModelSignature(inputs=Schema([ColSpec("string", "q")]))}, "inputs"),
        ({"input_example": {"question": "x"}}, "input"),
    ],
)
def test_mismatch_raises_before_anything_is_written(
    experiment: str, definition: Any, runs_of: Any, kwargs: dict[str, Any], why: str
) -> None:
    with pytest.raises(SchemaError, match=why):
        CustomSaver(experiment=experiment).save(definition, **kwargs)
    assert runs_of(experiment) == []


def test_unknown_provider_raises_before_anything_is_written(experiment: str, runs_of: Any) -> None:
    with pytest.raises(UnknownKindError, match="no-such-provider"):
        CustomSaver(experiment=experiment).save(
            ModelDefinition(provider="no-such-provider", model="m")
        )
    assert runs_of(experiment) == []


def test_literal_key_is_refused_before_anything_is_written(
    experiment: str, runs_of: Any, store: Path
) -> None:
    definition = ModelDefinition(provider="echo", model="m", api_key=SECRET)
    with pytest.raises(SecretPersistError, match="reference"):
        CustomSaver(experiment=experiment).save(definition)
    assert runs_of(experiment) == []
    assert SECRET.encode() not in _store_bytes(store)


@pytest.mark.parametrize(
    "update, example, where",
    [
        ({"system_prompt": f"your key is {SECRET}"}, None, "model_definition.json"),
        ({"extra_headers": {"X-Team": SECRET}}, None, "model_definition.json"),
        ({}, [f"please use {SECRET}"], "input example"),
    ],
)
def test_resolved_secret_anywhere_is_refused_and_nothing_written(
    experiment: str,
    runs_of: Any,
    store: Path,
    monkeypatch: pytest.MonkeyPatch,
    update: dict[str, Any],
    example: Any,
    where: str,
) -> None:
    monkeypatch.setenv("LLMREG_TEST_KEY", SECRET)
    definition = ModelDefinition(
        provider="echo", model="m", api_key="env:LLMREG_TEST_KEY", **update
    )
    with pytest.raises(SecretPersistError, match=where) as info:
        CustomSaver(experiment=experiment).save(definition, input_example=example)
    assert SECRET not in str(info.value)
    assert runs_of(experiment) == []
    assert SECRET.encode() not in _store_bytes(store)


def test_secret_in_a_file_mlflow_writes_fails_the_run_without_upload(
    experiment: str, runs_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A "secret" that only MLflow's own MLmodel file contains: caught by the scan of the
    # finished model folder, after the run was created but before any upload.
    monkeypatch.setenv("LLMREG_TEST_KEY", "python_function")
    definition = ModelDefinition(provider="echo", model="m", api_key="env:LLMREG_TEST_KEY")
    with pytest.raises(SecretPersistError, match="MLmodel"):
        CustomSaver(experiment=experiment).save(definition)
    (run,) = runs_of(experiment)
    assert run.info.status == "FAILED"
    client = MlflowClient()
    # the run's logged model (older MLflow links it to the run's outputs only after a save)
    (logged,) = client.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}'",
    )
    assert str(logged.status) in ("LoggedModelStatus.FAILED", "FAILED")
    assert client.list_logged_model_artifacts(logged.model_id) == []


def test_failed_upload_leaves_a_failed_run_not_a_finished_one(
    experiment: str, definition: Any, runs_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_upload(self: Any, model_id: str, local_dir: str) -> None:
        raise OSError("disk full while uploading")

    monkeypatch.setattr(MlflowClient, "log_model_artifacts", broken_upload)
    with pytest.raises(StoreUnavailableError, match="disk full") as info:
        CustomSaver(experiment=experiment).save(definition)
    assert isinstance(info.value.__cause__, OSError)
    statuses = [r.info.status for r in runs_of(experiment)]
    assert statuses == ["FAILED"]


def test_model_saved_into_the_named_experiment(experiment: str, definition: Any) -> None:
    info = CustomSaver(experiment=experiment).save(definition)
    run = MlflowClient().get_run(info.run_id)
    assert run.info.experiment_id == mlflow.get_experiment_by_name(experiment).experiment_id
