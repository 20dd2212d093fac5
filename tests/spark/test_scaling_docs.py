"""The Spark examples of docs/scaling.md run as written, on the suite's local[2] Spark.

``predict_frame``'s example reads and writes Parquet in Spark's folder; MLflow's
``spark_udf`` example (``env_manager="uv"``, so the model's environment is rebuilt
from its wheels) runs over a frame of ``id`` and ``input``, and the forms the page
names, a single column, a struct, separate columns (with ``env_manager="local"`` and
in the rebuilt environment, whose failure costs MLflow's 60 s scoring timeout), do what
it says.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from support.docs import marked

DOC = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"


def _python_blocks() -> list[str]:
    """The page's python blocks, dedented (one sits in a numbered list)."""
    found = re.findall(r"^( *)```python\n(.*?)^\1```", DOC.read_text(), flags=re.S | re.M)
    return [textwrap.dedent(body) for _, body in found]


def _quoted_error() -> str:
    """The error the page quotes for separate columns, its whitespace collapsed."""
    text = " ".join(DOC.read_text().split())
    found = re.search(r"it refuses them with `([^`]+)`", text)
    assert found, "docs/scaling.md no longer quotes the separate-columns error"
    return found[1]


@pytest.fixture(scope="module")
def udf_example(spark: Any, champion: str) -> dict[str, Any]:
    """The namespace of the page's ``spark_udf`` block, run over ``id``/``input`` rows."""
    (block,) = [b for b in _python_blocks() if "spark_udf" in b]
    prompts = spark.createDataFrame([(1, "hello"), (2, "world")], "id long, input string")
    namespace: dict[str, Any] = {"spark": spark, "prompts": prompts}
    exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102
    return namespace


def test_the_predict_frame_example_runs_as_written(spark: Any, champion: str, store: Path) -> None:
    (block,) = [b for b in _python_blocks() if "predict_frame(" in b]
    # Spark reads and writes relative paths in the JVM's folder: the store's (conftest)
    written = [store / "prompts.parquet", store / "answers.parquet"]
    for path in written:
        shutil.rmtree(path, ignore_errors=True)
    try:
        spark.createDataFrame([(1, "one"), (2, "two")], "id long, input string").write.parquet(
            "prompts.parquet"
        )
        exec(compile(block, str(DOC), "exec"), {"__name__": "docs_scaling"})  # noqa: S102
        rows = spark.read.parquet(str(store / "answers.parquet")).collect()
    finally:
        for path in written:
            shutil.rmtree(path, ignore_errors=True)
    got = sorted((r["id"], r["prediction"], r["metadata"]["status"]) for r in rows)
    assert got == [(1, "echo: one", "ok"), (2, "echo: two", "ok")]


def test_the_spark_udf_example_answers_a_column_and_a_struct(udf_example: dict[str, Any]) -> None:
    for name in ("answers", "tagged"):
        rows = udf_example[name].collect()
        assert sorted((r["id"], r["prediction"]) for r in rows) == [
            (1, "echo: hello"),
            (2, "echo: world"),
        ], name


def test_the_udf_takes_a_messages_column(spark: Any, udf_example: dict[str, Any]) -> None:
    frame = spark.createDataFrame(
        [([{"role": "user", "content": "hi there"}],)],
        "messages array<struct<role:string,content:string>>",
    )
    (row,) = frame.withColumn("prediction", udf_example["udf"]("messages")).collect()
    assert row["prediction"] == "echo: hi there"


def test_separate_columns_fail_with_the_error_the_page_quotes(spark: Any, champion: str) -> None:
    import mlflow.pyfunc

    udf = mlflow.pyfunc.spark_udf(spark, champion, result_type="string", env_manager="local")
    prompts = spark.createDataFrame([(1, "hello")], "id long, input string")
    with pytest.raises(Exception) as failed:  # pyspark's PythonException
        prompts.withColumn("prediction", udf("id", "input")).collect()
    assert _quoted_error() in " ".join(str(failed.value).split())


def test_in_a_rebuilt_env_separate_columns_fail_with_a_scoring_timeout(
    udf_example: dict[str, Any],
) -> None:
    udf, prompts = udf_example["udf"], udf_example["prompts"].limit(1)
    with pytest.raises(Exception) as failed:  # pyspark's PythonException
        prompts.withColumn("prediction", udf("id", "input")).collect()
    assert "MlflowException: Scoring timeout" in str(failed.value)
    assert "SchemaError" not in str(failed.value)  # MLflow's UDF does not pass it on


def test_the_pages_python_blocks_are_the_ones_run_here() -> None:
    ran = [b.body for b in marked("docs/scaling.md", "scaling") if b.lang == "python"]
    assert ran == [b for b in _python_blocks() if "predict_frame(" in b or "spark_udf" in b]


def test_the_command_line_jobs_run_as_written(spark: Any, champion: str, store: Path) -> None:
    """``predict --spark local[4]`` on Parquet, then ``--spark`` (spark-submit's master)."""
    [block] = [b for b in marked("docs/scaling.md", "scaling") if b.lang == "bash"]
    written = [
        store / n for n in ("prompts.parquet", "answers.parquet", "prompts.jsonl", "answers")
    ]
    for path in written:
        shutil.rmtree(path, ignore_errors=True)
    try:
        spark.createDataFrame([(1, "one"), (2, "two")], "id long, input string").write.parquet(
            "prompts.parquet"
        )
        (store / "prompts.jsonl").write_text('"three"\n{"id": "4", "input": "four"}\n')
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        done = subprocess.run(
            ["bash", "-c", block.body], cwd=store, env=env, capture_output=True, text=True,
            timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        rows = spark.read.parquet(str(store / "answers.parquet")).collect()
        assert sorted((r["id"], r["prediction"]) for r in rows) == [
            (1, "echo: one"),
            (2, "echo: two"),
        ]
        lines = [
            json.loads(line)
            for part in sorted((store / "answers").glob("part-*"))
            for line in part.read_text().splitlines()
        ]
        assert sorted(r["prediction"] for r in lines) == ["echo: four", "echo: three"]
    finally:
        for path in written:
            shutil.rmtree(path, ignore_errors=True)
