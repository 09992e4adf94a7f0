"""The per-group forecast: one function that every predict path (pandas, Spark, plots) calls."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import fastpredict, intervals, transforms
from ._util import gc_paused, quiet
from .ets import is_ets
from .frequency import future_freq
from .keys import group_seed
from .models import load_record

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


def forecast_seed(random_state: int, key: Any) -> int:
    """The seed of a group's interval samples: from the fit's base seed and the group key, so
    that a group's forecast is the same on every backend and every call."""
    return group_seed(random_state, (*key, "forecast"))


def _prophet_predict(model: Prophet, frame: pd.DataFrame, seed: int | None) -> pd.DataFrame:
    """``Prophet.predict`` with the global numpy random state seeded by ``seed`` (and restored)."""
    state = np.random.get_state()
    if seed is not None:
        np.random.seed(seed % 2**32)
    try:
        fc = model.predict(frame)
    finally:
        np.random.set_state(state)
    for col in FORECAST_COLUMNS:
        if col not in fc.columns:  # uncertainty_samples=0: Prophet returns no interval
            fc[col] = np.nan
    return fc


def forecast_group(model: Prophet, dates: pd.Series | pd.DatetimeIndex | pd.DataFrame, nonnegative: Any,
                   seed: int | None = None) -> pd.DataFrame:
    """``yhat``, ``yhat_lower``, ``yhat_upper`` of a fitted model on ``dates``, in their order
    (repeats allowed), back in ``y``'s units for a model fitted on a transformed target (within
    its guard, :mod:`~prophet_grouped.transforms`), clipped at 0 as ``nonnegative`` says for this
    group's history, and within ``[floor, cap]`` for logistic growth. A model with a calibrated
    interval (:mod:`~prophet_grouped.intervals`) gets ``yhat`` plus its offsets as bounds.

    ``dates`` is a series of dates, or a frame with ``ds`` and the columns the model needs
    (its regressors' values, ``cap`` and ``floor`` for logistic growth). Each distinct date is
    forecast once, by :func:`prophet_grouped.fastpredict.predict` (Prophet's formula with numpy;
    ``Prophet.predict`` for the models it does not cover), with interval samples drawn from
    ``seed``, and the forecasts are put back in the order of ``dates``.
    """
    ds, values = forecast_values(model, dates, nonnegative, seed)
    out = pd.DataFrame({"ds": ds})
    for j, col in enumerate(FORECAST_COLUMNS):
        out[col] = values[:, j]
    return out


