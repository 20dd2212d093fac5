"""Batch prediction on a real local[2] Spark, against the fake OpenAI endpoint.

One SparkSession serves the module; each test asserts what a user of
:func:`llmreg_pyfunc.spark.predict_frame`, MLflow's ``spark_udf`` or
``llmreg predict --spark`` relies on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from llmreg import hookimpl
from llmreg.bases import Loader
from llmreg.testing import registered
from support.openai_server import FakeOpenAIServer


def test_predict_frame_answers_every_row_with_its_metadata(
    spark: Any, champion: str, endpoint: FakeOpenAIServer, store: Path, key: str
) -> None:
    from llmreg_pyfunc.spark import predict_frame

    rows = [(i, f"q{i}") for i in range(40)] + [(40, "[fault 500] broken")]
    frame = spark.createDataFrame(rows, "id long, input string").repartition(2)
    endpoint.latency = 0.05
    try:
        result = predict_frame(frame, champion, concurrency=8)
        plan = result._jdf.queryExecution().toString()
        answers = {r["id"]: r for r in result.collect()}
        in_flight = endpoint.max_in_flight("spark-model")
    finally:
        endpoint.latency = 0.0
    assert [f.name for f in result.schema.fields] == ["id", "prediction", "metadata"]
    assert len(answers) == 41
    ok = answers[7]
    assert ok["prediction"] == "echo: q7"
    meta = ok["metadata"]
    assert meta["status"] == "ok" and meta["error"] is None
    assert meta["version"] == 1 and meta["name"] == "chat" and meta["alias"] == "champion"
    assert meta["model"] == "spark-model"
    assert meta["latency_ms"] >= 50
    assert meta["usage"]["completion_tokens"] == 2
    failed = answers[40]
    assert failed["prediction"] is None
    assert failed["metadata"]["status"] == "error"
    assert failed["metadata"]["status_code"] == 500
    # two tasks, each with several requests in flight: not one at a time
    assert in_flight > 2
    # the key resolved on the executors reached the endpoint, and nothing else
    assert endpoint.chat_requests("spark-model")[-1].authorization == f"Bearer {key}"
    assert key not in plan
    assert key not in json.dumps([r.asDict(recursive=True) for r in answers.values()])
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty(10_000)
    events = b"".join(p.read_bytes() for p in (store / "spark-events").rglob("*") if p.is_file())
    assert events and key.encode() not in events


def test_mlflow_spark_udf_over_an_input_column(spark: Any, champion: str) -> None:
    import mlflow.pyfunc
    from pyspark.sql.functions import struct

    frame = spark.createDataFrame([("hello",), ("world",)], "input string")
    udf = mlflow.pyfunc.spark_udf(spark, champion, result_type="string", env_manager="local")
    # the prompt columns as one struct: MLflow does not fill the absent 'messages' with NaN
    got = frame.withColumn("prediction", udf(struct("input"))).collect()
    assert [r["prediction"] for r in got] == ["echo: hello", "echo: world"]


def test_spark_udf_rebuilds_the_model_env_with_uv(spark: Any, champion: str) -> None:
    """MLflow's UDF builds the model's environment from its requirements (the llmreg
    wheels it carries, the rest from the index) and answers from a scoring server in it."""
    import mlflow.pyfunc
    from pyspark.sql.functions import struct

    frame = spark.createDataFrame([("isolated",)], "input string")
    udf = mlflow.pyfunc.spark_udf(spark, champion, result_type="string", env_manager="uv")
    (row,) = frame.withColumn("prediction", udf(struct("input"))).collect()
    assert row["prediction"] == "echo: isolated"


def test_chat_messages_column(spark: Any, champion: str) -> None:
    from llmreg_pyfunc.spark import predict_frame

    frame = spark.createDataFrame(
        [("a", [{"role": "user", "content": "hi there"}])],
        "id string, messages array<struct<role:string,content:string>>",
    )
    (row,) = predict_frame(frame, champion).collect()
    assert row["id"] == "a"
    assert row["prediction"] == "echo: hi there"


def test_cli_predict_spark_writes_the_local_batch_columns(
    spark: Any, champion: str, store: Path, tmp_path: Path, key: str
) -> None:
    from click.testing import CliRunner

    from llmreg.cli import cli as main

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"id": "1", "input": "one"}\n"two"\n{"input": "[fault 401] x"}\n')
    runner = CliRunner()
    local = runner.invoke(main, ["predict", champion, "--file", str(prompts), "--json"])
    out = tmp_path / "out.jsonl"
    distributed = runner.invoke(
        main, ["predict", champion, "--file", str(prompts), "--spark", "local[2]", "-o", str(out)]
    )
    assert distributed.exit_code == 1, distributed.output  # one row failed
    assert "1 of 3 rows failed" in distributed.output
    written = [json.loads(line) for p in sorted(out.glob("part-*")) for line in p.open()]
    local_rows = [json.loads(line) for line in local.stdout.splitlines()]
    local_rows = [r for r in local_rows if "prediction" in r]  # not the --json error line
    assert len(written) == len(local_rows) == 3
    by_input = {r["prediction"]: r for r in written}
    assert set(by_input) == {"echo: one", "echo: two", None}
    assert by_input["echo: one"]["id"] == "1"
    for spark_row, local_row in zip(
        sorted(written, key=lambda r: str(r["prediction"])),
        sorted(local_rows, key=lambda r: str(r["prediction"])),
        strict=True,
    ):
        assert set(spark_row) - {"id"} == set(local_row) - {"id"} == {"prediction", "metadata"}
        assert spark_row["metadata"]["status"] == local_row["metadata"]["status"]
    assert all(key not in p.read_text() for p in out.glob("part-*"))
    # Parquet in, Parquet out
    source = tmp_path / "prompts.parquet"
    spark.createDataFrame([(7, "seven")], "id long, input string").write.parquet(str(source))
    target = tmp_path / "answers.parquet"
    done = runner.invoke(
        main, ["predict", champion, "--file", str(source), "--spark", "-o", str(target)]
    )
    assert done.exit_code == 0, done.output
    (row,) = spark.read.parquet(str(target)).collect()
    assert (row["id"], row["prediction"], row["metadata"]["status"]) == (7, "echo: seven", "ok")


class _NoSparkLoader(Loader):
    """A loader without ``spark_predict``."""

    KIND: Literal["NoSparkLoader"] = "NoSparkLoader"

    def load(self, uri: str) -> Any:
        """Never reached: the CLI checks for spark_predict first."""
        raise AssertionError("not called")


class _NoSparkPlugin:
    @hookimpl
    def llmreg_register_loaders(self, register: Any) -> None:
        register(_NoSparkLoader)


def test_cli_spark_with_a_loader_that_cannot_is_a_typed_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from llmreg.cli import cli as main

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('"one"\n')
    with registered(_NoSparkPlugin()):
        done = CliRunner().invoke(
            main,
            ["--loader", "NoSparkLoader", "predict", "models:/x/1", "--file", str(prompts),
             "--spark", "--json"],
        )  # fmt: skip
    assert done.exit_code == 1
    error = json.loads(done.stdout.splitlines()[-1])["error"]
    assert error["type"] == "CapabilityMissingError"  # a ConfigError
    assert "loader KIND 'NoSparkLoader' cannot run a Spark job" in error["message"]
    assert "SparkPredictor" in error["message"]
    assert "llmreg-pyfunc" in error["message"]


def test_a_null_prompt_row_is_an_error_row_and_the_job_goes_on(spark: Any, champion: str) -> None:
    from llmreg_pyfunc.spark import predict_frame

    rows = [(1, "one"), (2, None), (3, "three")]
    frame = spark.createDataFrame(rows, "id long, input string").coalesce(1)
    answers = {r["id"]: r for r in predict_frame(frame, champion).collect()}
    assert answers[1]["prediction"] == "echo: one" and answers[3]["prediction"] == "echo: three"
    empty = answers[2]
    assert empty["prediction"] is None
    assert empty["metadata"]["status"] == "error"
    assert "no prompt" in empty["metadata"]["error"]
    assert empty["metadata"]["name"] == "chat"
