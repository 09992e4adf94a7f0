"""Prophet's features, fast: the seasonal (Fourier), holiday and regressor columns of a
model's design matrix, equal to what Prophet's own methods build (``tests/test_engines.py``
compares them), without the pandas overhead that makes most of a Prophet fit's cost.

:func:`quick_features` installs them on a model in place of Prophet's
``regressor_column_matrix``, ``construct_holiday_dataframe``, ``make_seasonality_features``
and ``make_holiday_features``; the batch engine's fold cache and refit use them. The rows of
a date depend on that date alone, so Fourier and holiday rows come from one grid of days per
process (:class:`_DayGrid`), shared by every fold, refit and group.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from prophet import Prophet

__all__ = ["QUICK", "component_columns", "holiday_features", "holiday_frame", "quick_features",
           "seasonality_features"]


def component_columns(model: Prophet, seasonal_features: pd.DataFrame,
                      modes: dict[str, list[str]]) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Prophet's ``regressor_column_matrix`` for ``model``, without pandas' ``crosstab`` (about
    25 ms a call, a sixth of a fold's feature build): the same frame and the same modes, checked
    against Prophet's in ``tests/test_engines.py``. Installed on the fold cache's template models
    and, while it is fitted, on the batch engine's model (removed before it is returned)."""
    n = seasonal_features.shape[1]
    cols = list(range(n))
    comps = [str(name).split("_delim_")[0] for name in seasonal_features.columns]

    def add_group(name: str, group: Any) -> None:  # Prophet's add_group_component
        members = set(group)
        grouped = list(dict.fromkeys(c for c, k in zip(cols, comps) if k in members))
        cols.extend(grouped)
        comps.extend([name] * len(grouped))

    if model.train_holiday_names is not None:
        add_group("holidays", model.train_holiday_names.unique())
    for mode in ("additive", "multiplicative"):
        add_group(mode + "_terms", modes[mode])
        add_group("extra_regressors_" + mode, [r for r, props in model.extra_regressors.items() if props["mode"] == mode])
        modes[mode].append(mode + "_terms")
        modes[mode].append("extra_regressors_" + mode)
    modes[model.holidays_mode].append("holidays")
    names = sorted(set(comps))
    position = {name: j for j, name in enumerate(names)}
    matrix = np.zeros((n, len(names)), dtype=np.int64)
    np.add.at(matrix, (np.asarray(cols), np.asarray([position[k] for k in comps], dtype=np.intp)), 1)
    component_cols = pd.DataFrame(matrix, index=pd.Index(np.arange(n), name="col"),
                                  columns=pd.Index(names, dtype=object, name="component"))
    # The rest is Prophet's own.
    for name in ["additive_terms", "multiplicative_terms"]:
        if name not in component_cols:
            component_cols[name] = 0
    component_cols = component_cols.drop("zeros", axis=1, errors="ignore")
    if max(component_cols["additive_terms"] + component_cols["multiplicative_terms"]) > 1:
        raise Exception("A bug occurred in seasonal components.")  # noqa: TRY002  (Prophet's)
    if model.train_component_cols is not None:
        component_cols = component_cols[model.train_component_cols.columns]
        if not component_cols.equals(model.train_component_cols):
            raise Exception("A bug occurred in constructing regressors.")  # noqa: TRY002  (Prophet's)
    return component_cols, modes


def holiday_frame(model: Prophet, dates: pd.Series) -> pd.DataFrame:
    """Prophet's ``construct_holiday_dataframe`` for ``model``, with each country table (per
    country and list of years) made once per process instead of every call (about 14 ms a call
    at 2,330 days: the holidays package, and a Python loop over every date for its year); the
    same frame, checked against Prophet's in ``tests/test_engines.py``."""
    if model.country_holidays is None:
        return type(model).construct_holiday_dataframe(model, dates)
    # Prophet's list({x.year for x in dates}): the same set, built in the same order.
    years = list(set(dict.fromkeys(int(y) for y in pd.DatetimeIndex(dates).year)))
    table = _country_table(tuple(years), model.country_holidays)
    # Prophet's method on the holidays table it would have built, the country part done.
    base = pd.DataFrame() if model.holidays is None else model.holidays.copy()
    combined = pd.concat((base, table), sort=False)
    combined.reset_index(drop=True, inplace=True)
    saved = model.holidays, model.country_holidays
    model.holidays, model.country_holidays = combined, None
    try:
        return type(model).construct_holiday_dataframe(model, dates)
    finally:
        model.holidays, model.country_holidays = saved


