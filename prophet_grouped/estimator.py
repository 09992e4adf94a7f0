"""GroupedProphetTuner: its parameters and public methods, each a few lines; the work lives in
:mod:`~prophet_grouped.plan` (parameters checked into a plan), :mod:`~prophet_grouped.fitting` (one fit,
as steps) and :mod:`~prophet_grouped.prediction` (what a fitted tuner answers)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from . import fitting, plan, prediction
from .backtest import backtest as run_backtest
from .exceptions import InputTypeError
from .persistence import load, save
from .plotting import plot_forecast, plot_tuning_history


class GroupedProphetTuner(BaseEstimator):
    """Tune and fit one Prophet model per group of a long table, with Optuna per group.

    Each group (e.g. one item at one store) gets its own Optuna TPE study over
    ``search_space``, scored by ``metric`` on the last ``horizon`` steps (or on rolling-origin
    folds), then its best model is refitted on the group's whole history. The work runs on a
    pluggable backend; every backend runs the same per-group function with the same seeds, so
    results do not depend on where they were computed.

    Parameters
    ----------
    group_cols : str, list of str or None, default="unique_id"
        Columns whose values identify a group. None: the frame is one series (columns
        ``time_col`` and ``target_col``); it gets a group column of its own, ``series`` (or a
        variant the frame doesn't use) with the value ``"all"``, which frames to predict may
        leave out.
    time_col : str, default="ds"
        Timestamp column.
    target_col : str, default="y"
        Column to forecast.
    search_space : {"auto", "paper", "prophet-docs"}, dict or callable, default="auto"
        ``"auto"``: read from each group's history. The seasonalities Prophet itself would add
        (yearly with two years of history, weekly for data finer than weekly with two weeks,
        daily for sub-daily data), and the search tunes the changepoint prior scale, the
        seasonality prior scale, the holidays prior scale when there are holidays, the
        seasonality mode, and for a year or more of daily data a monthly seasonality (its
        switch ``monthly_seasonality``, off in Prophet's defaults, and its prior scale)
        (docs/user_guide.md says when to use which space).
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
    defaults_margin : float, default=0.05
        Relative margin in [0, 1) by which the best trial's validation loss must beat Prophet's
        default configuration's for the tuned parameters to be kept; otherwise the group keeps
        Prophet's defaults. The best of many trials looks better on validation than it forecasts
        (measured on the real retail panels: 0.05 forecast Walmart 2.1% better, online retail
        1.9%, the M5 subset 0.6% than 0; docs/accuracy.md). 0 keeps any strictly better trial.
    transform : {"auto", "log1p"} or None, default="auto"
        The target a group's models are fitted on. ``"auto"``: each group whose history has no
        negative value (and no logistic growth) chooses between ``log1p(y)`` and ``y`` itself as
        one more parameter of its search (Prophet's defaults are scored both ways first), by
        validation loss in ``y``'s own units; ``results_["transform"]`` says which. ``"log1p"``:
        every group on ``log1p(y)``. None: ``y`` itself, as plain Prophet. Forecasts and
        intervals of a ``log1p`` model are back-transformed, and capped at twice the largest
        value of the group's history (a straight trend of ``log1p(y)`` is an exponential one of
        ``y``); a saved model file holds the transform beside Prophet's own fields.
    intervals : {"wider", "prophet", "calibrated"}, default="wider"
        Where ``yhat_lower`` and ``yhat_upper`` come from. ``"prophet"``: the model's own
        interval (Prophet's noise and trend-change samples, back-transformed for a log1p model;
        AutoETS's own for an ETS group). ``"calibrated"``: each group's point forecast plus the
        quantiles of its chosen model's errors on the validation folds, in the model's own space
        (at ``(1 - w) / 2`` and ``(1 + w) / 2`` for Prophet's ``interval_width`` w, 0.8 unless
        ``prophet_params`` sets it); a group with fewer than 20 validation points keeps the
        model's own. ``"wider"``: the wider of the two at each bound. Measured on the six retail
        panels, the 80% interval covers 0.73-0.80 of held-out points with ``"prophet"`` (0.73 on
        Walmart and the M5 subset), 0.66-0.73 with ``"calibrated"`` alone, and 0.80-0.84 with
        ``"wider"``, the default (docs/accuracy.md).
    missing_dates : {"gap", "zero"}, default="gap"
        What a date a group has no row for means, between its first and last date. ``"gap"``:
        unknown, as Prophet reads it. ``"zero"``: nothing sold that day: the group's models are
        fitted with ``y = 0`` there (closed weekdays excepted; other columns take the previous
        date's values). Measured on Prophet's online-retail example, where missing days are days
        without sales: zero helps untuned Prophet (MAE 96.0 against 100.9) but not the tuner
        (90.9 against 89.9), whose forecasts it lowers further (docs/user_guide.md).
    candidates : tuple of str, default=("prophet",)
        The model kinds each group chooses from by validation loss. ``("prophet", "ets")`` also
        scores statsforecast's AutoETS (an exponential-smoothing model chosen per series by
        AICc; a season of 7 days, 52 weeks, 12 months or 24 hours, seasons over 24 steps left
        out by AutoETS) on the same folds, on ``y`` itself, and keeps it for the groups where
        its loss is lower than the tuned Prophet model's; ``results_["model"]`` says which
        (``"prophet"`` or ``"ets"``) and ``results_["ets_score"]`` gives its loss. An ETS group
        forecasts from its history alone (no regressors or events); its interval is AutoETS's
        own at ``interval_width``, or calibrated as ``intervals`` says. Needs the ``ets``
        extra (``pip install 'prophet-grouped[ets]'``); costs about 4 AutoETS fits per group.
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
        forecast's error the model saves; negative where it does worse), ``model`` (the kind of
        the group's model: ``"prophet"``, or ``"ets"`` where the AutoETS challenger won, see
        ``candidates``), ``transform`` (the target the model is fitted on: ``"none"`` or
        ``"log1p"``), ``ets_score`` (AutoETS's loss on the same folds; NaN unless a candidate), ``n_folds``, ``n_trials``,
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
    studies_ : StudyStore
        A mapping: group key tuple -> the group's study: ``{"distributions": {name: Optuna
        distribution JSON}, "trials": [[params, loss], ...]}`` (complete trials, Optuna's
        parameters), what ``warm_start`` reads; saved with the tuner. Kept compact (each
        distinct set of distributions once, each group's trials as bytes: about 0.1 KB per
        trial) and made a dict when asked for.
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
    date_format_ : str or None
        The format the history's text dates were read with (given as ``date_format``, or the one
        format that reads every value); None for dates and ISO text. Frames to predict whose
        text dates read two ways (``01.02.2020``: day-first or month-first) are read with it.
    run_id_ : str
        A new id of each fit (32 hex digits), kept by ``save``/``load``: the command line writes it
        with every forecast row (``run_id``), next to the forecast origin, so that forecasts
        written back to a table say which fit made them.

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
        defaults_margin: float = 0.05,
        verbose: int = 1,
        transform: str | None = "auto",
        intervals: str = "wider",
        missing_dates: str = "gap",
        candidates: Sequence[str] = ("prophet",),
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
        self.defaults_margin = defaults_margin
        self.verbose = verbose
        self.transform = transform
        self.intervals = intervals
        self.missing_dates = missing_dates
        self.candidates = candidates

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.target_tags.required = False
        tags.non_deterministic = False
        return tags

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
        plan.check_int("periods", periods, 1, allow_none=True)
        if not isinstance(keep_models, (bool, np.bool_)):
            raise InputTypeError(f"keep_models must be True or False, got {keep_models!r}.")
        needs = [*plan.regressor_cols(self)]
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
        """Fit on ``X`` and set the fitted attributes; with ``forecast``, return the forecasts."""
        fitted = fitting.run_fit(self, X, forecast, keep_models)
        for name, value in fitting.fitted_attributes(fitted, self.nonnegative).items():
            setattr(self, name, value)
        return fitted.forecast



    # ------------------------------------------------------------------ predict
    def make_future_dataframe(self, periods: int, include_history: bool = False, start: Any = None) -> pd.DataFrame:
        """Dates to forecast for every fitted group: ``periods`` steps of ``freq`` after its history.

        Parameters
        ----------
        periods : int
            Steps of ``freq_`` (a group's closed weekdays skipped).
        include_history : bool, default=False
            Also the history's dates (in-sample fit), as Prophet's ``make_future_dataframe``.
        start : None, "common" or date, default=None
            None: each group's window starts after its own history, so groups whose sales
            stopped earlier get earlier (partly past) windows. ``"common"``: every group gets
            the window after the latest history end of all groups. A date: every group's window
            starts there (the first step on or after it).

        Returns
        -------
        pandas.DataFrame
            Group columns and ``ds``.
        """
        check_is_fitted(self, "models_")
        return prediction.future_dates(self, periods, include_history, start)

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
        return prediction.predict_frame(self, X)

    def plot_forecast(self, group: Any = None, periods: int = 90, ax: Any = None, future: pd.DataFrame | None = None,
                      history: int | None = None) -> Any:
        """Plot one group's history, forecast and interval (matplotlib).

        Parameters
        ----------
        group : tuple, scalar or None
            The group's key values in ``group_cols`` order (a scalar for one group column);
            None when the tuner has one group (``group_cols=None``).
        periods : int, default=90
            Steps of ``freq`` to forecast after the history (without ``future``).
        ax : matplotlib Axes or None
            Where to draw; None makes a new figure.
        future : pandas.DataFrame or None
            Dates to forecast with the values of the regressors (and ``cap``, ``floor``) on them;
            required when the models use any. Rows of other groups are ignored.
        history : int or None, default=None
            The last dates of the history to show (e.g. 90, so that 28 days of forecast are not
            a sliver after five years); None shows all of it.

        Returns
        -------
        matplotlib.figure.Figure
            Save it with ``fig.savefig("forecast.png")``.
        """
        check_is_fitted(self, "models_")
        plan.check_int("periods", periods, 1)
        key = prediction.fitted_key(self, group)
        if key not in self.models_ and prediction.models_not_kept(self, [key]):
            raise ValueError(f"Group {group!r} has no model to plot: forecast(..., keep_models=False) kept none.")
        if key not in self.models_:
            raise ValueError(f"Group {group!r} failed during fit and has no model to plot; see results_.")
        future = prediction.plot_rows(self, group, key, future)
        plan.check_int("history", history, 1, allow_none=True)
        return plot_forecast(self, key, periods, ax, future, history)

    def plot_tuning_history(self, group: Any = None, ax: Any = None) -> Any:
        """Plot one group's trial losses in trial order and the best loss so far (matplotlib).

        Returns
        -------
        matplotlib.figure.Figure
        """
        check_is_fitted(self, "trials_")
        return plot_tuning_history(self, prediction.fitted_key(self, group), ax)

    def backtest(self, X: pd.DataFrame, origins: int = 3,
                 methods: Sequence[str] = ("tuned", "prophet", "seasonal_naive")) -> pd.DataFrame:
        """How these settings would have forecast the last ``origins`` windows of ``X``, group by
        group, against untuned Prophet and the seasonal naive forecast.

        For each origin (the last ``horizon`` steps of ``X`` held out, then the ``horizon``
        before them, ...), a clone of this tuner is fitted on the rows up to the origin and
        forecasts the window after it (``"tuned"``); stock Prophet the same way (``"prophet"``:
        Prophet's defaults fitted with Stan, with the same regressors, events and clipping); the
        seasonal naive forecast takes each date's value one season earlier (as
        ``naive_score``); ``"ets"``, asked for by name, is statsforecast's AutoETS per group, as
        the ETS challenger fits it (``candidates``; needs the ``ets`` extra). This tuner is not
        fitted.

        Parameters
        ----------
        X : pandas.DataFrame or pyspark.sql.DataFrame
            The history, as for :meth:`fit` (with the regressors' values on every date). A Spark
            DataFrame is collected to the driver, where the windows are cut and scored; each fit
            runs on this tuner's backend.
        origins : int, default=3
        methods : sequence of {"tuned", "prophet", "seasonal_naive", "ets"}

        Returns
        -------
        pandas.DataFrame
            One row per group, origin and method: group columns, ``origin`` (the last training
            date), ``method``, ``mae``, ``rmse``, ``bias`` (forecast total / actual total),
            ``coverage`` (share of actuals inside the interval; NaN for the naive forecast),
            ``n`` (held-out rows). A method that failed for a group has no row for it.
        """
        return run_backtest(self, X, origins, methods)

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
        return prediction.score_frame(self, X)
