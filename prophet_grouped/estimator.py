"""GroupedProphetTuner: parameters, validation, dispatch to a backend, fitted attributes."""

from __future__ import annotations

import dataclasses
import itertools
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import checkpoint, intervals, previous, transforms
from ._util import write_atomic
from .backends import get_backend
from .config import TuningConfig
from .covariates import (
    Drivers,
    check_country,
    check_holidays_table,
    check_regressor_names,
)
from .data import (
    MIN_TRAIN_POINTS,
    as_group_cols,
    check_columns,
    split_groups,
    validate_future,
    validate_history,
)
from .engines import resolve_engine
from .exceptions import GroupFitWarning, warn_user
from .forecast import FORECAST_COLUMNS, check_nonnegative, forecast_from_json
from .frequency import (
    closed_by_group,
    closed_weekdays,
    default_horizon,
    future_freq,
    resolve_freq,
    season_length,
)
from .keys import group_key, key_order
from .metrics import resolve_metric
from .metrics import score as metric_score
from .models import ModelStore
from .objective import horizon_offset
from .persistence import load, save
from .plotting import plot_forecast, plot_tuning_history
from .progress import Progress
from .results import PUBLIC_RESULT_COLUMNS, GroupResult
from .search_space import prophet_kwargs, resolve_search_space


def is_spark_dataframe(obj: object) -> bool:
    """True for a pyspark DataFrame (classic or Connect), without importing pyspark."""
    cls = type(obj)
    return cls.__name__ == "DataFrame" and cls.__module__.startswith("pyspark.")


def _spark_distinct_dates(sdf: Any, time_col: str) -> pd.Series:
    """The distinct timestamps of a Spark DataFrame's time column (one small Spark job)."""
    from pyspark.sql import functions

    if time_col not in sdf.columns:
        raise ValueError(
            f"The following columns are missing from the Spark DataFrame: [{time_col!r}]. Got columns: "
            f"{list(sdf.columns)}. Set time_col to the name your data uses."
        )
    quoted = "`" + time_col.replace("`", "``") + "`"
    # try_cast: under ANSI mode (Spark 4's default) a plain cast of unreadable text raises.
    pairs = sdf.select(functions.col(time_col).cast("string").alias("raw"),
                       functions.expr(f"try_cast({quoted} AS TIMESTAMP)").alias("ds")).distinct().toPandas()
    unread = pairs.loc[pairs["raw"].notna() & pairs["ds"].isna(), "raw"]
    if len(unread):
        raise ValueError(
            f"Column {time_col!r} of the Spark DataFrame has {len(unread)} distinct values Spark can't read "
            f"as timestamps (it reads ISO dates such as '2019-01-31'), e.g. {sorted(unread)[:3]}. Convert "
            f"the column first, e.g. F.to_timestamp(F.col({time_col!r}), 'dd.MM.yyyy')."
        )
    return pd.to_datetime(pairs["ds"].dropna()).astype("datetime64[ns]")


def _with_forecast(config: TuningConfig, forecast: int | bool) -> TuningConfig:
    """``config`` asking workers for each group's forecast: ``forecast`` steps, or the horizon
    for True; unchanged for False."""
    if forecast is False:
        return config
    periods = config.horizon if forecast is True else int(forecast)
    return dataclasses.replace(config, forecast_periods=periods)


def _open_model_dir(folder: str) -> None:
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


