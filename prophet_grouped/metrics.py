"""Forecast error metrics; lower is better for all of them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

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


METRICS: dict[str, Metric] = {"mae": mae, "rmse": rmse, "mape": mape, "smape": smape, "wape": wape}


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
    raise TypeError(f"metric must be a name or a callable, got {type(metric).__name__}.")
