"""``CustomLoader.Adapter.load_context(context)`` inside a host's own MLflow model.

The seed names it beside ``CustomSaver.Adapter.load_context``: a host that ships its
own ``mlflow.pyfunc.PythonModel`` with a llmreg definition as an artifact builds the
loader's adapter from MLflow's context in its ``load_context``, and MLflow's own
loader then runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from llmreg.definition import ModelDefinition

HOST_MODEL = """
import mlflow.models
import pandas as pd
from mlflow.pyfunc import PythonModel

from llmreg_pyfunc import CustomLoader


class HostModel(PythonModel):
    def load_context(self, context):
        self.adapter = CustomLoader.Adapter.load_context(context)

    def predict(self, context, model_input: pd.DataFrame, params=None):
        out = self.adapter.predict(model_input)
        return [f"host<{p}>" for p in out.predictions]


mlflow.models.set_model(HostModel())
"""


def test_a_host_model_builds_the_loader_adapter_in_its_load_context(
    tmp_path: Path, experiment: str, providers: Any
) -> None:
    code = tmp_path / "host_model.py"
    code.write_text(HOST_MODEL, encoding="utf-8")
    definition = tmp_path / "definition.json"
    definition.write_text(ModelDefinition(provider="echo", model="hosted").to_json())
    experiment_id = mlflow.MlflowClient().create_experiment(experiment)
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.pyfunc.log_model(
            name="host",
            python_model=str(code),
            artifacts={"llmreg_config": str(definition)},
            pip_requirements=["mlflow"],
        )
    model = mlflow.pyfunc.load_model(info.model_uri)
    assert list(model.predict(pd.DataFrame({"input": ["a", "b"]}))) == [
        "host<echo: a>",
        "host<echo: b>",
    ]
    adapter = model.unwrap_python_model().adapter
    assert adapter.definition.model == "hosted"
    assert adapter.info["run_id"] == info.run_id
    adapter.close()
