"""What the published study's code amounts to, for comparison: stock Prophet with default
settings, one Optuna TPE study per series over the same space with a patience callback, then a
refit of the best configuration on the whole history.

This is benchmark code, kept apart from the library on purpose: it is the thing we measure
against. It shares only the search space definition and the metric, so both sides search the
same space and are scored the same way.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd


def _stock_model(params: dict[str, Any], holidays_country: str | None):  # -> Prophet
    from prophet import Prophet

    seasonal = {}
    kwargs = {}
    for name, value in params.items():
        for s in ("yearly", "monthly", "weekly"):
            if name.startswith(s + "_"):
                seasonal.setdefault(s, {})[name[len(s) + 1:]] = value
                break
        else:
            kwargs[name] = value
    model = Prophet(yearly_seasonality=False, weekly_seasonality=False, **kwargs)
    periods = {"yearly": 365.25, "monthly": 30.5, "weekly": 7}
    for s, spec in seasonal.items():
        model.add_seasonality(name=s, period=periods[s], fourier_order=spec["fourier_order"],
                              prior_scale=spec["seasonality_prior_scale"])
    if holidays_country:
        model.add_country_holidays(country_name=holidays_country)
    return model


def stock_imports() -> None:
    """Undo, in this process, what importing prophet_grouped changes in how Prophet is imported
    (prophet.plot deferred until used): the study's code imports Prophet as it is."""
    import sys

    from prophet_grouped._imports import _DeferredProphetPlot

    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _DeferredProphetPlot)]


def baseline_series(
    key: Any, frame: pd.DataFrame, n_trials: int, patience: int, horizon: int,
    holidays_country: str | None, seed: int,
) -> dict[str, Any]:
    """Tune one series the way the study did; returns the key, best loss, trials and seconds."""
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)  # before Prophet's first import
    stock_imports()
    import optuna

    from prophet_grouped.metrics import smape
    from prophet_grouped.search_space import resolve_search_space

    logging.getLogger("cmdstanpy").disabled = True
    logging.getLogger("prophet").setLevel(logging.ERROR)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start = time.perf_counter()
    space = resolve_search_space("paper")
    frame = frame[["ds", "y"]].sort_values("ds").reset_index(drop=True)
    cutoff = frame["ds"].max() - pd.Timedelta(days=horizon)
    train, valid = frame[frame["ds"] <= cutoff], frame[frame["ds"] > cutoff]

    def objective(trial):
        params = space.sample(trial)
        model = _stock_model(params, holidays_country).fit(train)
        forecast = model.predict(valid[["ds"]])
        return smape(valid["y"].to_numpy(), forecast["yhat"].to_numpy())

    def patience_callback(study, trial):
        best = study.best_trial.number
        if trial.number - best >= patience:
            study.stop()

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials, callbacks=[patience_callback])
    final = _stock_model(study.best_params, holidays_country).fit(frame)
    final.predict(final.make_future_dataframe(periods=horizon))
    return {"key": key, "best_score": study.best_value, "n_trials": len(study.trials),
            "seconds": time.perf_counter() - start}
