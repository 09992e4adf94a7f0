"""AutoETS as a per-group challenger to the tuned Prophet model (``candidates=("prophet", "ets")``).

statsforecast's AutoETS (an optional, pinned extra: ``pip install 'prophet-grouped[ets]'``,
imported only when a fit asks for it) chooses an exponential-smoothing model per series by
AICc. It works on a regular series, so a group's history is put on its calendar first
(:func:`regular_series`: every step of its frequency from its first to its last date, its
closed weekdays left out; a date without a row is filled, :data:`FILLS`: interpolated as a gap,
or 0 as a day nothing sold; with ``missing_dates="gap"`` a group with such dates and no negative
value has both scored on its folds and keeps the better, and with ``missing_dates="zero"`` the
fit filled them with 0 before). A season is ``season_length`` steps of the
frequency (7 days, 52 weeks, 12 months, 24 hours), counted in open days where a shop is closed
on some weekdays; AutoETS itself leaves out seasons longer than 24 steps.

A group's fitted ETS model is an :class:`EtsModel`: the few numbers AutoETS's forecast reads
(its components, parameters, last state, variance), its in-sample fitted values, and the
calendar. It forecasts any date: a date after the history is the number of calendar steps
after the last history date (a date off the calendar takes the next step on it), a date of the
history gets the in-sample one-step forecast. Intervals are AutoETS's own at the group's
``interval_width``, or its calibrated offsets (:mod:`~prophet_grouped.intervals`).

Engines layer: imports numpy, pandas, :mod:`~prophet_grouped.frequency` and
:mod:`~prophet_grouped.intervals` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from .frequency import future_freq
from .intervals import bounds

#: The model name in ``candidates`` and ``results_["model"]``.
KIND = "ets"
#: The extra that installs statsforecast.
EXTRA = "ets"
#: What a fitted model's JSON says it is (Prophet's JSON has no such field).
JSON_KIND = "prophet_grouped.ets"


def import_autoets() -> Any:
    """statsforecast's ``AutoETS`` class, or ImportError naming the extra that installs it."""
    try:
        from statsforecast.models import AutoETS
    except ImportError as exc:
        raise ImportError(
            f"candidates with 'ets' need statsforecast, which is not installed ({exc}). Install the extra: "
            f"pip install 'prophet-grouped[{EXTRA}]', or leave 'ets' out of candidates."
        ) from None
    return AutoETS


#: What ``candidates`` may hold: the tuned Prophet model, always, and AutoETS.
CANDIDATES = ("prophet", KIND)


def check_candidates(value: Any) -> tuple[str, ...]:
    """``candidates`` as a tuple of names, or ValueError/ImportError saying what is wrong and the
    fix (statsforecast missing for "ets": the extra to install)."""
    names = (value,) if isinstance(value, str) else value
    try:
        names = tuple(names)
    except TypeError:
        names = ()
    if not names or any(not isinstance(n, str) or n not in CANDIDATES for n in names) or "prophet" not in names \
            or len(set(names)) != len(names):
        raise ValueError(
            f"candidates must hold 'prophet' and, for an AutoETS challenger per group, 'ets': ('prophet',) or "
            f"('prophet', 'ets'); got {value!r}."
        )
    if KIND in names:
        import_autoets()
    return names


def open_season(season_length: int, freq: str, closed: Sequence[str]) -> int:
    """Steps in one season on the group's calendar: a week of daily data has ``7 - len(closed)``
    open days."""
    if closed and freq == "D" and season_length == 7:
        return 7 - len(closed)
    return max(1, int(season_length))


def has_gaps(ds: Any, freq: str, closed: Sequence[str] = ()) -> bool:
    """Whether a group's dates miss a step of its calendar between its first and last date."""
    dates = pd.DatetimeIndex(pd.to_datetime(ds))
    return len(calendar(dates[0], dates[-1], freq, closed).difference(dates)) > 0


def calendar(first: Any, last: Any, freq: str, closed: Sequence[str] = ()) -> pd.DatetimeIndex:
    """Every step of ``freq`` from ``first`` to ``last`` (both on it), the ``closed`` weekdays left out."""
    return pd.date_range(pd.Timestamp(first), pd.Timestamp(last), freq=future_freq(freq, tuple(closed)))


#: How a date of a group's calendar without a row is filled: linearly between its neighbours
#: (unknown, a gap), or with 0 (nothing sold).
FILLS = ("interpolate", "zero")


