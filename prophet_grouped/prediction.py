"""What a fitted tuner answers: the dates to forecast, forecasts (batches of groups on the
backend, :func:`~prophet_grouped.forecast.forecast_batch`), the rows a plot forecasts, and the
score of a held-out frame. The estimator's methods check that it is fitted and call these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import transforms
from ._imports import import_optional
from .backends import get_backend
from .data import ONE_SERIES, validate_future, validate_history
from .exceptions import InputTypeError
from .forecast import FORECAST_COLUMNS
from .frequency import closed_by_group, future_freq, season_length
from .keys import group_key
from .metrics import resolve_metric
from .metrics import score as metric_score
from .plan import check_int
from .results import history_ends
from .sources import is_spark_dataframe

__all__ = ["fitted_key", "future_dates", "models_not_kept", "plot_rows", "predict_frame", "score_frame",
           "with_series_column"]


def future_dates(tuner: Any, periods: int, include_history: bool = False, start: Any = None) -> pd.DataFrame:
    """:meth:`~prophet_grouped.GroupedProphetTuner.make_future_dataframe` of a fitted ``tuner``."""
    check_int("periods", periods, 0)
    if start is not None:
        if include_history:
            raise ValueError("make_future_dataframe: give include_history=True or start, not both.")
        return _window(tuner, periods, start)
    ends = {} if include_history else history_ends(tuner.results_, tuner.group_cols_)
    if include_history and not len(tuner.models_):
        raise ValueError(
            "make_future_dataframe(include_history=True) needs the groups' models, which forecast(..., "
            "keep_models=False) did not keep: use forecast(..., keep_models=True) or fit()."
        )
    steps = _steps(tuner)
    frames = {}
    # Every group with a model, or known from results_ (forecast(..., keep_models=False) keeps
    # no models, but its groups' last dates).
    for key in (tuner.models_ if include_history or not ends else ends):
        if key in ends:  # what Prophet's make_future_dataframe does with the last date
            dates = pd.date_range(start=ends[key], periods=periods + 1, freq=steps(key))
            frames[key] = dates[dates > ends[key]][:periods]
        else:
            frames[key] = tuner.models_[key].make_future_dataframe(periods=periods, freq=steps(key),
                                                                  include_history=include_history)["ds"]
    return _stack(tuner, frames)


def _window(tuner: Any, periods: int, start: Any) -> pd.DataFrame:
    """The same window for every group: ``periods`` steps from ``start`` (a date: the first
    step on or after it), or after the latest history end of all groups (``"common"``)."""
    ends = history_ends(tuner.results_, tuner.group_cols_)
    if not ends:  # folders saved before results_ had history_end: the models know
        ends = {key: tuner.models_[key].history_dates.max() for key in tuner.models_}
    if isinstance(start, str) and start == "common":
        after, first = max(ends.values()), None
    else:
        try:
            first = pd.Timestamp(start)
        except (ValueError, TypeError):
            raise ValueError(f"start must be a date (e.g. '2024-06-03') or 'common', got {start!r}.") from None
        if pd.isna(first):
            raise ValueError(f"start must be a date (e.g. '2024-06-03') or 'common', got {start!r}.")
        after = None
    steps = _steps(tuner)
    frames = {}
    for key in ends:
        if after is not None:
            dates = pd.date_range(start=after, periods=periods + 1, freq=steps(key))
            frames[key] = dates[dates > after][:periods]
        else:
            frames[key] = pd.date_range(start=first, periods=periods, freq=steps(key))
    return _stack(tuner, frames)


def _steps(tuner: Any) -> Any:
    """Group key -> the frequency its future dates step by (its closed weekdays skipped)."""
    shared = tuple(getattr(tuner, "closed_days_", ()))
    closed = closed_by_group(tuner.results_, tuner.group_cols_)
    return lambda key: future_freq(tuner.freq_, closed.get(key, shared))


def _stack(tuner: Any, dates: dict[tuple[Any, ...], Any]) -> pd.DataFrame:
    """One frame of group columns and ``ds`` from each group's dates, groups in ``dates``' order."""
    frames = []
    for key, ds in dates.items():
        future = pd.DataFrame({"ds": pd.DatetimeIndex(ds).astype("datetime64[ns]")})
        for col, value in zip(tuner.group_cols_, key):
            future[col] = value
        frames.append(future)
    if not frames:
        return pd.DataFrame(columns=tuner.group_cols_ + ["ds"])
    return pd.concat(frames, ignore_index=True)[tuner.group_cols_ + ["ds"]]


def with_series_column(tuner: Any, X: Any) -> Any:
    """``X`` with the group column of a single series fitted with ``group_cols=None``, when it
    lacks it (the user never named one)."""
    if tuner.group_cols is not None or not hasattr(X, "columns") or tuner.group_cols_[0] in X.columns:
        return X
    if is_spark_dataframe(X):
        return X.withColumn(tuner.group_cols_[0], import_optional("pyspark.sql.functions").lit(ONE_SERIES))
    return X.assign(**{tuner.group_cols_[0]: ONE_SERIES})


def _group_keys(tuner: Any, frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    seen = frame[tuner.group_cols_].drop_duplicates()
    return [group_key(row) for row in seen.itertuples(index=False, name=None)]


def predict_frame(tuner: Any, X: Any) -> Any:
    """:meth:`~prophet_grouped.GroupedProphetTuner.predict` of a fitted ``tuner``."""
    X = with_series_column(tuner, X)
    if is_spark_dataframe(X):
        backend = get_backend(tuner.backend, dict(tuner.backend_options) if tuner.backend_options else None)
        return backend.predict_spark(tuner, X)
    # Positions, not the caller's index (which may repeat, e.g. after pd.concat).
    extra = tuple(tuner.future_cols_)
    future = validate_future(X, tuner.group_cols_, tuner.time_col, tuner.date_format, extra,
                             prefer=getattr(tuner, "date_format_", None)).reset_index(drop=True)
    keys = _group_keys(tuner, future)
    unknown = [k for k in keys if k not in tuner.trials_]
    if unknown:
        raise ValueError(
            f"{len(unknown)} group(s) to predict were not in the data given to fit: {unknown[:5]}. "
            f"Predict only groups that fit saw (see results_)."
        )
    no_model = [k for k in keys if k not in tuner.models_]
    if no_model and models_not_kept(tuner, no_model):
        raise ValueError(
            "This tuner kept no models: it was fitted by forecast(..., keep_models=False). Use "
            "forecast(X, keep_models=True), or fit(X), to predict other dates later."
        )
    if no_model:
        raise ValueError(
            f"{len(no_model)} group(s) to predict failed during fit and have no model: "
            f"{no_model[:5]}. See results_['error']; drop them from the frame to predict."
        )
    jobs, positions = [], {}
    dates = future["ds"].to_numpy(dtype="datetime64[ns]")
    for key, index in future.groupby(tuner.group_cols_, sort=False).indices.items():
        key = group_key(key)
        # A group's dates alone travel as an array (cheaper to cut and send than a frame).
        rows = future.iloc[index][["ds", *extra]] if extra else dates[index]
        jobs.append((key, tuner.models_.record(key), rows))
        positions[key] = index
    values = np.full((len(future), len(FORECAST_COLUMNS)), np.nan)
    backend = get_backend(tuner.backend, dict(tuner.backend_options) if tuner.backend_options else None)
    for key, fc in backend.forecast(jobs, tuner.nonnegative, tuner.random_state_, tuner.n_jobs):
        values[positions[key]] = fc
    out = future.drop(columns=list(extra))
    for j, col in enumerate(FORECAST_COLUMNS):
        out[col] = values[:, j]
    return out.reset_index(drop=True)


def models_not_kept(tuner: Any, keys: Sequence[tuple[Any, ...]]) -> bool:
    """Whether some of ``keys`` were tuned without error but their models were not kept."""
    ok = {group_key(r) for r in tuner.results_.loc[tuner.results_["status"] != "failed", tuner.group_cols_]
          .itertuples(index=False, name=None)}
    return any(group_key(key) in ok for key in keys)


def fitted_key(tuner: Any, group: Any) -> tuple[Any, ...]:
    """The canonical key of ``group``; ValueError for a group the fit did not see."""
    if group is None and len(tuner.trials_) == 1:  # one series: it needs no name
        return next(iter(tuner.trials_))
    key = group_key(group)
    if key not in tuner.trials_:
        raise ValueError(
            f"Unknown group {group!r}: give the values of {tuner.group_cols_} as a tuple, e.g. "
            f"{next(iter(tuner.trials_), None)!r}."
        )
    return key


def plot_rows(tuner: Any, group: Any, key: tuple[Any, ...], future: pd.DataFrame | None) -> pd.DataFrame | None:
    """The rows of ``future`` that :meth:`~prophet_grouped.GroupedProphetTuner.plot_forecast`
    forecasts for ``group`` (whose :func:`fitted_key` is ``key``), checked; None to forecast from
    the dates alone."""
    future = None if future is None else with_series_column(tuner, future)
    extra = tuple(tuner.future_cols_)
    if future is None and extra:
        raise ValueError(
            f"Group {group!r}'s models use {list(extra)}, whose future values plot_forecast can't know: pass "
            f"future= a frame with the group's dates to forecast and those columns."
        )
    if future is not None:
        cols = [c for c in tuner.group_cols_ if c in future.columns]
        rows = future
        if cols:
            match = np.ones(len(future), dtype=bool)
            for col, value in zip(tuner.group_cols_, key):
                if col in future.columns:
                    match &= (future[col] == value).to_numpy()
            rows = future.loc[match]
        if rows.empty:
            raise ValueError(f"future has no rows for group {group!r}.")
        rows = rows.assign(**{c: 0 for c in tuner.group_cols_ if c not in rows.columns})
        future = validate_future(rows, tuner.group_cols_, tuner.time_col, tuner.date_format, extra,
                                 prefer=getattr(tuner, "date_format_", None))
    return future


def score_frame(tuner: Any, X: Any) -> float:
    """:meth:`~prophet_grouped.GroupedProphetTuner.score` of a fitted ``tuner``."""
    if is_spark_dataframe(X):
        raise InputTypeError(
            "score takes a pandas DataFrame of groups, dates and actual values; a Spark DataFrame is not "
            "scored in Spark. Collect the rows to score first: tuner.score(sdf.toPandas())."
        )
    metric = resolve_metric(tuner.metric)
    extra = tuple(tuner.future_cols_)
    X = with_series_column(tuner, X)
    truth = validate_history(X, tuner.group_cols_, tuner.time_col, tuner.target_col, tuner.date_format,
                             extra=extra, numeric=extra, prefer=getattr(tuner, "date_format_", None))
    fc = tuner.predict(truth.rename(columns={"ds": tuner.time_col})[tuner.group_cols_ + [tuner.time_col, *extra]])
    truth = truth.reset_index(drop=True)
    losses = []
    scaled = getattr(metric, "needs_history", False)
    for key, part in truth.groupby(tuner.group_cols_, sort=False):
        # Only a scaled metric reads the history's y, from the model: the others load none.
        history = transforms.history_y(tuner.models_[group_key(key)]) if scaled else None
        losses.append(metric_score(metric, part["y"].to_numpy(), fc.loc[part.index, "yhat"].to_numpy(),
                                   history, season_length(tuner.freq_)))
    return -float(np.mean(losses))
