"""Trials without rebuilding Prophet's features: the batch engine's MAP solve on cached inputs.

Within one group's study, trials change prior scales, seasonality modes and the
changepoint prior scale; the Fourier and holiday features of a fold's training and
validation dates depend only on the dates and on the Fourier orders. Building them is most
of a Prophet trial's cost (``make_all_seasonality_features`` twice, for fit and predict, with
the holiday tables rebuilt each time). :class:`FoldCache` builds them once per fold and
feature configuration, with Prophet's own ``preprocess``; each trial then only sets the prior
scales and modes, solves the MAP problem with prophet-batch's solver (the same function the
batch engine calls, on the same inputs) and forecasts the validation dates with Prophet's
formula. Anything outside what this covers (logistic growth, extra regressors, conditional
seasonalities, a holidays frame, MCMC, a solve the solver rejects) returns None and the trial
takes the ordinary path.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from prophet import Prophet

_UNSUPPORTED = object()


@dataclasses.dataclass
class _Entry:
    """A fold's date-only inputs for one feature configuration, at the highest Fourier order
    of each seasonality seen or expected (a lower order is a prefix of its columns)."""

    inputs: Any  # prophet.models.ModelInputData of the template model
    owners: list[tuple[str, np.ndarray]]  # (seasonality name or "holidays", column indices)
    orders: dict[str, int]  # Fourier order of each explicitly added seasonality
    X_valid: np.ndarray
    t_valid: np.ndarray
    t_change: np.ndarray
    y_scale: float
    floor_valid: np.ndarray
    flat: bool
    views: dict[tuple[Any, ...], Any] = dataclasses.field(default_factory=dict)

    def view(self, orders: dict[str, int]) -> _View:
        """The columns of ``orders`` (each at most the entry's order): kept indices, X, Z."""
        key = tuple(sorted(orders.items()))
        if key not in self.views:
            keep = []
            for owner, cols in self.owners:
                n = orders.get(owner)
                keep.append(cols if n is None else cols[: 2 * n])
            index = np.sort(np.concatenate(keep)) if keep else np.arange(0)
            full = index.size == self.inputs.K
            self.views[key] = _View(
                index=index,
                owners=[(owner, np.isin(index, cols)) for owner, cols in self.owners],
                inputs=self.inputs if full else dataclasses.replace(
                    self.inputs, K=index.size, X=self.inputs.X[:, index]),
                X_valid=self.X_valid if full else self.X_valid[:, index],
            )
        return self.views[key]


@dataclasses.dataclass
class _View:
    """An entry restricted to the columns of one set of Fourier orders."""

    index: np.ndarray
    owners: list[tuple[str, np.ndarray]]  # (owner, boolean mask over the view's columns)
    inputs: Any
    X_valid: np.ndarray
    Z: np.ndarray | None = None  # additive design matrix, built on first use


def feature_key(model: Prophet) -> tuple[tuple[Any, ...], dict[str, int]] | None:
    """What a model's features and trend inputs depend on besides the data and the Fourier
    orders, and those orders; None when the model is outside what the cache covers."""
    if (model.growth not in ("linear", "flat") or model.extra_regressors or model.holidays is not None
            or model.mcmc_samples or model.logistic_floor):
        return None
    if any(props["condition_name"] is not None for props in model.seasonalities.values()):
        return None
    seasonal = tuple(sorted((name, float(props["period"])) for name, props in model.seasonalities.items()))
    changepoints = None if model.changepoints is None else tuple(pd.to_datetime(model.changepoints))
    key = (model.growth, model.n_changepoints, model.changepoint_range, changepoints,
           str(model.yearly_seasonality), str(model.weekly_seasonality), str(model.daily_seasonality),
           seasonal, model.country_holidays, model.scaling)
    return key, {name: int(props["fourier_order"]) for name, props in model.seasonalities.items()}


def _owner_settings(model: Prophet, owner: str) -> tuple[float, str]:
    """(prior scale, mode) a Prophet model gives the features of ``owner``."""
    if owner == "holidays":
        return float(model.holidays_prior_scale), model.holidays_mode
    props = model.seasonalities.get(owner)
    if props is None:  # an automatic seasonality, added by preprocess with the model's defaults
        return float(model.seasonality_prior_scale), model.seasonality_mode
    return float(props["prior_scale"]), props["mode"]


def _vectors(owners: list[tuple[str, np.ndarray]], K: int, model: Prophet) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature prior scales and multiplicative flags for ``model``."""
    sigmas = np.empty(K)
    s_m = np.zeros(K)
    for owner, mask in owners:
        prior, mode = _owner_settings(model, owner)
        sigmas[mask] = prior
        s_m[mask] = 1.0 if mode == "multiplicative" else 0.0
    return sigmas, s_m


class FoldCache:
    """Cached inputs of one fold (train and validation frames), keyed by feature configuration.

    ``max_orders`` (seasonality name -> the highest Fourier order the search space can
    sample) lets one build serve every order; without it an entry is rebuilt when a trial
    asks for a higher order than it holds.
    """

    def __init__(self, train: pd.DataFrame, valid: pd.DataFrame, max_orders: dict[str, int] | None = None) -> None:
        self.train = train
        self.valid = valid
        self.max_orders = dict(max_orders or {})
        self._entries: dict[tuple[Any, ...], Any] = {}

    def _entry(self, key: tuple[Any, ...], orders: dict[str, int], model: Prophet) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is _UNSUPPORTED:
            return None
        if entry is not None and all(n <= entry.orders.get(name, -1) for name, n in orders.items()):
            return entry
        wanted = {name: max(n, self.max_orders.get(name, 0), entry.orders.get(name, 0) if entry else 0)
                  for name, n in orders.items()}
        # The trial's own fresh model is the template (consumed: only its settings are read
        # afterwards), with each seasonality at the order the entry will hold.
        for name, n in wanted.items():
            model.seasonalities[name]["fourier_order"] = n
        built = self._build(model, wanted)
        self._entries[key] = _UNSUPPORTED if built is None else built
        return built

    def _build(self, template: Prophet, orders: dict[str, int]) -> _Entry | None:
        """Preprocess the fold with ``template`` (a fresh model, consumed here)."""
        inputs = template.preprocess(self.train)
        y = np.asarray(inputs.y, dtype=float)
        if y.min() == y.max():
            return None  # constant: prophet-batch's own rule applies, on the ordinary path
        cols = template.train_component_cols
        owners = []
        covered = np.zeros(inputs.K, int)
        for name in list(template.seasonalities) + ["holidays"]:
            if name in cols:
                index = np.flatnonzero(cols[name].to_numpy() != 0)
                owners.append((name, index))
                covered[index] += 1
        if not (covered == 1).all():
            return None
        valid = template.setup_dataframe(self.valid[["ds"]].copy())
        X_valid, _, _, _ = template.make_all_seasonality_features(valid)
        entry = _Entry(
            inputs=dataclasses.replace(inputs, X=np.asarray(inputs.X, dtype=float), y=y,
                                       t=np.asarray(inputs.t, dtype=float)),
            owners=owners, orders=orders, X_valid=np.asarray(X_valid, dtype=float),
            t_valid=valid["t"].to_numpy(dtype=float),
            t_change=np.asarray(template.changepoints_t, dtype=float), y_scale=float(template.y_scale),
            floor_valid=valid["floor"].to_numpy(dtype=float), flat=template.growth == "flat",
        )
        # Self-check: the prior scales and modes derived per owner are Prophet's own.
        sigmas, s_m = _vectors(entry.view({}).owners, inputs.K, template)
        if not (np.array_equal(sigmas, np.asarray(inputs.sigmas, dtype=float))
                and np.array_equal(s_m, np.asarray(inputs.s_m, dtype=float))):
            return None
        return entry

    def forecast(self, model: Prophet) -> np.ndarray | None:
        """``yhat`` of ``model`` (unfitted; only its settings are read) fitted on the fold's
        training rows, on its validation dates; None when the ordinary path must be used."""
        from prophet_batch.batch import _solve_additive, _solve_multiplicative, design_matrix

        described = feature_key(model)
        if described is None:
            return None
        key, orders = described
        entry = self._entry(key, orders, model)
        if entry is None:
            return None
        view = entry.view(orders)
        sigmas, s_m = _vectors(view.owners, view.index.size, model)
        inputs = dataclasses.replace(view.inputs, tau=float(model.changepoint_prior_scale),
                                     sigmas=sigmas, s_a=1.0 - s_m, s_m=s_m)
        if s_m.any():
            result = _solve_multiplicative([inputs])[0]
        else:
            if view.Z is None:
                view.Z = design_matrix(inputs)
            result = _solve_additive([(view.Z, inputs.y, sigmas, inputs.tau)])[0]
        if isinstance(result, str):
            return None
        k, m, delta, beta, _, _ = result
        from prophet import Prophet

        if entry.flat:
            trend = np.full(len(entry.t_valid), m)
        else:
            trend = Prophet.piecewise_linear(entry.t_valid, np.asarray(delta), k, m, entry.t_change)
        trend = trend * entry.y_scale + entry.floor_valid
        seasonal = view.X_valid * np.asarray(beta)
        multiplicative = seasonal @ s_m
        additive = seasonal @ (1.0 - s_m) * entry.y_scale
        return trend * (1.0 + multiplicative) + additive