@lru_cache(maxsize=64)
def _country_table(years: tuple[int, ...], country: str) -> pd.DataFrame:
    from prophet.make_holidays import make_holidays_df

    return make_holidays_df(year_list=list(years), country=country)


_DAY = 86_400 * 10**9  # nanoseconds
#: A day grid longer than this is not kept (dates centuries apart): Prophet's own code runs.
_MAX_GRID_DAYS = 100_000


class _DayGrid:
    """Rows of a per-date feature matrix over a range of whole days, grown to cover the dates
    asked for. Prophet's Fourier and holiday features of a date depend on that date alone (and
    on the period and order, or the holidays table), so the rows of a fold, of another fold or
    of the refit's history are rows of one matrix computed over the days they span: computed
    once per process instead of once per fold (``tests/test_engines.py`` compares them with
    Prophet's)."""

    def __init__(self, compute: Callable[[pd.Series], np.ndarray]) -> None:
        self.compute = compute  # day dates (a Series of midnights) -> one row per date
        self.state: tuple[int, np.ndarray] | None = None  # (day number of row 0, rows): replaced whole

    def take(self, days: np.ndarray) -> np.ndarray | None:
        """The rows of ``days`` (day numbers since 1970-01-01), a new array; None when the grid
        would grow past ``_MAX_GRID_DAYS``."""
        if days.size == 0:
            return None
        low, high = int(days.min()), int(days.max())
        state = self.state
        if state is None or low < state[0] or high >= state[0] + len(state[1]):
            if state is not None:
                low, high = min(low, state[0]), max(high, state[0] + len(state[1]) - 1)
            if high - low >= _MAX_GRID_DAYS:
                return None
            grid = pd.Series(pd.to_datetime(np.arange(low, high + 1) * _DAY))
            state = self.state = low, self.compute(grid)
        return state[1][days - state[0]]  # fancy indexing: a copy, the grid stays as it is


def _day_numbers(dates: pd.Series, whole: bool) -> np.ndarray | None:
    """Day numbers of naive ``dates``; with ``whole``, None unless every date is a midnight."""
    if getattr(dates.dt, "tz", None) is not None:
        return None
    ns = dates.to_numpy(dtype="datetime64[ns]").view(np.int64)
    days = ns // _DAY
    if whole and not np.array_equal(days * _DAY, ns):
        return None
    return days


#: period -> (the highest Fourier order asked for, grid of Prophet's fourier_series at it); a
#: lower order's columns are a prefix of a higher one's, so one grid per period serves them all.
_FOURIER: dict[float, tuple[int, _DayGrid]] = {}


def seasonality_features(dates: pd.Series, period: float, series_order: int, prefix: str) -> pd.DataFrame:
    """Prophet's ``make_seasonality_features`` with its ``fourier_series`` rows taken from a
    per-process grid of whole days (:class:`_DayGrid`): the same numbers (each is computed
    from its own date only), about 1 ms instead of 2-6 ms a call at 2,330 days. Dates that are
    not midnights, and anything unusual, go to Prophet's own."""
    from prophet import Prophet

    days = _day_numbers(dates, whole=True) if series_order >= 1 else None
    rows = None
    if days is not None:
        order, grid = _FOURIER.get(float(period), (0, None))
        if grid is None or order < series_order:
            order, grid = series_order, _DayGrid(lambda d, p=period, n=series_order: Prophet.fourier_series(d, p, n))
            _FOURIER[float(period)] = order, grid
        rows = grid.take(days)
    if rows is None:
        return Prophet.make_seasonality_features(dates, period, series_order, prefix)
    columns = [f"{prefix}_delim_{i + 1}" for i in range(2 * series_order)]
    return pd.DataFrame(rows[:, : 2 * series_order], columns=columns)


