"""How the estimator's settings would have forecast the last few windows of a history, group by
group, against untuned Prophet and the seasonal naive forecast.

For each origin (the last ``horizon`` steps of the panel held out, then the ``horizon`` before
them, ...), a clone of the estimator is fitted on the rows up to the origin and forecasts the
window after it; so is stock Prophet (Prophet's defaults, fitted with Stan, with the same
regressors, events, country holidays and clipping: a clone with one trial, which is Prophet's
default configuration, and ``engine="stan"``); the seasonal naive forecast is the one
``naive_score`` uses, each date's value one season earlier; ``"ets"`` (asked for by name) is
statsforecast's AutoETS per group, as the ETS challenger fits it (:mod:`~prophet_grouped.ets`).
Every method is scored on the same held-out rows.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import ets, plan
from .data import validate_history
from .exceptions import InputTypeError
from .frequency import season_length
from .forecast import clip_forecast, clips
from .keys import group_key
from .objective import horizon_offset, seasonal_naive
from .sources import is_spark_dataframe
from .tuning import closed_days_of

__all__ = ["METHODS", "backtest", "summary"]

#: What :func:`backtest` can compare ("ets" needs statsforecast, the ``ets`` extra).
METHODS = ("tuned", "prophet", "seasonal_naive", "ets")
#: What it compares unless told.
DEFAULT_METHODS = ("tuned", "prophet", "seasonal_naive")

#: The columns of a backtest table after the group columns.
COLUMNS = ["origin", "method", "mae", "rmse", "bias", "coverage", "n"]


def backtest(tuner: Any, X: pd.DataFrame, origins: int = 3, methods: Sequence[str] = DEFAULT_METHODS) -> pd.DataFrame:
    """One row per group, origin and method: :meth:`GroupedProphetTuner.backtest`."""
    return run(tuner, X, origins, methods)[0]


def run(tuner: Any, X: pd.DataFrame, origins: int = 3,
        methods: Sequence[str] = DEFAULT_METHODS) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """:func:`backtest`'s table, the forecasts behind it (group columns, ``origin``, ``method``,
    ``ds``, ``y``, ``yhat``, ``yhat_lower``, ``yhat_upper``) and the checked history (group
    columns, ``ds``, ``y``): what a report draws."""
    if is_spark_dataframe(X):
        # The windows are cut and scored on the driver; each fit runs on the tuner's backend.
        X = X.toPandas()
    if not isinstance(X, pd.DataFrame):
        raise InputTypeError(f"backtest takes a DataFrame of the history (pandas or Spark), got {type(X).__name__}.")
    plan.check_int("origins", origins, 1)
    methods = list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if not methods or unknown:
        raise ValueError(f"methods must be a non-empty list of {list(METHODS)}, got {methods!r}.")
    if "ets" in methods:
        ets.import_autoets()  # ImportError naming the extra, before any fit
    # Each fit is its own: no checkpoint, model folder or previous fit of the tuner's applies.
    settings = clone(tuner).set_params(checkpoint_dir=None, model_dir=None, warm_start=None, champion=None)
    verbose = settings.verbose >= 2 or (settings.verbose == 1 and sys.stderr.isatty())
    group_cols, config = plan.make_config(settings)
    if not group_cols:  # group_cols=None: one series
        raise ValueError("backtest needs group columns: give group_cols (a column with one value for one series).")
    config = plan.with_drivers(config, settings, group_cols, list(X.columns))
    history = validate_history(X, group_cols, settings.time_col, settings.target_col, settings.date_format,
                               extra=config.drivers.columns, numeric=config.drivers.future_columns)
    config = plan.with_time(config, settings, history["ds"])
    step = horizon_offset(config.freq, config.horizon)
    last = history["ds"].max()
    cutoffs = [last - step * k for k in range(origins, 0, -1)]
    if (history["ds"] <= cutoffs[0]).sum() == 0:
        raise ValueError(f"origins={origins} x horizon={config.horizon} steps of {config.freq!r} reach back before "
                         f"the history ({history['ds'].min().date()}); lower origins or horizon.")
    frame = history.rename(columns={"ds": settings.time_col, "y": settings.target_col})
    rows, drawn = [], []
    for number, cutoff in enumerate(cutoffs, start=1):
        if verbose:
            print(f"backtest: origin {number} of {len(cutoffs)} ({cutoff})", file=sys.stderr)
        train = frame[frame[settings.time_col] <= cutoff]
        test = history[(history["ds"] > cutoff) & (history["ds"] <= cutoff + step) & history["y"].notna()]
        test = test[test.set_index(group_cols).index.isin(train.set_index(group_cols).index.unique())]
        if test.empty:
            continue
        future = test.drop(columns="y").rename(columns={"ds": settings.time_col}).reset_index(drop=True)
        truth = test.reset_index(drop=True)
        forecasts = {}
        fixed = dict(horizon=config.horizon, freq=config.freq)
        if "tuned" in methods:
            forecasts["tuned"] = _fit_predict(clone(settings).set_params(**fixed), train, future)
        if "prophet" in methods:
            untuned = clone(settings).set_params(n_trials=1, transform=None, engine="stan", intervals="prophet",
                                                 candidates=("prophet",), **fixed)
            forecasts["prophet"] = _fit_predict(untuned, train, future)
        if "seasonal_naive" in methods:
            forecasts["seasonal_naive"] = _seasonal_naive(history[history["ds"] <= cutoff], truth, group_cols,
                                                          config.freq, season_length(config.freq))
        if "ets" in methods:
            forecasts["ets"] = _ets(history[history["ds"] <= cutoff], truth, group_cols, config)
        for method, fc in forecasts.items():
            rows.extend(_scores(truth, fc, group_cols, cutoff, method))
            drawn.append(truth[[*group_cols, "ds", "y"]].assign(origin=cutoff, method=method, **{
                col: fc[col].to_numpy() for col in ("yhat", "yhat_lower", "yhat_upper")}))
    forecast_columns = [*group_cols, "origin", "method", "ds", "y", "yhat", "yhat_lower", "yhat_upper"]
    drawn_frame = pd.concat(drawn, ignore_index=True)[forecast_columns] if drawn else pd.DataFrame(
        columns=forecast_columns)
    return pd.DataFrame(rows, columns=[*group_cols, *COLUMNS]), drawn_frame, history[[*group_cols, "ds", "y"]]


def clone(tuner: Any) -> Any:
    """A new unfitted tuner with ``tuner``'s parameters, shared, not copied (scikit-learn's
    ``clone`` deep-copies them, and a SparkSession in ``backend_options`` can't be copied)."""
    return type(tuner)(**tuner.get_params(deep=False))


