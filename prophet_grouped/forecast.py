"""The per-group forecast: one function that every predict path (pandas, Spark, plots) calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from prophet import Prophet

FORECAST_COLUMNS = ("yhat", "yhat_lower", "yhat_upper")
NONNEGATIVE = ("auto", True, False)


def check_nonnegative(value: Any) -> None:
    """Raise ValueError unless ``value`` is ``"auto"``, True or False."""
    if not any(value is v or (isinstance(v, str) and value == v) for v in NONNEGATIVE):
        raise ValueError(
            f"nonnegative must be 'auto' (clip at 0 the groups whose history has no negative value), "
            f"True or False, got {value!r}."
        )


def clips(nonnegative: Any, y: Any) -> bool:
    """Whether a group with history values ``y`` gets its forecasts clipped at 0."""
    if nonnegative == "auto" and isinstance(nonnegative, str):
        return bool(np.nanmin(np.asarray(y, dtype=float)) >= 0)
    return bool(nonnegative)


def clip_forecast(values: np.ndarray, clip: bool) -> np.ndarray:
    """``values`` clipped at 0 when ``clip``."""
    return np.maximum(values, 0.0) if clip else values


def clip_to_capacity(values: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
    """``values`` kept within ``[floor, cap]`` of each row of ``frame`` (floor 0 without a
    ``floor`` column), when ``frame`` has a ``cap`` (logistic growth): Prophet's trend saturates
    there, but its seasonal terms can carry a forecast past it."""
    if "cap" not in frame.columns:
        return values
    lower = frame["floor"].to_numpy(dtype=float) if "floor" in frame.columns else 0.0
    return np.clip(values, lower, frame["cap"].to_numpy(dtype=float))


def forecast_group(model: Prophet, dates: pd.Series | pd.DatetimeIndex | pd.DataFrame, nonnegative: Any) -> pd.DataFrame:
    """``yhat``, ``yhat_lower``, ``yhat_upper`` of a fitted model on ``dates``, in their order
    (repeats allowed), clipped at 0 as ``nonnegative`` says for this group's history, and
    within ``[floor, cap]`` for logistic growth.

    ``dates`` is a series of dates, or a frame with ``ds`` and the columns the model needs
    (its regressors' values, ``cap`` and ``floor`` for logistic growth). Prophet's ``predict``
    returns its rows sorted by date; each distinct date is forecast once and the forecasts are
    put back in the order of ``dates``.
    """
    frame = dates.reset_index(drop=True) if isinstance(dates, pd.DataFrame) else pd.DataFrame({"ds": np.asarray(dates)})
    ds = pd.Series(pd.to_datetime(frame["ds"]).astype("datetime64[ns]").to_numpy())
    distinct = frame.assign(ds=ds).drop_duplicates()
    if distinct["ds"].duplicated().any():
        day = distinct.loc[distinct["ds"].duplicated(), "ds"].iloc[0]
        raise ValueError(
            f"The frame to predict has date {day} more than once for one group, with different values of "
            f"{[c for c in frame.columns if c != 'ds']}; give one row per group and date."
        )
    fc = model.predict(distinct.sort_values("ds").reset_index(drop=True)).set_index("ds")
    clip = clips(nonnegative, model.history["y"].to_numpy())
    out = pd.DataFrame({"ds": ds.to_numpy()})
    bounds = frame if model.growth == "logistic" else frame[["ds"]]
    for col in FORECAST_COLUMNS:
        values = clip_forecast(fc[col].reindex(ds.to_numpy()).to_numpy(dtype=float), clip)
        out[col] = clip_to_capacity(values, bounds)
    return out
