"""Typed errors of register(): raised before anything is created, leaving no orphan model."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmreg.errors import (
    ConfigError,
    LlmregError,
    RegistrationError,
    RegistrationInputError,
    StoreUnavailableError,
)
from llmreg_mlflow import MlflowRegister
from support.mlflow_server import free_port


@pytest.fixture
def no_new_models(store):
    """Asserts the test leaves the set of registered models as it found it."""
    before = store.registered_model_names()
    yield
    assert store.registered_model_names() == before


@pytest.mark.parametrize(
    "model_uri",
    [
        "models:/m-0123456789abcdef0123456789abcdef",
        "runs:/0123456789abcdef0123456789abcdef/model",
        "models:/no-such-model/1",
        "models:/no-such-model@champion",
    ],
)
def test_a_uri_that_does_not_exist(name, model_uri, no_new_models) -> None:
    with pytest.raises(RegistrationError, match="does not exist or is not an MLflow model"):
        MlflowRegister().register(name, model_uri)


def test_a_missing_local_path(name, tmp_path: Path, no_new_models) -> None:
    with pytest.raises(RegistrationError, match="does not exist or is not an MLflow model"):
        MlflowRegister().register(name, str(tmp_path / "nothing-here"))


def test_a_folder_that_is_not_a_model(name, tmp_path: Path, no_new_models) -> None:
    (tmp_path / "weights.bin").write_bytes(b"\0" * 8)
    with pytest.raises(RegistrationError, match="is not an MLflow model"):
        MlflowRegister().register(name, str(tmp_path))


def test_a_run_artifact_that_is_not_a_model(name, store, no_new_models) -> None:
    import mlflow

    with mlflow.start_run() as run:
        mlflow.log_text("just text", "notes/readme.txt")
    with pytest.raises(RegistrationError, match="is not an MLflow model"):
        MlflowRegister().register(name, f"runs:/{run.info.run_id}/notes")


def test_a_corrupt_content_hash_in_the_metadata(name, store, no_new_models) -> None:
    import mlflow

    from llmreg.hashing import CONTENT_HASH_KEY

    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(Path(__file__).with_name("echo_model.py")),
            pip_requirements=["mlflow"],
            metadata={CONTENT_HASH_KEY: "x' or '1'='1"},
        )
    with pytest.raises(RegistrationError, match="not a content hash"):
        MlflowRegister().register(name, info.model_uri)


@pytest.mark.parametrize("bad_name", ["", "a/b", "a:b", "a@b", "with space"])
def test_a_bad_name(bad_name, log_model, no_new_models) -> None:
    info = log_model("bad-name")
    with pytest.raises(RegistrationError, match="invalid registered model name"):
        MlflowRegister().register(bad_name, info.model_uri)


def test_an_empty_uri(name, no_new_models) -> None:
    with pytest.raises(RegistrationError, match="model_uri"):
        MlflowRegister().register(name, "  ")


@pytest.mark.parametrize(
    "config, says",
    [
        ({"tags": {"notes": "x" * 100_001}}, "100,001 characters"),
        ({"tags": {"/abs": "v"}}, "invalid tag key"),
        ({"model_tags": {"k": "x" * 100_001}}, "registered-model tag"),
    ],
)
def test_tags_over_mlflows_limits_are_refused_before_any_write(
    name, log_model, no_new_models, config, says
) -> None:
    info = log_model("refused-early")
    with pytest.raises(RegistrationInputError, match=says):
        MlflowRegister(**config).register(name, info.model_uri)


def _refuse_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store refuses the version creation itself, after the model was created."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    def refuse(self, *args, **kwargs):
        raise MlflowException("refused by the store", INVALID_PARAMETER_VALUE)

    monkeypatch.setattr(MlflowClient, "create_model_version", refuse)


def test_a_failed_first_version_leaves_no_empty_model(
    name, log_model, no_new_models, monkeypatch
) -> None:
    info = log_model("refused")
    _refuse_versions(monkeypatch)
    with pytest.raises(RegistrationError, match="MLflow refused"):
        MlflowRegister().register(name, info.model_uri)


def test_a_failed_later_version_keeps_the_model(name, log_model, store, monkeypatch) -> None:
    MlflowRegister().register(name, log_model("kept").model_uri)
    nope = log_model("nope").model_uri
    with monkeypatch.context() as patch:
        _refuse_versions(patch)
        with pytest.raises(RegistrationError):
            MlflowRegister().register(name, nope)
    assert name in store.registered_model_names()
    assert [v.version for v in MlflowRegister().versions(name)] == [1]


def test_the_content_hash_tag_is_reserved() -> None:
    from pydantic import ValidationError

    from llmreg.hashing import CONTENT_HASH_KEY

    with pytest.raises(ValidationError, match=CONTENT_HASH_KEY):
        MlflowRegister(tags={CONTENT_HASH_KEY: "sha256:0"})


def test_a_dead_tracking_server_is_store_unavailable(name, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    register = MlflowRegister(tracking_uri=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StoreUnavailableError, match="cannot be reached"):
        register.register(name, "models:/m-0123456789abcdef0123456789abcdef")
    with pytest.raises(StoreUnavailableError):
        register.versions(name)
    with pytest.raises(StoreUnavailableError):
        register.promote(name, 1)


def test_no_bare_mlflow_exception_escapes(name, store) -> None:
    from mlflow.exceptions import MlflowException

    with pytest.raises(LlmregError) as caught:
        MlflowRegister().history(name)
    assert not isinstance(caught.value, MlflowException)


def test_an_unsupported_store_uri_is_a_typed_error(name) -> None:
    # the store URI is configuration: a ConfigError, in the register as in the saver and loader
    with pytest.raises(ConfigError, match="unsupported URI 'foo://bar'"):
        MlflowRegister(tracking_uri="foo://bar").versions(name)