def forecast_values(model: Prophet, dates: pd.Series | pd.DatetimeIndex | pd.DataFrame, nonnegative: Any,
                    seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`forecast_group` as arrays: the dates (datetime64[ns]) and an (n, 3) array of
    ``yhat``, ``yhat_lower``, ``yhat_upper``."""
    if isinstance(dates, pd.DataFrame):
        frame = dates.reset_index(drop=True)
        ds = pd.to_datetime(frame["ds"]).to_numpy(dtype="datetime64[ns]")
    else:
        frame = None
        ds = np.asarray(dates)
        if ds.dtype != "datetime64[ns]":
            ds = pd.to_datetime(ds).to_numpy(dtype="datetime64[ns]")
    if frame is None or len(frame.columns) == 1:
        distinct = {"ds": np.unique(ds)}  # sorted
    else:
        distinct = frame.assign(ds=ds).drop_duplicates()
        if distinct["ds"].duplicated().any():
            day = distinct.loc[distinct["ds"].duplicated(), "ds"].iloc[0]
            raise ValueError(
                f"The frame to predict has date {day} more than once for one group, with different values of "
                f"{[c for c in frame.columns if c != 'ds']}; give one row per group and date."
            )
        distinct = distinct.sort_values("ds").reset_index(drop=True)
    clip = clips(nonnegative, model.history["y"].to_numpy())
    if is_ets(model):  # an AutoETS group: its own forecast and interval, clipped as a Prophet group's
        values = model.predict_values(ds)
        return ds, clip_forecast(values, clip)
    fc = fastpredict.predict_arrays(model, distinct, np.random.default_rng(seed))
    if fc is None:
        fc = _prophet_predict(model, pd.DataFrame(distinct), seed)
    position = np.searchsorted(np.asarray(fc["ds"], dtype="datetime64[ns]"), ds)
    columns = [np.asarray(fc[col], dtype=float)[position] for col in FORECAST_COLUMNS]
    offsets = intervals.of(model)
    if offsets is not None and model.uncertainty_samples:  # in the model's space, as calibrated
        columns[1], columns[2] = intervals.bounds(columns[0], columns[1], columns[2], offsets, intervals.is_wider(model))
    name, cap = transforms.of(model)
    columns = [transforms.inverse(column, name, cap) for column in columns]
    values = np.empty((len(ds), len(FORECAST_COLUMNS)))
    for j, column in enumerate(columns):
        column = clip_forecast(column, clip)
        values[:, j] = clip_to_capacity(column, frame) if frame is not None and model.growth == "logistic" else column
    return ds, values


#: One group to forecast: its key, fitted model (or its :mod:`~prophet_grouped.models` record)
#: and rows (a frame of ``ds`` and the columns it needs, or an array of dates).
ForecastJob = tuple[tuple[Any, ...], Any, "pd.DataFrame | np.ndarray"]


def forecast_batch(jobs: list[ForecastJob], nonnegative: Any, random_state: int) -> list[tuple[tuple[Any, ...], np.ndarray]]:
    """The forecasts (``yhat``, ``yhat_lower``, ``yhat_upper`` per row, in the rows' order) of
    several groups: the unit of work every backend runs to predict. Raises ValueError for
    groups asked for dates before their history. Runs with the garbage collector paused (it
    makes no reference cycles: a collection there would scan the process and free nothing)."""
    with gc_paused():
        return _forecast_batch(jobs, nonnegative, random_state)


def _forecast_batch(jobs: list[ForecastJob], nonnegative: Any, random_state: int) -> list[tuple[tuple[Any, ...], np.ndarray]]:
    models = [(key, load_record(m) if isinstance(m, tuple) else m, rows) for key, m, rows in jobs]
    early = []
    for key, model, rows in models:
        dates = rows["ds"] if isinstance(rows, pd.DataFrame) else rows
        first, start = pd.Timestamp(np.min(dates)), model.history_dates.min()
        if first < start:
            early.append(f"{key!r} from {first.date()} (history starts {start.date()})")
    if early:
        raise ValueError(
            f"{len(early)} group(s) to predict have dates before their history: {early[:5]}. "
            f"Prophet only forecasts from the start of the history on; drop the earlier dates."
        )
    with quiet():
        return [
            (key, forecast_values(model, rows, nonnegative, forecast_seed(random_state, key))[1])
            for key, model, rows in models
        ]


def batches(jobs: list[ForecastJob], n_workers: int, per_worker: int = 4, smallest: int = 8) -> list[list[ForecastJob]]:
    """``jobs`` in about ``per_worker`` batches per worker, each of at least ``smallest`` groups
    (a batch is one task: its fixed cost is paid once for all its groups)."""
    size = max(smallest, -(-len(jobs) // max(1, n_workers * per_worker)))
    return [jobs[i:i + size] for i in range(0, len(jobs), size)]


def forecast_ahead(model: Prophet, periods: int, freq: str, nonnegative: Any, random_state: int,
                   key: tuple[Any, ...], closed: tuple[str, ...] = ()) -> pd.DataFrame:
    """A group's forecast ``periods`` steps of ``freq`` after its history, skipping the
    ``closed`` weekdays (``ds`` and :data:`FORECAST_COLUMNS`), seeded as
    :meth:`GroupedProphetTuner.predict` seeds it."""
    future = model.make_future_dataframe(periods=periods, freq=future_freq(freq, closed), include_history=False)
    return forecast_group(model, future["ds"], nonnegative, forecast_seed(random_state, key))


def forecast_to_json(fc: pd.DataFrame) -> str:
    """A forecast frame as compact JSON: ISO dates and one list per column (null for NaN)."""
    import json

    record: dict[str, list[Any]] = {"ds": [d.isoformat() for d in pd.to_datetime(fc["ds"])]}
    for col in FORECAST_COLUMNS:
        record[col] = [None if math.isnan(v) else v for v in fc[col].to_numpy(dtype=float).tolist()]
    return json.dumps(record)


def forecast_from_json(text: str) -> pd.DataFrame:
    """Inverse of :func:`forecast_to_json`."""
    import json

    record = json.loads(text)
    out = pd.DataFrame({"ds": pd.to_datetime(record["ds"]).astype("datetime64[ns]")})
    for col in FORECAST_COLUMNS:
        out[col] = np.asarray(record[col], dtype=float)
    return out
