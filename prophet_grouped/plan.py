"""The frozen plan of a fit: an estimator's parameters checked and turned into a
:class:`~prophet_grouped.config.TuningConfig`, then completed from the data (drivers from its
columns, frequency and horizon from its dates).

Functions take the estimator's parameters as attributes of ``params``: the estimator itself,
or any object with them (``types.SimpleNamespace(**tuner.get_params())``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from . import ets, intervals, transforms
from ._util import write_atomic
from .config import TuningConfig
from .covariates import (
    Drivers,
    check_country,
    check_holidays_table,
    check_regressor_names,
)
from .data import as_group_cols, check_columns
from .engines import resolve_engine
from .exceptions import InputTypeError
from .forecast import check_nonnegative
from .frequency import closed_weekdays, default_horizon, resolve_freq, season_length
from .metrics import resolve_metric
from .objective import horizon_offset
from .search_space import MONTHLY_SWITCH, prophet_kwargs, resolve_search_space

__all__ = ["check_int", "make_config", "open_model_dir", "regressor_cols", "with_drivers", "with_forecast",
           "with_time"]


def check_int(name: str, value: object, low: int, allow_none: bool = False) -> None:
    """Raise ValueError unless ``value`` is an integer >= ``low`` (or None, with ``allow_none``)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        extra = " or None" if allow_none else ""
        raise ValueError(f"{name} must be an integer >= {low}{extra}, got {value!r}.")


def regressor_cols(params: Any) -> tuple[str, ...]:
    """The ``regressor_cols`` parameter as a checked tuple of names."""
    cols = params.regressor_cols
    if cols is None:
        return ()
    if isinstance(cols, str):
        cols = [cols]
    if not isinstance(cols, Sequence) or not all(isinstance(c, str) for c in cols):
        raise InputTypeError(f"regressor_cols must be a list of column names or None, got {params.regressor_cols!r}.")
    if len(set(cols)) != len(cols):
        raise ValueError(f"regressor_cols has duplicate names: {list(cols)!r}.")
    clash = [c for c in cols if c in (params.time_col, params.target_col, *as_group_cols(params.group_cols))]
    if clash:
        raise ValueError(f"regressor_cols can't include the time, target or group columns: {clash}.")
    check_regressor_names(cols)
    return tuple(cols)


