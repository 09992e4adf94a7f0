"""Tune one group: the single unit of work that every backend runs.

:func:`tune_group` takes plain data (a group key and its ds/y frame) and a frozen
:class:`~prophet_grouped.config.TuningConfig`, and returns a :class:`~prophet_grouped.results.GroupResult`. It never
raises for a problem with the group's data or fits: those become a ``"failed"`` result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import checkpoint, ets, intervals, retrain, transforms
from .config import TuningConfig
from .covariates import GroupDrivers
from .data import validate_history
from .engines import fit_prophet, preload, quiet, stan_output_dir
from .forecast import clips, forecast_ahead, forecast_to_json
from .frequency import closed_text, future_freq, group_closed_days
from .keys import group_key, group_seed
from .models import dump_model, write_model
from .objective import (
    Fold,
    auto_fold_count,
    build_prophet,
    check_seasonality_mode,
    evaluate,
    fold_errors,
    fold_loss,
    forecast_folds,
    make_folds,
    naive_loss,
)
from .results import GroupResult, error_text
from .retrain import GroupPrior
from .search_space import GroupProfile

if TYPE_CHECKING:
    import optuna
    from prophet import Prophet

    from .search_space import SearchSpace


class EarlyStopping:
    """Optuna callback that stops a study after ``patience`` finished trials without a new best.

    A warm start's previous trials (scored on other folds) are not counted.

    Parameters
    ----------
    patience : int
        Trials (complete or failed) allowed after the best one before the study stops; >= 1.
    """

    def __init__(self, patience: int) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be an integer >= 1, got {patience!r}.")
        self.patience = patience
        self.stopped = False

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        from optuna.trial import TrialState

        finished = [t for t in study.get_trials(deepcopy=False)
                    if t.state in (TrialState.COMPLETE, TrialState.FAIL) and not retrain.is_prior(t)]
        complete = [t for t in finished if t.state == TrialState.COMPLETE]
        if not complete:
            return
        best_number = min(complete, key=lambda t: t.value).number
        since_best = sum(1 for t in finished if t.number > best_number)
        if since_best >= self.patience:
            self.stopped = True
            study.stop()


class TrialTimeout(TimeoutError):
    """A trial ran longer than ``trial_timeout`` seconds."""


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[float | None]:
    """Bound the time of the block to ``seconds``; yields the deadline (``time.monotonic()``).

    In a process's main thread (local, Spark and Ray task workers) a SIGALRM timer interrupts
    the block with :class:`TrialTimeout`; Stan fits inside also get cmdstan's own ``timeout``
    (see :func:`~prophet_grouped.objective.evaluate`), which kills the cmdstan process. Off the
    main thread (Ray Tune trials) no signal can be used: the block runs to its end and raises
    afterwards if it was too slow. Nothing may be imported for the first time inside the block:
    an interrupted import leaves its module half-initialized (hence
    :func:`~prophet_grouped.engines.preload`).
    """
    if seconds is None:
        yield None
        return
    start = time.monotonic()
    message = f"the trial took longer than trial_timeout={seconds:g} s"
    use_alarm = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    previous: Any = None
    if use_alarm:
        def _expire(signum: int, frame: Any) -> None:
            raise TrialTimeout(message)

        previous = signal.signal(signal.SIGALRM, _expire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield start + seconds
        if time.monotonic() - start > seconds:
            raise TrialTimeout(message)
    except TrialTimeout:
        raise
    except TimeoutError as exc:
        raise TrialTimeout(f"{message} (cmdstan stopped: {exc})") from exc
    except Exception as exc:
        # The timer can fire where a library catches everything and fails later in another way
        # (Prophet's Stan backend loader): past the deadline, the timeout is the cause.
        if time.monotonic() - start > seconds:
            raise TrialTimeout(f"{message} (then: {error_text(exc)})") from exc
        raise
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


@dataclass
class PreparedGroup:
    """A group ready to tune: its usable rows, validation folds, its own search space (``"auto"``
    resolved from its history), whether its forecasts are clipped at 0, and its drivers
    (regressors, events, country)."""

    frame: pd.DataFrame
    folds: list[Fold]
    space: SearchSpace
    clip: bool
    drivers: GroupDrivers
    #: The same folds for trials on a transformed target, by transform name (``"log1p"``).
    transformed: dict[str, list[Fold]] = dataclasses.field(default_factory=dict)

    def folds_for(self, params: Mapping[str, Any]) -> list[Fold]:
        """The folds a trial with ``params`` is scored on (its target transform's); ValueError for a
        transform the group may not use (a champion's from a fit with other settings or data)."""
        name = params.get(transforms.PARAM, "none")
        if name == "none":
            return self.folds
        if name not in self.transformed:
            raise ValueError(f"transform={name!r} is not one this group may use here (negative values, logistic "
                             f"growth, or transform=None)")
        return self.transformed[name]

    def all_folds(self) -> list[Fold]:
        """Every fold trials may have used, whatever their transform."""
        return [*self.folds, *(fold for folds in self.transformed.values() for fold in folds)]


def closed_days_of(dates: Any, config: TuningConfig) -> tuple[str, ...]:
    """The weekdays a group with these ``dates`` is closed on: every group's, and, with the
    frequency read from the data, its own (:func:`~prophet_grouped.frequency.group_closed_days`)."""
    if config.group_closed_days:
        return group_closed_days(config.freq, dates, config.closed_days)
    return config.closed_days


def zero_filled(frame: pd.DataFrame, config: TuningConfig) -> pd.DataFrame:
    """A group's rows (sorted by ``ds``) with ``y = 0`` on every date of its calendar between its
    first and last date that it has no row for (``missing_dates="zero"``: a day without a row is
    a day nothing sold), closed weekdays left out; the other columns of an added date take the
    previous date's values. A row that is there with a missing ``y`` stays missing."""
    ds = pd.DatetimeIndex(frame["ds"])
    grid = pd.date_range(ds.min(), ds.max(), freq=future_freq(config.freq, closed_days_of(ds, config)))
    missing = grid.difference(ds)
    if missing.empty:
        return frame
    out = pd.concat([frame, pd.DataFrame({"ds": missing, "y": 0.0})], ignore_index=True).sort_values("ds")
    others = [c for c in frame.columns if c not in ("ds", "y")]
    if others:
        out[others] = out[others].ffill()
    return out.reset_index(drop=True)


def usable_rows(frame: pd.DataFrame, config: TuningConfig, key: Sequence[Any]) -> tuple[pd.DataFrame, GroupDrivers]:
    """A group's rows with an observed ``y`` (Prophet ignores the others too; with
    ``missing_dates="zero"`` the dates it has no row for first get ``y = 0``), restricted to the
    columns its models use, and its drivers; ValueError when its covariates are unusable."""
    if config.missing_dates == "zero" and len(frame):
        frame = zero_filled(frame, config)
    frame = frame.loc[frame["y"].notna()].reset_index(drop=True)
    drivers = config.drivers.for_group(key, frame)
    cols = ["ds", "y", *drivers.regressors, *(c for c in ("cap", "floor") if c in config.drivers.columns)]
    return frame[cols], drivers


def prepare_group(frame: pd.DataFrame, config: TuningConfig, key: Sequence[Any] = (),
                  caches: bool = True) -> PreparedGroup:
    """The group's usable rows, folds and search space, or ValueError saying why it can't be tuned.

    Rows with a missing ``y`` are dropped (Prophet ignores them too). A group that is all
    missing, constant, too short for the folds, or negative under a fixed multiplicative
    seasonality is unusable, as is one with a missing regressor value. Without ``cv_folds`` or
    ``cutoffs`` the group gets :data:`~prophet_grouped.objective.AUTO_FOLDS` folds, fewer when
    its history is short. ``caches=False``: the folds get no engine feature cache (where the
    trials run elsewhere, :class:`TrialRunner`).
    """
    missing = frame["y"].isna()
    if missing.all():
        raise ValueError(f"y is missing (NaN) on all {len(frame)} rows")
    frame, drivers = usable_rows(frame, config, key)
    y = frame["y"].to_numpy()
    if not np.isfinite(y).all():
        raise ValueError(f"y has {int((~np.isfinite(y)).sum())} infinite values")
    if y.min() == y.max():
        raise ValueError(f"y is constant ({y[0]:g}) on all {len(y)} rows: there is nothing to tune")
    check_seasonality_mode({}, drivers.prophet_params, y)
    names = transforms.choices(config.transform, y, drivers.prophet_params.get("growth") == "logistic")
    space = config.search_space.for_group(GroupProfile.of(frame, drivers.has_holidays, len(drivers.regressors)),
                                          drivers.prophet_params).with_transforms(names)
    n_folds = config.cv_folds
    if n_folds is None and config.cutoffs is None:
        n_folds = auto_fold_count(frame["ds"], config.horizon, config.freq)

    def split(transform: str) -> list[Fold]:
        return make_folds(frame, config.horizon, config.freq, n_folds or 1, config.cutoffs,
                          space.max_fourier_orders(), config.engine if caches else None, transform)

    return PreparedGroup(frame, split("none"), space, clips(config.nonnegative, y), drivers,
                         {name: split(name) for name in names if name != "none"})


def warm_up(config: TuningConfig) -> None:
    """Import here what a group's unit of work imports (Prophet, the engine, Optuna), so that
    workers forked from this process start with it done."""
    import optuna  # noqa: F401
    import threadpoolctl  # noqa: F401

    preload(config.engine)
    if ets.KIND in config.candidates:
        ets.import_autoets()


def run_trial(params: Mapping[str, Any], group: PreparedGroup, config: TuningConfig, output_dir: str) -> float:
    """One trial: the loss of ``params`` over the group's folds, within ``config.trial_timeout``."""
    preload(config.engine)
    with deadline(config.trial_timeout) as until:
        return evaluate(params, group.folds_for(params), config.metric, config.engine, output_dir, until=until,
                        clip=group.clip, season_length=config.season_length, drivers=group.drivers)


def baseline_score(group: PreparedGroup, config: TuningConfig) -> float:
    """The seasonal naive forecast's loss on the group's folds (NaN where the metric fails on it)."""
    try:
        return naive_loss(group.folds, config.metric, config.freq, config.season_length, group.clip)
    except Exception:  # noqa: BLE001  (a user's metric may fail on the baseline: no score, the group goes on)
        return float("nan")


def interval_width(drivers: GroupDrivers) -> float:
    """The width of a group's forecast intervals (Prophet's ``interval_width``)."""
    return float(drivers.prophet_params.get("interval_width", 0.8))


def calibration(group: PreparedGroup, config: TuningConfig, params: Mapping[str, Any],
                output_dir: str) -> tuple[float, float] | None:
    """The calibrated interval offsets of the group's chosen ``params``
    (:mod:`~prophet_grouped.intervals`: quantiles of its errors on the validation folds, in the
    model's own space: on ``log1p(y)`` for a log1p model, so that its interval scales with the
    level, as Prophet's own does); None
    with ``intervals="prophet"``, too few errors, or when its folds can't be forecast again."""
    if config.intervals not in intervals.CALIBRATING:
        return None
    folds = group.folds_for(params)
    try:
        forecasts = forecast_folds(params, folds, config.engine, output_dir, drivers=group.drivers, back=False)
    except Exception:  # noqa: BLE001  (the chosen model's folds failed again: Prophet's own interval stays)
        return None
    return intervals.quantiles(fold_errors(folds, forecasts), interval_width(group.drivers))


@dataclass
class EtsChallenger:
    """AutoETS scored on a group's folds: its loss, how its gaps are filled, and the calibrated
    offsets its fold errors give."""

    score: float
    offsets: tuple[float, float] | None
    fill: str = "interpolate"
    error: str | None = None


def challenge_with_ets(group: PreparedGroup, config: TuningConfig, closed: tuple[str, ...]) -> EtsChallenger:
    """AutoETS's validation loss on the group's folds (on ``y`` itself, scored as a trial is),
    and, with calibrated intervals, its interval offsets from the same fold errors. A group with
    dates missing from its calendar (``missing_dates="gap"``) and no negative value has both
    fills of :data:`~prophet_grouped.ets.FILLS` scored and keeps the better (on a tie,
    interpolation). A failure gives a NaN loss and its reason: the tuned Prophet model stays."""
    fills = ["interpolate"]
    if config.missing_dates == "gap" and group.clip and ets.has_gaps(group.frame["ds"], config.freq, closed):
        fills.append("zero")
    best, failure = None, "no finite loss"
    for fill in fills:
        try:
            forecasts = ets.fold_forecasts(group.folds, config.freq, config.season_length, closed, fill)
            loss = float(np.mean([fold_loss(fold, yhat, config.metric, group.clip, config.season_length)
                                  for fold, yhat in zip(group.folds, forecasts)]))
        except Exception as exc:  # noqa: BLE001  (AutoETS failed on this group's folds: Prophet stays)
            failure = error_text(exc)
            continue
        if np.isfinite(loss) and (best is None or loss < best.score):
            offsets = None
            if config.intervals in intervals.CALIBRATING:
                offsets = intervals.quantiles(fold_errors(group.folds, forecasts), interval_width(group.drivers))
            best = EtsChallenger(loss, offsets, fill)
    return best or EtsChallenger(float("nan"), None, error=f"the AutoETS challenger: {failure}")


def trial_failures(errors: Sequence[str], n_trials: int, n_failed: int | None = None) -> str | None:
    """What a group that was tuned keeps of what failed: how many of its trials, with the first
    reason (the first ``n_failed`` of ``errors``), then each failure outside the trials (Prophet's
    defaults scored as an extra candidate, the champion's parameters) by name."""
    n_failed = len(errors) if n_failed is None else n_failed
    parts = [f"{n_failed} of {n_trials} trials failed; first: {errors[0]}"] if n_failed else []
    parts += list(errors[n_failed:])
    return "; ".join(parts) or None


def uncached_fits(group: PreparedGroup, config: TuningConfig) -> int:
    """Fold fits of the group's trials so far that the engine could not serve from its cached
    features (0 on the Stan engine, which has no cache)."""
    return sum(fold.cache.misses for fold in group.all_folds() if fold.cache is not None)


def select_best(
    trials: Sequence[tuple[Mapping[str, Any], float | None]], group: PreparedGroup,
    trial: Callable[[Mapping[str, Any]], float], errors: Sequence[str], margin: float = 0.0,
) -> tuple[dict[str, Any], float, float]:
    """The best parameters and loss of a finished study, and the loss of Prophet's default
    configuration on the same folds.

    ``trials`` are (parameters, loss or None when the trial failed) in trial order. When the
    space expresses Prophet's defaults, they were the first trial
    (:meth:`~prophet_grouped.search_space.SearchSpace.default_trial`); otherwise they are scored
    here with ``trial`` (the study's own trial: parameters -> loss) as an extra candidate, chosen
    when no trial beats them. So the chosen model is never worse on validation than untuned
    Prophet. ``margin`` (``defaults_margin``): the best trial is kept only when its loss is
    below the defaults' by that fraction; otherwise the defaults are (the best of many trials
    is optimistic on validation).
    """
    done = [(dict(p), float(v)) for p, v in trials if v is not None]
    best_params, best_score = min(done, key=lambda pv: pv[1]) if done else ({}, float("inf"))
    default_trial = group.space.default_trial()
    default_params = {**group.space.default_params(), **(default_trial or {})}
    if default_trial is not None:
        scores = [v for p, v in trials if dict(p) == default_params]
        default_score = scores[0] if scores and scores[0] is not None else float("nan")
    else:
        try:
            default_score = trial(dict(default_params))
        except Exception as exc:
            default_score = float("nan")
            errors = [*errors, f"Prophet's default configuration: {error_text(exc)}"]
    if np.isfinite(default_score) and not best_score < default_score * (1 - margin):
        best_params, best_score = default_params, default_score
    if not np.isfinite(best_score):
        raise RuntimeError(f"all {len(trials)} trials failed; first error: {errors[0] if errors else '?'}")
    return best_params, float(best_score), float(default_score)


def refit_best(frame: pd.DataFrame, config: TuningConfig, best_params: dict[str, Any], output_dir: str,
               drivers: GroupDrivers) -> Prophet:
    """Refit the best parameters on the group's whole usable history (on its transformed
    target when they choose a transform; the model then carries it, :mod:`~prophet_grouped.transforms`)."""
    y = frame["y"].to_numpy(dtype=float)
    check_seasonality_mode(best_params, drivers.prophet_params, y)
    name = best_params.get(transforms.PARAM, "none")
    model = fit_prophet(
        lambda: build_prophet(best_params, drivers=drivers),
        frame if name == "none" else frame.assign(y=transforms.forward(y, name)),
        config.engine,
        output_dir,
    )
    transforms.attach(model, name, transforms.ceiling(y))
    return model


def finish_group(result: GroupResult, model: Prophet, config: TuningConfig) -> None:
    """Keep what the fit asks for of a group's final model, where it was fitted: the model
    (``config.keep_models``; written to ``config.model_dir`` as Prophet JSON when set, else it
    travels pickled, and becomes Prophet JSON only where text is stored: checkpoints, Spark
    rows) and its forecast ``config.forecast_periods`` steps after the
    history."""
    result.history_end = pd.Timestamp(model.history_dates.max()).isoformat()
    closed = closed_days_of(model.history_dates, config)
    result.closed_days = closed_text(closed)
    if config.keep_models and config.model_dir is not None:
        result.model_record = write_model(config.model_dir, result.key, model)
        result.model_file = result.model_record[1]
    elif config.keep_models:
        result.model_record = dump_model(model)
    if config.forecast_periods:
        fc = forecast_ahead(model, config.forecast_periods, config.freq, config.nonnegative,
                            config.random_state, result.key, closed)
        result.forecast = forecast_to_json(fc)


def fail_group(result: GroupResult, error: str, frame: pd.DataFrame, config: TuningConfig,
               output_dir: str) -> None:
    """Record why ``result``'s group failed (``error``, one line); with ``fallback="default"``
    give it an untuned default Prophet (fixed prophet_params, regressors and holidays only),
    status ``"fallback"``."""
    result.status = "failed"
    result.error = error
    if config.fallback != "default":
        return
    observed = int(frame["y"].notna().sum())
    if observed < 2:
        result.error = (f"{result.error}; the default fallback failed too: {observed} observed y value(s), "
                        f"a model needs at least 2")
        return
    try:
        usable, drivers = usable_rows(frame, config, result.key)
        finish_group(result, refit_best(usable, config, {}, output_dir, drivers), config)
    except Exception as fallback_exc:
        result.error = f"{result.error}; the default fallback failed too: {error_text(fallback_exc)}"
    else:
        result.status = "fallback"
        result.model = "prophet"


class TrialRunner:
    """Evaluates a group's trials somewhere else, several at a time (Ray's ``"trials"`` mode):
    the study itself stays in :func:`tune_group`.

    :func:`tune_group` calls :meth:`prepare` once with the group, then :meth:`evaluate` from
    :attr:`parallel` threads at once (Optuna's ``n_jobs``), then :meth:`uncached_fits`.
    """

    #: Trials in flight at once.
    parallel: int = 1

    def prepare(self, key: tuple[Any, ...], frame: pd.DataFrame, config: TuningConfig) -> None:
        """Make the group's folds ready where trials run (as :func:`prepare_group` does here)."""
        raise NotImplementedError

    def evaluate(self, params: Mapping[str, Any]) -> float:
        """:func:`run_trial`'s loss for ``params``, or its exception raised here."""
        raise NotImplementedError

    def uncached_fits(self) -> int:
        """:func:`uncached_fits` summed over the places trials ran."""
        raise NotImplementedError

    def naive_score(self) -> float:
        """:func:`baseline_score` of the group, where trials run."""
        raise NotImplementedError

    def calibration(self, params: Mapping[str, Any]) -> tuple[float, float] | None:
        """:func:`calibration` of the group's chosen ``params``, where trials run."""
        raise NotImplementedError


def tune_group(key: tuple[Any, ...], frame: pd.DataFrame, config: TuningConfig,
               prior: GroupPrior | None = None, runner: TrialRunner | None = None) -> GroupResult:
    """Tune, then refit on the whole history, the Prophet model of one group.

    With ``config.checkpoint_dir`` a group finished by an earlier fit is read back instead of
    tuned again, and a newly finished group is written there before it is returned.

    Parameters
    ----------
    key : tuple
        The group's key values, in ``group_cols`` order.
    frame : pandas.DataFrame
        The group's history with columns ``ds``, ``y`` and the drivers' columns
        (``config.drivers.columns``), sorted by ``ds``.
    config : TuningConfig
        The fit's settings.
    prior : GroupPrior or None
        What the group takes from a previous fit (warm start, champion), see
        :mod:`prophet_grouped.retrain`.
    runner : TrialRunner or None
        Where the trials run, ``runner.parallel`` at a time; None: here, one after the other.

    Returns
    -------
    GroupResult
        ``status="ok"`` with the best parameters, loss, trial losses and the refitted model as
        Prophet JSON; or ``status="failed"`` (``"fallback"``) with a one-line ``error``.
    """
    key = group_key(key)
    frame = frame[["ds", "y", *config.drivers.columns]]
    return checkpoint.checkpointed(config.checkpoint_dir, key, frame, lambda: _tune(key, frame, config, prior, runner),
                                   config.retry_failed)


def _tune(key: tuple[Any, ...], frame: pd.DataFrame, config: TuningConfig, prior: GroupPrior | None,
          runner: TrialRunner | None = None) -> GroupResult:
    start = time.perf_counter()
    errors: list[str] = []
    result = GroupResult(key=key, status="failed")
    import optuna  # before quiet(): Optuna's first import resets its logger's level
    from threadpoolctl import threadpool_limits

    with quiet(), stan_output_dir() as out:

        limits = threadpool_limits(1)  # one BLAS thread: the backend runs one group per core
        try:
            # With a runner, the trials (and their engine's feature caches) live where it runs them.
            group = prepare_group(frame, config, key, caches=runner is None)
            result.dropped_regressors = ",".join(group.drivers.dropped) or None
            result.clipped = group.clip
            if runner is not None:
                runner.prepare(key, frame, config)

            def score(params: Mapping[str, Any]) -> float:
                if runner is not None:
                    return runner.evaluate(params)
                return run_trial(params, group, config, out)

            def objective(trial: optuna.Trial) -> float:
                try:
                    params = group.space.sample(trial)
                    trial.set_user_attr("params", params)
                    return score(params)
                except Exception as exc:
                    errors.append(error_text(exc))
                    raise

            sampler = optuna.samplers.TPESampler(seed=group_seed(config.random_state, key))
            study = optuna.create_study(direction="minimize", sampler=sampler)
            warm = retrain.start_study(study, group, prior)
            callbacks: list[Any] = [] if warm is None else [warm]
            stopper = None
            if config.early_stopping_rounds is not None:
                stopper = EarlyStopping(config.early_stopping_rounds)
                callbacks.append(stopper)
            # A space of few models (prophet_params fixes the rest; the transform alone): one trial each.
            n_trials = min(config.n_trials, group.space.n_models() or config.n_trials)
            study.optimize(objective, n_trials=n_trials, callbacks=callbacks, catch=(Exception,),
                           n_jobs=1 if runner is None else max(1, runner.parallel))
            result.prior_trials = 0 if warm is None else warm.added
            own = [t for t in study.get_trials(deepcopy=False) if not retrain.is_prior(t)]
            result.n_trials = len(own)
            result.n_failed_trials = len(errors)
            result.trials = [t.value for t in own]
            result.study = retrain.study_record(own)
            # Stopped before its budget: the stopper can fire on the budget's last trial too.
            result.stopped_early = bool(stopper and stopper.stopped and len(own) < n_trials)
            result.n_folds = len(group.folds)
            result.naive_score = baseline_score(group, config) if runner is None else runner.naive_score()
            scored = [(t.user_attrs.get("params", {}), t.value) for t in own]
            best_params, best_score, result.default_score = select_best(scored, group, score, errors, config.defaults_margin)
            if config.champion:
                best_params, best_score, result.champion_score, result.promoted = retrain.challenge(
                    prior, best_params, best_score, group, score, config.min_improvement, errors, scored)
            result.n_uncached_fits = uncached_fits(group, config) + (0 if runner is None else runner.uncached_fits())
            result.model = "prophet"
            challenger = None
            if ets.KIND in config.candidates:
                closed = closed_days_of(group.frame["ds"], config)
                challenger = challenge_with_ets(group, config, closed)
                result.ets_score = challenger.score
                if challenger.error:
                    errors.append(challenger.error)
            if challenger is not None and challenger.score < best_score:  # NaN never wins
                result.model, best_score = ets.KIND, challenger.score
                model = ets.EtsModel.fit(group.frame[["ds", "y"]], config.freq, config.season_length, closed,
                                         interval_width(group.drivers), challenger.fill)
                model.offsets, model.wider = challenger.offsets, config.intervals == "wider"
            else:
                offsets = (calibration(group, config, best_params, out) if runner is None
                           else runner.calibration(best_params))
                model = refit_best(group.frame, config, best_params, out, group.drivers)
                intervals.attach(model, offsets, interval_width(group.drivers), config.intervals == "wider")
            finish_group(result, model, config)
            result.best_params = best_params
            result.best_score = best_score
            result.status = "ok"
            result.error = trial_failures(errors, result.n_trials, result.n_failed_trials)
        except Exception as exc:
            fail_group(result, error_text(exc), frame, config, out)
        finally:
            limits.restore_original_limits()
    result.seconds = time.perf_counter() - start
    return result


def checked_rows(rows: pd.DataFrame, group_cols: list[str], config: TuningConfig) -> tuple[
        tuple[Any, ...], pd.DataFrame | GroupResult]:
    """One group's raw rows (its group columns, ``ds``, ``y`` and the drivers' columns, as a
    Spark task or a staged Parquet file holds them) as (key, frame for :func:`tune_group`),
    checked as :func:`~prophet_grouped.data.validate_history` checks a frame; rows that can't be
    used give (key, a ``"failed"`` result with the reason) instead of an error."""
    key = group_key(tuple(rows[c].iloc[0] for c in group_cols))
    extra = config.drivers.columns
    try:
        frame = validate_history(rows, group_cols, "ds", "y", extra=extra,
                                 numeric=config.drivers.future_columns)[["ds", "y", *extra]]
    except (ValueError, TypeError) as exc:
        return key, GroupResult(key=key, status="failed", error=error_text(exc))
    return key, frame.reset_index(drop=True)


def tune_rows(rows: pd.DataFrame, group_cols: list[str], config: TuningConfig,
              priors: Mapping[tuple[Any, ...], GroupPrior] | None = None) -> GroupResult:
    """:func:`tune_group` on one group's raw rows (:func:`checked_rows`). ``priors``: by group key."""
    key, checked = checked_rows(rows, group_cols, config)
    if isinstance(checked, GroupResult):
        return checked
    return tune_group(key, checked, config, None if priors is None else priors.get(key))
