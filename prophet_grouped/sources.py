"""The history a fit reads, pandas or Spark, behind one interface, and the driver's checks that
run on both before any group is tuned.

A :class:`PandasSource` holds the checked frame; a :class:`SparkSource` the checked Spark
DataFrame, which stays in Spark: its checks are small aggregations (distinct dates, the values
of a column, per-group counts) whose results come to the driver, never the rows.
:func:`check_history` is the one place the checks are written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from ._imports import import_optional
from .backends.spark import spark_history
from .covariates import check_country
from .data import DATE_FORMAT, MIN_TRAIN_POINTS, validate_history
from .keys import group_key, key_order, plain_value
from .objective import horizon_offset

if TYPE_CHECKING:
    from .config import TuningConfig
    from .covariates import Drivers

__all__ = ["PandasSource", "SparkSource", "check_history", "is_spark_dataframe", "spark_distinct_dates"]


def is_spark_dataframe(obj: object) -> bool:
    """True for a pyspark DataFrame (classic or Connect), without importing pyspark."""
    cls = type(obj)
    return cls.__name__ == "DataFrame" and cls.__module__.startswith("pyspark.")


class PandasSource:
    """A pandas history, checked by :func:`~prophet_grouped.data.validate_history`: columns
    ``group_cols + [ds, y]`` and the drivers' columns, sorted by group and date."""

    kind = "pandas"

    def __init__(self, frame: Any, group_cols: list[str], time_col: str, target_col: str,
                 date_format: str | None, drivers: Drivers) -> None:
        self.group_cols = list(group_cols)
        self.history = validate_history(frame, group_cols, time_col, target_col, date_format,
                                        extra=drivers.columns, numeric=drivers.future_columns)
        #: The format the text dates were read with (None: dates, or ISO text), for predict.
        self.date_format: str | None = self.history.attrs.get(DATE_FORMAT)

    def dates(self) -> pd.Series:
        """Every row's date (repeats allowed)."""
        return self.history["ds"]

    def values(self, col: str) -> list[Any]:
        """The distinct non-missing values of column ``col``."""
        return [plain_value(v) for v in self.history[col].dropna().unique()]

    def _keys(self) -> list[pd.Series]:
        return [self.history[c] for c in self.group_cols]

    def sizes(self) -> pd.Series:
        """Rows per group, indexed by group key."""
        return _by_key(self.history.groupby(self._keys()).size())

    def most_observed_through(self, until: pd.Timestamp | pd.DateOffset) -> int:
        """The most rows with a value of ``y`` dated up to ``until`` (a date, or an offset back
        from the group's last such date) that any group has."""
        h = self.history
        observed = h["y"].notna()
        if isinstance(until, pd.DateOffset):
            limit = h["ds"].where(observed).groupby(self._keys()).transform("max") - until
        else:
            limit = until
        counts = ((h["ds"] <= limit) & observed).groupby(self._keys()).sum()
        return int(counts.max()) if len(counts) else 0

    def observed_between(self, after: pd.Timestamp, until: pd.Timestamp) -> int:
        """Rows with a value of ``y`` dated in (``after``, ``until``]."""
        h = self.history
        return int(((h["ds"] > after) & (h["ds"] <= until) & h["y"].notna()).sum())


