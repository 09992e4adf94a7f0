"""Tune one group: the single unit of work that every backend runs.

:func:`tune_group` takes plain data (a group key and its ds/y frame) and a frozen
:class:`TuningConfig`, and returns a :class:`~prophet_grouped.results.GroupResult`. It never
raises for a problem with the group's data or fits: those become a ``"failed"`` result.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from .engines import fit_prophet, quiet, stan_output_dir
from .objective import build_prophet, evaluate, make_folds
from .results import GroupResult, _plain

if TYPE_CHECKING:
    import optuna

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
    cv_folds: int
    cutoffs: tuple[pd.Timestamp, ...] | None
    freq: str
    holidays_country: str | None
    prophet_params: Mapping[str, Any] | None
    engine: str
    random_state: int
    fallback: str | None = None


def group_seed(random_state: int, key: Sequence[Any]) -> int:
    """A sampler seed from (random_state, group key): the same on every backend and worker."""
    text = repr((int(random_state), tuple(str(k.item() if hasattr(k, "item") else k) for k in key)))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


class EarlyStopping:
    """Optuna callback that stops a study after ``patience`` finished trials without a new best.

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

        finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.FAIL)]
        complete = [t for t in finished if t.state == TrialState.COMPLETE]
        if not complete:
            return
        best_number = min(complete, key=lambda t: t.value).number
        since_best = sum(1 for t in finished if t.number > best_number)
        if since_best >= self.patience:
            self.stopped = True
            study.stop()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:500]


def refit_best(frame: pd.DataFrame, config: TuningConfig, best_params: dict[str, Any], output_dir: str) -> str:
    """Refit the best parameters on the group's whole history; the model as Prophet JSON."""
    from prophet.serialize import model_to_json

    model = fit_prophet(
        lambda: build_prophet(best_params, config.prophet_params, config.holidays_country),
        frame,
        config.engine,
        output_dir,
    )
    return model_to_json(model)


def _fit_fallback(result: GroupResult, key: tuple[Any, ...], frame: pd.DataFrame, config: TuningConfig,
                  output_dir: str) -> None:
    """Give a failed group an untuned default Prophet (fixed prophet_params and holidays only)."""
    try:
        result.model_json = refit_best(frame, config, {}, output_dir)
    except Exception as exc:
        result.error = f"{result.error}; the default fallback failed too: {_one_line(exc)}"
    else:
        result.status = "fallback"


def tune_group(key: tuple[Any, ...], frame: pd.DataFrame, config: TuningConfig) -> GroupResult:
    """Tune, then refit on the whole history, the Prophet model of one group.

    Parameters
    ----------
    key : tuple
        The group's key values, in ``group_cols`` order.
    frame : pandas.DataFrame
        The group's history with columns ``ds`` and ``y``, sorted by ``ds``.
    config : TuningConfig
        The fit's settings.

    Returns
    -------
    GroupResult
        ``status="ok"`` with the best parameters, loss, trial losses and the refitted model as
        Prophet JSON; or ``status="failed"`` with a one-line ``error``.
    """
    start = time.perf_counter()
    key = tuple(_plain(k) for k in key)
    frame = frame[["ds", "y"]]
    errors: list[str] = []
    result = GroupResult(key=key, status="failed")
    with quiet(), stan_output_dir() as out:
        import optuna
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(1)  # one BLAS thread: the backend runs one group per core
        try:
            folds = make_folds(frame, config.horizon, config.freq, config.cv_folds, config.cutoffs)

            def objective(trial: optuna.Trial) -> float:
                try:
                    params = config.search_space.sample(trial)
                    trial.set_user_attr("params", params)
                    return evaluate(
                        params, folds, config.metric, config.engine, out,
                        config.prophet_params, config.holidays_country,
                    )
                except Exception as exc:
                    errors.append(_one_line(exc))
                    raise

            sampler = optuna.samplers.TPESampler(seed=group_seed(config.random_state, key))
            study = optuna.create_study(direction="minimize", sampler=sampler)
            callbacks = []
            stopper = None
            if config.early_stopping_rounds is not None:
                stopper = EarlyStopping(config.early_stopping_rounds)
                callbacks.append(stopper)
            study.optimize(objective, n_trials=config.n_trials, callbacks=callbacks, catch=(Exception,))
            result.n_trials = len(study.trials)
            result.n_failed_trials = len(errors)
            result.trials = [t.value for t in study.trials]
            result.stopped_early = bool(stopper and stopper.stopped)
            if len(errors) == len(study.trials):
                raise RuntimeError(f"all {len(errors)} trials failed; first error: {errors[0]}")
            best_params = dict(study.best_trial.user_attrs["params"])
            result.model_json = refit_best(frame, config, best_params, out)
            result.best_params = best_params
            result.best_score = float(study.best_value)
            result.status = "ok"
        except Exception as exc:
            result.error = _one_line(exc)
            if config.fallback == "default":
                _fit_fallback(result, key, frame, config, out)
        finally:
            limits.restore_original_limits()
    result.seconds = time.perf_counter() - start
    return result
