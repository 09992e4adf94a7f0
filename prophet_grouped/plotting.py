"""Plots of a fitted tuner (matplotlib, the ``[plot]`` extra): one group's forecast, its trials."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import transforms
from ._imports import import_optional
from .forecast import forecast_group, forecast_seed
from .frequency import closed_by_group, future_freq, step_words
from .keys import key_text

if TYPE_CHECKING:
    from .estimator import GroupedProphetTuner


def _axes(ax: Any) -> tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    fig = import_optional("matplotlib.figure").Figure(figsize=(10, 4.5))
    return fig, fig.add_subplot(1, 1, 1)


def group_title(group_cols: list[str], key: tuple[Any, ...]) -> str:
    """``"store 1, item 22197"``: a group as a plot title names it."""
    return ", ".join(f"{col} {key_text(value)}" for col, value in zip(group_cols, key))


def history_inputs(model: Any, columns: tuple[str, ...]) -> pd.DataFrame:
    """A fitted model's history dates with ``columns`` as the user gave them (Prophet keeps its
    regressors standardized; a regressor the group's model left out is 0, unused)."""
    hist = model.history
    past = pd.DataFrame({"ds": hist["ds"].to_numpy()})
    for col in columns:
        props = model.extra_regressors.get(col)
        if props is not None:
            past[col] = hist[col].to_numpy() * props["std"] + props["mu"]
        else:
            past[col] = hist[col].to_numpy() if col in hist else 0.0
    return past


def plot_forecast(tuner: GroupedProphetTuner, key: tuple[Any, ...], periods: int, ax: Any = None,
                  future: pd.DataFrame | None = None, history: int | None = None) -> Any:
    """History points, the fitted and forecast ``yhat`` and its interval for one group.

    ``future``: the group's dates to forecast with the columns its models need (regressors,
    cap, floor), validated by the caller; None: ``periods`` steps after the history.
    ``history``: the last dates of the history shown (None: all).
    """
    model = tuner.models_[key]

    extra = tuple(tuner.future_cols_)
    if future is None:
        shared = tuple(getattr(tuner, "closed_days_", ()))
        closed = closed_by_group(tuner.results_, tuner.group_cols_).get(key, shared)
        future = model.make_future_dataframe(periods=periods, include_history=False,
                                             freq=future_freq(tuner.freq_, closed))
        periods_text = f"{step_words(periods, tuner.freq_, closed)} ahead"
        if closed:
            periods_text += f" ({', '.join(closed)} closed)"
    else:
        periods_text = f"{len(future)} dates ahead"
    past = history_inputs(model, extra)
    shown = np.ones(len(model.history), dtype=bool)
    if history is not None:  # the last `history` dates, so that a short forecast is not a sliver
        first = np.sort(model.history["ds"].unique())[-history]
        shown = (model.history["ds"] >= first).to_numpy()
        past = past[past["ds"] >= first]
    frame = pd.concat([past, future[["ds", *extra]]], ignore_index=True)
    forecast = forecast_group(model, frame, tuner.nonnegative, forecast_seed(tuner.random_state_, key))
    fig, ax = _axes(ax)
    history = model.history
    ax.plot(history["ds"][shown], transforms.history_y(model)[shown], ".", color="0.25", markersize=2.5,
            label="history")
    ax.plot(forecast["ds"], forecast["yhat"], color="#0072B2", linewidth=1.2, label="forecast (yhat)")
    ax.fill_between(forecast["ds"], forecast["yhat_lower"], forecast["yhat_upper"], color="#0072B2",
                    alpha=0.2, linewidth=0, label="interval")
    ax.axvline(history["ds"].max(), color="0.5", linestyle="--", linewidth=0.8)
    status = tuner.results_.set_index(tuner.group_cols_).loc[key if len(key) > 1 else key[0], "status"]
    ax.set_title(f"{group_title(tuner.group_cols_, key)}: {periods_text} ({status})")
    ax.set_xlabel(tuner.time_col)
    ax.set_ylabel(tuner.target_col)
    # Dates that stay readable from hours to years; the legend where it hides the fewest points.
    mdates = import_optional("matplotlib.dates")
    locator = mdates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.legend(loc="best", framealpha=0.9)
    fig.tight_layout()
    return fig


def plot_tuning_history(tuner: GroupedProphetTuner, key: tuple[Any, ...], ax: Any = None) -> Any:
    """Each trial's validation loss (failed trials marked at the bottom) and the best so far."""
    losses = tuner.trials_[key]
    fig, ax = _axes(ax)
    numbers = np.arange(len(losses))
    values = np.array([np.nan if v is None else v for v in losses], dtype=float)
    ok = ~np.isnan(values)
    ax.plot(numbers[ok], values[ok], "o", color="#0072B2", label="trial loss")
    if ok.any():
        best = np.fmin.accumulate(np.where(ok, values, np.inf))
        best[np.isinf(best)] = np.nan
        ax.step(numbers, best, where="post", color="#D55E00", label="best so far")
    if (~ok).any():
        floor = np.nanmin(values) if ok.any() else 0.0
        ax.plot(numbers[~ok], np.full((~ok).sum(), floor), "x", color="0.4", label="failed trial")
    ax.set_title(f"{group_title(tuner.group_cols_, key)}: {len(losses)} trials")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"validation loss ({tuner.metric if isinstance(tuner.metric, str) else 'metric'})")
    ticker = import_optional("matplotlib.ticker")
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))  # trials are whole numbers
    ax.legend(loc="best", framealpha=0.9)
    fig.tight_layout()
    return fig
