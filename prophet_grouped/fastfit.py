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
    """A fold's date-only inputs for one feature configuration."""

    inputs: Any  # prophet.models.ModelInputData of the template model
    owners: list[tuple[str, np.ndarray]]  # (seasonality name or "holidays", column mask)
    X_valid: np.ndarray
    t_valid: np.ndarray
    t_change: np.ndarray
    y_scale: float
    floor_valid: np.ndarray
    flat: bool
    Z: np.ndarray | None = None  # additive design matrix, built on first use


def feature_key(model: Prophet) -> tuple[Any, ...] | None:
    """What a model's features and trend inputs depend on, besides the data; None when the
    model is outside what the cache covers."""
    if (model.growth not in ("linear", "flat") or model.extra_regressors or model.holidays is not None
            or model.mcmc_samples or model.logistic_floor):
        return None
    if any(props["condition_name"] is not None for props in model.seasonalities.values()):
        return None
    seasonal = tuple(sorted((name, float(props["period"]), int(props["fourier_order"]))
                            for name, props in model.seasonalities.items()))
    changepoints = None if model.changepoints is None else tuple(pd.to_datetime(model.changepoints))
    return (model.growth, model.n_changepoints, model.changepoint_range, changepoints,
            str(model.yearly_seasonality), str(model.weekly_seasonality), str(model.daily_seasonality),
            seasonal, model.country_holidays, model.scaling)


def _owner_settings(model: Prophet, owner: str) -> tuple[float, str]:
    """(prior scale, mode) a Prophet model gives the features of ``owner``."""
    if owner == "holidays":
        return float(model.holidays_prior_scale), model.holidays_mode
    props = model.seasonalities.get(owner)
    if props is None:  # an automatic seasonality, added by preprocess with the model's defaults
        return float(model.seasonality_prior_scale), model.seasonality_mode
    return float(props["prior_scale"]), props["mode"]


def _vectors(entry: _Entry, model: Prophet) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature prior scales and multiplicative flags for ``model``."""
    K = entry.inputs.K
    sigmas = np.empty(K)
    s_m = np.zeros(K)
    for owner, mask in entry.owners:
        prior, mode = _owner_settings(model, owner)
        sigmas[mask] = prior
        s_m[mask] = 1.0 if mode == "multiplicative" else 0.0
    return sigmas, s_m


class FoldCache:
    """Cached inputs of one fold (train and validation frames), keyed by feature configuration."""

    def __init__(self, train: pd.DataFrame, valid: pd.DataFrame) -> None:
        self.train = train
        self.valid = valid
        self._entries: dict[tuple[Any, ...], Any] = {}

    def _entry(self, key: tuple[Any, ...], model: Prophet) -> _Entry | None:
        if key in self._entries:
            entry = self._entries[key]
            return None if entry is _UNSUPPORTED else entry
        entry = self._build(model)
        self._entries[key] = _UNSUPPORTED if entry is None else entry
        return entry

    def _build(self, template: Prophet) -> _Entry | None:
        """Preprocess the fold with ``template`` (a fresh model, consumed here)."""
        inputs = template.preprocess(self.train)
        y = np.asarray(inputs.y, dtype=float)
        if y.min() == y.max():
            return None  # constant: prophet-batch's own rule applies, on the ordinary path
        cols = template.train_component_cols
        owners = []
        covered = np.zeros(inputs.K, bool)
        for name in template.seasonalities:
            if name in cols:
                mask = cols[name].to_numpy() != 0
                owners.append((name, mask))
                covered |= mask
        if "holidays" in cols:
            mask = cols["holidays"].to_numpy() != 0
            owners.append(("holidays", mask))
            covered |= mask
        if not covered.all() or any(m1 is not m2 and (m1 & m2).any() for _, m1 in owners for _, m2 in owners):
            return None
        entry = _Entry(
            inputs=dataclasses.replace(inputs, X=np.asarray(inputs.X, dtype=float), y=y,
                                       t=np.asarray(inputs.t, dtype=float)),
            owners=owners, X_valid=np.empty(0), t_valid=np.empty(0),
            t_change=np.asarray(template.changepoints_t, dtype=float), y_scale=float(template.y_scale),
            floor_valid=np.empty(0), flat=template.growth == "flat",
        )
        # Self-check: the prior scales and modes derived per owner are Prophet's own.
        sigmas, s_m = _vectors(entry, template)
        if not (np.array_equal(sigmas, np.asarray(inputs.sigmas, dtype=float))
                and np.array_equal(s_m, np.asarray(inputs.s_m, dtype=float))):
            return None
        valid = template.setup_dataframe(self.valid[["ds"]].copy())
        X_valid, _, _, _ = template.make_all_seasonality_features(valid)
        entry.X_valid = np.asarray(X_valid, dtype=float)
        entry.t_valid = valid["t"].to_numpy(dtype=float)
        entry.floor_valid = valid["floor"].to_numpy(dtype=float)
        return entry

    def forecast(self, model: Prophet) -> np.ndarray | None:
        """``yhat`` of ``model`` (unfitted; only its settings are read) fitted on the fold's
        training rows, on its validation dates; None when the ordinary path must be used."""
        from prophet_batch.batch import _solve_additive, _solve_multiplicative, design_matrix

        key = feature_key(model)
        if key is None:
            return None
        entry = self._entry(key, model)
        if entry is None:
            return None
        sigmas, s_m = _vectors(entry, model)
        inputs = dataclasses.replace(entry.inputs, tau=float(model.changepoint_prior_scale),
                                     sigmas=sigmas, s_a=1.0 - s_m, s_m=s_m)
        if s_m.any():
            result = _solve_multiplicative([inputs])[0]
        else:
            if entry.Z is None:
                entry.Z = design_matrix(inputs)
            result = _solve_additive([(entry.Z, inputs.y, sigmas, inputs.tau)])[0]
        if isinstance(result, str):
            return None
        k, m, delta, beta, _, _ = result
        from prophet import Prophet

        if entry.flat:
            trend = np.full(len(entry.t_valid), m)
        else:
            trend = Prophet.piecewise_linear(entry.t_valid, np.asarray(delta), k, m, entry.t_change)
        trend = trend * entry.y_scale + entry.floor_valid
        seasonal = entry.X_valid * np.asarray(beta)
        multiplicative = seasonal @ s_m
        additive = seasonal @ (1.0 - s_m) * entry.y_scale
        return trend * (1.0 + multiplicative) + additive
