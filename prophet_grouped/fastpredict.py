"""Prophet's forecast of a fitted model, computed with numpy from its parameters.

``Prophet.predict`` spends most of its time building pandas frames: the seasonal, holiday and
regressor features twice (once for the point forecast, once for the intervals), the holiday
table row by row. :func:`predict` builds the same feature matrix once with numpy, in the
column order of the model's training (read from its own records: seasonalities, events
table, country holidays, regressors), checks that layout against the model's
``train_component_cols``, and evaluates Prophet's formulas:

- the point forecast: trend (piecewise linear, logistic or flat, Prophet's own functions)
  times one plus the multiplicative terms, plus the additive terms;
- the intervals as Prophet's vectorized sampler draws them: future trend changes (each
  future step of each sample changes with Prophet's likelihood, by a Laplace draw of the
  fitted changes' mean size), then observation noise (normal), percentiles over the samples.
  From a ``numpy.random.RandomState`` the draws are Prophet's, draw for draw (seeded like the
  global state, the result equals ``Prophet.predict``'s); from a ``numpy.random.Generator``
  (what the tuner uses) the trend changes are drawn sparsely, only where they happen: the same
  distribution, several times faster.

Models outside what this covers (MCMC fits, regressors with their own predictor models, an
events layout that does not check out) return None: the caller uses ``Prophet.predict``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from prophet import Prophet


@functools.lru_cache(maxsize=64)
def _country_holidays(country: str, years: tuple[int, ...]) -> tuple[tuple[str, Any, int, int], ...]:
    """The rows of Prophet's table of a country's holidays in ``years`` (cached: the same for
    every group)."""
    from prophet.make_holidays import make_holidays_df

    return tuple(_event_rows(make_holidays_df(year_list=list(years), country=country)))


def _window(row: Any, name: str) -> int:
    value = getattr(row, name, 0)
    return int(value)


def _event_rows(table: pd.DataFrame | None) -> list[tuple[str, np.datetime64, int, int]]:
    """(name, day, lower, upper) of each row of an events table, windows read as Prophet
    reads them (a window that is not a number makes both 0)."""
    if table is None or len(table) == 0:
        return []
    rows = []
    for row in table.itertuples():
        try:
            lw, uw = _window(row, "lower_window"), _window(row, "upper_window")
        except ValueError:
            lw = uw = 0
        day = np.datetime64(pd.Timestamp(row.ds).date(), "D") if not pd.isna(row.ds) else None
        rows.append((row.holiday, day, lw, uw))
    return rows


def _holiday_keys(rows: list[tuple[str, Any, int, int]]) -> dict[str, set[np.datetime64]]:
    """Prophet's holiday feature columns (``name_delim_+offset``) of ``rows``, each with the
    days it marks."""
    keys: dict[str, set[np.datetime64]] = {}
    for name, day, lw, uw in rows:
        for offset in range(lw, uw + 1):
            marked = keys.setdefault(f"{name}_delim_{'+' if offset >= 0 else '-'}{abs(offset)}", set())
            if day is not None:
                marked.add(day + np.timedelta64(offset, "D"))
    return keys


def _years(dates: Any) -> tuple[int, ...]:
    """The distinct years of ``dates``, sorted."""
    years = np.asarray(dates, dtype="datetime64[ns]").astype("datetime64[Y]").astype(np.int64) + 1970
    return tuple(int(y) for y in np.unique(years))


@functools.lru_cache(maxsize=256)
def _country_columns(country: str, years: tuple[int, ...], names: tuple[str, ...]) -> dict[str, frozenset]:
    """The holiday columns (and the days each marks) that the rows of ``country``'s table in
    ``years`` named in ``names`` make (cached: the same for every group of a fit)."""
    named = set(names)
    rows = [row for row in _country_holidays(country, years) if row[0] in named]
    return {key: frozenset(days) for key, days in _holiday_keys(rows).items()}


def _merge(*parts: dict[str, Any]) -> dict[str, set[np.datetime64]]:
    merged: dict[str, set[np.datetime64]] = {}
    for part in parts:
        for key, days in part.items():
            merged.setdefault(key, set()).update(days)
    return merged


def _events(model: Prophet, ds: np.ndarray) -> dict[str, set[np.datetime64]] | None:
    """The holiday columns of the model's training, each with the days of ``ds``'s years it
    marks; None when Prophet's predict would lay the columns out differently."""
    names = model.train_holiday_names
    if names is None:
        return {}
    trained = set(names)
    table = _event_rows(model.holidays)
    own = [row for row in table if row[0] in trained]
    if model.country_holidays is None and len(own) == len(table):
        # The events table alone, as in training: the same columns.
        return dict(sorted(_holiday_keys(own).items()))
    future_parts, past_parts = [_holiday_keys(own)], [_holiday_keys(own)]
    present = {row[0] for row in own}
    if model.country_holidays is not None:
        key = tuple(sorted(trained))
        future_years = _years(ds)
        future_parts.append(_country_columns(model.country_holidays, future_years, key))
        past_parts.append(_country_columns(model.country_holidays, _years(model.history_dates), key))
        present |= {row[0] for row in _country_holidays(model.country_holidays, future_years)}
    # Names seen in training but absent from these years: Prophet adds them without a date.
    future_parts.append(_holiday_keys([(name, None, 0, 0) for name in names if name not in present]))
    columns = _merge(*future_parts)
    if set(columns) != set(_merge(*past_parts)):
        return None
    return {key: columns[key] for key in sorted(columns)}


