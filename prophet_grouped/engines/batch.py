"""The batch engine: prophet-batch's direct MAP solve, and trials on cached features.

:class:`BatchEngine` fits a model with prophet-batch's ``fit_many`` (the same MAP optimum as
Stan, solved directly; models it does not support are fitted by Stan inside it).
:func:`check_prophet_batch` runs once per process before the engine is used: the private
prophet-batch functions this module calls must be there and solve a small problem as expected,
otherwise the tuner falls back to Stan with a warning.

Trials without rebuilding Prophet's features:

Within one group's study, trials change prior scales, seasonality modes and the
changepoint prior scale; the Fourier and holiday features of a fold's training and
validation dates depend only on the dates and on the Fourier orders. Building them is most
of a Prophet trial's cost (``make_all_seasonality_features`` twice, for fit and predict, with
the holiday tables rebuilt each time). :class:`FoldCache` builds them once per fold and
feature configuration, with Prophet's own ``preprocess`` (four of its helpers replaced by
equivalents that are faster, in :mod:`.features`, whose rows come from one computation per
process over a grid of days, shared by a group's folds, its refit and other groups); each trial then
only sets the prior scales and modes, solves the MAP problem with prophet-batch's algorithms
written for one series (:mod:`._one_series`: the same optimum) and forecasts the validation
dates with Prophet's formula. Prophet's default configuration is served from the trials'
features when its automatic seasonalities are among them (:meth:`FoldCache._shared`). Extra
regressors (standardized per fold as Prophet does) and events tables (country holidays and a
holidays frame, with per-event prior scales) are columns of the cached design matrix like the
Fourier features. Anything outside what this covers (logistic growth,
conditional seasonalities, MCMC, a solve the solver rejects) returns None and the trial takes
the ordinary path.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._util import frame_digest
from ..search_space import SEASONALITY_PERIODS
from ..spec import build_prophet
from ._base import Engine, quiet
from ._one_series import (
    additive_statistics,
    solve_additive_one,
    solve_one,
    trend_columns,
)
from .features import QUICK, quick_features

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
    #: Prior scales a holidays frame gives its events (the others use holidays_prior_scale).
    event_priors: dict[str, float] = dataclasses.field(default_factory=dict)
    #: Every seasonality's (period, Fourier order) as built, automatic ones included, in column order.
    seasonal: dict[str, tuple[float, int]] = dataclasses.field(default_factory=dict)
    views: dict[tuple[Any, ...], Any] = dataclasses.field(default_factory=dict)
    #: The trend columns of the design matrix (the same for every view), on first use.
    ZT: np.ndarray | None = None

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
    stats: tuple[np.ndarray, np.ndarray, float] | None = None  # its ZᵀZ, Zᵀy, yᵀy, on first use


def feature_key(model: Prophet) -> tuple[tuple[Any, ...], dict[str, int]] | None:
    """What a model's features and trend inputs depend on besides the data and the Fourier
    orders, and those orders; None when the model is outside what the cache covers."""
    if model.growth not in ("linear", "flat") or model.mcmc_samples or model.logistic_floor:
        return None
    if any(props["condition_name"] is not None for props in model.seasonalities.values()):
        return None
    seasonal = tuple(sorted((name, float(props["period"])) for name, props in model.seasonalities.items()))
    changepoints = None if model.changepoints is None else tuple(pd.to_datetime(model.changepoints))
    # A regressor's standardization depends on the fold's data and this setting only; its
    # prior scale and mode are per trial.
    regressors = tuple((name, str(props["standardize"])) for name, props in model.extra_regressors.items())
    key = (model.growth, model.n_changepoints, model.changepoint_range, changepoints,
           str(model.yearly_seasonality), str(model.weekly_seasonality), str(model.daily_seasonality),
           seasonal, model.country_holidays, model.scaling, regressors, frame_digest(model.holidays))
    return key, {name: int(props["fourier_order"]) for name, props in model.seasonalities.items()}


def _non_seasonal(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """A feature key without its seasonality fields (the built-in seasonalities' settings and
    the added seasonalities)."""
    return key[:4] + key[8:]


#: Fourier orders of Prophet's automatic seasonalities. Fold caches build a seasonality named
#: like one at no less than this order, so that Prophet's default configuration (scored in every
#: study) can be served from the trials' features (see FoldCache._shared).
_AUTO_ORDERS = {"yearly": 10, "weekly": 3, "daily": 4}


def _owner_settings(model: Prophet, owner: str, event_priors: dict[str, float]) -> tuple[float, str]:
    """(prior scale, mode) a Prophet model gives the features of ``owner``: a seasonality, an
    extra regressor or an event (``event_priors``: an events table's own prior scales)."""
    if owner.startswith(_EVENT):
        name = owner[len(_EVENT):]
        return float(event_priors.get(name, model.holidays_prior_scale)), model.holidays_mode
    regressor = model.extra_regressors.get(owner)
    if regressor is not None:
        return float(regressor["prior_scale"]), regressor["mode"]
    props = model.seasonalities.get(owner)
    if props is None:  # an automatic seasonality, added by preprocess with the model's defaults
        return float(model.seasonality_prior_scale), model.seasonality_mode
    return float(props["prior_scale"]), props["mode"]


#: Prefix of an event's owner name (events can't clash with seasonality or regressor names).
_EVENT = "\x00event:"


def _vectors(owners: list[tuple[str, np.ndarray]], K: int, model: Prophet,
             event_priors: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature prior scales and multiplicative flags for ``model``."""
    sigmas = np.empty(K)
    s_m = np.zeros(K)
    for owner, mask in owners:
        prior, mode = _owner_settings(model, owner, event_priors)
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
        self._shares: dict[tuple[Any, ...], tuple[_Entry, dict[str, int]] | None] = {}
        #: Trials this fold could not serve from cached features (they took the ordinary fit).
        self.misses = 0

    def _entry(self, key: tuple[Any, ...], orders: dict[str, int], model: Prophet) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is _UNSUPPORTED:
            return None
        if entry is not None and all(n <= entry.orders.get(name, -1) for name, n in orders.items()):
            return entry
        wanted = {name: max(n, self.max_orders.get(name, 0), _AUTO_ORDERS.get(name, 0),
                            entry.orders.get(name, 0) if entry else 0)
                  for name, n in orders.items()}
        # The trial's own fresh model is the template (consumed: only its settings are read
        # afterwards), with each seasonality at the order the entry will hold.
        for name, n in wanted.items():
            model.seasonalities[name]["fourier_order"] = n
        built = self._build(model, wanted)
        self._entries[key] = _UNSUPPORTED if built is None else built
        return built

    def _shared(self, key: tuple[Any, ...], model: Prophet) -> tuple[_Entry, dict[str, int]] | None:
        """An entry built for other trials that holds ``model``'s features as a subset of its
        columns, and the orders selecting them; None when there is none (then ``model`` gets
        an entry of its own).

        This serves Prophet's default configuration, scored once per fold in every study,
        whose automatic seasonalities are named and shaped like the ones a search space adds
        (yearly: period 365.25, 10 Fourier terms; weekly: 7, 3): its features are then the
        trials' features without the seasonalities it lacks. Everything else the features
        depend on (trend settings, holidays, regressors) must be equal, and the seasonalities
        must come in the entry's column order, so that the problem solved has exactly the
        columns, in the order, that Prophet builds for the model.
        """
        if key in self._entries:
            return None
        if key in self._shares:
            return self._shares[key]
        found = None
        base = _non_seasonal(key)
        candidates = [e for k, e in self._entries.items() if e is not _UNSUPPORTED and _non_seasonal(k) == base]
        if candidates:
            wanted = self._seasonalities(model)
            for entry in candidates:
                if not all(name in entry.seasonal and entry.seasonal[name][0] == period
                           and order <= entry.seasonal[name][1] for name, (period, order) in wanted.items()):
                    continue
                if [name for name in entry.seasonal if name in wanted] != list(wanted):
                    continue
                found = entry, {name: wanted[name][1] if name in wanted else 0 for name in entry.seasonal}
                break
        self._shares[key] = found
        return found

    def _build_superset(self, model: Prophet) -> bool:
        """Build the entry of ``model`` plus the seasonalities the search adds in some trials
        only (in ``max_orders``, with no built-in of that name: the monthly switch), so that
        ``model``, and the trials that switch them on, share one entry; whether one was built.

        Without it a study of the "auto" space with the monthly switch would build two entries
        per fold (Prophet's defaults, the first trial, without the monthly seasonality; then
        the trials with it): the build is a tenth of the fit time of such a study."""
        extra = {name: order for name, order in self.max_orders.items()
                 if name not in model.seasonalities and name not in _AUTO_ORDERS and name in SEASONALITY_PERIODS}
        if not extra:
            return False
        template = copy.deepcopy(model)
        for name, order in extra.items():
            template.add_seasonality(name=name, period=SEASONALITY_PERIODS[name], fourier_order=order)
        described = feature_key(template)
        if described is None or described[0] in self._entries:
            return False
        return self._entry(*described, template) is not None

    def _seasonalities(self, model: Prophet) -> dict[str, tuple[float, int]]:
        """The (period, Fourier order) of each seasonality ``model`` gets on this fold's training
        rows, automatic ones included, in Prophet's column order: Prophet's own
        ``set_auto_seasonalities`` on a copy of the model given the fold's dates."""

        probe = copy.copy(model)
        probe.seasonalities = copy.deepcopy(model.seasonalities)
        probe.history = self.train.loc[self.train["y"].notna(), ["ds"]].sort_values("ds")
        with quiet():
            probe.set_auto_seasonalities()
        return {name: (float(props["period"]), int(props["fourier_order"]))
                for name, props in probe.seasonalities.items()}

    def _build(self, template: Prophet, orders: dict[str, int]) -> _Entry | None:
        """Preprocess the fold with ``template`` (a fresh model, consumed here)."""
        quick_features(template)
        inputs = template.preprocess(self.train)
        y = np.asarray(inputs.y, dtype=float)
        if y.min() == y.max():
            return None  # constant: prophet-batch's own rule applies, on the ordinary path
        cols = template.train_component_cols
        owners = []
        covered = np.zeros(inputs.K, int)
        events = [] if template.train_holiday_names is None else list(template.train_holiday_names.unique())
        named = [(name, name) for name in [*template.seasonalities, *template.extra_regressors]]
        for owner, name in named + [(_EVENT + str(e), str(e)) for e in events]:
            if name in cols:
                index = np.flatnonzero(cols[name].to_numpy() != 0)
                owners.append((owner, index))
                covered[index] += 1
        if not (covered == 1).all():
            return None
        event_priors: dict[str, float] = {}
        table = template.holidays
        if table is not None and "prior_scale" in table.columns:
            for name, ps in zip(table["holiday"], table["prior_scale"]):
                if not pd.isna(ps):
                    event_priors[str(name)] = float(ps)
        valid = template.setup_dataframe(self.valid.drop(columns="y").copy())
        X_valid, _, _, _ = template.make_all_seasonality_features(valid)
        entry = _Entry(
            inputs=dataclasses.replace(inputs, X=np.asarray(inputs.X, dtype=float), y=y,
                                       t=np.asarray(inputs.t, dtype=float)),
            owners=owners, orders=orders, X_valid=np.asarray(X_valid, dtype=float),
            t_valid=valid["t"].to_numpy(dtype=float),
            t_change=np.asarray(template.changepoints_t, dtype=float), y_scale=float(template.y_scale),
            floor_valid=valid["floor"].to_numpy(dtype=float), flat=template.growth == "flat",
            event_priors=event_priors,
            seasonal={name: (float(props["period"]), int(props["fourier_order"]))
                      for name, props in template.seasonalities.items()},
        )
        # Self-check: the prior scales and modes derived per owner are Prophet's own.
        sigmas, s_m = _vectors(entry.view({}).owners, inputs.K, template, event_priors)
        if not (np.array_equal(sigmas, np.asarray(inputs.sigmas, dtype=float))
                and np.array_equal(s_m, np.asarray(inputs.s_m, dtype=float))):
            return None
        return entry

    def forecast(self, model: Prophet) -> np.ndarray | None:
        """``yhat`` of ``model`` (unfitted; only its settings are read) fitted on the fold's
        training rows, on its validation dates; None (counted in ``misses``) when the ordinary
        path must be used."""
        yhat = self._forecast(model)
        if yhat is None:
            self.misses += 1
        return yhat

    def problem(self, model: Prophet) -> tuple[_Entry, _View, Any] | None:
        """The fold's MAP problem for ``model``'s settings: (entry, view, prophet-batch's model
        inputs with the trial's prior scales and modes); None when the cache doesn't cover it."""
        described = feature_key(model)
        if described is None:
            return None
        key, orders = described
        shared = self._shared(key, model)
        if shared is None and key not in self._entries and self._build_superset(model):
            self._shares.pop(key, None)
            shared = self._shared(key, model)
        if shared is not None:
            entry, orders = shared
        else:
            entry = self._entry(key, orders, model)
            if entry is None:
                return None
        view = entry.view(orders)
        sigmas, s_m = _vectors(view.owners, view.index.size, model, entry.event_priors)
        inputs = dataclasses.replace(view.inputs, tau=float(model.changepoint_prior_scale),
                                     sigmas=sigmas, s_a=1.0 - s_m, s_m=s_m)
        return entry, view, inputs

    def _forecast(self, model: Prophet) -> np.ndarray | None:
        from prophet_batch.batch import design_matrix

        problem = self.problem(model)
        if problem is None:
            return None
        entry, view, inputs = problem
        s_m = inputs.s_m
        if s_m.any():
            # prophet-batch's algorithms for one series (its batched solver's bookkeeping costs
            # more than the arithmetic for one series); the same optimum, see _one_series.
            if entry.ZT is None:
                entry.ZT = trend_columns(entry.inputs)
            result = solve_one(inputs, entry.ZT)
        else:
            if view.stats is None:
                view.Z = design_matrix(inputs)
                view.stats = additive_statistics(view.Z, inputs.y)
            result = solve_additive_one(view.stats, len(inputs.y), inputs.sigmas, inputs.tau)
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


def _fit_one_series(make_model: Callable[[], Prophet], df: pd.DataFrame, fit_kwargs: dict[str, Any]) -> Prophet | None:
    """prophet-batch's ``fit_many`` for one series, with the one-series solves of
    :mod:`._one_series` (the ones the trials use): its own preparation (``_prepare``: the model
    preprocessed as ``Prophet.fit`` does, constant series) and its ``set_params``. None when
    ``fit_many`` would fit the series with Stan or a solve is refused (then ``fit_many`` does)."""
    from prophet_batch.batch import _kwargs_for, _prepare, set_params

    _, additive, multiplicative, constant, _, _ = _prepare(
        df.assign(_series=0), "_series", lambda _: quick_features(make_model()), False, "raise",
        _kwargs_for(fit_kwargs))
    if constant:
        return constant[0][1]
    if additive:
        _, model, inputs, Z, _ = additive[0]
        result = solve_additive_one(additive_statistics(Z, inputs.y), len(inputs.y), inputs.sigmas, inputs.tau)
    elif multiplicative:
        _, model, inputs, _ = multiplicative[0]
        result = solve_one(inputs)
    else:
        return None
    if isinstance(result, str):
        return None
    set_params(model, *result)
    return model


class BatchEngine(Engine):
    """prophet-batch: the MAP optimum solved directly (no Stan process), and each fold's
    features built once for all of a group's trials (:class:`FoldCache`)."""

    name = "batch"

    def fit(self, make_model: Callable[[], Prophet], df: pd.DataFrame, output_dir: str,
            timeout: float | None = None, fast_data: bool | None = None) -> Prophet:
        from prophet_batch import fit_many

        fit_kwargs = self.stan_kwargs(output_dir, timeout)
        model = _fit_one_series(make_model, df, fit_kwargs)
        if model is None:  # what prophet-batch fits with Stan, or a solve it refuses
            model = fit_many(
                df.assign(_series=0), id_col="_series", make_model=lambda _: quick_features(make_model()),
                fit_kwargs=fit_kwargs, on_error="raise",
                # One series: an explicit batch size skips prophet-batch's memory estimate, which
                # builds the feature matrices once more (about a quarter of a trial's time).
                batch_size=1,
            )[0]
        for name in QUICK:
            model.__dict__.pop(name, None)  # the model returned is plain Prophet
        return model

    def fold_cache(self, train: pd.DataFrame, valid: pd.DataFrame,
                   max_orders: Mapping[str, int] | None = None) -> FoldCache:
        return FoldCache(train, valid, dict(max_orders or {}))

    def preload(self) -> None:
        super().preload()
        with quiet():
            import prophet_batch  # noqa: F401


#: What this engine uses of prophet-batch: public ``fit_many``, and private functions, a class and
#: constants of ``prophet_batch.batch`` (pinned below its next minor version in pyproject.toml):
#: the additive solve and design matrix, and what ``_one_series`` builds on.
BATCH_FUNCTIONS = ("fit_many", "batch._solve_additive", "batch.design_matrix", "batch.kkt_violation",
                   "batch._prepare", "batch._kwargs_for", "batch.set_params")
BATCH_CONSTANTS = ("batch._MIN_SIGMA", "batch._KM_PRIOR_VAR", "batch._MULT_LM_LAM0", "batch._MULT_KKT_TOL",
                   "batch._PERFECT_FIT")


@lru_cache(maxsize=1)
def check_prophet_batch() -> str | None:
    """None when prophet-batch has the functions this engine calls and they behave (a trial of
    a 120-day series through :class:`FoldCache`, additive and multiplicative, gives the
    forecast of the engine's fit and of prophet-batch's own ``fit_many`` to 1e-6); else the
    reason, in words."""
    import importlib

    try:
        with quiet():
            module = importlib.import_module("prophet_batch")
            for name in BATCH_FUNCTIONS + BATCH_CONSTANTS:
                target: Any = module
                for part in name.split("."):
                    target = getattr(target, part) if hasattr(target, part) else importlib.import_module(
                        f"{target.__name__}.{part}")
                if name in BATCH_FUNCTIONS and not callable(target):
                    return f"prophet_batch.{name} is not a function"
            return _check_solves()
    except Exception as exc:  # noqa: BLE001  (any failure means: fall back to Stan)
        return f"{type(exc).__name__}: {exc}"


def _check_solves() -> str | None:
    ds = pd.date_range("2021-01-04", periods=120, freq="D")
    t = np.arange(120)
    y = 20 + 0.05 * t + 3 * np.sin(2 * np.pi * t / 7) + np.random.default_rng(0).normal(0, 1, 120)
    frame = pd.DataFrame({"ds": ds, "y": y})
    train, valid = frame.iloc[:100].reset_index(drop=True), frame.iloc[100:].reset_index(drop=True)
    engine = BatchEngine()
    for mode in ("additive", "multiplicative"):
        def make(mode: str = mode) -> Prophet:  # a trial's model, as the objective builds it
            return build_prophet({"seasonality_mode": mode, "changepoint_prior_scale": 0.1, "weekly_fourier_order": 3,
                                  "yearly_seasonality": False}, None, None,
                                 uncertainty_samples=0)

        cached = FoldCache(train, valid).forecast(make())
        if cached is None:
            return f"the cached {mode} solve was refused"
        import tempfile

        from prophet_batch import fit_many

        # Both predict with the feature helpers in place (tested equal to Prophet's, and much
        # cheaper: this check runs before every fit's first group).
        with tempfile.TemporaryDirectory() as out:
            fitted = quick_features(engine.fit(make, train, out)).predict(valid[["ds"]])["yhat"].to_numpy()
            theirs = fit_many(train.assign(_series=0), id_col="_series", make_model=lambda _: quick_features(make()),
                              batch_size=1)[0].predict(valid[["ds"]])["yhat"].to_numpy()
        for name, other in (("the engine's fit", fitted), ("fit_many's", theirs)):
            if cached.shape != other.shape or not np.allclose(cached, other, rtol=1e-6, atol=1e-6):
                return (f"the cached {mode} solve differs from {name} "
                        f"(max gap {np.max(np.abs(cached - other)):.3g})")
    return None
