"""Names shared by the saver, the adapter and the loader: how a saved model is laid out.

A model saved by :class:`~llmreg_pyfunc.saver.CustomSaver` is an MLflow pyfunc
model whose ``MLmodel`` metadata holds :data:`FORMAT_KEY` (= :data:`FORMAT`),
:data:`CONFIG_KEY` (the config file name) and the content hash, and whose
artifact :data:`ARTIFACT_KEY` is the model definition JSON.
"""

from __future__ import annotations

#: MLmodel metadata key that marks a llmreg pyfunc model.
FORMAT_KEY = "llmreg_format"
#: Its value; bump the suffix on an incompatible layout change.
FORMAT = "llmreg-pyfunc/1"
#: MLmodel metadata key holding the name of the definition JSON artifact.
CONFIG_KEY = "llmreg_config_file"
#: The key of the definition JSON in the pyfunc model's ``artifacts``.
ARTIFACT_KEY = "llmreg_config"
#: The folder MLflow copies pyfunc artifacts into.
ARTIFACTS_DIR = "artifacts"