class SparkSource:
    """A Spark history, checked and selected in Spark by
    :func:`~prophet_grouped.backends.spark.spark_history` (the group columns, ``ds``, ``y`` and
    the drivers' columns); ``frame`` is that DataFrame, for the backend."""

    kind = "spark"

    def __init__(self, sdf: Any, group_cols: list[str], time_col: str, target_col: str,
                 config: TuningConfig) -> None:
        self.group_cols = list(group_cols)
        self._dates = spark_distinct_dates(sdf, time_col)
        self.frame = spark_history(sdf, group_cols, time_col, target_col, config)
        self.date_format: str | None = None  # Spark reads the dates (ISO text or timestamps)
        self._functions = import_optional("pyspark.sql.functions")

    def dates(self) -> pd.Series:
        """The distinct dates (one small Spark job, run when the source was made)."""
        return self._dates

    def values(self, col: str) -> list[Any]:
        rows = self.frame.select(col).where(self._functions.col(col).isNotNull()).distinct().collect()
        return [plain_value(row[0]) for row in rows]

    def _observed(self) -> Any:
        f = self._functions
        return self.frame.where(f.col("y").isNotNull() & ~f.isnan("y"))

    def _collect(self, frame: Any, value: str) -> pd.Series:
        n = len(self.group_cols)
        pairs = sorted(((group_key(tuple(row[:n])), row[value]) for row in frame.collect()),
                       key=lambda pair: key_order(pair[0]))
        return pd.Series([v for _, v in pairs], index=pd.Index([k for k, _ in pairs], tupleize_cols=False),
                         dtype=object)

    def sizes(self) -> pd.Series:
        return self._collect(self.frame.groupBy(*self.group_cols).count(), "count")

    def most_observed_through(self, until: pd.Timestamp | pd.DateOffset) -> int:
        """Computed in Spark: nothing per group comes to the driver."""
        f = self._functions
        observed = self._observed()
        if isinstance(until, pd.DateOffset):
            # The offset back from a group's last date is computed on the driver (pandas
            # offsets such as month ends have no Spark twin) for each distinct last date (a
            # few, however many groups), then joined in as a small table.
            # The last dates are joined as text (the session's wall clock, as collected dates
            # are): no timestamp makes a round trip through the driver.
            window = import_optional("pyspark.sql.window").Window.partitionBy(*self.group_cols)
            last = f.date_format(f.max("ds").over(window), "yyyy-MM-dd HH:mm:ss.SSSSSS")
            observed = observed.withColumn("_last", last)
            lasts = [row["_last"] for row in observed.select("_last").distinct().collect()]
            if not lasts:
                return 0
            limits = self.frame.sparkSession.createDataFrame(
                [(text, (pd.Timestamp(text) - until).to_pydatetime()) for text in lasts], "_last string, _until timestamp")
            observed = observed.join(f.broadcast(limits), on="_last").where(f.col("ds") <= f.col("_until"))
        else:
            observed = observed.where(f.col("ds") <= f.lit(pd.Timestamp(until).to_pydatetime()))
        most = observed.groupBy(*self.group_cols).count().agg(f.max("count")).first()[0]
        return int(most or 0)

    def observed_between(self, after: pd.Timestamp, until: pd.Timestamp) -> int:
        f = self._functions
        window = (f.col("ds") > f.lit(after.to_pydatetime())) & (f.col("ds") <= f.lit(until.to_pydatetime()))
        return int(self._observed().where(window).count())


Source = PandasSource | SparkSource


def spark_distinct_dates(sdf: Any, time_col: str) -> pd.Series:
    """The distinct timestamps of a Spark DataFrame's time column (one small Spark job)."""
    functions = import_optional("pyspark.sql.functions")
    if time_col not in sdf.columns:
        raise ValueError(
            f"The following columns are missing from the Spark DataFrame: [{time_col!r}]. Got columns: "
            f"{list(sdf.columns)}. Set time_col to the name your data uses."
        )
    quoted = "`" + time_col.replace("`", "``") + "`"
    # try_cast: under ANSI mode (Spark 4's default) a plain cast of unreadable text raises.
    pairs = sdf.select(functions.col(time_col).cast("string").alias("raw"),
                       functions.expr(f"try_cast({quoted} AS TIMESTAMP)").alias("ds")).distinct().toPandas()
    unread = pairs.loc[pairs["raw"].notna() & pairs["ds"].isna(), "raw"]
    if len(unread):
        raise ValueError(
            f"Column {time_col!r} of the Spark DataFrame has {len(unread)} distinct values Spark can't read "
            f"as timestamps (it reads ISO dates such as '2019-01-31'), e.g. {sorted(unread)[:3]}. Convert "
            f"the column first, e.g. F.to_timestamp(F.col({time_col!r}), 'dd.MM.yyyy')."
        )
    return pd.to_datetime(pairs["ds"].dropna()).astype("datetime64[ns]")


