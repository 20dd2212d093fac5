"""A tiny MLflow models-from-code model for the registry tests: it echoes its input."""

import mlflow
from mlflow.pyfunc import PythonModel


class EchoModel(PythonModel):
    """Answers each row with itself."""

    def predict(self, context, model_input: list[str], params=None) -> list[str]:
        """Return the input unchanged."""
        return model_input


mlflow.models.set_model(EchoModel())
