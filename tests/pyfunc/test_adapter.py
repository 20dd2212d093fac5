"""The pyfunc adapter, inside MLflow's own loader and directly."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import mlflow
import pandas as pd
import pytest

from llmreg import hookimpl
from llmreg.definition import ModelDefinition
from llmreg.errors import (
    ConfigError,
    ConfigFileNotFoundError,
    PredictionError,
    SchemaError,
    SecretResolutionError,
)
from llmreg.schemas import Inputs, Outputs
from llmreg.testing import EchoClient
from llmreg_pyfunc import CustomSaver


@pytest.fixture(scope="module")
def pyfunc_model(saved: Any) -> Any:
    return mlflow.pyfunc.load_model(saved.uri)


def test_no_config_is_a_value_error(providers: Any) -> None:
    adapter = CustomSaver.Adapter()
    with pytest.raises(ConfigError, match="no 'llmreg_config' artifact") as info:
        adapter.load_context(SimpleNamespace(artifacts={}))
    assert isinstance(info.value, ValueError)


def test_missing_config_file_is_a_file_not_found_error(tmp_path: Path, providers: Any) -> None:
    adapter = CustomSaver.Adapter()
    context = SimpleNamespace(artifacts={"llmreg_config": str(tmp_path / "gone.json")})
    with pytest.raises(ConfigFileNotFoundError, match=r"gone\.json") as info:
        adapter.load_context(context)
    assert isinstance(info.value, FileNotFoundError)


def test_predict_before_load_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no model definition"):
        CustomSaver.Adapter().predict(None, ["hi"])


def test_direct_use_with_a_config_file(tmp_path: Path, providers: Any) -> None:
    path = tmp_path / "def.json"
    path.write_text(ModelDefinition(provider="echo", model="direct").to_json())
    adapter = CustomSaver.Adapter(config_file=path)
    assert adapter.definition is not None and adapter.definition.model == "direct"
    out = adapter.predict(None, Inputs.parse(["x"]))
    assert isinstance(out, Outputs)
    assert out.predictions == ["echo: x"]


@pytest.mark.parametrize("how", ["positional", "keyword"])
def test_direct_use_with_a_definition(how: str, providers: Any) -> None:
    definition = ModelDefinition(provider="echo", model="given")
    if how == "positional":
        adapter = CustomSaver.Adapter(definition)
    else:
        adapter = CustomSaver.Adapter(model=definition)
    assert adapter.definition is definition
    assert adapter.predict(None, ["y"]).predictions == ["echo: y"]
    adapter.close()
    with pytest.raises(ConfigError, match="no model definition"):
        adapter.predict(None, ["y"])


_DEFINITION = ModelDefinition(provider="echo", model="m")


@pytest.mark.parametrize(
    "args, kwargs, named",
    [
        (({"provider": "echo", "model": "m"},), {}, "config_file must be the path"),
        ((), {"model": {"provider": "echo", "model": "m"}}, "pass config_file"),
        ((_DEFINITION,), {"model": _DEFINITION}, "not both"),
    ],
)
def test_anything_else_is_a_config_error_naming_config_file(
    args: tuple[Any, ...], kwargs: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        CustomSaver.Adapter(*args, **kwargs)


def test_the_adapter_builds_its_client_through_the_manager_it_is_given(
    tmp_path: Path,
) -> None:
    from llmreg.testing import isolated_manager

    built: list[str] = []

    class _OnlyHere:
        @hookimpl
        def llmreg_register_providers(self, register: Any) -> None:
            register("only-here", lambda d: built.append(d.model) or EchoClient(d))

    manager = isolated_manager(_OnlyHere())
    path = tmp_path / "def.json"
    path.write_text(ModelDefinition(provider="only-here", model="iso").to_json())
    adapter = CustomSaver.Adapter(config_file=path, manager=manager)
    assert built == ["iso"]
    assert adapter.predict(None, ["z"]).predictions == ["echo: z"]


def test_loader_adapter_loads_from_an_mlflow_context(saved: Any, tmp_path: Path) -> None:
    from llmreg_pyfunc import CustomLoader

    root = Path(mlflow.artifacts.download_artifacts(saved.uri, dst_path=str(tmp_path)))
    context = SimpleNamespace(
        artifacts={"llmreg_config": str(root / "artifacts" / "model_definition.json")}
    )
    adapter = CustomLoader.Adapter.load_context(context)
    assert isinstance(adapter, CustomLoader.Adapter)
    assert adapter.info["model_uri"] == saved.uri
    assert adapter.info["run_id"] == saved.run_id
    assert adapter.predict(pd.DataFrame({"input": ["ctx"]})).predictions == ["echo: ctx"]
    adapter.close()
    with pytest.raises(ConfigError, match="no 'llmreg_config' artifact"):
        CustomLoader.Adapter.load_context(SimpleNamespace(artifacts={}))


def test_dataframe_in_dataframe_out(pyfunc_model: Any, saved: Any) -> None:
    frame = pd.DataFrame({"input": ["one", "two"]})
    out = pyfunc_model.predict(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["prediction", "metadata"]
    assert out["prediction"].tolist() == ["echo: one", "echo: two"]
    meta = out["metadata"].tolist()[0]
    assert meta["model_uri"] == saved.uri
    assert meta["run_id"] == saved.run_id
    assert meta["model"] == "echo-1"
    assert meta["status"] == "ok"
    assert meta["attempts"] == 1
    assert meta["usage"]["total_tokens"] == 3
    assert meta["latency_ms"] >= 0
    assert "version" in meta and "alias" in meta
    stamp = dt.datetime.fromisoformat(meta["timestamp"].replace("Z", "+00:00"))
    assert stamp.utcoffset() == dt.timedelta(0)


def test_messages_column(pyfunc_model: Any) -> None:
    frame = pd.DataFrame({"messages": [[{"role": "user", "content": "chat me"}]]})
    assert pyfunc_model.predict(frame)["prediction"].tolist() == ["echo: chat me"]


def test_dict_input_through_mlflow(pyfunc_model: Any) -> None:
    assert pyfunc_model.predict({"input": "d"})["prediction"].tolist() == ["echo: d"]
    out = pyfunc_model.predict({"input": ["d", "e"]})
    assert out["prediction"].tolist() == ["echo: d", "echo: e"]


@pytest.mark.parametrize(
    "value, expected",
    [
        (["a", "b"], ["echo: a", "echo: b"]),
        ({"input": "c"}, ["echo: c"]),
        ({"input": ["d", "e"]}, ["echo: d", "echo: e"]),
        (Inputs.parse([{"messages": [{"role": "user", "content": "f"}]}]), ["echo: f"]),
    ],
)
def test_plain_inputs_return_outputs(pyfunc_model: Any, value: Any, expected: list[str]) -> None:
    python_model = pyfunc_model.unwrap_python_model()
    out = python_model.predict(None, value)
    assert isinstance(out, Outputs)
    assert out.predictions == expected


def test_failed_row_is_an_error_row_never_an_answer(pyfunc_model: Any) -> None:
    out = pyfunc_model.predict(pd.DataFrame({"input": ["ok", "!fail"]}))
    good, bad = out.to_dict(orient="records")
    assert good["prediction"] == "echo: ok"
    assert bad["prediction"] is None
    assert bad["metadata"]["status"] == "error"
    assert "asked to fail" in bad["metadata"]["error"]
    assert bad["metadata"]["error_type"] == "ProviderBadRequestError"


def test_strict_raises_the_prediction_error(pyfunc_model: Any) -> None:
    with pytest.raises(PredictionError, match="row 1 failed"):
        pyfunc_model.predict(pd.DataFrame({"input": ["ok", "!fail"]}), params={"strict": True})


def test_strict_with_all_rows_ok(pyfunc_model: Any) -> None:
    out = pyfunc_model.predict(pd.DataFrame({"input": ["ok"]}), params={"strict": True})
    assert out["prediction"].tolist() == ["echo: ok"]


def test_bad_input_is_a_schema_error(pyfunc_model: Any) -> None:
    python_model = pyfunc_model.unwrap_python_model()
    with pytest.raises(SchemaError):
        python_model.predict(None, [{"nothing": 1}])
    with pytest.raises(SchemaError, match="unknown params"):
        python_model.predict(None, ["a"], params={"beam": 3})


def test_predict_inside_a_running_event_loop(pyfunc_model: Any) -> None:
    async def main() -> Any:
        return pyfunc_model.predict(pd.DataFrame({"input": ["loop"]}))

    out = asyncio.run(main())
    assert out["prediction"].tolist() == ["echo: loop"]


def test_key_reference_is_resolved_only_at_load(
    experiment: str, providers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLMREG_PF_KEY", raising=False)
    definition = ModelDefinition(provider="keyed", model="k", api_key="env:LLMREG_PF_KEY")
    info = CustomSaver(experiment=experiment).save(definition)  # no key needed to save
    with pytest.raises(SecretResolutionError, match="LLMREG_PF_KEY"):
        mlflow.pyfunc.load_model(info.uri)
    monkeypatch.setenv("LLMREG_PF_KEY", "sk-at-load-time")
    model = mlflow.pyfunc.load_model(info.uri)
    assert providers.keys[-1] == "sk-at-load-time"
    assert model.predict(pd.DataFrame({"input": ["k"]}))["prediction"].tolist() == ["echo: k"]