def _stderr_is_terminal() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def _check_int(name: str, value: object, low: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        extra = " or None" if allow_none else ""
        raise ValueError(f"{name} must be an integer >= {low}{extra}, got {value!r}.")


class GroupedProphetTuner(BaseEstimator):
    """Tune and fit one Prophet model per group of a long table, with Optuna per group.

    Each group (e.g. one item at one store) gets its own Optuna TPE study over
    ``search_space``, scored by ``metric`` on the last ``horizon`` steps (or on rolling-origin
    folds), then its best model is refitted on the group's whole history. The work runs on a
    pluggable backend; every backend runs the same per-group function with the same seeds, so
    results do not depend on where they were computed.

    Parameters
    ----------
    group_cols : str or list of str, default="unique_id"
        Columns whose values identify a group.
    time_col : str, default="ds"
        Timestamp column.
    target_col : str, default="y"
        Column to forecast.
    search_space : {"auto", "paper", "prophet-docs"}, dict or callable, default="auto"
        ``"auto"``: read from each group's history. The seasonalities Prophet itself would add
        (yearly with two years of history, weekly for data finer than weekly with two weeks,
        daily for sub-daily data), and the search tunes the changepoint prior scale, the
        seasonality prior scale, the holidays prior scale when there are holidays and the
        seasonality mode (docs/user_guide.md says when to use which space).
        ``"paper"``: the published Ray-on-Spark study's space (seasonality mode, per-seasonality
        prior scales and Fourier orders, changepoint and holiday prior scales), for reproducing it.
        ``"prophet-docs"``: the space Prophet's documentation recommends, with Prophet's
        automatic seasonalities.
        Whatever the space, Prophet's default configuration is scored on the same folds (as the
        first trial when the space can express it, else as an extra candidate), so the chosen
        model is never worse on validation than untuned Prophet. A dict maps Prophet
        constructor arguments, or per-seasonality names such as
        ``"weekly_seasonality_prior_scale"`` and ``"yearly_fourier_order"``, to
        ``optuna.distributions`` objects. A callable takes an Optuna trial and returns a dict.
    n_trials : int, default=30
        Trials per group.
    early_stopping_rounds : int or None, default=10
        Stop a group's study after this many trials without improvement; None disables.
    metric : {"mae", "rmse", "mape", "smape", "wape", "mase", "rmsse"} or callable, default="mae"
        Validation loss, lower is better; a callable takes ``(y_true, y_pred)``. ``"mae"``, the
        mean absolute error in the series' own units, is what the held-out benchmark
        (docs/accuracy.md) measures best; docs/user_guide.md says which metric suits what. ``"mase"`` and
        ``"rmsse"`` are scaled by the in-sample error of the seasonal naive forecast on each
        fold's training values (season length from the frequency: 7 for daily data, 12 for
        monthly, 24 for hourly...), so that groups of different sizes weigh alike.
    horizon : int or None, default=None
        Validation horizon, in steps of the frequency. None: 90 for daily data, 13 for weekly,
        12 for monthly, 4 for quarterly, 2 for yearly, one day of steps for sub-daily data.
    cv_folds : int or None, default=None
        Back-to-back rolling-origin folds of ``horizon`` steps ending at each group's last date;
        a trial's loss is the mean over them. None: 3 per group, fewer for a group whose history
        is too short to keep half of its points before the earliest fold (``results_["n_folds"]``
        says how many each group got). 1: one holdout of the last ``horizon`` steps.
    cutoffs : list of timestamps or None, default=None
        Explicit cutoffs (overrides ``cv_folds``): each fold trains on ``ds <= cutoff`` and
        scores ``cutoff < ds <= cutoff + horizon``.
    freq : str or None, default=None
        Pandas frequency of the series. None: inferred from the dates of all groups (``"D"``,
        ``"W-SUN"``, ``"MS"``, ``"ME"``, ``"h"``, ``"B"``...; gaps allowed). An explicit value is
        checked against the dates: data off its calendar (hourly data with ``"D"``, month
        starts with ``"ME"``) is refused with a ValueError.
    date_format : str or None, default=None
        strptime format of a text ``time_col`` (e.g. ``"%d.%m.%Y"``). None: ISO dates and real
        datetime columns are read as they are; other text dates are read only when one format
        fits every value in one way, and refused (ValueError) when they are ambiguous (day-first
        or month-first) or mix formats.
    nonnegative : {"auto", True, False}, default="auto"
        Clip ``yhat``, ``yhat_lower`` and ``yhat_upper`` at 0, in forecasts and in the forecasts
        trials are scored on. ``"auto"``: for the groups whose history has no negative value
        (sales, counts). True: every group. False: never.
    holidays_country : str or None, default=None
        Country code (e.g. ``"US"``) whose holidays every model gets, or the name of a column of
        the history holding each group's country code (one per group).
    regressor_cols : list of str or None, default=None
        Columns of the history known in advance (price, promotion flags, SNAP days, weather
        forecasts): each becomes an extra regressor of every group's models, and every frame
        given to ``predict`` must hold their values. The ``"auto"`` space tunes one prior scale
        shared by them (``regressor_prior_scale``; their mode follows ``seasonality_mode``); a
        dict space may tune ``regressor_mode``, ``"<column>_prior_scale"`` and
        ``"<column>_mode"``. A regressor constant in a group's history is left out of that
        group's models (``results_["dropped_regressors"]``); a missing value where ``y`` is
        observed fails the group with the reason.
    holidays : pandas.DataFrame or None, default=None
        Events in Prophet's format: columns ``holiday`` and ``ds``, optionally ``lower_window``,
        ``upper_window`` and ``prior_scale``. Without group columns every group gets every event;
        with some or all of the group columns a row applies to the groups with those values
        (NaN: every group), e.g. one store's promotions or closures. Combines with
        ``holidays_country``.
    prophet_params : dict or None, default=None
        Fixed Prophet constructor arguments for every model. With ``{"growth": "logistic"}`` the
        history and every frame to predict need a ``cap`` column (and may have a ``floor``).
    backend : {"local", "spark", "ray"} or Backend, default="local"
        Where groups are tuned.
    backend_options : dict or None, default=None
        Keyword arguments for the backend named by ``backend``.
    n_jobs : int or None, default=-1
        Worker processes for the local backend, scikit-learn style (-1: every core).
    random_state : int, RandomState or None, default=None
        Seed; each group's sampler seed derives from it and the group key.
    fallback : {None, "default"}, default=None
        ``"default"``: a group whose tuning fails gets an untuned default Prophet (with
        ``prophet_params`` and ``holidays_country``), status ``"fallback"`` in ``results_``.
    trial_timeout : float or None, default=None
        Seconds a trial may run; a slower trial is stopped and recorded as failed (``None`` in
        ``trials_``), and the study goes on. Enforced with a timer signal in every worker that
        runs groups (local, Spark, Ray groups mode) and with cmdstan's own timeout for Stan
        fits; in Ray's trials mode a batch-engine trial is only marked failed after it ends.
    checkpoint_dir : str or None, default=None
        Folder where each finished group's result is written as soon as it finishes. A fit
        started again with the same folder, data and settings skips the finished groups and
        gives the same result as an uninterrupted fit; other settings or data are refused with
        a ValueError. On a cluster, use storage every worker can write.
    retry_failed : bool, default=True
        On resume from ``checkpoint_dir``, tune again the groups it holds as failed (or given
        the default fallback): a failure may have been transient (a timeout, a lost worker).
        False: keep their stored result (a group that fails on its data fails every time).
    model_dir : str or None, default=None
        Folder every worker can write (a local path; on a cluster shared storage such as
        ``/dbfs/...`` or a Unity Catalog volume ``/Volumes/...``). Each worker writes the
        models it fits there, one Prophet JSON file per group, and ``models_`` refers to those
        files: no model passes through the driver, and predict on Spark, Ray or worker
        processes reads them where it runs. Keep the folder while the tuner is used; ``save``
        copies the models into the saved folder. None: models travel to the driver and are
        kept there (compactly, see ``models_``).
    warm_start : GroupedProphetTuner, str or None, default=None
        A previous fit to start from: a fitted tuner, the folder of a saved one, or an MLflow
        model URI of one logged by ``tracking.log_model`` (``"models:/name@alias"``); a path or
        URI is the robust form (``clone`` and ``save`` keep it; ``clone`` makes a tuner object
        given here unfitted). Each group it tuned first runs Prophet's defaults, then its
        previous study's 3 best parameter sets, scored again on the new folds; then, when the
        group's search space is unchanged and the previous best still leads Prophet's defaults
        on the new folds by at least half its previous margin, the previous study's trials join
        the study as prior knowledge for the sampler, their losses scaled to the new folds'
        level (they guide the search and are never chosen). New groups start cold.
        ``results_["prior_trials"]`` says how many previous trials each group got.
    champion : GroupedProphetTuner, str or None, default=None
        The models in production (a fitted tuner, the folder of a saved one, or an MLflow model
        URI, as for ``warm_start``). Each group's
        champion parameters are scored on the same validation folds as the new search, and the
        new best replaces them only when its loss is lower by ``min_improvement``; otherwise the
        group keeps the champion's parameters, refit on the new history.
        ``results_["champion_score"]`` and ``results_["promoted"]`` say what happened; a group
        the champion never saw is promoted.
    min_improvement : float, default=0.0
        Relative margin in [0, 1) by which a new best must beat the champion's loss (0: any
        strictly better loss).
    transform : {"auto", "log1p"} or None, default="auto"
        The target a group's models are fitted on. ``"auto"``: each group whose history has no
        negative value (and no logistic growth) chooses between ``log1p(y)`` and ``y`` itself as
        one more parameter of its search (Prophet's defaults are scored both ways first), by
        validation loss in ``y``'s own units; ``results_["transform"]`` says which. ``"log1p"``:
        every group on ``log1p(y)``. None: ``y`` itself, as plain Prophet. Forecasts and
        intervals of a ``log1p`` model are back-transformed, and capped at twice the largest
        value of the group's history (a straight trend of ``log1p(y)`` is an exponential one of
        ``y``); a saved model file holds the transform beside Prophet's own fields.
    intervals : {"prophet", "calibrated"}, default="prophet"
        Where ``yhat_lower`` and ``yhat_upper`` come from. ``"prophet"``: Prophet's own intervals
        (its noise and trend-change samples; back-transformed for a log1p model).
        ``"calibrated"``: each group's point forecast plus the quantiles of its chosen model's
        errors on the validation folds, in the model's own space (at ``(1 - w) / 2`` and
        ``(1 + w) / 2`` for Prophet's ``interval_width`` w, 0.8 unless ``prophet_params`` sets
        it); a group with fewer than 20 validation points keeps Prophet's own. Measured on the
        retail panels, the calibrated intervals cover less than Prophet's own (0.66-0.73 where
        they claim 0.8: the chosen model's validation errors are those it was chosen for), so
        they are not the default (docs/accuracy.md).
    missing_dates : {"gap", "zero"}, default="gap"
        What a date a group has no row for means, between its first and last date. ``"gap"``:
        unknown, as Prophet reads it. ``"zero"``: nothing sold that day: the group's models are
        fitted with ``y = 0`` there (closed weekdays excepted; other columns take the previous
        date's values). Measured on Prophet's online-retail example, where missing days are days
        without sales: zero helps untuned Prophet (MAE 96.0 against 100.9) but not the tuner
        (90.9 against 89.9), whose forecasts it lowers further (docs/user_guide.md).
    verbose : int, default=1
        0: silent. 1: a progress line on stderr (groups done, trials run, trials per second,
        ETA) when stderr is a terminal. 2: progress lines on stderr even when it is not (logs,
        notebooks).
    on_error : {"warn", "raise"}, default="warn"
        What a group whose tuning fails does: ``"warn"`` records it as ``"failed"`` in
        ``results_`` and warns once, listing the failed groups; ``"raise"`` stops the fit.
    engine : {"auto", "stan", "batch"}, default="auto"
        How each model is fitted: ``"stan"`` is stock Prophet (cmdstanpy); ``"batch"`` solves
        the same MAP problem directly with prophet-batch; ``"auto"`` picks ``"batch"`` when it
        is installed.

    Attributes
    ----------
    best_params_ : pandas.DataFrame
        Group columns and one column per tuned parameter, for the groups that succeeded.
    results_ : pandas.DataFrame
        One row per group: group columns, ``best_score`` (validation loss of the chosen
        parameters), ``default_score`` (of Prophet's default configuration on the same folds),
        ``naive_score`` (of the seasonal naive forecast, each step's value one season earlier, on
        the same folds), ``value_added`` (``1 - best_score / naive_score``: the share of the naive
        forecast's error the model saves; negative where it does worse), ``transform`` (the
        target the model is fitted on: ``"none"`` or ``"log1p"``), ``n_folds``, ``n_trials``,
        ``stopped_early``, ``status`` (``"ok"``, ``"fallback"`` or
        ``"failed"``), ``error``, ``seconds``, ``n_failed_trials``, ``dropped_regressors``
        (regressor columns left out of the group's models because they are constant in its
        history, comma-separated; None when none), ``n_uncached_fits`` (batch engine: trial fits
        that could not use the cached features, e.g. logistic growth, and took the ordinary fit),
        ``history_end`` (the last date of the history the model was refit on), ``clipped``
        (whether its forecasts are clipped at 0, see ``nonnegative``),
        ``prior_trials`` (``warm_start``: previous trials the group's study got; 0 cold),
        ``champion_score`` (``champion``: the champion's loss on the same folds; NaN without
        one) and ``promoted`` (``champion``: whether the new best replaced it; None without a
        champion).
    models_ : ModelStore
        A mapping: group key tuple -> fitted ``prophet.Prophet`` refitted on the whole history.
        Each model is kept as a compact record (its pickle, Prophet's JSON after ``load``, or
        the path of its file in ``model_dir``) and made a Prophet object when asked for.
        Empty after ``forecast(..., keep_models=False)``.
    trials_ : dict
        Group key tuple -> list of trial losses (None for a failed trial), in trial order.
    studies_ : dict
        Group key tuple -> the group's study: ``{"distributions": {name: Optuna distribution
        JSON}, "trials": [[params, loss], ...]}`` (complete trials, Optuna's parameters), what
        ``warm_start`` reads; saved with the tuner.
    group_cols_ : list of str
        The group columns used by ``fit``.
    engine_ : str
        The engine that ran (``"stan"`` or ``"batch"``).
    freq_ : str
        The frequency used: ``freq``, or the one inferred from the data.
    closed_days_ : list of str
        Weekdays (``"SAT"``...) that the daily data of every group never falls on, read from the
        dates when ``freq`` is None (a shop closed on Saturdays; see
        :func:`~prophet_grouped.frequency.closed_weekdays`): ``make_future_dataframe`` and
        the forecasts skip them, and ``periods`` counts open days. Empty otherwise. Each group's
        own closed weekdays (a store closed on Sundays while others open), read the same way from
        its own dates, are in ``results_["closed_days"]``, and its forecasts skip them too.
    horizon_ : int
        The validation horizon used, in steps of ``freq_``.
    future_cols_ : list of str
        Columns every frame to predict needs besides the group columns and dates: the
        regressors, and ``cap`` (and ``floor`` when the history had one) for logistic growth.
    random_state_ : int
        The base seed used.

    Examples
    --------
    >>> from prophet_grouped import GroupedProphetTuner, make_retail_sales
    >>> df = make_retail_sales(n_stores=1, n_items=2, periods=400, seed=0)
    >>> tuner = GroupedProphetTuner(group_cols=["store", "item"], n_trials=3, horizon=30,
    ...                             n_jobs=1, random_state=0).fit(df)
    >>> sorted(tuner.results_["status"].unique())
    ['ok']
    >>> fc = tuner.predict(tuner.make_future_dataframe(periods=7))
    >>> len(fc)
    14
    """

    def __init__(
        self,
        group_cols: str | Sequence[str] = "unique_id",
        time_col: str = "ds",
        target_col: str = "y",
        search_space: str | Mapping[str, Any] | Callable[[Any], dict[str, Any]] = "auto",
        n_trials: int = 30,
        early_stopping_rounds: int | None = 10,
        metric: str | Callable[[np.ndarray, np.ndarray], float] = "mae",
        horizon: int | None = None,
        cv_folds: int | None = None,
        cutoffs: Sequence[Any] | None = None,
        freq: str | None = None,
        date_format: str | None = None,
        nonnegative: bool | str = "auto",
        holidays_country: str | None = None,
        regressor_cols: Sequence[str] | None = None,
        holidays: pd.DataFrame | None = None,
        prophet_params: Mapping[str, Any] | None = None,
        backend: Any = "local",
        backend_options: Mapping[str, Any] | None = None,
        n_jobs: int | None = -1,
        random_state: Any = None,
        on_error: str = "warn",
        engine: str = "auto",
        fallback: str | None = None,
        trial_timeout: float | None = None,
        checkpoint_dir: str | None = None,
        retry_failed: bool = True,
        model_dir: str | None = None,
        warm_start: Any = None,
        champion: Any = None,
        min_improvement: float = 0.0,
        verbose: int = 1,
        transform: str | None = "auto",
        intervals: str = "prophet",
        missing_dates: str = "gap",
    ) -> None:
        self.group_cols = group_cols
        self.time_col = time_col
        self.target_col = target_col
        self.search_space = search_space
        self.n_trials = n_trials
        self.early_stopping_rounds = early_stopping_rounds
        self.metric = metric
        self.horizon = horizon
        self.cv_folds = cv_folds
        self.cutoffs = cutoffs
        self.freq = freq
        self.date_format = date_format
        self.nonnegative = nonnegative
        self.holidays_country = holidays_country
        self.regressor_cols = regressor_cols
        self.holidays = holidays
        self.prophet_params = prophet_params
        self.backend = backend
        self.backend_options = backend_options
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.on_error = on_error
        self.engine = engine
        self.fallback = fallback
        self.trial_timeout = trial_timeout
        self.checkpoint_dir = checkpoint_dir
        self.retry_failed = retry_failed
        self.model_dir = model_dir
        self.warm_start = warm_start
        self.champion = champion
        self.min_improvement = min_improvement
        self.verbose = verbose
        self.transform = transform
        self.intervals = intervals
        self.missing_dates = missing_dates

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.target_tags.required = False
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------ validation
    def _validate_params(self) -> tuple[list[str], TuningConfig]:
        group_cols = as_group_cols(self.group_cols)
        for name in ("time_col", "target_col"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a column name (str), got {getattr(self, name)!r}.")
        _check_int("n_trials", self.n_trials, 1)
        _check_int("early_stopping_rounds", self.early_stopping_rounds, 1, allow_none=True)
        _check_int("horizon", self.horizon, 1, allow_none=True)
        _check_int("cv_folds", self.cv_folds, 1, allow_none=True)
        _check_int("verbose", self.verbose, 0)
        if self.on_error not in ("warn", "raise"):
            raise ValueError(f"on_error must be 'warn' or 'raise', got {self.on_error!r}.")
        if self.fallback not in (None, "default"):
            raise ValueError(f"fallback must be None or 'default', got {self.fallback!r}.")
        if self.trial_timeout is not None and (
            isinstance(self.trial_timeout, bool) or not isinstance(self.trial_timeout, (int, float, np.number))
            or not self.trial_timeout > 0 or not np.isfinite(self.trial_timeout)
        ):
            raise ValueError(f"trial_timeout must be a number of seconds > 0 or None, got {self.trial_timeout!r}.")
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir, (str, os.PathLike)):
            raise TypeError(f"checkpoint_dir must be a folder path (str) or None, got {self.checkpoint_dir!r}.")
        if not isinstance(self.retry_failed, (bool, np.bool_)):
            raise TypeError(f"retry_failed must be True or False, got {self.retry_failed!r}.")
        if self.model_dir is not None and not isinstance(self.model_dir, (str, os.PathLike)):
            raise TypeError(f"model_dir must be a folder path (str) or None, got {self.model_dir!r}.")
        if isinstance(self.min_improvement, bool) or not isinstance(self.min_improvement, (int, float, np.number)) \
                or not 0 <= self.min_improvement < 1:
            raise ValueError(
                f"min_improvement must be a relative margin in [0, 1) (0.02: the new best must be 2% better "
                f"than the champion), got {self.min_improvement!r}."
            )
        if self.freq is not None:
            try:
                horizon_offset(self.freq, 1)
            except (ValueError, TypeError):
                raise ValueError(
                    f"freq must be a pandas frequency such as 'D', 'W-SUN', 'MS' or 'h', or None to infer "
                    f"it from the data; got {self.freq!r}."
                ) from None
        if self.date_format is not None and not isinstance(self.date_format, str):
            raise TypeError(f"date_format must be a strptime format such as '%d.%m.%Y', or None; got {self.date_format!r}.")
        check_nonnegative(self.nonnegative)
        transforms.check_setting(self.transform)
        intervals.check_setting(self.intervals)
        if not (isinstance(self.missing_dates, str) and self.missing_dates in ("gap", "zero")):
            raise ValueError(
                f"missing_dates must be 'gap' (a date a group has no row for is unknown) or 'zero' (nothing sold "
                f"that day), got {self.missing_dates!r}."
            )
        cutoffs = None
        if self.cutoffs is not None:
            try:
                cutoffs = tuple(sorted(pd.Timestamp(c) for c in self.cutoffs))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"cutoffs must be a list of timestamps, got {self.cutoffs!r} ({exc}).") from None
            if not cutoffs:
                raise ValueError("cutoffs is an empty list: give at least one cutoff, or None to use cv_folds.")
        if self.prophet_params is not None:
            if not isinstance(self.prophet_params, Mapping):
                raise TypeError(f"prophet_params must be a dict, got {type(self.prophet_params).__name__}.")
            unknown = [k for k in self.prophet_params if k not in prophet_kwargs()]
            if unknown:
                raise ValueError(
                    f"Unknown Prophet arguments in prophet_params: {unknown}. Valid: {prophet_kwargs()}."
                )
        if self.holidays_country is not None and not isinstance(self.holidays_country, str):
            raise TypeError(
                f"holidays_country must be a country code such as 'US', or the name of a column holding each "
                f"group's country code; got {self.holidays_country!r}. For different countries per group, put "
                f"the codes in a column of the history and give its name."
            )
        regressors = self._regressor_cols()
        if self.n_jobs is not None:
            if isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, (int, np.integer)) or self.n_jobs == 0:
                raise ValueError(f"n_jobs must be a non-zero integer or None, got {self.n_jobs!r}.")
        random_state = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        config = TuningConfig(
            search_space=resolve_search_space(self.search_space, regressors, fixed=list(self.prophet_params or ())),
            metric=resolve_metric(self.metric),
            n_trials=int(self.n_trials),
            early_stopping_rounds=None if self.early_stopping_rounds is None else int(self.early_stopping_rounds),
            horizon=0 if self.horizon is None else int(self.horizon),  # set from the data by _with_time
            cv_folds=None if self.cv_folds is None else int(self.cv_folds),
            cutoffs=cutoffs,
            freq=self.freq,  # type: ignore[arg-type]  # set from the data by _with_time
            drivers=Drivers(),  # set from the data's columns by _with_drivers
            engine=resolve_engine(self.engine),
            random_state=random_state,
            fallback=self.fallback,
            trial_timeout=None if self.trial_timeout is None else float(self.trial_timeout),
            checkpoint_dir=None if self.checkpoint_dir is None else os.path.abspath(os.fspath(self.checkpoint_dir)),
            retry_failed=bool(self.retry_failed),
            nonnegative=self.nonnegative,
            model_dir=None if self.model_dir is None else os.path.abspath(os.fspath(self.model_dir)),
            warm_start=self.warm_start is not None,
            champion=self.champion is not None,
            min_improvement=float(self.min_improvement),
            transform=self.transform,
            intervals=self.intervals,
            missing_dates=self.missing_dates,
        )
        return group_cols, config

    def _regressor_cols(self) -> tuple[str, ...]:
        cols = self.regressor_cols
        if cols is None:
            return ()
        if isinstance(cols, str):
            cols = [cols]
        if not isinstance(cols, Sequence) or not all(isinstance(c, str) for c in cols):
            raise TypeError(f"regressor_cols must be a list of column names or None, got {self.regressor_cols!r}.")
        if len(set(cols)) != len(cols):
            raise ValueError(f"regressor_cols has duplicate names: {list(cols)!r}.")
        clash = [c for c in cols if c in (self.time_col, self.target_col, *as_group_cols(self.group_cols))]
        if clash:
            raise ValueError(f"regressor_cols can't include the time, target or group columns: {clash}.")
        check_regressor_names(cols)
        return tuple(cols)

    def _with_drivers(self, config: TuningConfig, group_cols: list[str], columns: Sequence[str]) -> TuningConfig:
        """``config`` with its :class:`~prophet_grouped.covariates.Drivers`, checked against the
        history's ``columns``: regressors, events, country holidays, cap and floor."""
        regressors = self._regressor_cols()
        prophet_params = dict(self.prophet_params or {})
        tables = [t for t in (self.holidays, prophet_params.pop("holidays", None)) if t is not None]
        table = None
        if tables:
            table = pd.concat([check_holidays_table(t, group_cols) for t in tables], ignore_index=True)
        holidays_by = tuple((c, group_cols.index(c)) for c in group_cols if table is not None and c in table.columns)
        country, country_col = self.holidays_country, None
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

    def _with_time(self, config: TuningConfig, dates: Any) -> TuningConfig:
        """``config`` with the frequency (checked or inferred from ``dates``, the distinct dates
        of the history), the horizon and the season length that follow from it."""
        freq = resolve_freq(self.freq, dates, self.time_col)
        horizon = default_horizon(freq) if self.horizon is None else int(self.horizon)
        # Read from the dates only with the frequency: freq="D" given asks for every day.
        closed = closed_weekdays(freq, dates) if self.freq is None else ()
        return dataclasses.replace(config, freq=freq, horizon=horizon, season_length=season_length(freq),
                                   closed_days=closed, group_closed_days=self.freq is None)

    def _check_lengths(self, history: pd.DataFrame, group_cols: list[str], config: TuningConfig) -> None:
        """Raise if no group at all has enough history before its earliest cutoff and data after it.

        Such a fit can only come from settings that don't suit the data (a horizon or cutoffs
        beyond the history). When only some groups are too short, they become ``"failed"`` rows
        with the reason, like any other unusable group.
        """
        keys = [history[c] for c in group_cols]
        ds = history["ds"]
        observed = history["y"].notna()
        step = horizon_offset(config.freq, config.horizon)
        n_folds = config.cv_folds or 1  # None: as many as each group allows, at least one
        if config.cutoffs is None:
            earliest = ds.where(observed).groupby(keys).transform("max") - step * n_folds
            cutoffs: list[Any] = []
        else:
            cutoffs = list(config.cutoffs)
            earliest = pd.Series(cutoffs[0], index=history.index)
        n_train = ((ds <= earliest) & observed).groupby(keys).sum()
        # With fallback="default" such groups get the untuned model (status "fallback") instead.
        if (n_train < MIN_TRAIN_POINTS).all() and config.fallback != "default":
            sizes = history.groupby(keys).size()
            shown = ", ".join(f"{k!r} ({sizes[k]} rows)" for k in list(n_train.index)[:5])
            more = f" and {len(n_train) - 5} more" if len(n_train) > 5 else ""
            source = "given" if self.freq is not None else "inferred from the data"
            raise ValueError(
                f"All {len(n_train)} group(s) are too short for horizon={config.horizon} x "
                f"{len(cutoffs) or n_folds} fold(s) of freq={config.freq!r} ({source}): {shown}{more}. "
                f"Each group needs at least {MIN_TRAIN_POINTS} points before its earliest validation "
                f"cutoff. Lower horizon or cv_folds, check freq, give longer histories, or set "
                f"fallback='default' (--fallback default) to give such groups an untuned Prophet, flagged 'fallback'."
            )
        for cutoff in cutoffs:
            n_valid = ((ds > cutoff) & (ds <= cutoff + step) & observed).groupby(keys).sum()
            if (n_valid == 0).all():
                raise ValueError(
                    f"No group has data in the validation window after cutoff {cutoff} "
                    f"({len(n_valid)} group(s), e.g. {list(n_valid.index)[:3]}). Choose cutoffs inside "
                    f"the groups' histories."
                )

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> GroupedProphetTuner:
        """Tune and fit one model per group of ``X``.

        Parameters
        ----------
        X : pandas.DataFrame or pyspark.sql.DataFrame
            Long-format history with ``group_cols``, ``time_col`` and ``target_col``.
        y : None
            Ignored; the target is the ``target_col`` column of ``X``.

        Returns
        -------
        self
        """
        self._fit(X)
        return self

    def forecast(self, X: Any, periods: int | None = None, keep_models: bool = False) -> Any:
        """Tune, refit and forecast every group of ``X`` in one pass, where each group is tuned.

        Each worker forecasts its group from the model it has just fitted (the same forecast
        :meth:`predict` gives, with the same seed), so nothing but the forecasts and one results
        row per group travels back; the models are not kept unless ``keep_models=True``. Sets
        ``results_``, ``best_params_`` and ``trials_`` as :meth:`fit` does.

        Parameters
        ----------
        X : pandas.DataFrame or pyspark.sql.DataFrame
            Long-format history, as for :meth:`fit`.
        periods : int or None, default=None
            Steps of ``freq`` to forecast after each group's history; None: the horizon.
        keep_models : bool, default=False
            Also keep every group's fitted model (``models_``), for :meth:`predict` and
            :meth:`save` later.

        Returns
        -------
        DataFrame of the same kind as ``X``
            Group columns, ``ds``, ``yhat``, ``yhat_lower``, ``yhat_upper``: the groups in key
            order, each group's dates in time order; failed groups have no rows. A Spark
            DataFrame stays in Spark (computed with the tuning into executor storage, a local
            checkpoint Spark frees with the DataFrame; nothing is left cached).
        """
        _check_int("periods", periods, 1, allow_none=True)
        if not isinstance(keep_models, (bool, np.bool_)):
            raise TypeError(f"keep_models must be True or False, got {keep_models!r}.")
        needs = [*self._regressor_cols()]
        if (self.prophet_params or {}).get("growth") == "logistic":
            needs += ["cap"]
        if needs:
            raise ValueError(
                f"forecast() forecasts from the history alone, but these models need the future values "
                f"of {needs}. Use fit(X), then predict() on a frame of the dates to forecast with those "
                f"columns."
            )
        return self._fit(X, forecast=periods or True, keep_models=bool(keep_models))

    def _fit(self, X: Any, forecast: int | bool = False, keep_models: bool = True) -> Any:
        """Fit on ``X``; with ``forecast``, return the forecasts the workers made (else None)."""
        group_cols, config = self._validate_params()
        config = dataclasses.replace(config, keep_models=keep_models)
        if config.model_dir is not None and keep_models:
            _open_model_dir(config.model_dir)
        backend = get_backend(self.backend, dict(self.backend_options) if self.backend_options else None)
        resumed: list[GroupResult] = []
        progress = Progress(None, enabled=self.verbose >= 2 or (self.verbose == 1 and _stderr_is_terminal()))
        try:
            if is_spark_dataframe(X):
                if self.date_format is not None:
                    raise ValueError(
                        f"date_format={self.date_format!r} applies to pandas frames; on a Spark DataFrame "
                        f"convert the column with F.to_timestamp(F.col({self.time_col!r}), <Spark pattern>) "
                        f"and leave date_format=None."
                    )
                config = self._with_drivers(config, group_cols, X.columns)
                config = self._with_time(config, _spark_distinct_dates(X, self.time_col))
                config = _with_forecast(config, forecast)
                priors = self._priors(group_cols)
                config = self._open_checkpoint(config, group_cols, priors)
                stream = backend.run_spark(X, group_cols, self.time_col, self.target_col, config, self.n_jobs,
                                           progress=progress, priors=priors)
            else:
                if isinstance(X, pd.DataFrame):
                    config = self._with_drivers(config, group_cols, list(X.columns))
                drivers = config.drivers
                history = validate_history(X, group_cols, self.time_col, self.target_col, self.date_format,
                                           extra=drivers.columns, numeric=drivers.future_columns)
                for col, _ in drivers.holidays_by:
                    listed = drivers.holidays[col].dropna().unique()  # type: ignore[index]
                    known = set(history[col].unique())
                    if len(listed) and not any(v in known for v in listed):
                        raise ValueError(
                            f"The holidays table's {col!r} values {list(listed)[:5]} match no group of the history "
                            f"(whose {col!r} values are e.g. {sorted(known, key=str)[:5]}). Check their type "
                            f"(e.g. '1' and 1 differ), or leave the column out to give the events to every group."
                        )
                if drivers.country_col is not None:
                    for code in history[drivers.country_col].dropna().unique():
                        check_country(code, f"column {drivers.country_col!r} holds ")
                config = self._with_time(config, history["ds"])
                config = _with_forecast(config, forecast)
                self._check_lengths(history, group_cols, config)
                tasks = split_groups(history, group_cols, drivers.columns)
                priors = self._priors(group_cols)
                config = self._open_checkpoint(config, group_cols, priors)
                if config.checkpoint_dir is not None:
                    tasks, resumed = self._resume(tasks, config)
                progress.set_total(len(tasks) + len(resumed))
                todo = {key for key, _ in tasks}
                priors = {key: prior for key, prior in priors.items() if key in todo}
                stream = backend.run(tasks, config, self.n_jobs, progress=progress, priors=priors) if tasks else iter(())
            results = self._collect(stream, resumed, progress)
        finally:
            progress.close()
        out = None
        if forecast:
            out = getattr(backend, "spark_forecast", None) if is_spark_dataframe(X) else None
            if out is None:
                out = self._forecast_frame(results, group_cols, X)
        self._set_fitted(results, group_cols)
        self.engine_ = config.engine
        self.random_state_ = config.random_state
        self.freq_ = config.freq
        self.closed_days_ = list(config.closed_days)
        self.horizon_ = config.horizon
        self.future_cols_ = list(config.drivers.future_columns)
        return out

    def _priors(self, group_cols: list[str]) -> dict[tuple[Any, ...], Any]:
        """What each group takes from ``warm_start`` and ``champion`` (empty without them)."""
        warm = previous.resolve_previous(self.warm_start, "warm_start", type(self))
        champion = previous.resolve_previous(self.champion, "champion", type(self))
        if warm is None and champion is None:
            return {}
        return previous.priors(warm, champion, group_cols)

    def _open_checkpoint(self, config: TuningConfig, group_cols: list[str],
                         priors: dict[tuple[Any, ...], Any]) -> TuningConfig:
        """Open ``checkpoint_dir`` for this fit (its manifest names the previous fit the groups
        take ``priors`` from); with ``random_state=None`` a fit resumes with the seed the
        checkpointed fit drew, so that it gives that fit's result."""
        if config.checkpoint_dir is None:
            return config
        if self.random_state is None:
            seed = checkpoint.stored_seed(config.checkpoint_dir)
            if seed is not None:
                config = dataclasses.replace(config, random_state=seed)
        checkpoint.open_checkpoint(config.checkpoint_dir, config, group_cols, checkpoint.previous_digest(priors))
        return config

    @staticmethod
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

    def _collect(self, stream: Any, resumed: Sequence[GroupResult], progress: Progress) -> list[GroupResult]:
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
            elif result.status == "failed" and self.on_error == "raise":
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

    def _forecast_frame(self, results: list[GroupResult], group_cols: list[str], X: Any) -> Any:
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

    def _set_fitted(self, results: list[GroupResult], group_cols: list[str]) -> None:
        results.sort(key=lambda r: key_order(r.key))
        rows = []
        params = []
        self.models_ = ModelStore()
        self.trials_ = {}
        self.studies_ = {}
        for r in results:
            key = dict(zip(group_cols, r.key))
            rows.append({**key, **{c: getattr(r, c) for c in PUBLIC_RESULT_COLUMNS}})
            self.trials_[r.key] = list(r.trials)
            if r.study is not None:
                self.studies_[r.key] = r.study
                r.study = None
            if r.status == "ok":
                params.append({**key, **r.best_params})
            if r.model_record is not None:
                self.models_.add(r.key, r.model_record)
                r.model_record = None
        self.results_ = pd.DataFrame(rows, columns=group_cols + list(PUBLIC_RESULT_COLUMNS))
        self.results_["history_end"] = pd.to_datetime(self.results_["history_end"]).astype("datetime64[ns]")
        self.best_params_ = pd.DataFrame(params)
        if self.best_params_.empty:
            self.best_params_ = pd.DataFrame(columns=group_cols)
        self.group_cols_ = group_cols
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
        if signed and isinstance(self.nonnegative, str) and self.nonnegative == "auto":
            more = f" (and {len(signed) - 10} more)" if len(signed) > 10 else ""
            warn_user(
                f"{len(signed)} of {len(results)} group(s) have negative values in their history (returns?), so "
                f"nonnegative='auto' does not clip their forecasts at 0: {signed[:10]}{more}. Set nonnegative=True "
                f"to clip every group at 0; results_['clipped'] says which groups are.",
                GroupFitWarning,
            )

    # ------------------------------------------------------------------ predict
    def make_future_dataframe(self, periods: int, include_history: bool = False) -> pd.DataFrame:
        """Dates to forecast for every fitted group: ``periods`` steps of ``freq`` after its history.

        Returns
        -------
        pandas.DataFrame
            Group columns and ``ds``.
        """
        check_is_fitted(self, "models_")
        _check_int("periods", periods, 0)
        shared = tuple(getattr(self, "closed_days_", ()))
        closed = closed_by_group(self.results_, self.group_cols_)
        ends = {}
        if not include_history and "history_end" in self.results_.columns:
            # The last dates of the histories, from results_: no model is loaded.
            known = self.results_.dropna(subset=["history_end"])
            keys = known[self.group_cols_].itertuples(index=False, name=None)
            ends = {group_key(key): end for key, end in zip(keys, known["history_end"])}
        if include_history and not len(self.models_):
            raise ValueError(
                "make_future_dataframe(include_history=True) needs the groups' models, which forecast(..., "
                "keep_models=False) did not keep: use forecast(..., keep_models=True) or fit()."
            )
        frames = []
        # Every group with a model, or known from results_ (forecast(..., keep_models=False) keeps
        # no models, but its groups' last dates).
        for key in (self.models_ if include_history or not ends else ends):
            step = future_freq(self.freq_, closed.get(key, shared))
            if key in ends:  # what Prophet's make_future_dataframe does with the last date
                dates = pd.date_range(start=ends[key], periods=periods + 1, freq=step)
                future = pd.DataFrame({"ds": dates[dates > ends[key]][:periods]})
            else:
                future = self.models_[key].make_future_dataframe(periods=periods, freq=step,
                                                                 include_history=include_history)
            future["ds"] = future["ds"].astype("datetime64[ns]")
            for col, value in zip(self.group_cols_, key):
                future[col] = value
            frames.append(future)
        if not frames:
            return pd.DataFrame(columns=self.group_cols_ + ["ds"])
        return pd.concat(frames, ignore_index=True)[self.group_cols_ + ["ds"]]

    def _group_keys(self, frame: pd.DataFrame) -> list[tuple[Any, ...]]:
        seen = frame[self.group_cols_].drop_duplicates()
        return [group_key(row) for row in seen.itertuples(index=False, name=None)]

    def predict(self, X: Any) -> Any:
        """Forecast the dates in ``X`` for each of its groups.

        Each group's forecast is Prophet's, computed from its fitted parameters with numpy
        (equal to ``Prophet.predict``'s), in batches of groups in the backend's worker processes;
        interval samples are seeded per group from ``random_state`` and the group key, so the
        same tuner always gives the same forecast.

        Parameters
        ----------
        X : pandas.DataFrame or pyspark.sql.DataFrame
            Group columns and ``time_col``.

        Returns
        -------
        DataFrame of the same kind as ``X``
            Group columns, ``ds``, ``yhat``, ``yhat_lower``, ``yhat_upper``, rows in the order of ``X``.
        """
        check_is_fitted(self, "models_")
        if is_spark_dataframe(X):
            backend = get_backend(self.backend, dict(self.backend_options) if self.backend_options else None)
            return backend.predict_spark(self, X)
        # Positions, not the caller's index (which may repeat, e.g. after pd.concat).
        extra = tuple(self.future_cols_)
        future = validate_future(X, self.group_cols_, self.time_col, self.date_format, extra).reset_index(drop=True)
        keys = self._group_keys(future)
        unknown = [k for k in keys if k not in self.trials_]
        if unknown:
            raise ValueError(
                f"{len(unknown)} group(s) to predict were not in the data given to fit: {unknown[:5]}. "
                f"Predict only groups that fit saw (see results_)."
            )
        no_model = [k for k in keys if k not in self.models_]
        if no_model and self._models_not_kept(no_model):
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
        for key, index in future.groupby(self.group_cols_, sort=False).indices.items():
            key = group_key(key)
            # A group's dates alone travel as an array (cheaper to cut and send than a frame).
            rows = future.iloc[index][["ds", *extra]] if extra else dates[index]
            jobs.append((key, self.models_.record(key), rows))
            positions[key] = index
        values = np.full((len(future), len(FORECAST_COLUMNS)), np.nan)
        backend = get_backend(self.backend, dict(self.backend_options) if self.backend_options else None)
        for key, fc in backend.forecast(jobs, self.nonnegative, self.random_state_, self.n_jobs):
            values[positions[key]] = fc
        out = future.drop(columns=list(extra))
        for j, col in enumerate(FORECAST_COLUMNS):
            out[col] = values[:, j]
        return out.reset_index(drop=True)

    def _models_not_kept(self, keys: Sequence[tuple[Any, ...]]) -> bool:
        """Whether some of ``keys`` were tuned without error but their models were not kept."""
        ok = {group_key(r) for r in self.results_.loc[self.results_["status"] != "failed", self.group_cols_]
              .itertuples(index=False, name=None)}
        return any(group_key(key) in ok for key in keys)

    def _key(self, group: Any) -> tuple[Any, ...]:
        key = group_key(group)
        if key not in self.trials_:
            raise ValueError(
                f"Unknown group {group!r}: give the values of {self.group_cols_} as a tuple, e.g. "
                f"{next(iter(self.trials_), None)!r}."
            )
        return key

    def plot_forecast(self, group: Any, periods: int = 90, ax: Any = None, future: pd.DataFrame | None = None) -> Any:
        """Plot one group's history, forecast and interval (matplotlib).

        Parameters
        ----------
        group : tuple or scalar
            The group's key values in ``group_cols`` order (a scalar for one group column).
        periods : int, default=90
            Steps of ``freq`` to forecast after the history (without ``future``).
        ax : matplotlib Axes or None
            Where to draw; None makes a new figure.
        future : pandas.DataFrame or None
            Dates to forecast with the values of the regressors (and ``cap``, ``floor``) on them;
            required when the models use any. Rows of other groups are ignored.

        Returns
        -------
        matplotlib.figure.Figure
            Save it with ``fig.savefig("forecast.png")``.
        """
        check_is_fitted(self, "models_")
        _check_int("periods", periods, 1)
        key = self._key(group)
        if key not in self.models_ and self._models_not_kept([key]):
            raise ValueError(f"Group {group!r} has no model to plot: forecast(..., keep_models=False) kept none.")
        if key not in self.models_:
            raise ValueError(f"Group {group!r} failed during fit and has no model to plot; see results_.")
        extra = tuple(self.future_cols_)
        if future is None and extra:
            raise ValueError(
                f"Group {group!r}'s models use {list(extra)}, whose future values plot_forecast can't know: pass "
                f"future= a frame with the group's dates to forecast and those columns."
            )
        if future is not None:
            cols = [c for c in self.group_cols_ if c in future.columns]
            rows = future
            if cols:
                match = np.ones(len(future), dtype=bool)
                for col, value in zip(self.group_cols_, key):
                    if col in future.columns:
                        match &= (future[col] == value).to_numpy()
                rows = future.loc[match]
            if rows.empty:
                raise ValueError(f"future has no rows for group {group!r}.")
            rows = rows.assign(**{c: 0 for c in self.group_cols_ if c not in rows.columns})
            future = validate_future(rows, self.group_cols_, self.time_col, self.date_format, extra)
        return plot_forecast(self, key, periods, ax, future)

    def plot_tuning_history(self, group: Any, ax: Any = None) -> Any:
        """Plot one group's trial losses in trial order and the best loss so far (matplotlib).

        Returns
        -------
        matplotlib.figure.Figure
        """
        check_is_fitted(self, "trials_")
        return plot_tuning_history(self, self._key(group), ax)

    def save(self, path: str) -> None:
        """Save the fitted tuner to folder ``path`` as plain files (JSON; Prophet's JSON per model).

        Parameters that can't be stored as plain files (callables, backend objects) are saved as
        their defaults, with a warning; the loaded tuner still predicts identically.
        """
        save(self, path)

    @classmethod
    def load(cls, path: str) -> GroupedProphetTuner:
        """Load a tuner saved with :meth:`save`; no pickle is involved."""
        return load(cls, path)

    def score(self, X: Any, y: Any = None) -> float:
        """Minus the mean over groups of ``metric`` on ``X`` (higher is better, scikit-learn style).

        Parameters
        ----------
        X : pandas.DataFrame
            Group columns, ``time_col`` and ``target_col`` for dates to forecast.
        y : None
            Ignored.
        """
        check_is_fitted(self, "models_")
        if is_spark_dataframe(X):
            raise TypeError(
                "score takes a pandas DataFrame of groups, dates and actual values; a Spark DataFrame is not "
                "scored in Spark. Collect the rows to score first: tuner.score(sdf.toPandas())."
            )
        metric = resolve_metric(self.metric)
        extra = tuple(self.future_cols_)
        truth = validate_history(X, self.group_cols_, self.time_col, self.target_col, self.date_format,
                                 extra=extra, numeric=extra)
        fc = self.predict(truth.rename(columns={"ds": self.time_col})[self.group_cols_ + [self.time_col, *extra]])
        truth = truth.reset_index(drop=True)
        losses = []
        for key, part in truth.groupby(self.group_cols_, sort=False):
            model = self.models_[group_key(key)]
            losses.append(metric_score(metric, part["y"].to_numpy(), fc.loc[part.index, "yhat"].to_numpy(),
                                transforms.history_y(model), season_length(self.freq_)))
        return -float(np.mean(losses))