def check_history(source: Source, config: TuningConfig, freq_given: bool) -> None:
    """The checks a fit makes before any group is tuned, the same for pandas and Spark input:
    the events table's group values and the country column's codes must be usable, and at
    least one group must be long enough for the validation folds.

    Raises
    ------
    ValueError
        Saying what is wrong and the fix.
    """
    drivers = config.drivers
    for col, _ in drivers.holidays_by:
        listed = drivers.holidays[col].dropna().unique()  # type: ignore[index]
        known = source.values(col)
        if len(listed) and not any(v in set(known) for v in listed):
            raise ValueError(
                f"The holidays table's {col!r} values {list(listed)[:5]} match no group of the history "
                f"(whose {col!r} values are e.g. {sorted(known, key=str)[:5]}). Check their type "
                f"(e.g. '1' and 1 differ), or leave the column out to give the events to every group."
            )
    if drivers.country_col is not None:
        for code in source.values(drivers.country_col):
            check_country(code, f"column {drivers.country_col!r} holds ")
    _check_lengths(source, config, freq_given)


def _check_lengths(source: Source, config: TuningConfig, freq_given: bool) -> None:
    """Raise if no group at all has enough history before its earliest cutoff and data after it.

    Such a fit can only come from settings that don't suit the data (a horizon or cutoffs
    beyond the history). When only some groups are too short, they become ``"failed"`` rows
    with the reason, like any other unusable group.
    """
    step = horizon_offset(config.freq, config.horizon)
    n_folds = config.cv_folds or 1  # None: as many as each group allows, at least one
    cutoffs: list[Any] = [] if config.cutoffs is None else list(config.cutoffs)
    if config.fallback != "default":  # with it, such groups get the untuned model, "fallback"
        earliest = pd.Timestamp(cutoffs[0]) if cutoffs else step * n_folds
        if source.most_observed_through(earliest) < MIN_TRAIN_POINTS:
            sizes = source.sizes()  # for the message only: a row per group
            shown = ", ".join(f"{k!r} ({sizes[k]} rows)" for k in list(sizes.index)[:5])
            more = f" and {len(sizes) - 5} more" if len(sizes) > 5 else ""
            origin = "given" if freq_given else "inferred from the data"
            raise ValueError(
                f"All {len(sizes)} group(s) are too short for horizon={config.horizon} x "
                f"{len(cutoffs) or n_folds} fold(s) of freq={config.freq!r} ({origin}): {shown}{more}. "
                f"Each group needs at least {MIN_TRAIN_POINTS} points before its earliest validation "
                f"cutoff. Lower horizon or cv_folds, check freq, give longer histories, or set "
                f"fallback='default' (--fallback default) to give such groups an untuned Prophet, flagged 'fallback'."
            )
    for cutoff in cutoffs:
        cutoff = pd.Timestamp(cutoff)
        if source.observed_between(cutoff, cutoff + step) == 0:
            sizes = source.sizes()
            raise ValueError(
                f"No group has data in the validation window after cutoff {cutoff} "
                f"({len(sizes)} group(s), e.g. {list(sizes.index)[:3]}). Choose cutoffs inside "
                f"the groups' histories."
            )


def _by_key(counts: pd.Series) -> pd.Series:
    """A groupby result indexed by canonical group keys (tuples, as :func:`group_key` makes), in
    key order."""
    pairs = sorted(((group_key(k if isinstance(k, tuple) else (k,)), v) for k, v in counts.items()),
                   key=lambda pair: key_order(pair[0]))
    return pd.Series([v for _, v in pairs], index=pd.Index([k for k, _ in pairs], tupleize_cols=False),
                     dtype=object)

