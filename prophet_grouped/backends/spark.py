"""Spark backend: every group is tuned inside Spark with ``groupBy(...).applyInPandas``.

The data stays in Spark; only one result row per group (with the model as Prophet JSON) comes
back to the driver. The backend plans its own partitions (about ``partitions_per_slot`` per task
slot, groups balanced by size, longest first) so that every core stays busy: left to Spark, the
small shuffle of a grouped pandas UDF is coalesced by adaptive query execution into a partition
or two, which is why naive Spark runs of this kind idle most cores.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._imports import import_optional
from ..data import missing_key_message
from ..forecast import FORECAST_COLUMNS, forecast_batch
from ..keys import group_key
from ..progress import ProgressServer, notify
from ..results import RESULT_SCHEMA, GroupResult, records_frame
from ..tuning import tune_rows
from .base import Backend, Priors, Task

if TYPE_CHECKING:
    from ..config import TuningConfig
    from ..estimator import GroupedProphetTuner
    from ..progress import Progress

PARTITION_COL = "_pg_partition"
#: Groups per planned partition at most: the driver reads the results one partition at a time,
#: so this bounds what it holds at once however many groups there are.
MAX_GROUPS_PER_PARTITION = 1000
# Session settings switched for the backend's own queries and restored afterwards: Arrow to
# send a pandas frame, and no coalescing of the planned partitions by adaptive execution.
_ARROW_CONF = {"spark.sql.execution.arrow.pyspark.enabled": "true"}
_TUNING_CONF = {"spark.sql.adaptive.coalescePartitions.enabled": "false"}


def _java_available() -> bool:
    home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java") or (home and os.path.exists(os.path.join(home, "bin", "java"))))


@contextlib.contextmanager
def _session_conf(spark: Any, conf: dict[str, str]) -> Iterator[None]:
    """Set ``conf`` on the session for the duration, then put every key back as it was."""
    saved = {key: spark.conf.get(key, None) for key in conf}
    for key, value in conf.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def plan_partitions(sizes: Sequence[int], n_partitions: int, max_groups: int | None = None) -> list[int]:
    """Assign groups to partitions, longest first, each to the least loaded (LPT scheduling;
    ties to the lowest partition) that holds fewer than ``max_groups`` groups. Raises
    ValueError when ``n_partitions`` can't hold every group."""
    if max_groups is not None and n_partitions * max_groups < len(sizes):
        raise ValueError(f"{len(sizes)} groups don't fit in {n_partitions} partitions of {max_groups} groups.")
    heap = [(0, p) for p in range(n_partitions)]  # (load, partition): a heap as it is
    counts = [0] * n_partitions
    assignment = [0] * len(sizes)
    for index in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        while max_groups is not None and counts[heap[0][1]] >= max_groups:
            heapq.heappop(heap)  # full: it takes no more groups
        load, target = heap[0]
        assignment[index] = target
        counts[target] += 1
        heapq.heapreplace(heap, (load + sizes[index], target))
    return assignment


def _tune_spark_group(pdf: pd.DataFrame, group_cols: list[str], config: TuningConfig,
                      progress_address: tuple[str, int, str] | None = None, priors: Any = None) -> pd.DataFrame:
    """applyInPandas function: one group's rows in, its result row out (the shared unit of work).
    ``priors``: a Spark broadcast of group key -> prior (warm start, champion), or None."""
    # The output row keeps Spark's own key values (a date column's datetime.date); the result's
    # key is canonical (the same seed and files as on the other backends).
    raw = {c: pdf[c].iloc[0] for c in group_cols}
    result = tune_rows(pdf, group_cols, config, None if priors is None else priors.value)
    key = result.key
    notify(progress_address, key, result.n_trials)
    return records_frame([result], group_cols).assign(**raw)