def _features(model: Prophet, columns: dict[str, np.ndarray], ds: np.ndarray) -> np.ndarray | None:
    """The feature matrix Prophet's ``make_all_seasonality_features`` builds for the rows of
    ``columns`` (sorted by ``ds``), or None when its layout can't be reproduced."""
    n = len(ds)
    blocks: list[np.ndarray] = []
    components: list[str] = []
    days = (ds.astype("datetime64[ns]").astype(np.int64) / 10**9) / (24 * 60 * 60)  # Prophet's fourier_series
    x_T = np.pi * 2 * days
    for name, props in model.seasonalities.items():
        order = int(props["fourier_order"])
        block = np.empty((n, 2 * order))
        for i in range(order):
            c = (i + 1) / props["period"] * x_T
            block[:, 2 * i] = np.sin(c)
            block[:, 2 * i + 1] = np.cos(c)
        condition = props["condition_name"]
        if condition is not None:
            if condition not in columns:
                return None
            block[~np.asarray(columns[condition], dtype=bool)] = 0.0
        blocks.append(block)
        components.extend([name] * (2 * order))
    events = _events(model, ds)
    if events is None:
        return None
    if events:
        day = ds.astype("datetime64[D]")
        block = np.zeros((n, len(events)))
        for j, (key, marked) in enumerate(events.items()):
            if marked:
                block[:, j] = np.isin(day, np.array(sorted(marked), dtype="datetime64[D]"))
            components.append(key.split("_delim_")[0])
        blocks.append(block)
    for name, props in model.extra_regressors.items():
        if name not in columns:
            return None
        values = np.asarray(pd.to_numeric(columns[name]), dtype=float)
        blocks.append(((values - props["mu"]) / props["std"])[:, None])
        components.append(name)
    if not blocks:
        return np.zeros((n, 1))
    X = np.hstack(blocks)
    # The layout check: every column belongs to the component Prophet's training gave it.
    cols = model.train_component_cols
    if cols is None or X.shape[1] != len(cols):
        return None
    names = list(cols.columns)
    table = cols.to_numpy()
    for j, component in enumerate(components):
        if component not in names or table[j, names.index(component)] != 1:
            return None
    return X


def covers(model: Prophet) -> bool:
    """Whether :func:`predict` can forecast ``model`` (else use ``Prophet.predict``)."""
    if model.history is None or model.mcmc_samples:
        return False
    if np.asarray(model.params["k"]).shape[0] != 1:
        return False
    return not any(props.get("predictor_spec") is not None for props in model.extra_regressors.values())


def predict(model: Prophet, frame: pd.DataFrame, rng: np.random.Generator | np.random.RandomState | None = None,
            ) -> pd.DataFrame | None:
    """``ds``, ``trend``, ``yhat``, ``yhat_lower``, ``yhat_upper`` of a fitted (MAP) model on
    ``frame``'s rows (``ds`` and the columns the model needs), sorted by date as Prophet's
    predict sorts them; None when the model is outside what this covers.

    ``rng`` draws the interval samples: a ``numpy.random.Generator`` (fast: the trend changes
    drawn sparsely, the same distribution as Prophet's draws), or a ``RandomState``, which
    draws what Prophet's predict draws from the global ``numpy.random`` seeded alike; None:
    the global ``numpy.random``. Without uncertainty samples the interval columns are NaN.
    """
    arrays = predict_arrays(model, frame, rng)
    return None if arrays is None else pd.DataFrame(arrays)


