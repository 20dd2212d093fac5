"""The code file MLflow saves with every model (models-from-code): no pickled client.

MLflow runs this file when the model is loaded; it names the adapter, which reads
the model definition from the ``config_file`` artifact in ``load_context``.
"""

import mlflow.models

from llmreg_pyfunc.adapter import PyfuncAdapter

mlflow.models.set_model(PyfuncAdapter())