def _fit_predict(tuner: Any, train: pd.DataFrame, future: pd.DataFrame) -> pd.DataFrame:
    """``tuner`` fitted on ``train``; its forecast of ``future``'s rows (NaN for groups that failed)."""
    tuner.fit(train)
    keep = np.array([group_key(k) in tuner.models_
                     for k in future[tuner.group_cols_].itertuples(index=False, name=None)], dtype=bool)
    out = pd.DataFrame({"yhat": np.nan, "yhat_lower": np.nan, "yhat_upper": np.nan}, index=future.index)
    if keep.any():
        fc = tuner.predict(future[keep].reset_index(drop=True))
        out.loc[keep, ["yhat", "yhat_lower", "yhat_upper"]] = fc[["yhat", "yhat_lower", "yhat_upper"]].to_numpy()
    return out


def _seasonal_naive(train: pd.DataFrame, truth: pd.DataFrame, group_cols: list[str], freq: str,
                    m: int) -> pd.DataFrame:
    """Each group's seasonal naive forecast of its held-out rows: the baseline of ``naive_score``
    (:func:`~prophet_grouped.objective.seasonal_naive`, which looks back whole seasons by date,
    over closed days and gaps)."""
    out = pd.DataFrame({"yhat": np.nan, "yhat_lower": np.nan, "yhat_upper": np.nan}, index=truth.index)
    observed = train[train["y"].notna()]
    past = {group_key(k): part[["ds", "y"]] for k, part in observed.groupby(group_cols, sort=False)}
    for key, part in truth.groupby(group_cols, sort=False):
        history = past.get(group_key(key))
        if history is not None:
            out.loc[part.index, "yhat"] = seasonal_naive(history, part["ds"], freq, m)
    return out


