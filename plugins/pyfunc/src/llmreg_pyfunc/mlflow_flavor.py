"""A thin flavor for ``mlflow.models.Model.log``: pyfunc's ``save_model`` plus a secret scan.

``Model.log`` writes the model into a temporary folder, then uploads it. This
flavor saves with ``mlflow.pyfunc.save_model`` and scans every file of that
folder for secrets *before* the upload; it also swallows ``Model.log``'s
``validate_serving_input`` switch, which pyfunc's ``save_model`` does not accept.
Turning that switch off is what keeps MLflow from calling ``predict`` (and so the
LLM endpoint) on the input example while saving. How ``Model.log`` calls a flavor is
not documented: the saver goes through
:func:`llmreg_mlflow.store.private.log_model_with_flavor`, which says so.
"""

from __future__ import annotations

from typing import Any

from llmreg_pyfunc.secret_scan import check_directory


class ScanningPyfuncFlavor:
    """Passed as ``flavor`` to ``Model.log``.

    Args:
        secrets: values that must not occur in any saved file.
    """

    __name__ = "mlflow.pyfunc"

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets

    def save_model(self, path: str, mlflow_model: Any, **kwargs: Any) -> None:
        """Save the pyfunc model into ``path``, then refuse it if a secret is in any file.

        Raises:
            SecretPersistError: a file holds a secret; nothing has been uploaded.
        """
        import mlflow.pyfunc

        kwargs.pop("validate_serving_input", None)
        mlflow.pyfunc.save_model(path=path, mlflow_model=mlflow_model, **kwargs)
        check_directory(path, self.secrets)