def _predict_spark_group(
    future: pd.DataFrame, models: pd.DataFrame, group_cols: list[str], nonnegative: Any = "auto",
    extra: Sequence[str] = (), random_state: int = 0,
) -> pd.DataFrame:
    """cogroup function: a group's dates and its model record (``kind``: a pickle, or the path
    of its file in ``model_dir``, read here) in, its forecast out (the shared unit of work,
    :func:`~prophet_grouped.forecast.forecast_batch`, on one group)."""
    columns = group_cols + ["ds", "yhat", "yhat_lower", "yhat_upper"]
    if future.empty:
        return pd.DataFrame(columns=columns)
    key = group_key(tuple(future[c].iloc[0] for c in group_cols))
    if models.empty:
        raise ValueError(f"Group {key!r} has no fitted model; predict only groups that fit tuned successfully.")
    # Pickle, not Prophet's JSON: the executors run this same environment, and loading a model
    # from JSON (about 30 ms at 2,330 days) costs more than forecasting it.
    rows = future[["ds", *extra]].assign(ds=pd.to_datetime(future["ds"]).astype("datetime64[ns]"))
    kind, payload = models["kind"].iloc[0], models["model"].iloc[0]
    record = (kind, payload.decode() if kind == "file" else payload)
    [(_, values)] = forecast_batch([(key, record, rows)], nonnegative, random_state)
    out = future[group_cols].reset_index(drop=True).copy()
    out["ds"] = rows["ds"].to_numpy()
    for j, col in enumerate(FORECAST_COLUMNS):
        out[col] = values[:, j]
    return out[columns]


def spark_history(sdf: Any, group_cols: list[str], time_col: str, target_col: str, config: TuningConfig) -> Any:
    """``sdf`` checked (columns, types) and selected as the shared unit of work reads it: the
    group columns, ``ds`` (timestamp), ``y`` (double) and the drivers' columns. Raises
    ValueError saying what is wrong with the frame."""
    types = import_optional("pyspark.sql.types")
    functions = import_optional("pyspark.sql.functions")
    fields = {f.name: f.dataType for f in sdf.schema.fields}
    missing = [c for c in group_cols + [time_col, target_col] if c not in fields]
    if missing:
        raise ValueError(
            f"The following columns are missing from the Spark DataFrame: {missing}. Got columns: "
            f"{list(fields)}. Set group_cols, time_col and target_col to the names your data uses."
        )
    atomic = (types.StringType, types.IntegralType, types.BooleanType, types.DateType,
              types.TimestampType, types.DecimalType, types.DoubleType, types.FloatType)
    bad_keys = {c: fields[c].simpleString() for c in group_cols if not isinstance(fields[c], atomic)}
    if bad_keys:
        raise ValueError(f"Group columns must have atomic types (string, integer, date...), got {bad_keys}.")
    ds_type = fields[time_col]
    if not isinstance(ds_type, (types.DateType, types.TimestampType, types.StringType)) and \
            type(ds_type).__name__ != "TimestampNTZType":
        raise ValueError(
            f"Column {time_col!r} must be a date, timestamp or date string, got {ds_type.simpleString()}."
        )
    if not isinstance(fields[target_col], types.NumericType):
        raise ValueError(
            f"Column {target_col!r} must be numeric, got {fields[target_col].simpleString()}; "
            f"cast it with F.col({target_col!r}).cast('double')."
        )
    # Rows without a complete key would be grouped under NULL and lost; pandas input is refused.
    nulls = sdf.select(*[functions.sum(functions.col(c).isNull().cast("long")).alias(f"n{i}")
                         for i, c in enumerate(group_cols)]).first()
    for i, col in enumerate(group_cols):
        if nulls[f"n{i}"]:
            raise ValueError(missing_key_message(col, int(nulls[f"n{i}"])))
    numeric = config.drivers.future_columns
    bad = {c: fields[c].simpleString() for c in numeric
           if not isinstance(fields[c], (types.NumericType, types.BooleanType))}
    if bad:
        raise ValueError(
            f"Regressor, cap and floor columns must be numeric (or boolean flags), got {bad}; cast them "
            f"with F.col(name).cast('double')."
        )
    return sdf.select(
        *[functions.col(c) for c in group_cols],
        functions.col(time_col).cast("timestamp").alias("ds"),
        functions.col(target_col).cast("double").alias("y"),
        *[functions.col(c).cast("double") if c in numeric else functions.col(c).cast("string")
          for c in config.drivers.columns],
    )


_LOG4J = """rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
"""


@functools.lru_cache(maxsize=1)
def _quiet_log4j() -> str:
    """A log4j2 configuration file that logs errors only (written once per process)."""
    folder = tempfile.mkdtemp(prefix="prophet_grouped_log4j_")
    path = os.path.join(folder, "log4j2.properties")
    with open(path, "w") as fh:
        fh.write(_LOG4J)
    return path


