"""One fit, as a list of steps: the plan from the estimator's parameters, the history as a
source (pandas or Spark) with the driver's checks, the checkpoint and the previous fits, the
backend's run, the results collected; then the fitted attributes they give.

The estimator calls :func:`run_fit` and sets :func:`fitted_attributes`; nothing here keeps
state between fits.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import checkpoint, plan, previous
from ._imports import import_optional
from .backends import get_backend
from .config import TuningConfig
from .data import ONE_SERIES, one_series_column, split_groups
from .exceptions import GroupFitWarning, warn_user
from .forecast import FORECAST_COLUMNS, forecast_from_json
from .keys import key_order, key_sorted
from .models import ModelStore
from .progress import Progress
from .results import PUBLIC_RESULT_COLUMNS, GroupResult
from .sources import PandasSource, SparkSource, check_history, is_spark_dataframe
from .studies import StudyStore

__all__ = ["Fitted", "fitted_attributes", "run_fit"]


@dataclass
class Fitted:
    """What a fit gives: each group's result, kept compact, the group columns, the completed plan and (with
    ``forecast``) the forecasts, a frame of the input's kind."""

    collected: Collected
    group_cols: list[str]
    config: TuningConfig
    forecast: Any = None
    #: The format the history's text dates were read with (None: dates or ISO text).
    date_format: str | None = None


def run_fit(params: Any, X: Any, forecast: int | bool, keep_models: bool) -> Fitted:
    """Fit the groups of ``X`` as the estimator ``params`` says: the plan, the driver's checks,
    the checkpoint and previous fits, the backend's run, the collected results; with
    ``forecast``, the forecasts the workers made too."""
    group_cols, config = plan.make_config(params)
    if not group_cols and hasattr(X, "columns"):  # group_cols=None: one series, a group of its own
        group_cols = [one_series_column(list(X.columns))]
        X = X.withColumn(group_cols[0], _spark_literal(ONE_SERIES)) if is_spark_dataframe(X) else \
            X.assign(**{group_cols[0]: ONE_SERIES})
    config = dataclasses.replace(config, keep_models=keep_models)
    if config.model_dir is not None and keep_models:
        plan.open_model_dir(config.model_dir)
    backend = get_backend(params.backend, dict(params.backend_options) if params.backend_options else None)
    resumed: list[GroupResult] = []
    progress = Progress(None, enabled=params.verbose >= 2 or (params.verbose == 1 and _stderr_is_terminal()))
    try:
        if is_spark_dataframe(X):
            if params.date_format is not None:
                raise ValueError(
                    f"date_format={params.date_format!r} applies to pandas frames; on a Spark DataFrame "
                    f"convert the column with F.to_timestamp(F.col({params.time_col!r}), <Spark pattern>) "
                    f"and leave date_format=None."
                )
            config = plan.with_drivers(config, params, group_cols, X.columns)
            source: Any = SparkSource(X, group_cols, params.time_col, params.target_col, config)
        else:
            if isinstance(X, pd.DataFrame):
                config = plan.with_drivers(config, params, group_cols, list(X.columns))
            source = PandasSource(X, group_cols, params.time_col, params.target_col, params.date_format, config.drivers)
        config = plan.with_forecast(plan.with_time(config, params, source.dates()), forecast)
        check_history(source, config, freq_given=params.freq is not None)
        priors = _priors(params, group_cols)
        config = _open_checkpoint(params, config, group_cols, priors)
        if source.kind == "spark":
            stream = backend.run_spark(source.frame, group_cols, "ds", "y", config, params.n_jobs,
                                       progress=progress, priors=priors)
        else:
            tasks = split_groups(source.history, group_cols, config.drivers.columns)
            if config.checkpoint_dir is not None:
                tasks, resumed = _resume(tasks, config)
            progress.set_total(len(tasks) + len(resumed))
            todo = {key for key, _ in tasks}
            priors = {key: prior for key, prior in priors.items() if key in todo}
            stream = backend.run(tasks, config, params.n_jobs, progress=progress, priors=priors) if tasks else iter(())
        collected = _collect(stream, resumed, progress, params.on_error, group_cols)
    finally:
        progress.close()
    out = None
    if forecast:
        out = getattr(backend, "spark_forecast", None) if is_spark_dataframe(X) else None
        if out is None:
            out = _forecast_frame(collected, group_cols, X)
    return Fitted(collected, group_cols, config, out, source.date_format)


