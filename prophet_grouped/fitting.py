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

import pandas as pd

from . import checkpoint, plan, previous
from ._imports import import_optional
from .backends import get_backend
from .config import TuningConfig
from .data import ONE_SERIES, one_series_column, split_groups
from .exceptions import GroupFitWarning, warn_user
from .forecast import FORECAST_COLUMNS, forecast_from_json
from .keys import key_order
from .models import ModelStore
from .progress import Progress
from .results import PUBLIC_RESULT_COLUMNS, GroupResult
from .sources import PandasSource, SparkSource, check_history, is_spark_dataframe

__all__ = ["Fitted", "fitted_attributes", "run_fit"]


@dataclass
class Fitted:
    """What a fit gives: each group's result, the group columns, the completed plan and (with
    ``forecast``) the forecasts, a frame of the input's kind."""

    results: list[GroupResult]
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
        results = _collect(stream, resumed, progress, params.on_error)
    finally:
        progress.close()
    out = None
    if forecast:
        out = getattr(backend, "spark_forecast", None) if is_spark_dataframe(X) else None
        if out is None:
            out = _forecast_frame(results, group_cols, X)
    return Fitted(results, group_cols, config, out, source.date_format)


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


def _collect(stream: Any, resumed: Sequence[GroupResult], progress: Progress, on_error: str) -> list[GroupResult]:
    """Results of ``resumed`` then of ``stream``; stops the stream on a fatal result.

    Models arrive as compact records (pickled where they were fitted, by the local and Ray
    backends) or as Prophet JSON (Spark rows, checkpoints); :class:`~prophet_grouped.models.ModelStore`
    keeps them so and makes a Prophet object only when one is asked for.
    """
    results = []
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
        result.model_json = None
        results.append(result)
    return results


def _forecast_frame(results: list[GroupResult], group_cols: list[str], X: Any) -> Any:
    """The forecasts the workers sent back, as one frame (a Spark DataFrame for Spark input)."""
    parts = []
    for r in sorted(results, key=lambda r: key_order(r.key)):
        if r.forecast is not None:
            parts.append(forecast_from_json(r.forecast).assign(**dict(zip(group_cols, r.key))))
            r.forecast = None
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
    results, group_cols, config = fitted.results, fitted.group_cols, fitted.config
    results.sort(key=lambda r: key_order(r.key))
    rows, best = [], []
    models, trials, studies = ModelStore(), {}, {}
    for r in results:
        key = dict(zip(group_cols, r.key))
        rows.append({**key, **{c: getattr(r, c) for c in PUBLIC_RESULT_COLUMNS}})
        trials[r.key] = list(r.trials)
        if r.study is not None:
            studies[r.key] = r.study
            r.study = None
        if r.status == "ok":
            best.append({**key, **r.best_params})
        if r.model_record is not None:
            models.add(r.key, r.model_record)
            r.model_record = None
    table = pd.DataFrame(rows, columns=group_cols + list(PUBLIC_RESULT_COLUMNS))
    table["history_end"] = pd.to_datetime(table["history_end"]).astype("datetime64[ns]")
    best_params = pd.DataFrame(best) if best else pd.DataFrame(columns=group_cols)
    for status, what, tail in (
        ("fallback", "could not be tuned and got an untuned default Prophet (status 'fallback')", "See results_."),
        ("failed", "failed and have no model", "See results_ for every group's status and error."),
    ):
        groups = [r for r in results if r.status == status]
        if groups:
            listing = "; ".join(f"{r.key!r}: {r.error}" for r in groups[:10])
            more = f" (and {len(groups) - 10} more)" if len(groups) > 10 else ""
            warn_user(f"{len(groups)} of {len(results)} group(s) {what}: {listing}{more}. {tail}",
                      GroupFitWarning)
    signed = [r.key for r in results if r.clipped is False]
    if signed and isinstance(nonnegative, str) and nonnegative == "auto":
        more = f" (and {len(signed) - 10} more)" if len(signed) > 10 else ""
        warn_user(
            f"{len(signed)} of {len(results)} group(s) have negative values in their history (returns?), so "
            f"nonnegative='auto' does not clip their forecasts at 0: {signed[:10]}{more}. Set nonnegative=True "
            f"to clip every group at 0; results_['clipped'] says which groups are.",
            GroupFitWarning,
        )
    return {
        "models_": models, "trials_": trials, "studies_": studies, "results_": table, "best_params_": best_params,
        "group_cols_": group_cols, "engine_": config.engine, "random_state_": config.random_state,
        "freq_": config.freq, "closed_days_": list(config.closed_days), "horizon_": config.horizon,
        "future_cols_": list(config.drivers.future_columns), "run_id_": uuid.uuid4().hex,
        "date_format_": fitted.date_format,
    }


def _spark_literal(value: Any) -> Any:
    return import_optional("pyspark.sql.functions").lit(value)


def _stderr_is_terminal() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)())