class SparkBackend(Backend):
    """Tune groups inside Spark.

    Parameters
    ----------
    spark : SparkSession or None
        Session to use. None: the active session, or else a new local one on ``master`` that is
        stopped after fit.
    master : str
        Master of the session started when there is none, ``"local[*]"`` by default.
    partitions_per_slot : int
        Partitions planned per task slot (``defaultParallelism``); more balance load better when
        groups take unequal time.
    """

    name = "spark"
    shared = ("spark", "spark_forecast")

    def __init__(self, spark: Any = None, master: str = "local[*]", partitions_per_slot: int = 3) -> None:
        self.spark = spark
        self.master = master
        self.partitions_per_slot = partitions_per_slot

    def __repr__(self) -> str:
        return f"SparkBackend(master={self.master!r}, partitions_per_slot={self.partitions_per_slot})"

    # ------------------------------------------------------------------ session
    @contextlib.contextmanager
    def session(self) -> Iterator[Any]:
        """The session to run on; one started here is stopped on exit."""
        sql = import_optional("pyspark.sql")
        if self.spark is not None:
            yield self.spark
            return
        active = sql.SparkSession.getActiveSession()
        if active is not None:
            yield active
            return
        if not _java_available():
            raise RuntimeError(
                "backend='spark' needs Java to start a Spark session, but 'java' is not on PATH and "
                "JAVA_HOME is not set. Install Java 17 (e.g. apt-get install -y openjdk-17-jre-headless) "
                "or pass backend_options={'spark': session} with a session you started."
            )
        builder = sql.SparkSession.builder.master(self.master).appName("prophet_grouped")
        # A session of our own keeps the terminal to the library's progress line: no stage bars,
        # no start-up WARN lines (hostname, native-hadoop); errors still show. A Spark
        # configuration folder of the user's (SPARK_CONF_DIR) decides instead.
        if not os.environ.get("SPARK_CONF_DIR"):
            builder = builder.config("spark.ui.showConsoleProgress", "false").config(
                "spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={_quiet_log4j()}")
        # Local Python workers run this interpreter, the one prophet_grouped is installed in:
        # Spark would start `python3` from PATH (without an activated virtualenv, another
        # Python). The SparkContext reads PYSPARK_PYTHON once, when it is created.
        own_python = self.master.startswith("local") and not os.environ.get("PYSPARK_PYTHON")
        if own_python:
            os.environ["PYSPARK_PYTHON"] = sys.executable
        try:
            spark = builder.getOrCreate()
        except Exception as exc:
            raise RuntimeError(
                f"Could not start a Spark session on master {self.master!r}: {exc}. Check that Java 17 "
                f"is installed and JAVA_HOME points to it, or pass backend_options={{'spark': session}}."
            ) from exc
        finally:
            if own_python:
                del os.environ["PYSPARK_PYTHON"]
        try:
            yield spark
        finally:
            spark.stop()

    # ------------------------------------------------------------------ fit
    def run(self, tasks: Sequence[Task], config: TuningConfig, n_jobs: int | None,
            progress: Progress | None = None, priors: Priors | None = None) -> Iterator[GroupResult]:
        """Tune pandas groups: they are sent to Spark once, as Arrow."""
        if not tasks:
            return
        width = len(tasks[0][0])
        cols = [f"_key{i}" for i in range(width)]
        frame = pd.concat(
            [frame.assign(**dict(zip(cols, key))) for key, frame in tasks], ignore_index=True
        )[cols + ["ds", "y", *config.drivers.columns]]
        with self.session() as spark:
            with _session_conf(spark, _ARROW_CONF):
                sdf = spark.createDataFrame(frame)
            yield from self._run(sdf, cols, config, progress, priors=priors)

    def run_spark(
        self, sdf: Any, group_cols: list[str], time_col: str, target_col: str,
        config: TuningConfig, n_jobs: int | None, progress: Progress | None = None,
        priors: Priors | None = None,
    ) -> Iterator[GroupResult]:
        """Tune the groups of a Spark DataFrame without collecting its rows."""
        sdf = spark_history(sdf, group_cols, time_col, target_col, config)
        yield from self._run(sdf, group_cols, config, progress, in_spark=True, priors=priors)

    def _run(self, sdf: Any, group_cols: list[str], config: TuningConfig,
             progress: Progress | None = None, in_spark: bool = False,
             priors: Priors | None = None) -> Iterator[GroupResult]:
        """Tune ``sdf``'s groups; with ``in_spark`` and ``config.forecast_periods``, the forecasts
        are left in Spark as ``self.spark_forecast`` (a DataFrame) instead of sent to the driver."""
        self.spark_forecast = None
        functions = import_optional("pyspark.sql.functions")
        types = import_optional("pyspark.sql.types")
        spark = sdf.sparkSession
        slots = max(1, spark.sparkContext.defaultParallelism)
        plan, plan_rows, n_parts = group_plan(sdf, group_cols, slots * self.partitions_per_slot,
                                              max_groups=MAX_GROUPS_PER_PARTITION)
        n_groups = len(plan_rows)
        del plan_rows  # a row per group: not kept on the driver while the groups are tuned
        if progress is not None:
            progress.set_total(n_groups)
        key_fields = [sdf.schema[c] for c in group_cols]
        schema = types.StructType(
            key_fields + [types.StructField(name, _spark_type(types, t), True) for name, t in RESULT_SCHEMA]
        )
        with contextlib.ExitStack() as stack:
            address = None
            if progress is not None:
                # Executors tell the driver as each group finishes: Spark itself returns rows
                # only when the job ends.
                host = spark.sparkContext.getConf().get("spark.driver.host", "127.0.0.1")
                address = stack.enter_context(ProgressServer(progress, host)).address
            # Priors reach the executors once each, as a broadcast (not in every task's closure).
            shared = spark.sparkContext.broadcast(dict(priors)) if priors else None
            work = functools.partial(_tune_spark_group, group_cols=group_cols, config=config,
                                     progress_address=address, priors=shared)
            out = (
                sdf.join(functions.broadcast(plan), on=group_cols)
                .repartition(n_parts, PARTITION_COL)
                .groupBy(PARTITION_COL, *group_cols)
                .applyInPandas(lambda pdf: work(pdf.drop(columns=[PARTITION_COL])), schema)
            )
            # Tune every partition at once into executor storage, then stream the result rows
            # to the driver one partition at a time: the driver never holds every group's
            # model JSON at once (collect() would).
            storage = import_optional("pyspark").StorageLevel.MEMORY_AND_DISK
            out = out.persist(storage)
            try:
                with _session_conf(spark, _TUNING_CONF):
                    out.count()
                rows = out
                if config.forecast_periods and in_spark:
                    # The forecasts stay in Spark, computed now into executor storage with their
                    # lineage cut (a local checkpoint: freed when the DataFrame is, never
                    # re-tuned), so that the tuning output is not left cached.
                    self.spark_forecast = _explode_forecasts(out, group_cols).localCheckpoint(eager=True)
                    rows = out.drop("forecast")
                for row in rows.toLocalIterator():
                    yield GroupResult.from_record(row.asDict(), group_cols)
            finally:
                out.unpersist()

    # ------------------------------------------------------------------ predict
    def predict_spark(self, tuner: GroupedProphetTuner, sdf: Any) -> Any:
        """Forecast a Spark DataFrame of groups and dates in Spark, one group per task."""

        types = import_optional("pyspark.sql.types")
        functions = import_optional("pyspark.sql.functions")
        group_cols = tuner.group_cols_
        fields = {f.name: f.dataType for f in sdf.schema.fields}
        extra = list(tuner.future_cols_)
        missing = [c for c in group_cols + [tuner.time_col] + extra if c not in fields]
        if missing:
            raise ValueError(
                f"The following columns are missing from the Spark DataFrame to predict: {missing}. "
                f"Got columns: {list(fields)}. Regressors (and cap/floor for logistic growth) need their "
                f"values on the dates to forecast."
            )
        spark = sdf.sparkSession
        key_fields = [sdf.schema[c] for c in group_cols]
        # Models fitted with model_dir travel as their file's path (the executor reads the file).
        models = spark.createDataFrame(
            [_spark_key(key, key_fields) + _record_row(tuner.models_.record(key)) for key in tuner.models_],
            types.StructType(key_fields + [types.StructField("kind", types.StringType(), False),
                                           types.StructField("model", types.BinaryType(), False)]),
        )
        future = sdf.select(*group_cols, functions.col(tuner.time_col).cast("timestamp").alias("ds"),
                            *[functions.col(c).cast("double") for c in extra])
        schema = types.StructType(key_fields + [
            types.StructField("ds", types.TimestampType(), True),
            *[types.StructField(c, types.DoubleType(), True) for c in ("yhat", "yhat_lower", "yhat_upper")],
        ])
        fn = functools.partial(_predict_spark_group, group_cols=group_cols, nonnegative=tuner.nonnegative,
                               extra=extra, random_state=tuner.random_state_)
        return future.groupBy(*group_cols).cogroup(models.groupBy(*group_cols)).applyInPandas(fn, schema)