def regular_series(ds: Any, y: np.ndarray, freq: str, closed: Sequence[str] = (),
                   fill: str = "interpolate") -> tuple[pd.DatetimeIndex, np.ndarray]:
    """A history (``ds``, ``y``; sorted, no missing ``y``) on its calendar: the calendar's dates
    and values, a date without a row filled as ``fill`` says (:data:`FILLS`). A row off the
    calendar (a date between steps) is left out."""
    dates = pd.DatetimeIndex(pd.to_datetime(ds))
    grid = calendar(dates[0], dates[-1], freq, closed)
    if len(grid) == 0 or grid[0] != dates[0]:  # the first date is off the calendar: start there
        grid = pd.DatetimeIndex([dates[0]]).append(grid[grid > dates[0]])
    values = pd.Series(np.asarray(y, dtype=float), index=dates)
    values = values[~values.index.duplicated(keep="last")].reindex(grid)
    if values.isna().any():
        values = values.fillna(0.0) if fill == "zero" else values.interpolate(method="linear", limit_direction="both")
    return grid, values.to_numpy(dtype=float)


class EtsModel:
    """A group's fitted AutoETS model, forecasting dates (see the module's docstring).

    Build one with :meth:`fit`; :meth:`to_dict` / :meth:`from_dict` give it as JSON-ready data.
    """

    kind = KIND

    def __init__(self, state: dict[str, Any], grid: pd.DatetimeIndex, fitted: np.ndarray,
                 history: pd.DataFrame, freq: str, closed: Sequence[str] = (), interval_width: float = 0.8,
                 offsets: tuple[float, float] | None = None, wider: bool = False, fill: str = "interpolate") -> None:
        self.state = state
        self.grid = pd.DatetimeIndex(grid)
        self.fitted = np.asarray(fitted, dtype=float)
        #: The rows the model was fitted on (``ds``, ``y``), as Prophet's ``history``.
        self.history = history.reset_index(drop=True)
        self.freq = freq
        self.closed = tuple(closed)
        self.interval_width = float(interval_width)
        #: Calibrated (lower, upper) offsets added to the point forecast, or None.
        self.offsets = None if offsets is None else (float(offsets[0]), float(offsets[1]))
        #: With offsets: the wider of AutoETS's own interval and the calibrated one at each bound.
        self.wider = bool(wider)
        #: How the calendar's dates without a row were filled (:data:`FILLS`).
        self.fill = fill

    @classmethod
    def fit(cls, frame: pd.DataFrame, freq: str, season_length: int, closed: Sequence[str] = (),
            interval_width: float = 0.8, fill: str = "interpolate") -> EtsModel:
        """AutoETS fitted on a group's rows (``ds``, ``y``; sorted, ``y`` observed), the dates of its
        calendar without a row filled as ``fill`` says."""
        grid, y = regular_series(frame["ds"], frame["y"].to_numpy(dtype=float), freq, closed, fill)
        model = import_autoets()(season_length=open_season(season_length, freq, closed)).fit(y).model_
        state = {
            "components": [str(c) for c in model["components"]],
            "par": [float(v) for v in np.asarray(model["par"], dtype=float)],
            "m": int(model["m"]),
            "last_state": [float(v) for v in np.asarray(model["states"][-1], dtype=float)],
            "sigma2": float(model["sigma2"]),
            "n_params": int(model["n_params"]),
            "distribution": str(model.get("distribution", "normal")),
            "residuals": [float(v) for v in np.asarray(model["residuals"], dtype=float)],
            "insample_se": float(np.sqrt(np.sum((y - model["fitted"]) ** 2) / max(1, len(y) - int(model["n_params"])))),
        }
        return cls(state, grid, np.asarray(model["fitted"], dtype=float), frame[["ds", "y"]], freq, closed,
                   interval_width, fill=fill)

    @property
    def history_dates(self) -> pd.Series:
        """The dates of the history (as Prophet's ``history_dates``)."""
        return pd.Series(pd.to_datetime(self.history["ds"]), name="ds")

    @property
    def extra_regressors(self) -> dict[str, Any]:
        """None: an ETS model forecasts from its history alone (Prophet's attribute of that name)."""
        return {}

    @property
    def uncertainty_samples(self) -> int:
        """Nonzero: the model gives intervals (Prophet's attribute of that name)."""
        return 1

    def make_future_dataframe(self, periods: int, freq: Any = None, include_history: bool = True) -> pd.DataFrame:
        """The next ``periods`` steps of the model's calendar after its history (``freq``
        overrides the step), with the history's dates first when ``include_history``, as
        Prophet's method of that name."""
        step = future_freq(self.freq, self.closed) if freq is None else freq
        last = self.history_dates.max()
        dates = pd.date_range(start=last, periods=periods + 1, freq=step)
        dates = dates[dates > last][:periods]
        if include_history:
            dates = pd.DatetimeIndex(self.history_dates.unique()).append(dates)
        return pd.DataFrame({"ds": dates})

    def _raw_state(self) -> dict[str, Any]:
        s = self.state
        return {
            "components": list(s["components"]), "par": np.asarray(s["par"], dtype=float), "m": s["m"],
            "states": np.asarray(s["last_state"], dtype=float)[None, :], "sigma2": s["sigma2"],
            "n_params": s["n_params"], "distribution": s["distribution"],
            "residuals": np.asarray(s["residuals"], dtype=float), "fitted": self.fitted,
        }

    def steps(self, ds: np.ndarray) -> np.ndarray:
        """Each date's step after the last history date (0 or less: a date of the history)."""
        last = self.grid[-1]
        dates = pd.DatetimeIndex(ds)
        ahead = np.zeros(len(dates), dtype=np.int64)
        future = dates > last
        if future.any():
            grid = calendar(last, dates[future].max(), self.freq, self.closed)
            if len(grid) == 0 or grid[0] != last:
                grid = pd.DatetimeIndex([last]).append(grid[grid > last])
            # grid[0] is the last history date: a date's position is its step (off the calendar: the next)
            ahead[future] = np.searchsorted(grid.to_numpy(), dates[future].to_numpy(), side="left")
        return ahead

    def predict_values(self, ds: np.ndarray) -> np.ndarray:
        """An (n, 3) array of ``yhat``, ``yhat_lower``, ``yhat_upper`` for dates ``ds``, in ``y``'s
        units, neither clipped nor capped."""
        from statsforecast.ets import forecast_ets

        ahead = self.steps(ds)
        out = np.empty((len(ahead), 3))
        level = 100.0 * self.interval_width
        z = NormalDist().inv_cdf(0.5 + self.interval_width / 2)
        future = ahead > 0
        if future.any():
            h = int(ahead.max())
            fc = forecast_ets(self._raw_state(), h=h, level=[level])
            mean = np.asarray(fc["mean"], dtype=float)
            lo = next(v for k, v in fc.items() if k.startswith("lo-"))
            hi = next(v for k, v in fc.items() if k.startswith("hi-"))
            lower, upper = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
            if self.offsets:
                lower, upper = bounds(mean, lower, upper, self.offsets, self.wider)
            index = ahead[future] - 1
            out[future] = np.column_stack([mean[index], lower[index], upper[index]])
        if (~future).any():
            dates = pd.DatetimeIndex(ds)[~future]
            index = np.minimum(np.searchsorted(self.grid.to_numpy(), dates.to_numpy(), side="left"), len(self.grid) - 1)
            mean = self.fitted[index]
            # statsforecast's in-sample interval: the fitted value -+ z x the residuals' standard error
            se = float(self.state["insample_se"])
            lower, upper = mean - z * se, mean + z * se
            if self.offsets:
                lower, upper = bounds(mean, lower, upper, self.offsets, self.wider)
            out[~future] = np.column_stack([mean, lower, upper])
        return out

    def to_dict(self) -> dict[str, Any]:
        """The model as JSON-ready data (:meth:`from_dict` reads it back)."""
        return {
            "kind": JSON_KIND, "state": self.state, "freq": self.freq, "closed": list(self.closed),
            "interval_width": self.interval_width, "offsets": None if self.offsets is None else list(self.offsets), "wider": self.wider, "fill": self.fill,
            "grid": [d.isoformat() for d in self.grid], "fitted": self.fitted.tolist(),
            "history": {"ds": [pd.Timestamp(d).isoformat() for d in self.history["ds"]],
                        "y": self.history["y"].to_numpy(dtype=float).tolist()},
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> EtsModel:
        """Inverse of :meth:`to_dict`."""
        history = pd.DataFrame({"ds": pd.to_datetime(record["history"]["ds"]).astype("datetime64[ns]"),
                                "y": np.asarray(record["history"]["y"], dtype=float)})
        offsets = record.get("offsets")
        return cls(record["state"], pd.DatetimeIndex(pd.to_datetime(record["grid"])),
                   np.asarray(record["fitted"], dtype=float), history, record["freq"], tuple(record["closed"]),
                   record["interval_width"], None if offsets is None else tuple(offsets), record.get("wider", False),
                   record.get("fill", "interpolate"))

    def __repr__(self) -> str:
        damped = ", damped" if self.state["components"][3] != "N" else ""
        return (f"EtsModel(ETS({','.join(self.state['components'][:3])}{damped}), season {self.state['m']}, "
                f"{len(self.history)} rows to {self.history_dates.max().date()}, gaps: {self.fill})")


def is_ets(model: Any) -> bool:
    """Whether a fitted model is an :class:`EtsModel`."""
    return isinstance(model, EtsModel)


def is_ets_record(record: dict[str, Any]) -> bool:
    """Whether a model's JSON data (:meth:`EtsModel.to_dict`) is an ETS model's."""
    return record.get("kind") == JSON_KIND


def fold_forecasts(folds: Sequence[Any], freq: str, season_length: int, closed: Sequence[str] = (),
                   fill: str = "interpolate") -> list[np.ndarray]:
    """AutoETS's point forecast of each fold's validation rows, fitted on its training rows (the
    folds of :func:`~prophet_grouped.objective.make_folds`, on ``y`` itself)."""
    out = []
    for fold in folds:
        model = EtsModel.fit(fold.train[["ds", "y"]], freq, season_length, closed, fill=fill)
        out.append(model.predict_values(pd.to_datetime(fold.valid["ds"]).to_numpy())[:, 0])
    return out
