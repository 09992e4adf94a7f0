"""The objective: build a Prophet model from parameters, fit it on each fold, score it.

No Optuna, Spark or Ray here: this module turns a parameter dict into a loss.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import transforms
from .data import MIN_TRAIN_POINTS
from .engines import fit_prophet, fold_cache
from .forecast import clip_forecast, clip_to_capacity
from .metrics import score
from .spec import build_prophet

if TYPE_CHECKING:
    from prophet import Prophet

    from .covariates import GroupDrivers
    from .metrics import Metric


@dataclass(frozen=True)
class Fold:
    """One validation split: fit on ``train``, score the forecast of ``valid``.

    ``cache`` keeps the fold's Prophet features between trials (batch engine; see
    :mod:`prophet_grouped.engines.batch`).
    """

    cutoff: pd.Timestamp
    train: pd.DataFrame
    valid: pd.DataFrame
    cache: Any = field(default=None, compare=False, repr=False)
    #: The target transform trials fit on (:mod:`prophet_grouped.transforms`): ``train`` keeps
    #: ``y`` in its own units (scaled metrics read it), the models and ``cache`` see it transformed.
    transform: str = "none"

    def fit_frame(self) -> pd.DataFrame:
        """The training rows a model of this fold is fitted on (``y`` transformed)."""
        if self.transform == "none":
            return self.train
        return self.train.assign(y=transforms.forward(self.train["y"].to_numpy(dtype=float), self.transform))

    def back(self, yhat: np.ndarray) -> np.ndarray:
        """A forecast of the fold's model in ``y``'s units, within the transform's guard."""
        if self.transform == "none":
            return yhat
        return transforms.inverse(np.asarray(yhat, dtype=float), self.transform,
                                  transforms.ceiling(self.train["y"].to_numpy(dtype=float)))


def check_seasonality_mode(
    params: Mapping[str, Any], prophet_params: Mapping[str, Any] | None, y: np.ndarray
) -> None:
    """Raise ValueError for multiplicative seasonality on a series with negative values."""
    mode = params.get("seasonality_mode", (prophet_params or {}).get("seasonality_mode", "additive"))
    if mode == "multiplicative" and np.nanmin(y) < 0:
        fixed = "seasonality_mode" not in params
        raise ValueError(
            f"y has {int((y < 0).sum())} negative values, which multiplicative seasonality"
            f"{' (fixed in prophet_params)' if fixed else ''} can't model; use seasonality_mode='additive'"
        )


def horizon_offset(freq: str, horizon: int) -> pd.DateOffset:
    """``horizon`` steps of ``freq`` as a pandas offset."""
    return pd.tseries.frequencies.to_offset(freq) * horizon


def fold_cutoffs(
    last: pd.Timestamp, horizon: int, freq: str, cv_folds: int, cutoffs: Sequence[pd.Timestamp] | None
) -> list[pd.Timestamp]:
    """Cutoffs, oldest first: explicit ``cutoffs``, or ``cv_folds`` back-to-back windows
    of ``horizon`` steps ending at ``last``."""
    if cutoffs is not None:
        return sorted(pd.Timestamp(c) for c in cutoffs)
    step = horizon_offset(freq, horizon)
    return sorted(last - step * i for i in range(1, cv_folds + 1))


#: Rolling-origin folds a group gets when ``cv_folds`` is not set (fewer when it is short).
AUTO_FOLDS = 3


def auto_fold_count(ds: pd.Series, horizon: int, freq: str, wanted: int = AUTO_FOLDS) -> int:
    """How many back-to-back folds of ``horizon`` steps a group's dates ``ds`` (sorted) allow,
    at most ``wanted``: the most that keep at least half of the group's points, and
    :data:`~prophet_grouped.data.MIN_TRAIN_POINTS`, before the earliest cutoff; at least 1."""
    step = horizon_offset(freq, horizon)
    last = ds.iloc[-1]
    for k in range(wanted, 1, -1):
        if int((ds <= last - step * k).sum()) >= max(MIN_TRAIN_POINTS, len(ds) / 2):
            return k
    return 1


def make_folds(
    frame: pd.DataFrame, horizon: int, freq: str, cv_folds: int, cutoffs: Sequence[pd.Timestamp] | None,
    max_orders: Mapping[str, int] | None = None, engine: str | None = None, transform: str = "none",
) -> list[Fold]:
    """Split one group's history (columns ds, y and its regressors, cap, floor; sorted) into
    validation folds.

    Each fold gets ``engine``'s feature cache (none for Stan or without an engine), sized by
    ``max_orders`` (seasonality name -> highest Fourier order trials may use). ``transform``:
    the folds' models fit on the transformed target (:class:`Fold`).
    """
    step = horizon_offset(freq, horizon)
    ds = frame["ds"]
    folds = []
    for cutoff in fold_cutoffs(ds.iloc[-1], horizon, freq, cv_folds, cutoffs):
        train = frame.loc[ds <= cutoff].reset_index(drop=True)
        valid = frame.loc[(ds > cutoff) & (ds <= cutoff + step)].reset_index(drop=True)
        if len(train) < MIN_TRAIN_POINTS or valid.empty:
            raise ValueError(
                f"too short for cutoff {cutoff.date()}: {len(train)} training points (at least "
                f"{MIN_TRAIN_POINTS} needed) and {len(valid)} validation points"
            )
        fold = Fold(cutoff, train, valid, None, transform)
        if engine is not None:  # the cache holds the features of what the models are fitted on
            fold = replace(fold, cache=fold_cache(engine, fold.fit_frame(), valid, max_orders))
        folds.append(fold)
    return folds


