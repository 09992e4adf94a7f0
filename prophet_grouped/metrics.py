"""Forecast error metrics; lower is better for all of them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .exceptions import InputTypeError

Metric = Callable[[np.ndarray, np.ndarray], float]


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(y_true - y_pred)))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def mape(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute percentage error over the points where ``y_true != 0`` (inf if there are none)."""
    mask = y_true != 0
    if not mask.any():
        return float("inf")
    return float(np.mean(np.abs((y_true[mask] - y_pred[mask]) / y_true[mask])))


def smape(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Symmetric MAPE in [0, 2]; a point where both values are 0 counts as a perfect forecast."""
    denom = np.abs(y_true) + np.abs(y_pred)
    err = np.divide(2.0 * np.abs(y_true - y_pred), denom, out=np.zeros_like(denom, dtype=float), where=denom > 0)
    return float(np.mean(err))


def wape(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Weighted absolute percentage error: sum |error| / sum |y| (the MAE when every y is 0)."""
    total = np.sum(np.abs(y_true))
    err = np.sum(np.abs(y_true - y_pred))
    return float(err / total) if total > 0 else float(err / len(y_true))


def naive_scale(y_train: np.ndarray, season_length: int, power: int) -> float:
    """Mean of ``|y[t] - y[t - m]| ** power`` over the training values: the in-sample error of
    the seasonal naive forecast (``m = season_length``; lag 1 where the history is shorter than
    two seasons or the seasonal error is 0, e.g. a perfectly periodic series)."""
    y = np.asarray(y_train, dtype=float)
    y = y[~np.isnan(y)]
    for lag in (season_length, 1):
        if 1 <= lag < len(y) and (lag == 1 or len(y) >= 2 * lag):
            scale = float(np.mean(np.abs(y[lag:] - y[:-lag]) ** power))
            if scale > 0:
                return scale
    return float("nan")


def mase(y_true: np.ndarray, y_pred: np.ndarray, y_train: np.ndarray, season_length: int = 1) -> float:
    """Mean absolute scaled error: the MAE divided by the in-sample MAE of the seasonal naive
    forecast (see :func:`naive_scale`); 1 means as good as the seasonal naive in sample."""
    return mae(y_true, y_pred) / naive_scale(y_train, season_length, 1)


def rmsse(y_true: np.ndarray, y_pred: np.ndarray, y_train: np.ndarray, season_length: int = 1) -> float:
    """Root mean squared scaled error (the M5 competition's): the MSE divided by the in-sample
    MSE of the seasonal naive forecast, square-rooted."""
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2) / naive_scale(y_train, season_length, 2)))


#: Metrics whose scale comes from the training values: called with ``y_train`` and ``season_length``.
mase.needs_history = True  # type: ignore[attr-defined]
rmsse.needs_history = True  # type: ignore[attr-defined]

METRICS: dict[str, Metric] = {
    "mae": mae, "rmse": rmse, "mape": mape, "smape": smape, "wape": wape, "mase": mase, "rmsse": rmsse,
}


def score(metric: Metric, y_true: np.ndarray, y_pred: np.ndarray, y_train: np.ndarray | None = None,
          season_length: int = 1) -> float:
    """``metric`` of a forecast; scaled metrics (``mase``, ``rmsse``) also get the training values."""
    if getattr(metric, "needs_history", False):
        if y_train is None:
            raise ValueError("a scaled metric (mase, rmsse) needs the training values of the series")
        return float(metric(y_true, y_pred, y_train, season_length))  # type: ignore[call-arg]
    return float(metric(y_true, y_pred))


def resolve_metric(metric: object) -> Metric:
    """Return the metric function for a name or a callable, or raise."""
    if isinstance(metric, str):
        try:
            return METRICS[metric]
        except KeyError:
            raise ValueError(
                f"Unknown metric {metric!r}; expected one of {sorted(METRICS)} or a "
                f"callable(y_true, y_pred) -> float (lower is better)."
            ) from None
    if callable(metric):
        return metric  # type: ignore[return-value]
    raise InputTypeError(f"metric must be a name or a callable, got {type(metric).__name__}.")
