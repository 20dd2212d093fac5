"""Registered versions of the echo pyfunc model on a tracking server, for the CLI/REST suites.

::

    from support.echo_versions import log_echo_versions

    refs = log_echo_versions(server.url, MlflowRegister(tracking_uri=server.url), name,
                             ["sha256:" + "one" * 8, "sha256:" + "two" * 8])
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: The pyfunc model logged (models-from-code): it echoes its input.
ECHO_MODEL = Path(__file__).parents[1] / "mlflow" / "echo_model.py"


def log_echo_versions(
    tracking_uri: str, register: Any, name: str, content_hashes: Iterable[str]
) -> list[Any]:
    """Log :data:`ECHO_MODEL` once per content hash (its ``llmreg_content_hash``
    metadata), each in a new run at ``tracking_uri``, and register each as the next
    version of ``name`` with ``register``; return the ``ModelVersionRef`` of each."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    refs = []
    for content_hash in content_hashes:
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(ECHO_MODEL),
                pip_requirements=["mlflow"],
                metadata={"llmreg_content_hash": content_hash},
            )
        refs.append(register.register(name, info.model_uri))
    return refs


__all__ = ["ECHO_MODEL", "log_echo_versions"]