def _priors(params: Any, group_cols: list[str]) -> dict[tuple[Any, ...], Any]:
    """What each group takes from ``warm_start`` and ``champion`` (empty without them); a saved
    previous fit is loaded as an instance of ``params``'s class (the estimator's)."""
    warm = previous.resolve_previous(params.warm_start, "warm_start", type(params))
    champion = previous.resolve_previous(params.champion, "champion", type(params))
    if warm is None and champion is None:
        return {}
    return previous.priors(warm, champion, group_cols)


def _open_checkpoint(params: Any, config: TuningConfig, group_cols: list[str],
                     priors: dict[tuple[Any, ...], Any]) -> TuningConfig:
    """Open ``checkpoint_dir`` for this fit (its manifest names the previous fit the groups
    take ``priors`` from); with ``random_state=None`` a fit resumes with the seed the
    checkpointed fit drew, so that it gives that fit's result."""
    if config.checkpoint_dir is None:
        return config
    if params.random_state is None:
        seed = checkpoint.stored_seed(config.checkpoint_dir)
        if seed is not None:
            config = dataclasses.replace(config, random_state=seed)
    checkpoint.open_checkpoint(config.checkpoint_dir, config, group_cols, checkpoint.previous_digest(priors))
    return config


def _resume(tasks: list[Any], config: TuningConfig) -> tuple[list[Any], list[GroupResult]]:
    """Split ``tasks`` into those still to tune and the results a checkpoint already holds."""
    todo, done = [], []
    for key, frame in tasks:
        stored = checkpoint.load_group(config.checkpoint_dir, key, frame,  # type: ignore[arg-type]
                                       config.retry_failed)
        if stored is None:
            todo.append((key, frame))
        elif stored.status == checkpoint.MISMATCH:
            raise ValueError(stored.error)
        else:
            done.append(stored)
    return todo, done