def fold_loss(fold: Fold, yhat: np.ndarray, metric: Metric, clip: bool = False, season_length: int = 1) -> float:
    """The metric of a point forecast ``yhat`` of ``fold``'s validation rows (clipped at 0 when
    ``clip``, and within [floor, cap] for logistic growth, as the group's forecasts will be);
    scaled metrics are scaled by the fold's training values."""
    yhat = clip_to_capacity(clip_forecast(np.asarray(yhat, dtype=float), clip), fold.valid)
    return score(metric, fold.valid["y"].to_numpy(), yhat, fold.train["y"].to_numpy(), season_length)


def seasonal_naive(train: pd.DataFrame, dates: pd.Series, freq: str, season_length: int) -> np.ndarray:
    """The seasonal naive forecast of ``dates`` from a history ``train`` (columns ds and y):
    each date's value one season (``season_length`` steps of ``freq``) earlier, or two, three...
    seasons earlier where the history has no value then (a closed day, a gap); the last value
    where no earlier season is in the history."""
    values = train.set_index("ds")["y"]
    values = values[~values.index.duplicated()]
    step = pd.tseries.frequencies.to_offset(freq) * max(1, int(season_length))
    ds = pd.DatetimeIndex(pd.to_datetime(dates))
    yhat = np.full(len(ds), np.nan)
    first, last = values.index.min(), values.index.max()
    back = ds
    while np.isnan(yhat).any():
        back = back - step
        in_range = (back >= first) & (back <= last)
        if (back < first).all():
            break
        found = values.reindex(back).to_numpy(dtype=float)
        fill = np.isnan(yhat) & in_range & ~np.isnan(found)
        yhat[fill] = found[fill]
    yhat[np.isnan(yhat)] = float(values.iloc[-1])
    return yhat


def naive_loss(folds: Sequence[Fold], metric: Metric, freq: str, season_length: int = 1,
               clip: bool = False) -> float:
    """Mean loss of the seasonal naive forecast (:func:`seasonal_naive`) over ``folds``, scored
    as :func:`evaluate` scores a trial: the baseline a tuned model has to beat."""
    losses = [fold_loss(fold, seasonal_naive(fold.train, fold.valid["ds"], freq, season_length), metric, clip,
                        season_length) for fold in folds]
    return float(np.mean(losses))


def forecast_folds(
    params: Mapping[str, Any],
    folds: Sequence[Fold],
    engine: str,
    output_dir: str,
    prophet_params: Mapping[str, Any] | None = None,
    holidays_country: str | None = None,
    until: float | None = None,
    drivers: GroupDrivers | None = None,
    back: bool = True,
) -> list[np.ndarray]:
    """The point forecast of each fold's validation rows by a model of ``params`` fitted on the
    fold's training rows, in ``y``'s units (back-transformed; not clipped), or in the model's
    own space with ``back=False``. No intervals are drawn; ``until`` (a ``time.monotonic()``
    deadline) bounds each Stan fit with cmdstan's timeout."""
    if drivers is not None:
        prophet_params = drivers.prophet_params

    def make() -> Prophet:
        return build_prophet(params, prophet_params, holidays_country, uncertainty_samples=0, drivers=drivers)

    forecasts = []
    for fold in folds:
        check_seasonality_mode(params, prophet_params, fold.train["y"].to_numpy())
        if fold.cache is not None:
            # The engine's own solve on features built once per fold (e.g. engines.batch.FoldCache).
            yhat = fold.cache.forecast(make())
            if yhat is not None:
                forecasts.append(fold.back(yhat) if back else yhat)
                continue
        model = fit_prophet(
            make,
            fold.fit_frame(),
            engine,
            output_dir,
            timeout=None if until is None else max(0.1, until - time.monotonic()),
        )
        yhat = model.predict(fold.valid.drop(columns="y"))["yhat"].to_numpy()
        forecasts.append(fold.back(yhat) if back else yhat)
    return forecasts


def evaluate(
    params: Mapping[str, Any],
    folds: Sequence[Fold],
    metric: Metric,
    engine: str,
    output_dir: str,
    prophet_params: Mapping[str, Any] | None = None,
    holidays_country: str | None = None,
    until: float | None = None,
    clip: bool = False,
    season_length: int = 1,
    drivers: GroupDrivers | None = None,
) -> float:
    """Mean loss of ``params`` over ``folds`` (:func:`forecast_folds`, then :func:`fold_loss`).

    ``clip`` scores forecasts clipped at 0, as the group's forecasts will be;
    ``season_length`` scales ``mase`` and ``rmsse``.
    """
    forecasts = forecast_folds(params, folds, engine, output_dir, prophet_params, holidays_country, until, drivers)
    loss = float(np.mean([fold_loss(fold, yhat, metric, clip, season_length)
                          for fold, yhat in zip(folds, forecasts)]))
    if not np.isfinite(loss):
        raise FloatingPointError(f"the metric is not finite ({loss})")
    return loss


def fold_errors(folds: Sequence[Fold], forecasts: Sequence[np.ndarray]) -> np.ndarray:
    """``y - yhat`` over every fold's validation rows in the model's own space (``log1p(y) -
    yhat`` for folds on that transform), for forecasts from ``forecast_folds(..., back=False)``."""
    if not folds:
        return np.empty(0)
    return np.concatenate([
        transforms.forward(fold.valid["y"].to_numpy(dtype=float), fold.transform) - np.asarray(yhat, dtype=float)
        for fold, yhat in zip(folds, forecasts)
    ])