def _check_margin(name: str, value: Any, example: str) -> None:
    """Raise ValueError unless ``value`` is a relative margin in [0, 1) (a number, not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a relative margin in [0, 1) ({example}), got {value!r}.")


def make_config(params: Any) -> tuple[list[str], TuningConfig]:
    """The group columns and the frozen :class:`~prophet_grouped.config.TuningConfig` an
    estimator's parameters describe, each checked: raises
    ValueError or :class:`~prophet_grouped.exceptions.InputTypeError` saying what is wrong.
    The data fills the rest (:func:`with_drivers`, :func:`with_time`)."""
    group_cols = as_group_cols(params.group_cols)
    for name in ("time_col", "target_col"):
        if not isinstance(getattr(params, name), str):
            raise InputTypeError(f"{name} must be a column name (str), got {getattr(params, name)!r}.")
    check_int("n_trials", params.n_trials, 1)
    check_int("early_stopping_rounds", params.early_stopping_rounds, 1, allow_none=True)
    check_int("horizon", params.horizon, 1, allow_none=True)
    check_int("cv_folds", params.cv_folds, 1, allow_none=True)
    check_int("verbose", params.verbose, 0)
    if params.on_error not in ("warn", "raise"):
        raise ValueError(f"on_error must be 'warn' or 'raise', got {params.on_error!r}.")
    if params.fallback not in (None, "default"):
        raise ValueError(f"fallback must be None or 'default', got {params.fallback!r}.")
    if params.trial_timeout is not None and (
        isinstance(params.trial_timeout, bool) or not isinstance(params.trial_timeout, (int, float, np.number))
        or not params.trial_timeout > 0 or not np.isfinite(params.trial_timeout)
    ):
        raise ValueError(f"trial_timeout must be a number of seconds > 0 or None, got {params.trial_timeout!r}.")
    if params.checkpoint_dir is not None and not isinstance(params.checkpoint_dir, (str, os.PathLike)):
        raise InputTypeError(f"checkpoint_dir must be a folder path (str) or None, got {params.checkpoint_dir!r}.")
    if not isinstance(params.retry_failed, (bool, np.bool_)):
        raise InputTypeError(f"retry_failed must be True or False, got {params.retry_failed!r}.")
    if params.model_dir is not None and not isinstance(params.model_dir, (str, os.PathLike)):
        raise InputTypeError(f"model_dir must be a folder path (str) or None, got {params.model_dir!r}.")
    _check_margin("min_improvement", params.min_improvement, "0.02: the new best must be 2% better than the champion")
    _check_margin("defaults_margin", params.defaults_margin,
                  "0.05: the best trial must be 5% better than Prophet's defaults on validation; 0: any better trial")
    if params.freq is not None:
        try:
            horizon_offset(params.freq, 1)
        except (ValueError, TypeError):
            raise ValueError(
                f"freq must be a pandas frequency such as 'D', 'W-SUN', 'MS' or 'h', or None to infer "
                f"it from the data; got {params.freq!r}."
            ) from None
    if params.date_format is not None and not isinstance(params.date_format, str):
        raise InputTypeError(f"date_format must be a strptime format such as '%d.%m.%Y', or None; got {params.date_format!r}.")
    check_nonnegative(params.nonnegative)
    transforms.check_setting(params.transform)
    intervals.check_setting(params.intervals)
    if not (isinstance(params.missing_dates, str) and params.missing_dates in ("gap", "zero")):
        raise ValueError(
            f"missing_dates must be 'gap' (a date a group has no row for is unknown) or 'zero' (nothing sold "
            f"that day), got {params.missing_dates!r}."
        )
    candidates = ets.check_candidates(params.candidates)
    cutoffs = None
    if params.cutoffs is not None:
        try:
            cutoffs = tuple(sorted(pd.Timestamp(c) for c in params.cutoffs))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"cutoffs must be a list of timestamps, got {params.cutoffs!r} ({exc}).") from None
        if not cutoffs:
            raise ValueError("cutoffs is an empty list: give at least one cutoff, or None to use cv_folds.")
    if params.prophet_params is not None:
        if not isinstance(params.prophet_params, Mapping):
            raise InputTypeError(f"prophet_params must be a dict, got {type(params.prophet_params).__name__}.")
        valid = [*prophet_kwargs(), MONTHLY_SWITCH]
        unknown = [k for k in params.prophet_params if k not in valid]
        if unknown:
            raise ValueError(f"Unknown Prophet arguments in prophet_params: {unknown}. Valid: {valid}.")
    if params.holidays_country is not None and not isinstance(params.holidays_country, str):
        raise InputTypeError(
            f"holidays_country must be a country code such as 'US', or the name of a column holding each "
            f"group's country code; got {params.holidays_country!r}. For different countries per group, put "
            f"the codes in a column of the history and give its name."
        )
    regressors = regressor_cols(params)
    n_jobs = params.n_jobs
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0):
        raise ValueError(f"n_jobs must be a non-zero integer or None, got {n_jobs!r}.")
    random_state = int(check_random_state(params.random_state).randint(np.iinfo(np.int32).max))
    config = TuningConfig(
        search_space=resolve_search_space(params.search_space, regressors, fixed=list(params.prophet_params or ())),
        metric=resolve_metric(params.metric),
        n_trials=int(params.n_trials),
        early_stopping_rounds=None if params.early_stopping_rounds is None else int(params.early_stopping_rounds),
        horizon=0 if params.horizon is None else int(params.horizon),  # set from the data by with_time
        cv_folds=None if params.cv_folds is None else int(params.cv_folds),
        cutoffs=cutoffs,
        freq=params.freq,  # type: ignore[arg-type]  # set from the data by with_time
        drivers=Drivers(),  # set from the data's columns by with_drivers
        engine=resolve_engine(params.engine),
        random_state=random_state,
        fallback=params.fallback,
        trial_timeout=None if params.trial_timeout is None else float(params.trial_timeout),
        checkpoint_dir=None if params.checkpoint_dir is None else os.path.abspath(os.fspath(params.checkpoint_dir)),
        retry_failed=bool(params.retry_failed),
        nonnegative=params.nonnegative,
        model_dir=None if params.model_dir is None else os.path.abspath(os.fspath(params.model_dir)),
        warm_start=params.warm_start is not None,
        champion=params.champion is not None,
        min_improvement=float(params.min_improvement),
        defaults_margin=float(params.defaults_margin),
        transform=params.transform,
        intervals=params.intervals,
        missing_dates=params.missing_dates,
        candidates=candidates,
    )
    return group_cols, config


def with_drivers(config: TuningConfig, params: Any, group_cols: list[str],
                 columns: Sequence[str]) -> TuningConfig:
    """``config`` with its :class:`~prophet_grouped.covariates.Drivers`, checked against the
    history's ``columns``: regressors, events, country holidays, cap and floor."""
    regressors = regressor_cols(params)
    prophet_params = dict(params.prophet_params or {})
    tables = [t for t in (params.holidays, prophet_params.pop("holidays", None)) if t is not None]
    table = None
    if tables:
        table = pd.concat([check_holidays_table(t, group_cols) for t in tables], ignore_index=True)
    holidays_by = tuple((c, group_cols.index(c)) for c in group_cols if table is not None and c in table.columns)
    country, country_col = params.holidays_country, None
    if country is not None and country in columns:
        country, country_col = None, country
    elif country is not None:
        check_country(country)
    logistic = prophet_params.get("growth") == "logistic"
    required = [*regressors, *(["cap"] if logistic else [])]
    check_columns(list(columns), required, "history",
                  f"regressor_cols={list(regressors)} must be columns of the history"
                  + (" and growth='logistic' needs a 'cap' column (the saturating maximum; 'floor' optional)"
                     if logistic else "") + ".")
    drivers = Drivers(
        prophet_params=prophet_params, regressors=regressors, holidays=table, holidays_by=holidays_by,
        country=country, country_col=country_col, cap=logistic, floor=logistic and "floor" in columns,
    )
    return dataclasses.replace(config, drivers=drivers)


