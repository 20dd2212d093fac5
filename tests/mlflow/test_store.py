"""The MLflow layer (llmreg_mlflow.store): one classification of MLflow's errors, one
translation per operation, the resolver's pieces, and the CLI's store defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from mlflow.exceptions import MlflowException

from llmreg.errors import (
    ConfigError,
    InvalidModelURIError,
    ModelNotFoundError,
    RegistrationError,
    StoreUnavailableError,
    UnsupportedModelFormatError,
)
from llmreg.uris import parse_model_uri
from llmreg_mlflow.store.errors import (
    LOAD,
    REGISTER,
    SAVE,
    classify,
    mlflow_errors,
    translate,
)
from llmreg_mlflow.store.resolve import (
    join_uri,
    locate,
    logged_model_uri,
    open_store,
    read_mlmodel,
)

OPERATIONS = {"save": SAVE, "load": LOAD, "register": REGISTER}


def _mlflow_error(code: str, message: str = "refused") -> MlflowException:
    from mlflow.protos import databricks_pb2

    return MlflowException(message, error_code=getattr(databricks_pb2, code))


@pytest.mark.parametrize(
    "error",
    [
        PermissionError(13, "Permission denied", "/srv/mlruns/1/model"),
        requests.exceptions.ConnectionError("Max retries exceeded with url: /api/2.0/mlflow"),
        requests.exceptions.ConnectTimeout("connect timed out"),
        ConnectionRefusedError(111, "Connection refused"),
        MlflowException("API request to http://127.0.0.1:9 failed: Max retries exceeded"),
        MlflowException("(sqlite3.OperationalError) unable to open database file"),
        _mlflow_error("TEMPORARILY_UNAVAILABLE", "try later"),
    ],
    ids=lambda e: f"{type(e).__name__}-{str(e)[:20]}",
)
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_an_outage_is_store_unavailable_in_every_operation(
    error: Exception, operation: str
) -> None:
    assert classify(error) == "unreachable"
    with (
        pytest.raises(StoreUnavailableError, match=type(error).__name__) as caught,
        mlflow_errors("doing things with run abc", OPERATIONS[operation]),
    ):
        raise error
    assert "doing things with run abc" in str(caught.value)
    assert "cannot be reached" in str(caught.value)
    assert caught.value.__cause__ is error


def test_an_outage_behind_a_wrapping_exception_is_found_in_the_chain() -> None:
    outer = MlflowException("request failed")
    outer.__cause__ = requests.exceptions.ConnectionError("refused")
    assert classify(outer) == "unreachable"
    assert classify(MlflowException("request failed")) == "other"


@pytest.mark.parametrize(
    "error, kind",
    [
        (_mlflow_error("RESOURCE_DOES_NOT_EXIST"), "not_found"),
        (FileNotFoundError(2, "No such file or directory", "/srv/mlruns/1"), "not_found"),
        (_mlflow_error("INVALID_PARAMETER_VALUE"), "bad_input"),
        (_mlflow_error("RESOURCE_ALREADY_EXISTS"), "conflict"),
        (_mlflow_error("INTERNAL_ERROR", "boom"), "other"),
        (OSError("disk full while uploading"), "other"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_each_kind_becomes_the_operations_error(error: Exception, kind: str) -> None:
    assert classify(error) == kind
    for name, translation in OPERATIONS.items():
        expected = getattr(translation, kind)
        got = translate(error, f"{name} of x", translation)
        assert type(got) is expected, (name, kind)
        assert got.args[0].startswith(f"{name} of x: ")


def test_the_tables_say_what_each_operation_raises() -> None:
    assert (LOAD.not_found, LOAD.bad_input, LOAD.other) == (
        ModelNotFoundError,
        InvalidModelURIError,
        StoreUnavailableError,
    )
    assert (REGISTER.not_found, REGISTER.bad_input, REGISTER.other) == (
        ModelNotFoundError,
        RegistrationError,
        RegistrationError,
    )
    assert (SAVE.not_found, SAVE.bad_input, SAVE.other) == (
        ConfigError,
        ConfigError,
        StoreUnavailableError,
    )


def test_llmreg_errors_pass_through_and_others_are_not_caught() -> None:
    with pytest.raises(ModelNotFoundError, match="as it was"), mlflow_errors("x", REGISTER):
        raise ModelNotFoundError("as it was")
    with pytest.raises(ZeroDivisionError), mlflow_errors("x", REGISTER):
        _ = 1 / 0


def test_credentials_in_an_error_are_masked() -> None:
    error = requests.exceptions.ConnectionError("http://bob:hunter22@db.example/ refused")
    message = str(translate(error, "x", LOAD))
    assert "hunter22" not in message and "http://***@db.example" in message


@pytest.mark.parametrize(
    "location, expected",
    [
        ("/srv/mlruns/1/abc/artifacts", "/srv/mlruns/1/abc/artifacts/MLmodel"),
        ("file:///srv/mlruns/1/", "file:///srv/mlruns/1/MLmodel"),
        ("s3://bucket/models/m-1?versionId=3", "s3://bucket/models/m-1/MLmodel?versionId=3"),
        (
            "mlflow-artifacts:/1/models/m-1/artifacts",
            "mlflow-artifacts:/1/models/m-1/artifacts/MLmodel",
        ),
    ],
)
def test_join_uri(location: str, expected: str) -> None:
    assert join_uri(location, "MLmodel") == expected


def test_logged_model_uri_is_checked_by_llmreg_uris() -> None:
    assert logged_model_uri("m-0123abcd") == "models:/m-0123abcd"
    assert parse_model_uri(logged_model_uri("m-0123abcd")).kind == "logged_model"
    with pytest.raises(InvalidModelURIError):
        logged_model_uri("chat/1")


def test_locate_names_what_is_missing(store) -> None:
    found = open_store()
    with pytest.raises(ModelNotFoundError, match="registered model 'nothing-here' does not exist"):
        locate(found, parse_model_uri("models:/nothing-here@champion"))
    with pytest.raises(ModelNotFoundError, match="logged model m-0123"):
        locate(found, parse_model_uri("models:/m-0123456789abcdef0123456789abcdef"))
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        locate(found, parse_model_uri("/no/such/folder"))
    with pytest.raises(InvalidModelURIError, match="NUL"):
        locate(found, parse_model_uri("/a\x00path"))


def test_locate_pins_an_alias_to_its_version(store, log_model, name) -> None:
    from llmreg_mlflow import MlflowRegister

    info = log_model("located")
    register = MlflowRegister()
    register.register(name, info.model_uri)
    register.promote(name, 1, "live")
    located = locate(open_store(), parse_model_uri(f"models:/{name}@live"))
    assert (located.name, located.version, located.alias) == (name, 1, "live")
    assert located.run_id == info.run_id
    assert located.info["model_uri"] == f"models:/{name}@live"


def test_read_mlmodel_types_what_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedModelFormatError, match="no MLmodel"):
        read_mlmodel(tmp_path / "MLmodel", "the folder")
    (tmp_path / "MLmodel").write_text("flavors: [unclosed\n")
    with pytest.raises(UnsupportedModelFormatError, match="unreadable MLmodel"):
        read_mlmodel(tmp_path / "MLmodel", "the folder")


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_an_unsupported_store_uri_is_a_config_error_in_every_operation(operation: str) -> None:
    with pytest.raises(ConfigError, match="unsupported URI 'foo://bar'"):
        open_store("foo://bar", translation=OPERATIONS[operation])


# --- the CLI's store defaults (llmreg_cli_setup) --------------------------------------


def _cli_setup(debug: bool, env: dict[str, str], cwd: Path) -> dict[str, object]:
    code = (
        "import json, os, sys; from llmreg_mlflow.plugin import llmreg_cli_setup;"
        f"s = llmreg_cli_setup({debug});"
        "print(json.dumps({'store': dict(s.store), 'quiet': list(s.quiet),"
        " 'env': {k: os.environ.get(k) for k in ('MLFLOW_TRACKING_URI',"
        " 'MLFLOW_LOGGING_LEVEL', 'MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR')},"
        " 'mlflow': 'mlflow' in sys.modules}))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout)


def test_cli_setup_defaults_the_store_and_quiets_mlflow(tmp_path: Path) -> None:
    got = _cli_setup(False, {}, tmp_path)
    uri = f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert got["store"] == {"tracking_uri": uri, "registry_uri": None, "source": "default"}
    assert got["quiet"] == ["mlflow"]
    assert got["env"] == {
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_LOGGING_LEVEL": "ERROR",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    assert got["mlflow"] is False  # the hook imports no mlflow


def test_cli_setup_keeps_what_the_user_set_and_debug_keeps_mlflow_talking(
    tmp_path: Path,
) -> None:
    env = {
        "MLFLOW_TRACKING_URI": "http://tracking.example:5000",
        "MLFLOW_REGISTRY_URI": "sqlite:///registry.db",
        "MLFLOW_LOGGING_LEVEL": "WARNING",
    }
    got = _cli_setup(False, env, tmp_path)
    assert got["store"] == {
        "tracking_uri": "http://tracking.example:5000",
        "registry_uri": "sqlite:///registry.db",
        "source": "environment",
    }
    assert got["env"]["MLFLOW_LOGGING_LEVEL"] == "WARNING"
    debug = _cli_setup(True, {}, tmp_path)
    assert debug["env"]["MLFLOW_LOGGING_LEVEL"] is None
    assert debug["env"]["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] is None
    assert debug["quiet"] == ["mlflow"]
