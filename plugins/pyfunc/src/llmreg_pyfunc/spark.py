"""Batch prediction on Spark: a llmreg model over a Spark DataFrame of prompts.

:func:`predict_frame` answers every row of a DataFrame with an ``input`` (text) or
``messages`` (chat) column, and an optional ``id`` column echoed in its result. It
returns a DataFrame with the columns of ``llmreg predict --file`` (``id`` when the
input has one, ``prediction``, ``metadata``), ``metadata`` being the struct
:data:`METADATA_TYPE_DDL`.

How a job runs:

- the driver downloads the model once and ships its folder to the executors
  (``SparkContext.addFile``), as ``mlflow.pyfunc.spark_udf`` does; executors need
  not reach the MLflow store;
- each executor process loads the model once (``mlflow.pyfunc.load_model``), so
  the definition's ``env:`` key is resolved there, from the executor's environment
  (``spark.executorEnv.NAME`` on a cluster); the key never enters the Spark plan,
  the closure or the results;
- each Arrow batch of a partition is one :meth:`ClientAdapter.predict
  <llmreg.adapter.ClientAdapter.predict>` call, so a task keeps up to
  ``concurrency`` requests in flight (the definition's, or the one given), with the
  definition's retries and fallbacks.

With plain ``mlflow.pyfunc.spark_udf``, call the UDF on the prompt column
(``udf("input")`` or ``udf("messages")``) or on a struct of named columns
(``udf(struct("id", "input"))``, the other columns filling template variables).
Separate columns (``udf("id", "input")``) reach the model unnamed (``0``, ``1``)
and are refused with a :class:`~llmreg.errors.SchemaError`. See :func:`chat_udf`
and docs/scaling.md.

pyspark and mlflow are imported inside the functions, never at import of this module.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmreg.errors import ConfigError, SchemaError

#: The prompt columns a DataFrame may have (at least one).
PROMPT_COLUMNS = ("input", "messages")
#: The per-row metadata of a Spark result, as a Spark DDL struct.
METADATA_TYPE_DDL = (
    "struct<status:string,error:string,error_type:string,status_code:int,"
    "model_uri:string,name:string,version:bigint,alias:string,run_id:string,"
    "model:string,latency_ms:double,"
    "usage:struct<prompt_tokens:bigint,completion_tokens:bigint,total_tokens:bigint>,"
    "finish_reason:string,attempts:int,fallback_index:int,timestamp:string>"
)
#: What ``mlflow.pyfunc.spark_udf`` returns with ``result_type=PREDICTION_TYPE``.
PREDICTION_TYPE = "string"

_INT_FIELDS = ("status_code", "version", "attempts", "fallback_index")
_STR_FIELDS = (
    "status",
    "error",
    "error_type",
    "model_uri",
    "name",
    "alias",
    "run_id",
    "model",
    "finish_reason",
    "timestamp",
)
_USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")

# one loaded model per executor process and model folder
_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()
# on the driver: the name each model folder was shipped under, per SparkContext
_SHIPPED: dict[tuple[Any, ...], str] = {}


@dataclass(frozen=True)
class SparkJobResult:
    """What :func:`spark_predict` did.

    Attributes:
        total: rows answered.
        failed: rows whose ``metadata.status`` is ``error``.
        output: where the results were written, or ``None``.
        records: the results as JSON-ready dicts when no output was given, else ``None``.
    """

    total: int
    failed: int
    output: str | None
    records: list[dict[str, Any]] | None


def metadata_row(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a result row's ``metadata`` dict in the fields of :data:`METADATA_TYPE_DDL`.

    Absent fields are ``None``; fields outside the struct are dropped.
    """
    meta = dict(metadata or {})
    out: dict[str, Any] = {}
    for key in _STR_FIELDS:
        value = meta.get(key)
        out[key] = None if _missing(value) else str(value)
    for key in _INT_FIELDS:
        out[key] = _as_int(meta.get(key))
    latency = meta.get("latency_ms")
    out["latency_ms"] = (
        float(latency) if isinstance(latency, int | float) and not _missing(latency) else None
    )
    usage = meta.get("usage")
    out["usage"] = (
        {key: _as_int(usage.get(key)) for key in _USAGE_FIELDS}
        if isinstance(usage, Mapping)
        else None
    )
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _as_int(value: Any) -> int | None:
    if _missing(value) or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def result_schema(frame_schema: Any) -> Any:
    """The Spark schema of :func:`predict_frame`'s result for an input of ``frame_schema``."""
    from pyspark.sql.types import StringType, StructField, StructType, _parse_datatype_string

    fields = [f for f in frame_schema.fields if f.name == "id"]
    fields += [
        StructField("prediction", StringType(), True),
        StructField("metadata", _parse_datatype_string(METADATA_TYPE_DDL), True),
    ]
    return StructType(fields)


def _load(folder: str) -> Any:
    """The model in ``folder``, loaded once per executor process."""
    with _MODELS_LOCK:
        model = _MODELS.get(folder)
        if model is None:
            import mlflow.pyfunc

            model = _MODELS[folder] = mlflow.pyfunc.load_model(folder)
        return model


