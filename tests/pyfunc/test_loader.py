"""CustomLoader against a real sqlite MLflow store: every URI form, typed errors, cache."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from llmreg import get_plugin_manager
from llmreg.adapter import ClientAdapter
from llmreg.definition import ModelDefinition
from llmreg.errors import (
    InvalidModelURIError,
    ModelNotFoundError,
    PredictionError,
    UnsupportedModelFormatError,
)
from llmreg.schemas import Inputs, Outputs
from llmreg.testing.contract import LoaderContract
from llmreg_pyfunc import CustomLoader, CustomSaver
from llmreg_pyfunc.loader import LoadedAdapter

NAME = "chat-loader"


class TestCustomLoaderContract(LoaderContract):
    component_class = CustomLoader
    config = {"KIND": "CustomLoader", "alias_ttl_seconds": 1.0}


@pytest.fixture(scope="module")
def registered(saved: Any) -> Any:
    """The shared saved model registered as version 1 of NAME, alias champion."""
    version = mlflow.register_model(saved.uri, NAME)
    MlflowClient().set_registered_model_alias(NAME, "champion", version.version)
    return version


@pytest.fixture(scope="module")
def local_copy(saved: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("local")
    return Path(mlflow.artifacts.download_artifacts(saved.uri, dst_path=str(target)))


def test_registered_through_the_entry_point(providers: Any) -> None:
    assert get_plugin_manager().component_class("loader", "CustomLoader") is CustomLoader
    assert CustomLoader.Adapter is LoadedAdapter
    assert issubclass(LoadedAdapter, ClientAdapter)


def _uris(saved: Any, registered: Any, local_copy: Path) -> dict[str, str]:
    return {
        "run": f"runs:/{saved.run_id}/{saved.info['name']}",
        "version": f"models:/{NAME}/{registered.version}",
        "alias": f"models:/{NAME}@champion",
        "logged": saved.uri,
        "local": str(local_copy),
    }


@pytest.mark.parametrize("form", ["run", "version", "alias", "logged", "local"])
def test_round_trip_by_every_uri_form(
    form: str, saved: Any, registered: Any, local_copy: Path
) -> None:
    uri = _uris(saved, registered, local_copy)[form]
    adapter = CustomLoader().load(uri)
    assert isinstance(adapter, ClientAdapter)
    assert adapter.definition.model == "echo-1"
    assert adapter.definition.api_key == "env:LLMREG_TEST_KEY"
    out = adapter.predict(["round", "trip"])
    assert isinstance(out, Outputs)
    assert out.predictions == ["echo: round", "echo: trip"]
    meta = out.rows[0].metadata
    assert meta["model_uri"] == uri
    assert meta["status"] == "ok"
    if form != "local":
        assert meta["run_id"] == saved.run_id
    if form in ("version", "alias"):
        assert meta["version"] == 1
        assert meta["name"] == NAME
    assert meta["alias"] == ("champion" if form == "alias" else None)
    adapter.close()


def test_info(saved: Any, registered: Any) -> None:
    info = CustomLoader().load(f"models:/{NAME}@champion").info
    assert info["uri"] == f"models:/{NAME}@champion"
    assert info["name"] == NAME
    assert info["version"] == 1
    assert info["alias"] == "champion"
    assert info["run_id"] == saved.run_id


@pytest.mark.parametrize(
    "value",
    [
        pd.DataFrame({"input": ["x"]}),
        ["x"],
        {"input": "x"},
        Inputs.parse(["x"]),
    ],
)
def test_input_forms(value: Any, saved: Any) -> None:
    assert CustomLoader().load(saved.uri).predict(value).predictions == ["echo: x"]


def test_apredict_takes_a_dataframe_too(saved: Any) -> None:
    adapter = CustomLoader().load(saved.uri)
    out = asyncio.run(adapter.apredict(pd.DataFrame({"input": ["a", "b"]})))
    assert out.predictions == ["echo: a", "echo: b"]


def test_strict_and_error_rows(saved: Any) -> None:
    adapter = CustomLoader().load(saved.uri)
    out = adapter.predict(["fine", "!fail"])
    assert out.rows[1].prediction is None
    assert out.rows[1].metadata["status"] == "error"
    with pytest.raises(PredictionError):
        adapter.predict(["fine", "!fail"], params={"strict": True})


def test_predict_inside_a_running_event_loop(saved: Any) -> None:
    adapter = CustomLoader().load(saved.uri)

    async def main() -> Outputs:
        return adapter.predict(["in loop"])

    assert asyncio.run(main()).predictions == ["echo: in loop"]


@pytest.mark.parametrize(
    "uri", ["models:/chat/0", "models:/chat/-2", "models:/chat/x", "models:/", "ftp://x/y"]
)
def test_malformed_uri(uri: str, store: Path) -> None:
    with pytest.raises(InvalidModelURIError):
        CustomLoader().load(uri)


@pytest.mark.parametrize(
    "uri, named",
    [
        ("models:/no-such-model/1", "registered model 'no-such-model' does not exist"),
        ("models:/no-such-model@champion", "registered model 'no-such-model' does not exist"),
        (f"models:/{NAME}/99", "version 99"),
        (f"models:/{NAME}@nobody", "alias @nobody"),
        ("models:/m-0123456789abcdef0123456789abcdef", "logged model"),
        ("runs:/0123456789abcdef0123456789abcdef/model", "run 0123456789abcdef"),
        ("/no/such/folder/anywhere", "does not exist"),
    ],
)
def test_missing_things_are_named(uri: str, named: str, registered: Any) -> None:
    with pytest.raises(ModelNotFoundError, match=named):
        CustomLoader().load(uri)


def test_run_without_that_model_path(saved: Any) -> None:
    with pytest.raises((ModelNotFoundError, UnsupportedModelFormatError)):
        CustomLoader().load(f"runs:/{saved.run_id}/not-the-model")


def test_plain_pyfunc_model_is_unsupported(tmp_path: Path, store: Path) -> None:
    code = tmp_path / "plain.py"
    code.write_text(
        "import mlflow\n"
        "class M(mlflow.pyfunc.PythonModel):\n"
        "    def predict(self, context, model_input, params=None):\n"
        "        return model_input\n"
        "mlflow.models.set_model(M())\n"
    )
    target = tmp_path / "plain-model"
    mlflow.pyfunc.save_model(str(target), python_model=str(code), pip_requirements=["mlflow"])
    with pytest.raises(UnsupportedModelFormatError, match="not saved by llmreg"):
        CustomLoader().load(str(target))


def test_folder_without_mlmodel_is_unsupported(tmp_path: Path, store: Path) -> None:
    with pytest.raises(UnsupportedModelFormatError, match="no MLmodel"):
        CustomLoader().load(str(tmp_path))


def _copy(local_copy: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(local_copy, target)
    return target


def test_deleted_config_artifact(local_copy: Path, tmp_path: Path) -> None:
    target = _copy(local_copy, tmp_path)
    (target / "artifacts" / "model_definition.json").unlink()
    with pytest.raises(UnsupportedModelFormatError, match=r"model_definition\.json"):
        CustomLoader().load(str(target))


@pytest.mark.parametrize(
    "edit",
    [
        lambda text: "flavors: [unclosed\n" + text,
        lambda text: text.replace("llmreg_format", "other_format"),
        lambda text: text.replace("python_function", "sklearn"),
    ],
)
def test_edited_mlmodel_is_unsupported(local_copy: Path, tmp_path: Path, edit: Any) -> None:
    target = _copy(local_copy, tmp_path)
    mlmodel = target / "MLmodel"
    mlmodel.write_text(edit(mlmodel.read_text()))
    with pytest.raises(UnsupportedModelFormatError):
        CustomLoader().load(str(target))


def test_corrupted_definition_json(local_copy: Path, tmp_path: Path) -> None:
    target = _copy(local_copy, tmp_path)
    (target / "artifacts" / "model_definition.json").write_text("{not json")
    with pytest.raises(UnsupportedModelFormatError, match="not valid JSON"):
        CustomLoader().load(str(target))


def _client_of(adapter: LoadedAdapter) -> Any:
    return adapter.client


def test_cache_is_keyed_by_resolved_version(saved: Any, registered: Any) -> None:
    loader = CustomLoader()
    by_alias = loader.load(f"models:/{NAME}@champion")
    by_version = loader.load(f"models:/{NAME}/1")
    assert _client_of(by_alias) is _client_of(by_version)
    assert by_alias.info["alias"] == "champion" and by_version.info["alias"] is None


def test_alias_move_is_picked_up_after_the_ttl(experiment: str, providers: Any) -> None:
    name = f"moving-{experiment}"
    saver = CustomSaver(experiment=experiment)
    first = saver.save(ModelDefinition(provider="echo", model="first"))
    second = saver.save(ModelDefinition(provider="echo", model="second"))
    client = MlflowClient()
    v1 = mlflow.register_model(first.uri, name)
    v2 = mlflow.register_model(second.uri, name)
    client.set_registered_model_alias(name, "champion", v1.version)
    uri = f"models:/{name}@champion"
    assert CustomLoader(alias_ttl_seconds=3600).load(uri).definition.model == "first"
    client.set_registered_model_alias(name, "champion", v2.version)
    # within the TTL the cached lookup is used ...
    assert CustomLoader(alias_ttl_seconds=3600).load(uri).definition.model == "first"
    # ... and once it is older than the TTL, the move is picked up
    moved = CustomLoader(alias_ttl_seconds=0).load(uri)
    assert moved.definition.model == "second"
    assert moved.info["version"] == int(v2.version)


def test_warm_hit_does_not_ask_the_registry(experiment: str, providers: Any) -> None:
    name = f"warm-{experiment}"
    info = CustomSaver(experiment=experiment).save(ModelDefinition(provider="echo", model="w"))
    version = mlflow.register_model(info.uri, name)
    MlflowClient().set_registered_model_alias(name, "champion", version.version)
    loader = CustomLoader(alias_ttl_seconds=3600)
    cold = loader.load(f"models:/{name}@champion")
    MlflowClient().delete_registered_model(name)  # the registry no longer knows it
    warm = loader.load(f"models:/{name}@champion")
    assert _client_of(warm) is _client_of(cold)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        CustomLoader(alias_ttl_seconds=0).load(f"models:/{name}@champion")