#: The holidays prior scale Prophet's method is given when a holidays grid is computed, so that
#: the events that take the model's prior scale can be told from those the table gives their own.
_MODEL_PRIOR = float.fromhex("0x1.3579bdf02468bp-999")


@lru_cache(maxsize=32)
def _holiday_grid(table_key: bytes) -> dict[str, Any]:
    return {}  # filled by holiday_features on first use: the grid and Prophet's outputs


def holiday_features(model: Prophet, dates: pd.Series, holidays: pd.DataFrame) -> tuple[pd.DataFrame, list[float], list[str]]:
    """Prophet's ``make_holiday_features`` for ``model``, with each holidays table's indicator
    columns computed once per process over a grid of days (:class:`_DayGrid`; Prophet's own
    method computes them, on the grid) and the rows of ``dates`` taken from it: a row depends
    only on its date (Prophet matches ``dates.dt.date``). About 19 ms a call at 2,330 days with
    US holidays otherwise (a ``to_datetime`` and a ``get_loc`` per holiday and offset). The
    prior scales are Prophet's: the table's own, else the model's ``holidays_prior_scale``."""
    days = _day_numbers(dates, whole=False)
    default = float(model.holidays_prior_scale)
    if days is None or len(holidays) == 0 or not default > 0:
        return type(model).make_holiday_features(model, dates, holidays)
    hashed = pd.util.hash_pandas_object(holidays, index=True).to_numpy()
    memo = _holiday_grid(repr((list(holidays.columns), [str(t) for t in holidays.dtypes])).encode() + hashed.tobytes())
    if "grid" not in memo:
        def compute(grid_dates: pd.Series) -> np.ndarray:
            probe = copy.copy(model)  # Prophet's method sets train_holiday_names on its model
            probe.train_holiday_names, probe.holidays_prior_scale = None, _MODEL_PRIOR
            features, priors, names = type(model).make_holiday_features(probe, grid_dates, holidays)
            memo.update(columns=list(features.columns), priors=priors, names=names)
            return features.to_numpy(dtype=np.uint8)

        memo["grid"] = _DayGrid(compute)
    try:
        rows = memo["grid"].take(days)
    except ValueError:  # the table's prior scales, checked against our placeholder: Prophet decides
        rows = None
    if rows is None:
        return type(model).make_holiday_features(model, dates, holidays)
    if model.train_holiday_names is None:
        model.train_holiday_names = pd.Series(memo["names"])
    features = pd.DataFrame(rows.astype(float), columns=memo["columns"])
    priors = [default if p == _MODEL_PRIOR else p for p in memo["priors"]]
    return features, priors, list(memo["names"])


#: Methods ``quick_features`` replaces on a model (``BatchEngine.fit`` removes them again).
QUICK = ("regressor_column_matrix", "construct_holiday_dataframe", "make_seasonality_features",
          "make_holiday_features")


def quick_features(model: Prophet) -> Prophet:
    """``model`` with :func:`component_columns`, :func:`holiday_frame`,
    :func:`seasonality_features` and :func:`holiday_features` in place of its
    ``regressor_column_matrix``, ``construct_holiday_dataframe``,
    ``make_seasonality_features`` and ``make_holiday_features``."""
    model.regressor_column_matrix = types.MethodType(component_columns, model)  # type: ignore[method-assign]
    model.construct_holiday_dataframe = types.MethodType(holiday_frame, model)  # type: ignore[method-assign]
    model.make_seasonality_features = seasonality_features  # type: ignore[method-assign]
    model.make_holiday_features = types.MethodType(holiday_features, model)  # type: ignore[method-assign]
    return model