def _ets(train: pd.DataFrame, truth: pd.DataFrame, group_cols: list[str], config: Any) -> pd.DataFrame:
    """Each group's AutoETS forecast of its held-out rows, fitted on its observed rows as the ETS
    challenger fits it (its own closed weekdays, clipped at 0 as ``nonnegative`` says); NaN for
    a group AutoETS fails on."""
    out = pd.DataFrame({"yhat": np.nan, "yhat_lower": np.nan, "yhat_upper": np.nan}, index=truth.index)
    observed = train[train["y"].notna()]
    past = {group_key(k): part[["ds", "y"]].reset_index(drop=True) for k, part in observed.groupby(group_cols, sort=False)}
    for key, part in truth.groupby(group_cols, sort=False):
        history = past.get(group_key(key))
        if history is None:
            continue
        try:
            model = ets.EtsModel.fit(history, config.freq, config.season_length, closed_days_of(history["ds"], config),
                                     fill="zero" if config.missing_dates == "zero" else "interpolate")
        except Exception:  # noqa: BLE001  (a group AutoETS can't fit: no row, as for a failed fit)
            continue
        values = clip_forecast(model.predict_values(part["ds"].to_numpy()), clips(config.nonnegative, history["y"]))
        out.loc[part.index, ["yhat", "yhat_lower", "yhat_upper"]] = values
    return out


def _scores(truth: pd.DataFrame, fc: pd.DataFrame, group_cols: list[str], origin: pd.Timestamp,
            method: str) -> list[dict[str, Any]]:
    rows = []
    for key, part in truth.groupby(group_cols, sort=True):
        y = part["y"].to_numpy(dtype=float)
        got = fc.loc[part.index]
        yhat = got["yhat"].to_numpy(dtype=float)
        if np.isnan(yhat).all():
            continue  # the method failed for this group: no row
        error = yhat - y
        inside = (got["yhat_lower"].to_numpy() <= y) & (y <= got["yhat_upper"].to_numpy())
        rows.append({
            **dict(zip(group_cols, key if isinstance(key, tuple) else (key,))),
            "origin": origin, "method": method,
            "mae": float(np.mean(np.abs(error))), "rmse": float(np.sqrt(np.mean(error ** 2))),
            "bias": float(yhat.sum() / y.sum()) if y.sum() != 0 else np.nan,
            "coverage": float(inside.mean()) if got["yhat_lower"].notna().all() else np.nan,
            "n": len(y),
        })
    return rows


def summary(table: pd.DataFrame, group_cols: list[str]) -> pd.DataFrame:
    """Per method: mean and median MAE, wins against untuned Prophet (groups x origins where the
    method's MAE is lower), mean coverage of the interval, total bias."""
    out = []
    base = table[table["method"] == "prophet"].set_index([*group_cols, "origin"])["mae"]
    for method, part in table.groupby("method", sort=False):
        mae = part.set_index([*group_cols, "origin"])["mae"]
        paired = mae.index.intersection(base.index)
        wins = int((mae[paired] < base[paired]).sum()) if method != "prophet" else np.nan
        out.append({"method": method, "mean_mae": mae.mean(), "median_mae": mae.median(),
                    "wins_vs_prophet": wins, "pairs": len(paired), "coverage": part["coverage"].mean(),
                    "median_bias": part["bias"].median()})
    return pd.DataFrame(out)