def _answer_batches(
    shipped: str, params: dict[str, Any], info: dict[str, Any], keep_id: bool
) -> Any:  # pragma: no cover - runs in the Spark python worker (covered by tests/spark)
    """The function ``mapInPandas`` runs on each partition: one predict per Arrow batch."""

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pandas as pd
        from pyspark import SparkFiles

        folder = SparkFiles.get(shipped)
        model = _load(folder)
        for batch in batches:
            prompts = batch[[c for c in PROMPT_COLUMNS if c in batch.columns]]
            if "messages" in prompts.columns:
                prompts = prompts.assign(messages=[_plain_messages(m) for m in prompts.messages])
            # a row with no prompt at all is an error row in its place, never the batch's end
            asked = [i for i, row in enumerate(prompts.itertuples(index=False)) if _asks(row)]
            predictions: list[Any] = [None] * len(batch)
            metadata: list[dict[str, Any]] = [dict(NO_PROMPT) for _ in range(len(batch))]
            if asked:
                answers = model.predict(prompts.iloc[asked].reset_index(drop=True), params=params)
                for i, p, m in zip(asked, answers["prediction"], answers["metadata"], strict=True):
                    predictions[i], metadata[i] = p, m
            out = pd.DataFrame(index=range(len(batch)))
            if keep_id:
                out["id"] = batch["id"].to_numpy()
            out["prediction"] = pd.Series(
                [None if _missing(p) else p for p in predictions], dtype=object
            )
            out["metadata"] = pd.Series(
                [metadata_row({**m, **info}) for m in metadata], dtype=object
            )
            yield out

    return run


#: The metadata of a row whose prompt columns are all null.
NO_PROMPT = {
    "status": "error",
    "error": "the row has no prompt: its input and messages are null",
    "error_type": "SchemaError",
}


def _asks(row: Any) -> bool:
    """Whether a row of prompt columns holds a prompt (any column not null)."""
    return any(not _missing(value) for value in row)


def _plain_messages(messages: Any) -> Any:
    """Spark hands an array of structs as a numpy array of dicts (or Rows): plain lists."""
    if _missing(messages):
        return None
    return [dict(m.asDict() if hasattr(m, "asDict") else m) for m in messages]


def predict_frame(
    frame: Any,
    model_uri: str,
    *,
    concurrency: int | None = None,
    params: Mapping[str, Any] | None = None,
) -> Any:
    """Answer every row of the Spark DataFrame ``frame`` with the model at ``model_uri``.

    Args:
        frame: a Spark DataFrame with an ``input`` (string) and/or ``messages``
            (array of ``struct<role, content>``) column, and optionally ``id``.
        model_uri: any URI MLflow resolves (``models:/chat@champion``...), read on the driver.
        concurrency: requests in flight per task; the definition's when ``None``.
        params: other batch params (``temperature``, ``max_tokens``, ``top_p``,
            ``seed``, ``stop``).

    Returns:
        A lazy Spark DataFrame: ``id`` (when ``frame`` has it), ``prediction``
        (string, null for a failed row) and ``metadata`` (:data:`METADATA_TYPE_DDL`).

    Raises:
        SchemaError: ``frame`` has no prompt column, or ``params`` is not a mapping.
        ModelNotFoundError, StoreUnavailableError: as the download of ``model_uri``.
    """
    columns = list(frame.columns)
    if not any(c in columns for c in PROMPT_COLUMNS):
        raise SchemaError(
            f"the DataFrame has the columns {columns}; it needs a column 'input' (text) or "
            "'messages' (a list of {role, content})"
        )
    if params is not None and not isinstance(params, Mapping):
        raise SchemaError(f"params must be a mapping, not {type(params).__name__}")
    batch_params = dict(params or {})
    if concurrency is not None:
        batch_params["concurrency"] = int(concurrency)
    _check_params(batch_params)
    shipped, info = ship_model(frame.sparkSession, model_uri)
    keep = [c for c in columns if c in (*PROMPT_COLUMNS, "id")]
    return frame.select(*keep).mapInPandas(
        _answer_batches(shipped, batch_params, info, "id" in columns),
        result_schema(frame.schema),
    )


def _check_params(params: dict[str, Any]) -> None:
    from llmreg.adapter import split_params

    split_params(params)  # SchemaError before any task starts