def _spark_key(key: tuple[Any, ...], fields: Sequence[Any]) -> tuple[Any, ...]:
    """A canonical key as values of the frame's Spark types (a Timestamp into a date column
    as its date)."""
    out = []
    for value, field in zip(key, fields):
        if isinstance(value, pd.Timestamp):
            name = field.dataType.typeName()
            value = value.date() if name == "date" else value.to_pydatetime() if name.startswith("timestamp") else value
        out.append(value)
    return tuple(out)


def _record_row(record: tuple[str, Any]) -> tuple[str, bytes]:
    kind, payload = record
    return (kind, payload.encode() if kind == "file" else payload)


def _explode_forecasts(out: Any, group_cols: list[str]) -> Any:
    """One row per group and date from the tuning output's ``forecast`` JSON column."""
    functions = import_optional("pyspark.sql.functions")
    schema = "struct<ds:array<string>,yhat:array<double>,yhat_lower:array<double>,yhat_upper:array<double>>"
    parsed = out.select(*group_cols, functions.from_json("forecast", schema).alias("_f")).where(
        functions.col("_f").isNotNull())
    rows = parsed.select(*group_cols, "_f", functions.posexplode("_f.ds").alias("_pos", "_ds"))
    return rows.select(
        *group_cols,
        functions.col("_ds").cast("timestamp").alias("ds"),
        *[functions.expr(f"_f.{c}[_pos]").alias(c) for c in ("yhat", "yhat_lower", "yhat_upper")],
    ).orderBy(*group_cols, "ds")