def predict_arrays(model: Prophet, frame: pd.DataFrame | dict[str, Any],
                   rng: np.random.Generator | np.random.RandomState | None = None) -> dict[str, np.ndarray] | None:
    """:func:`predict` as a dict of arrays (no frame built); ``frame`` may be a dict of
    columns (arrays of equal length)."""
    if not covers(model):
        return None
    if isinstance(frame, pd.DataFrame):
        columns = {name: frame[name].to_numpy() for name in frame.columns}
    else:
        columns = {name: np.asarray(values) for name, values in frame.items()}
    ds = columns["ds"]
    if ds.dtype != "datetime64[ns]":
        ds = pd.to_datetime(ds).to_numpy(dtype="datetime64[ns]")
    if not (ds[1:] >= ds[:-1]).all():
        order = np.argsort(ds, kind="mergesort")
        columns = {name: values[order] for name, values in columns.items()}
        ds = ds[order]
    n = len(ds)
    X = _features(model, columns, ds)
    if X is None:
        return None
    y_scale = float(model.y_scale)
    t = (ds - np.datetime64(model.start, "ns")) / np.timedelta64(model.t_scale)
    if model.logistic_floor:
        floor = np.asarray(columns["floor"], dtype=float)
    elif model.scaling == "absmax":
        floor = np.zeros(n)
    else:
        floor = np.full(n, float(model.y_min))
    cap_scaled = (np.asarray(columns["cap"], dtype=float) - floor) / y_scale if model.growth == "logistic" else None

    k = float(np.nanmean(model.params["k"]))
    m = float(np.nanmean(model.params["m"]))
    deltas = np.nanmean(model.params["delta"], axis=0)
    expected = _trend(model, t, cap_scaled, deltas, k, m)
    trend = expected * y_scale + floor
    cols = model.train_component_cols
    s_a = cols["additive_terms"].to_numpy(dtype=float)
    s_m = cols["multiplicative_terms"].to_numpy(dtype=float)
    beta = np.asarray(model.params["beta"])
    additive = np.nanmean(np.matmul(X, (beta * s_a).transpose()) * y_scale, axis=1)
    multiplicative = np.nanmean(np.matmul(X, (beta * s_m).transpose()), axis=1)
    yhat = trend * (1 + multiplicative) + additive
    if not model.uncertainty_samples:
        nan = np.full(len(ds), np.nan)
        return {"ds": ds, "trend": trend, "yhat": yhat, "yhat_lower": nan, "yhat_upper": nan}
    rng = rng if rng is not None else global_random_state()
    n_samples = int(model.uncertainty_samples)
    beta0 = beta[0]
    Xb_a = np.matmul(X, beta0 * s_a) * y_scale
    Xb_m = np.matmul(X, beta0 * s_m)
    d0 = np.asarray(model.params["delta"])[0]
    k0, m0 = model.params["k"][0], model.params["m"][0]
    drawn = _trend(model, t, cap_scaled, d0, k0, m0)
    # A RandomState draws Prophet's own numbers, in float64. A Generator's samples are float32:
    # half the memory traffic and the percentiles' time (the draws' own error, a few percent of
    # the interval at 1,000 samples, is 10^5 times float32's rounding of them).
    exact = isinstance(rng, np.random.RandomState)
    dtype = np.float64 if exact else np.float32
    # Samples are laid out (date, sample): the sums and percentiles run along contiguous rows.
    # In place, in Prophet's order of operations (the same numbers): trends, then samples.
    samples = _trend_changes(model, t, cap_scaled, n_samples, d0, k0, m0, rng, dtype)
    samples += drawn.astype(dtype)[:, None]
    samples *= y_scale
    samples += floor.astype(dtype)[:, None]
    samples *= (1 + Xb_m).astype(dtype)[:, None]
    samples += Xb_a.astype(dtype)[:, None]
    sigma = float(np.asarray(model.params["sigma_obs"][0]).reshape(-1)[0])
    if exact:
        noise = rng.normal(0, sigma, (n_samples, len(t))).T
        noise *= y_scale
    else:
        noise = rng.standard_normal((len(t), n_samples), dtype=dtype)
        noise *= sigma * y_scale
    samples += noise
    lower_p = 100 * (1.0 - model.interval_width) / 2
    upper_p = 100 * (1.0 + model.interval_width) / 2
    if np.isnan(samples).any():
        lower, upper = np.nanpercentile(samples, [lower_p, upper_p], axis=1)
    else:
        lower, upper = _percentiles(samples, (lower_p, upper_p))
    return {"ds": ds, "trend": trend, "yhat": yhat, "yhat_lower": np.asarray(lower, dtype=float),
            "yhat_upper": np.asarray(upper, dtype=float)}


def _trend(model: Prophet, t: np.ndarray, cap_scaled: np.ndarray | None, deltas: np.ndarray, k: Any, m: Any) -> np.ndarray:
    """The model's trend (scaled) at ``t``: Prophet's own piecewise functions."""
    if model.growth == "linear":
        return model.piecewise_linear(t, deltas, k, m, model.changepoints_t)
    if model.growth == "logistic":
        return model.piecewise_logistic(t, cap_scaled, deltas, k, m, model.changepoints_t)
    return model.flat_trend(t, m)