class Collected:
    """A fit's results, kept as they arrive in the compact forms the fitted attributes hold:
    result rows in frames of :data:`CHUNK` rows, trial losses, studies (:class:`~prophet_grouped.
    studies.StudyStore`), models (:class:`~prophet_grouped.models.ModelStore`) and the
    forecasts the workers sent. No result object is kept, so that the driver's memory grows by
    what the attributes hold (0.7 KB per group of a one-trial fit), not by every group's whole
    result; :meth:`attributes` puts them in key order without copying them all at once."""

    #: Result rows turned into a frame at a time.
    CHUNK = 1000

    def __init__(self, group_cols: list[str]) -> None:
        self.group_cols = group_cols
        self.rows: list[dict[str, Any]] = []
        self.best: list[dict[str, Any]] = []
        self.table = _Columns()
        self.best_table = _Columns()
        #: Per group, in the order the results came: its key, its trial losses, whether it has a
        #: best_params_ row and (for those that have) the row's parameter names (one tuple
        #: object per distinct set).
        self.keys: list[tuple[Any, ...]] = []
        self.losses: list[list[Any]] = []
        self.has_best = bytearray()
        self.best_names: list[tuple[str, ...]] = []
        self._names: dict[tuple[str, ...], tuple[str, ...]] = {}
        self.studies = StudyStore()
        self.models = ModelStore()
        self.forecasts: dict[tuple[Any, ...], str] = {}
        #: (key, error) of groups that fell back or failed; keys not clipped at 0.
        self.flagged: dict[str, list[tuple[tuple[Any, ...], Any]]] = {"fallback": [], "failed": []}
        self.signed: list[tuple[Any, ...]] = []

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, r: GroupResult) -> None:
        """Keep what the fitted attributes need of result ``r`` (and nothing else of it)."""
        key = dict(zip(self.group_cols, r.key))
        # Labels repeat in every row ("ok", "prophet", "none", "additive"): one string object each.
        self.rows.append({**key, **{c: _shared(getattr(r, c)) for c in PUBLIC_RESULT_COLUMNS}})
        self.keys.append(r.key)
        self.losses.append(list(r.trials))
        self.has_best.append(r.status == "ok")
        if r.status == "ok":
            self.best.append({**key, **{name: _shared(value) for name, value in r.best_params.items()}})
            names = tuple(r.best_params)
            self.best_names.append(self._names.setdefault(names, names))
        if r.study is not None:
            self.studies.add(r.key, r.study)
        if r.model_record is not None:
            self.models.add(r.key, r.model_record)
        if r.forecast is not None:
            self.forecasts[r.key] = r.forecast
        if r.status in self.flagged:
            self.flagged[r.status].append((r.key, r.error))
        if r.clipped is False:
            self.signed.append(r.key)
        if len(self.rows) >= self.CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            self.table.add(pd.DataFrame(self.rows, columns=self.group_cols + list(PUBLIC_RESULT_COLUMNS)))
            self.rows = []
        if self.best:
            self.best_table.add(pd.DataFrame(self.best))
            self.best = []

    def attributes(self) -> tuple[pd.DataFrame, pd.DataFrame, dict[tuple[Any, ...], list[Any]]]:
        """``results_``, ``best_params_`` and ``trials_``, one entry per group in key order (the
        study and model stores are put in key order too). The tables are put together a column at
        a time: the driver holds one extra column at a time, not a copy of a table."""
        self._flush()
        # The order first: its sort keys are freed before the tables are put together.
        order = np.array(key_sorted(self.keys), dtype=np.int64)
        has_best = np.frombuffer(bytes(self.has_best), dtype=np.uint8).astype(bool)
        best_row = np.cumsum(has_best) - 1  # a group's row in best_params_ before reordering
        best_order = best_row[order][has_best[order]]
        # best_params_'s columns: the group columns, then each parameter where it first appears
        # in key order (what a frame of the rows in key order has).
        names = dict.fromkeys(self.group_cols)
        for row in best_order:
            names.update(dict.fromkeys(self.best_names[row]))
        table = self.table.frame(order, self.group_cols + list(PUBLIC_RESULT_COLUMNS))
        table["history_end"] = pd.to_datetime(table["history_end"]).astype("datetime64[ns]")
        best = self.best_table.frame(best_order, list(names))
        trials = {self.keys[i]: self.losses[i] for i in order}
        sorted_keys = [self.keys[i] for i in order]
        self.studies.reorder(sorted_keys)
        self.models.reorder(sorted_keys)
        self.keys, self.losses, self.has_best, self.best_names = [], [], bytearray(), []
        return table, best, trials


def _shared(value: Any) -> Any:
    """A short text value as the one interned string of its text; anything else as it is."""
    return sys.intern(value) if isinstance(value, str) and len(value) <= 64 else value


class _Columns:
    """Rows kept as frames of a chunk of rows each, every column an array of its own (not the
    2-D blocks of a frame), so that putting them together frees each column as it goes."""

    def __init__(self) -> None:
        self.chunks: list[tuple[int, dict[str, np.ndarray]]] = []

    def add(self, frame: pd.DataFrame) -> None:
        """Keep ``frame``'s rows (its columns' dtypes as the frame inferred them)."""
        self.chunks.append((len(frame), {col: frame[col].to_numpy(copy=True) for col in frame.columns}))

    def frame(self, order: np.ndarray, columns: list[str]) -> pd.DataFrame:
        """The rows as one frame of ``columns`` (a column a chunk lacks is missing there), in
        ``order`` (positions in the rows as added); the chunks are emptied."""
        if not self.chunks:
            return pd.DataFrame(columns=columns)
        reorder = len(order) > 1 and not (np.diff(order) > 0).all()
        out = {}
        for col in columns:
            parts = [pd.Series(arrays.pop(col) if col in arrays else np.full(n, np.nan)) for n, arrays in self.chunks]
            values = (pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]).to_numpy()
            del parts
            out[col] = values[order] if reorder else values
        self.chunks = []
        return pd.DataFrame(out, columns=columns, copy=False)