def _spark_type(types: Any, name: str) -> Any:
    return {
        "string": types.StringType(), "double": types.DoubleType(),
        "long": types.LongType(), "boolean": types.BooleanType(),
    }[name]


def group_plan(sdf: Any, group_cols: list[str], max_parts: int,
               max_groups: int | None = None) -> tuple[Any, list[tuple[Any, ...]], int]:
    """Which partition each group of ``sdf`` goes to: at most ``max_parts`` partitions (more
    where that would put more than ``max_groups`` groups in one), longest groups first, each to
    the least loaded that holds fewer than ``max_groups`` (:func:`plan_partitions`). Returns the plan as a
    small DataFrame (group columns and the partition column), its rows (key values then the
    partition id) and the number of partitions; ``sdf.join(broadcast(plan), group_cols)
    .repartition(n, partition column)`` puts each planned partition in a partition of its own.
    Raises ValueError when ``sdf`` has no rows."""
    types = import_optional("pyspark.sql.types")
    spark = sdf.sparkSession
    sizes = sdf.groupBy(*group_cols).count().collect()
    if not sizes:
        raise ValueError("The Spark DataFrame is empty: there is nothing to fit.")
    n_parts = max(1, min(len(sizes), max_parts))
    if max_groups is not None:
        n_parts = max(n_parts, math.ceil(len(sizes) / max_groups))
    # Partition ids whose hashes land in distinct partitions, so that no two planned
    # partitions share a task.
    part_ids = _distinct_hash_ids(spark, n_parts)
    assignment = plan_partitions([row["count"] for row in sizes], n_parts, max_groups)
    plan_rows = [tuple(row[c] for c in group_cols) + (part_ids[p],) for row, p in zip(sizes, assignment)]
    key_fields = [sdf.schema[c] for c in group_cols]
    plan_schema = types.StructType(key_fields + [types.StructField(PARTITION_COL, types.LongType(), False)])
    return spark.createDataFrame(plan_rows, plan_schema), plan_rows, n_parts


def _distinct_hash_ids(spark: Any, n: int) -> list[int]:
    """``n`` long values whose Spark hash partitions (``pmod(hash(v), n)``) are 0, 1, ..., n-1."""
    functions = import_optional("pyspark.sql.functions")
    found: dict[int, int] = {}
    limit = 64 * n
    rows = (
        spark.range(0, limit)
        .select("id", functions.expr(f"pmod(hash(id), {n})").alias("p"))
        .collect()
    )
    for row in rows:
        found.setdefault(row["p"], row["id"])
    if len(found) < n:  # pragma: no cover - 64n draws cover n buckets with overwhelming odds
        raise RuntimeError(f"could not find {n} distinct hash partitions in {limit} ids")
    return [found[p] for p in range(n)]
