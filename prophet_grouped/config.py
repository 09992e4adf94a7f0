"""The frozen configuration of a fit: what every worker needs to tune a group.

A leaf module: it imports nothing else of the library at run time, so that the tuning code,
checkpoints and backends can all depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from .covariates import Drivers
    from .metrics import Metric
    from .search_space import SearchSpace


@dataclass(frozen=True)
class TuningConfig:
    """Everything a worker needs to tune a group; built once per fit by the estimator."""

    search_space: SearchSpace
    metric: Metric
    n_trials: int
    early_stopping_rounds: int | None
    horizon: int
    cv_folds: int | None
    cutoffs: tuple[pd.Timestamp, ...] | None
    freq: str
    #: Fixed Prophet arguments, regressors, events, country holidays, cap and floor.
    drivers: Drivers
    engine: str
    random_state: int
    fallback: str | None = None
    trial_timeout: float | None = None
    checkpoint_dir: str | None = None
    #: "auto", True or False: clip forecasts (and the forecasts trials are scored on) at 0.
    nonnegative: Any = "auto"
    #: Keep each group's final model (as Prophet JSON) in its result.
    keep_models: bool = True
    #: Forecast this many steps of ``freq`` after each group's history, in the worker.
    forecast_periods: int | None = None
    #: Folder where workers write each kept model (Prophet JSON), instead of sending it.
    model_dir: str | None = None
    #: Warm start: groups get the previous fit's study (see :mod:`prophet_grouped.retrain`).
    warm_start: bool = False
    #: Champion-challenger: groups' new best must beat the champion's parameters ...
    champion: bool = False
    #: ... by this relative margin of their loss.
    min_improvement: float = 0.0
    #: Tuned parameters replace Prophet's defaults only when their loss is lower by this margin.
    defaults_margin: float = 0.0
    #: On resume, tune again the groups a checkpoint holds as failed (or fallen back).
    retry_failed: bool = True
    #: Steps in one season of ``freq`` (scales mase and rmsse).
    season_length: int = 1
    #: Weekdays daily data never falls on (a shop closed on Saturdays): no forecast for them.
    closed_days: tuple[str, ...] = ()
    #: Whether each group also reads its own closed weekdays from its dates (freq inferred).
    group_closed_days: bool = False
    #: "gap" (a date without a row is unknown) or "zero" (nothing sold that day).
    missing_dates: str = "gap"
    #: Target transform: "auto", "log1p" or None (:mod:`prophet_grouped.transforms`).
    transform: Any = "auto"
    #: Forecast intervals: "wider", "prophet" or "calibrated" (:mod:`prophet_grouped.intervals`).
    intervals: str = "wider"
    #: Model kinds each group chooses from by validation loss: "prophet" (tuned), "ets" (AutoETS).
    candidates: tuple[str, ...] = ("prophet",)