def _collect(stream: Any, resumed: Sequence[GroupResult], progress: Progress, on_error: str,
             group_cols: list[str]) -> Collected:
    """Results of ``resumed`` then of ``stream``, kept compact as they arrive (:class:`Collected`);
    stops the stream on a fatal result.

    Models arrive as compact records (pickled where they were fitted, by the local and Ray
    backends) or as Prophet JSON (Spark rows, checkpoints); :class:`~prophet_grouped.models.ModelStore`
    keeps them so and makes a Prophet object only when one is asked for.
    """
    collected = Collected(group_cols)
    for result in resumed:
        progress.update(result.key, result.n_trials, "checkpoint")
    for result in itertools.chain(resumed, stream):
        progress.update(result.key, result.n_trials)
        fatal: Exception | None = None
        if result.status == checkpoint.MISMATCH:
            fatal = ValueError(result.error)
        elif result.status == "failed" and on_error == "raise":
            fatal = RuntimeError(
                f"Tuning group {result.key!r} failed: {result.error}. Use on_error='warn' to "
                f"record failed groups in results_ and go on with the others."
            )
        if fatal is not None:
            if hasattr(stream, "close"):
                stream.close()
            raise fatal
        if result.model_record is None and result.model_file is not None:
            result.model_record = ("file", result.model_file)  # written by the worker
        elif result.model_record is None and result.model_json is not None:
            result.model_record = ("json", result.model_json)
        collected.add(result)
    return collected


def _forecast_frame(collected: Collected, group_cols: list[str], X: Any) -> Any:
    """The forecasts the workers sent back, as one frame (a Spark DataFrame for Spark input)."""
    parts = []
    for key in sorted(collected.forecasts, key=key_order):
        parts.append(forecast_from_json(collected.forecasts[key]).assign(**dict(zip(group_cols, key))))
    collected.forecasts = {}
    columns = [*group_cols, "ds", *FORECAST_COLUMNS]
    out = pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
    if is_spark_dataframe(X):
        return X.sparkSession.createDataFrame(out)
    return out


def fitted_attributes(fitted: Fitted, nonnegative: Any) -> dict[str, Any]:
    """The estimator's fitted attributes from a fit's results (``results_``, ``best_params_``,
    ``models_``, ``trials_``, ``studies_``, the settings the data decided and a new ``run_id_``,
    which names the fit in what is written from it); warns about
    groups that fell back or failed, and about groups not clipped at 0."""
    collected, group_cols, config = fitted.collected, fitted.group_cols, fitted.config
    total = len(collected)
    table, best_params, trials = collected.attributes()
    for status, what, tail in (
        ("fallback", "could not be tuned and got an untuned default Prophet (status 'fallback')", "See results_."),
        ("failed", "failed and have no model", "See results_ for every group's status and error."),
    ):
        groups = sorted(collected.flagged[status], key=lambda item: key_order(item[0]))
        if groups:
            listing = "; ".join(f"{key!r}: {error}" for key, error in groups[:10])
            more = f" (and {len(groups) - 10} more)" if len(groups) > 10 else ""
            warn_user(f"{len(groups)} of {total} group(s) {what}: {listing}{more}. {tail}",
                      GroupFitWarning)
    signed = sorted(collected.signed, key=key_order)
    if signed and isinstance(nonnegative, str) and nonnegative == "auto":
        more = f" (and {len(signed) - 10} more)" if len(signed) > 10 else ""
        warn_user(
            f"{len(signed)} of {total} group(s) have negative values in their history (returns?), so "
            f"nonnegative='auto' does not clip their forecasts at 0: {signed[:10]}{more}. Set nonnegative=True "
            f"to clip every group at 0; results_['clipped'] says which groups are.",
            GroupFitWarning,
        )
    return {
        "models_": collected.models, "trials_": trials, "studies_": collected.studies,
        "results_": table, "best_params_": best_params,
        "group_cols_": group_cols, "engine_": config.engine, "random_state_": config.random_state,
        "freq_": config.freq, "closed_days_": list(config.closed_days), "horizon_": config.horizon,
        "future_cols_": list(config.drivers.future_columns), "run_id_": uuid.uuid4().hex,
        "date_format_": fitted.date_format,
    }


def _spark_literal(value: Any) -> Any:
    return import_optional("pyspark.sql.functions").lit(value)


def _stderr_is_terminal() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)())