def ship_model(spark: Any, model_uri: str) -> tuple[str, dict[str, Any]]:
    """Resolve ``model_uri`` and download the model on the driver (an alias is read once,
    so every task answers with the same version), add its folder to the job's files, and
    return the name executors find it under (``SparkFiles.get(name)``) with what each
    row's metadata reports of it (``model_uri``, ``name``, ``version``, ``alias``, ``run_id``).

    Raises:
        InvalidModelURIError: ``model_uri`` is malformed.
        ModelNotFoundError, StoreUnavailableError: the model cannot be found or downloaded.
    """
    import tempfile

    from llmreg_mlflow.store.resolve import download, locate_any, open_store

    store = open_store()
    located = locate_any(store, model_uri)
    info = {
        key: located.info.get(key) for key in ("model_uri", "name", "version", "alias", "run_id")
    }
    # a model already shipped to this SparkContext is not downloaded again, and the
    # workers keep the copy they loaded
    key = (id(spark.sparkContext), store.tracking_uri, located.location, located.version)
    with _MODELS_LOCK:
        shipped = _SHIPPED.get(key)
    if shipped is None:
        folder = download(store, located, Path(tempfile.mkdtemp(prefix="llmreg-spark-")))
        if not (folder / "MLmodel").is_file():
            raise ConfigError(f"{model_uri} is not an MLflow model (no MLmodel file)")
        spark.sparkContext.addFile(str(folder), recursive=True)
        shipped = folder.name
        with _MODELS_LOCK:
            _SHIPPED[key] = shipped
    return shipped, info


def chat_udf(spark: Any, model_uri: str, **kwargs: Any) -> Any:
    """Return ``mlflow.pyfunc.spark_udf(spark, model_uri, result_type="string", **kwargs)``
    for an llmreg model: call it on the prompt column or a struct of named columns,
    as ``df.withColumn("prediction", udf("input"))`` or ``udf(struct("id", "input"))``
    (separate columns arrive unnamed and are refused).

    This is MLflow's own UDF, so ``env_manager="virtualenv"`` or ``"uv"`` rebuilds the
    model's environment on the workers; it returns the prediction only (use
    :func:`predict_frame` for the metadata).
    """
    import mlflow.pyfunc

    kwargs.setdefault("result_type", PREDICTION_TYPE)
    return mlflow.pyfunc.spark_udf(spark, model_uri, **kwargs)


def read_prompts(spark: Any, path: str) -> Any:
    """Read a prompts file into a Spark DataFrame: Parquet (``.parquet`` or a folder of
    Parquet files) or JSON Lines (one string or row object per line).

    Raises:
        ConfigFileNotFoundError: the path does not exist.
    """
    from llmreg.errors import ConfigFileNotFoundError

    source = Path(path)
    if not source.exists():
        raise ConfigFileNotFoundError(f"prompts file {path} does not exist: check the path")
    if source.suffix == ".parquet" or (source.is_dir() and any(source.glob("*.parquet"))):
        return spark.read.parquet(str(source))
    text = spark.read.text(str(source))
    # a line is a JSON string or a row object; strings become {"input": ...}
    from pyspark.sql import functions as F  # noqa: N812

    line = F.trim(F.col("value"))
    rows = text.where(F.length(line) > 0).select(
        F.when(line.startswith('"'), F.concat(F.lit('{"input":'), line, F.lit("}")))
        .otherwise(line)
        .alias("value")
    )
    schema = (
        "id string, input string, messages array<struct<role:string,content:string>>, "
        "_corrupt_record string"
    )
    frame = spark.read.json(rows.rdd.map(lambda r: r.value), schema=schema)
    if frame.where(F.col("_corrupt_record").isNotNull()).limit(1).count():
        raise SchemaError(f"prompts file {path} has lines that are not JSON rows")
    return frame.drop("_corrupt_record")


def spark_predict(
    model_uri: str,
    file: str,
    output: str | None = None,
    *,
    master: str | None = None,
    concurrency: int | None = None,
) -> SparkJobResult:
    """Run ``llmreg predict MODEL_URI --file FILE --spark [MASTER]``: answer every row of
    ``file`` on Spark and write the results to ``output``.

    Args:
        output: a Parquet dataset when it ends in ``.parquet``, else JSON Lines (a
            Spark output folder of part files); ``None`` collects the results.
        master: the Spark master (``local[2]``, ``yarn``, ``spark://...``); the
            session's own (``spark-submit``'s) when ``None``.

    Raises:
        ConfigError: ``output`` exists.
        ConfigFileNotFoundError, SchemaError: as :func:`read_prompts`.
    """
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F  # noqa: N812

    if output is not None and Path(output).exists():
        raise ConfigError(f"cannot write {output}: it exists; give a new path")
    builder = SparkSession.builder.appName("llmreg predict")
    if master:
        builder = builder.master(master)
    spark = builder.getOrCreate()
    results = predict_frame(read_prompts(spark, file), model_uri, concurrency=concurrency)
    if output is None:
        rows = [row.asDict(recursive=True) for row in results.collect()]
        failed = sum(1 for r in rows if r.get("metadata", {}).get("status") != "ok")
        return SparkJobResult(len(rows), failed, None, rows)
    results = results.cache()
    if output.endswith(".parquet"):
        results.write.parquet(output)
    else:
        results.write.option("ignoreNullFields", "false").json(output)
    total = results.count()
    failed = results.where(F.col("metadata.status") != "ok").count()
    results.unpersist()
    return SparkJobResult(total, failed, output, None)


__all__ = [
    "METADATA_TYPE_DDL",
    "PREDICTION_TYPE",
    "SparkJobResult",
    "chat_udf",
    "metadata_row",
    "predict_frame",
    "read_prompts",
    "result_schema",
    "ship_model",
    "spark_predict",
]
