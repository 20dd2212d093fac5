"""Capabilities are declared: a component subclasses one, and the core asks with isinstance."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmreg import CapabilityMissingError, ModelDefinition
from llmreg.capabilities import (
    ChatPassThrough,
    Closeable,
    EvaluationLogger,
    ScorerSource,
    SparkPredictor,
    StreamingClient,
    require,
)
from llmreg.cli import cli
from llmreg.echo_client import EchoClient
from llmreg.manager import set_plugin_manager
from llmreg.testing import isolated_manager
from llmreg_example import plugin
from llmreg_example.folder import FolderLoader

SPARK_LOADER = Path(__file__).resolve().parents[1] / "plugins/example/spark_loader.py"


def test_the_guides_loader_declares_spark_and_the_core_finds_it():
    """The guide's file runs as written (its own require() passes); isinstance finds it."""
    spec = importlib.util.spec_from_file_location("spark_loader", SPARK_LOADER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert isinstance(module.loader, SparkPredictor)
    assert module.loader.KIND == "SparkFolderLoader"


def test_a_loader_that_does_not_declare_a_capability_gets_a_typed_error_naming_it():
    with pytest.raises(CapabilityMissingError) as caught:
        require(FolderLoader(), SparkPredictor, "loader")
    message = str(caught.value)
    assert message.startswith("the loader KIND 'FolderLoader' cannot run a Spark job")
    assert "SparkPredictor" in message and "pip install llmreg-pyfunc" in message


def test_a_method_of_the_right_name_is_not_a_declaration():
    """No probing: a spark_predict method on a class that does not subclass is not used."""

    class Undeclared(FolderLoader):
        def spark_predict(self, *args, **kwargs):
            return None

    assert not isinstance(Undeclared(), SparkPredictor)
    with pytest.raises(CapabilityMissingError):
        require(Undeclared(), SparkPredictor, "loader")


def test_a_client_is_closeable_but_streams_only_when_it_declares_it():
    client = EchoClient(ModelDefinition(provider="echo", model="e"))
    assert isinstance(client, Closeable)
    for capability in (StreamingClient, ChatPassThrough, EvaluationLogger, ScorerSource):
        assert not isinstance(client, capability)
    with pytest.raises(CapabilityMissingError, match=r"provider .echo.*StreamingClient"):
        require(client, StreamingClient, "client")


def test_llmreg_predict_spark_with_a_loader_without_it_names_the_capability(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps("hi") + "\n")
    set_plugin_manager(isolated_manager(plugin))
    try:
        args = ["--loader", "FolderLoader", "predict", "x", "--file", str(prompts), "--spark"]
        done = CliRunner().invoke(cli, args)
    finally:
        set_plugin_manager(None)
    assert done.exit_code != 0
    assert "SparkPredictor" in done.output and "FolderLoader" in done.output, done.output
