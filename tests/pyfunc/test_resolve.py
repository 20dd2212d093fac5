"""How resolve.mlflow_errors types the I/O errors raised while a model is looked up or read."""

from __future__ import annotations

import pytest
import requests

from llmreg.errors import ModelNotFoundError, StoreUnavailableError
from llmreg_pyfunc.resolve import mlflow_errors


@pytest.mark.parametrize(
    "error",
    [
        PermissionError(13, "Permission denied", "/srv/mlruns/1/model"),
        requests.exceptions.ConnectionError("Max retries exceeded with url: /api/2.0/mlflow"),
        requests.exceptions.ConnectTimeout("connect timed out"),
        ConnectionRefusedError(111, "Connection refused"),
    ],
    ids=type,
)
def test_permission_and_connection_errors_are_store_unavailable(error: OSError) -> None:
    with (
        pytest.raises(StoreUnavailableError, match=type(error).__name__) as caught,
        mlflow_errors("run abc"),
    ):
        raise error
    assert "run abc" in str(caught.value)


@pytest.mark.parametrize(
    "error",
    [FileNotFoundError(2, "No such file or directory", "/srv/mlruns/1"), KeyError("model")],
    ids=type,
)
def test_missing_files_are_not_found(error: Exception) -> None:
    with (
        pytest.raises(ModelNotFoundError, match="run abc could not be read"),
        mlflow_errors("run abc"),
    ):
        raise error