def _percentiles(samples: np.ndarray, qs: tuple[float, ...]) -> list[np.ndarray]:
    """``np.percentile(samples, qs, axis=1)`` (its default linear method, the same arithmetic)
    for samples without NaN, partitioning ``samples`` in place instead of a copy."""
    n = samples.shape[1]
    index = [q / 100 * (n - 1) for q in qs]
    below = [int(np.floor(i)) for i in index]
    above = [min(b + 1, n - 1) for b in below]
    samples.partition(sorted(set(below + above)), axis=1)
    out = []
    for i, lo, hi in zip(index, below, above):
        a, b = samples[:, lo], samples[:, hi]
        gamma = i - lo
        diff = b - a
        # numpy's _lerp: from the nearer end.
        out.append(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)
    return out


def _trend_shifts(rng: Any, n_samples: int, n_length: int, likelihood: float, mean_delta: float,
                  dtype: Any = np.float64) -> np.ndarray:
    """Prophet's ``_make_trend_shift_matrix`` before its averaging, as (n_length, n_samples):
    each cell changes with probability ``likelihood``, by a Laplace(0, ``mean_delta``) draw.

    A ``RandomState`` draws a uniform and a Laplace value for every cell, as Prophet does. A
    ``Generator`` draws the same distribution sparsely (about 1% of cells change): the number
    of changed cells (binomial), which cells (uniformly, without replacement), and a Laplace
    value for each of them only, into an array of ``dtype``."""
    if isinstance(rng, np.random.RandomState):
        changed = rng.uniform(size=(n_samples, n_length)) < likelihood
        return (rng.laplace(0, mean_delta, size=changed.shape) * changed).T
    cells = n_samples * n_length
    count = int(rng.binomial(cells, min(max(float(likelihood), 0.0), 1.0)))
    shifts = np.zeros(cells, dtype=dtype)
    shifts[rng.choice(cells, size=count, replace=False)] = rng.laplace(0, mean_delta, size=count)
    return shifts.reshape(n_length, n_samples)


#: Future steps up to which the linear trend changes are one product with a ramp matrix
#: (cost n^2 per sample, against two cumulative sums' n above it).
_RAMP_MAX = 128


@functools.lru_cache(maxsize=16)
def _ramp(n: int, dtype: str = "float64") -> np.ndarray:
    """(n, n): ``i - j + 1/2`` where ``i >= j``, else 0."""
    i, j = np.indices((n, n))
    return np.where(i >= j, i - j + 0.5, 0.0).astype(dtype)


def _trend_changes(model: Prophet, t: np.ndarray, cap_scaled: np.ndarray | None, n_samples: int,
                   deltas: np.ndarray, k: Any, m: Any, rng: Any, dtype: Any = np.float64) -> np.ndarray:
    """Prophet's ``_sample_uncertainty``: sampled future trend changes, (len(t), n_samples), of
    ``dtype`` (float64 for a ``RandomState``, whose draws are Prophet's)."""
    future = t > 1
    if t.max() <= 1:
        return np.zeros((len(t), n_samples), dtype=dtype)
    n_length = int(future.sum())
    if n_length > 1:
        single_diff = np.diff(t[future]).mean()
    else:
        single_diff = np.diff(model.history["t"]).mean()
    if model.growth == "flat":
        changes = np.zeros((n_length, n_samples), dtype=dtype)
    else:
        likelihood = len(model.changepoints_t) * single_diff
        mean_delta = np.mean(np.abs(deltas)) + 1e-8
        shifts = _trend_shifts(rng, n_samples, n_length, likelihood, mean_delta, dtype)
        if model.growth == "linear" and n_length <= _RAMP_MAX:
            # Prophet averages neighbouring shifts and sums twice: a shift v at step j adds
            # v * (i - j + 1/2) at every step i >= j, one matrix product.
            changes = np.matmul(_ramp(n_length, np.dtype(dtype).name), shifts)
            changes *= single_diff
        else:
            mat = shifts.copy()
            mat[1:] += shifts[:-1]
            mat /= 2
            if model.growth == "linear":
                changes = mat.cumsum(axis=0).cumsum(axis=0) * float(single_diff)
            else:
                changes = model._logistic_uncertainty(
                    mat=mat.T, deltas=deltas, k=k, m=m, cap=cap_scaled[future], t_time=t[future],
                    n_length=n_length, single_diff=single_diff,
                ).T.astype(dtype, copy=False)
    past = len(t) - n_length
    if past:
        changes = np.concatenate([np.zeros((past, n_samples), dtype=dtype), changes], axis=0)
    return changes


def global_random_state() -> np.random.RandomState:
    """numpy's global RandomState (what ``np.random.seed`` seeds and ``Prophet.predict`` draws
    from), reached through a public bound method; where a numpy version hides it, a copy of its
    state (the draws are the same, the global state is then not advanced)."""
    state = getattr(np.random.normal, "__self__", None)
    if isinstance(state, np.random.RandomState):
        return state
    copy = np.random.RandomState()
    copy.set_state(np.random.get_state())
    return copy