def with_time(config: TuningConfig, params: Any, dates: Any) -> TuningConfig:
    """``config`` with the frequency (checked or inferred from ``dates``, the distinct dates
    of the history), the horizon and the season length that follow from it."""
    freq = resolve_freq(params.freq, dates, params.time_col)
    horizon = default_horizon(freq) if params.horizon is None else int(params.horizon)
    # Read from the dates only with the frequency: freq="D" given asks for every day.
    closed = closed_weekdays(freq, dates) if params.freq is None else ()
    return dataclasses.replace(config, freq=freq, horizon=horizon, season_length=season_length(freq),
                               closed_days=closed, group_closed_days=params.freq is None)


def with_forecast(config: TuningConfig, forecast: int | bool) -> TuningConfig:
    """``config`` asking workers for each group's forecast: ``forecast`` steps, or the horizon
    for True; unchanged for False."""
    if forecast is False:
        return config
    periods = config.horizon if forecast is True else int(forecast)
    return dataclasses.replace(config, forecast_periods=periods)


def open_model_dir(folder: str) -> None:
    """Create ``model_dir`` and check that it can be written, before any group is tuned."""
    probe = os.path.join(folder, ".write-check.json")
    try:
        os.makedirs(folder, exist_ok=True)
        write_atomic(probe, "{}")
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(
            f"model_dir={folder!r} can't be written ({exc}). Give a folder this process and every worker "
            f"can write (on Databricks, /dbfs/... or a Unity Catalog volume /Volumes/...), or model_dir=None."
        ) from None
