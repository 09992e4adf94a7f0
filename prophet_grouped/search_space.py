"""Search spaces: presets and user spaces, reduced to one sampling function.

Every backend samples through :meth:`SearchSpace.sample`, which takes an Optuna trial and
returns a dict of parameter values. Ray Tune's ``OptunaSearch`` accepts the same function as a
define-by-run space, so there is one conversion, here.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ._util import quiet
from .exceptions import InputTypeError
from .keys import plain_value
from .transforms import PARAM

if TYPE_CHECKING:
    import optuna

#: Periods, in days, of the seasonalities that can be tuned per name.
SEASONALITY_PERIODS = {"yearly": 365.25, "monthly": 30.5, "weekly": 7.0, "daily": 1.0}
#: Fourier orders used when a space tunes a seasonality's prior scale but not its order.
DEFAULT_FOURIER_ORDERS = {"yearly": 10, "monthly": 5, "weekly": 3, "daily": 4}
SEASONAL_PARAM_RE = re.compile(r"^(yearly|monthly|weekly|daily)_(seasonality_prior_scale|fourier_order)$")
#: The switch of the monthly seasonality (Prophet has none of its own): True adds it with the
#: space's ``monthly_*`` prior scale and order, False leaves it out whatever they are.
MONTHLY_SWITCH = "monthly_seasonality"
#: Days of daily history from which the "auto" space also tunes a monthly seasonality.
MONTHLY_MIN_DAYS = 365

PRESETS = ("auto", "paper", "prophet-docs")


SHARED_REGRESSOR_PARAMS = ("regressor_prior_scale", "regressor_mode")


def regressor_param_names(regressors: Sequence[str]) -> list[str]:
    """The search-space names that tune regressors: the shared two and two per column."""
    return [*SHARED_REGRESSOR_PARAMS, *(f"{c}_{kind}" for c in regressors for kind in ("prior_scale", "mode"))]


def _preset(name: str) -> dict[str, Any]:
    """The distributions of a fixed preset (``"auto"`` is resolved per group by :func:`auto_space`)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if name == "paper":
        # The published Ray-on-Spark study's space; its tune.randint upper bounds are exclusive.
        return {
            "seasonality_mode": CategoricalDistribution(["multiplicative", "additive"]),
            "yearly_seasonality_prior_scale": FloatDistribution(0.01, 2.0),
            "monthly_seasonality_prior_scale": FloatDistribution(0.01, 10.0),
            "weekly_seasonality_prior_scale": FloatDistribution(0.01, 10.0),
            "changepoint_prior_scale": FloatDistribution(0.01, 0.9),
            "holidays_prior_scale": FloatDistribution(0.005, 30.0),
            "yearly_fourier_order": IntDistribution(12, 12),
            "monthly_fourier_order": IntDistribution(4, 4),
            "weekly_fourier_order": IntDistribution(1, 2),
        }
    # Prophet's documentation, "Hyperparameter tuning".
    return {
        "changepoint_prior_scale": FloatDistribution(0.001, 0.5, log=True),
        "seasonality_prior_scale": FloatDistribution(0.01, 10.0, log=True),
        "holidays_prior_scale": FloatDistribution(0.01, 10.0, log=True),
        "seasonality_mode": CategoricalDistribution(["additive", "multiplicative"]),
    }


@dataclass(frozen=True)
class GroupProfile:
    """What the ``"auto"`` space reads from a group's usable history.

    Parameters
    ----------
    n_points : int
        Rows with an observed ``y``.
    span_days : float
        Days from the first to the last observed date.
    min_step_days : float
        Smallest spacing between two consecutive dates, in days.
    has_negative : bool
        Whether any ``y`` is negative (multiplicative seasonality is then left out).
    has_holidays : bool
        Whether the models get holidays (their prior scale is then tuned).
    n_regressors : int
        Extra regressors the models get (one shared regressor prior scale is then tuned).
    """

    n_points: int
    span_days: float
    min_step_days: float
    has_negative: bool
    has_holidays: bool
    n_regressors: int = 0

    @classmethod
    def of(cls, frame: Any, has_holidays: bool, n_regressors: int = 0) -> GroupProfile:
        """The profile of a group's usable rows (columns ds and y, sorted, no missing y)."""
        import numpy as np

        ds = frame["ds"]
        steps = ds.diff().dropna()
        return cls(
            n_points=len(frame),
            span_days=float((ds.iloc[-1] - ds.iloc[0]) / np.timedelta64(1, "D")),
            min_step_days=float(steps.min() / np.timedelta64(1, "D")) if len(steps) else float("inf"),
            has_negative=bool((frame["y"] < 0).any()),
            has_holidays=has_holidays,
            n_regressors=int(n_regressors),
        )


def auto_seasonalities(profile: GroupProfile) -> dict[str, bool]:
    """Prophet's own rule for its automatic seasonalities, on a group's whole history: yearly
    with at least two years, weekly with at least two weeks of data spaced less than a week
    apart, daily with at least two days of sub-daily data."""
    return {
        "yearly_seasonality": profile.span_days >= 730,
        "weekly_seasonality": profile.span_days >= 14 and profile.min_step_days < 7,
        "daily_seasonality": profile.span_days >= 2 and profile.min_step_days < 1,
    }


def monthly_in_search(profile: GroupProfile, user: Mapping[str, Any]) -> bool:
    """Whether the "auto" space tunes a monthly seasonality (period 30.5 days, Fourier order 5):
    daily data (steps of a day or more, under a week) with at least :data:`MONTHLY_MIN_DAYS`
    days of history, unless ``prophet_params`` sets seasonalities itself. Retail sales move with
    the month (paydays, month-end stocking); Prophet adds no monthly seasonality of its own, so
    the space tunes its switch (:data:`MONTHLY_SWITCH`, off in Prophet's default configuration)
    and its prior scale."""
    daily = 1.0 - 1e-9 <= profile.min_step_days < 7
    return daily and profile.span_days >= MONTHLY_MIN_DAYS and not any(
        name in user for name in ("yearly_seasonality", "weekly_seasonality", "daily_seasonality",
                                  "seasonality_prior_scale", MONTHLY_SWITCH))


def auto_space(profile: GroupProfile, prophet_params: Mapping[str, Any] | None = None) -> SearchSpace:
    """The data-aware default space of one group.

    The seasonalities are those Prophet itself would add for the group's whole history (fixed,
    so that every fold and the final refit model the same components), and the search tunes
    what Prophet's documentation says is worth tuning: the changepoint prior scale (0.001 to
    0.5, log scale), the seasonality prior scale (0.01 to 10, log) when there is a seasonality,
    the holidays prior scale (0.01 to 10, log) when there are holidays, one prior scale shared
    by the extra regressors (``regressor_prior_scale``, 0.01 to 10, log) when there are any, and
    the seasonality mode (which regressors follow) when there is something seasonal or a driver
    and ``y`` has no negative value, and, for a year or more of daily data, a monthly
    seasonality's switch and prior scale (0.01 to 10, log; :func:`monthly_in_search`).

    What ``prophet_params`` fixes is neither tuned nor set here: the user's value stands (a
    seasonality switch given there other than ``"auto"`` replaces the automatic one), and a trend
    without changepoints (``growth="flat"``, ``n_changepoints=0``, ``changepoints=[]``) leaves
    the changepoint prior scale out.
    """
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    user = dict(prophet_params or {})
    automatic = auto_seasonalities(profile)
    fixed = {name: on for name, on in automatic.items() if name not in user}
    seasonal = any(on if user.get(name, "auto") == "auto" else bool(user[name]) for name, on in automatic.items())
    space: dict[str, Any] = {}
    changepoints = user.get("changepoints")
    if not (user.get("growth") == "flat" or user.get("n_changepoints") == 0
            or (changepoints is not None and len(changepoints) == 0)):  # else a trend without changepoints
        space["changepoint_prior_scale"] = FloatDistribution(0.001, 0.5, log=True)
    if seasonal:
        space["seasonality_prior_scale"] = FloatDistribution(0.01, 10.0, log=True)
    if monthly_in_search(profile, user):
        space[MONTHLY_SWITCH] = CategoricalDistribution([False, True])
        space["monthly_seasonality_prior_scale"] = FloatDistribution(0.01, 10.0, log=True)
    if profile.has_holidays:
        space["holidays_prior_scale"] = FloatDistribution(0.01, 10.0, log=True)
    if profile.n_regressors:
        space["regressor_prior_scale"] = FloatDistribution(0.01, 10.0, log=True)
    if (seasonal or profile.has_holidays or profile.n_regressors) and not profile.has_negative:
        space["seasonality_mode"] = CategoricalDistribution(["additive", "multiplicative"])
    return SearchSpace(distributions={name: dist for name, dist in space.items() if name not in user}, fixed=fixed)


def distribution_contains(dist: Any, value: Any) -> bool:
    """Whether an optuna distribution can take ``value``."""
    from optuna.distributions import CategoricalDistribution

    if isinstance(dist, CategoricalDistribution):
        return value in dist.choices
    try:
        return bool(dist.low <= value <= dist.high)
    except TypeError:
        return False


@lru_cache(maxsize=1)
def prophet_defaults() -> dict[str, Any]:
    """Prophet's constructor defaults, by argument name."""
    with quiet():
        from prophet import Prophet

    defaults = {name: p.default for name, p in inspect.signature(Prophet.__init__).parameters.items()
                if name != "self" and p.default is not inspect.Parameter.empty}
    # add_regressor's prior scale defaults to the holidays prior scale.
    defaults["regressor_prior_scale"] = defaults["holidays_prior_scale"]
    return defaults


def prophet_kwargs() -> list[str]:
    """Names of Prophet's constructor arguments."""
    with quiet():  # Prophet logs a missing plotly at import.
        from prophet import Prophet

    return [p for p in inspect.signature(Prophet.__init__).parameters if p != "self"]


def valid_param_names(regressors: tuple[str, ...] = ()) -> list[str]:
    """Every name a search space may use: Prophet's constructor kwargs, per-seasonality names,
    the monthly seasonality's switch (:data:`MONTHLY_SWITCH`), and the regressor names
    (``regressor_prior_scale``, ``regressor_mode``, and ``<column>_prior_scale`` /
    ``<column>_mode`` for each of ``regressors``)."""
    seasonal = [f"{s}_{kind}" for s in SEASONALITY_PERIODS for kind in ("seasonality_prior_scale", "fourier_order")]
    return sorted(set(prophet_kwargs()) | set(seasonal) | {MONTHLY_SWITCH} | set(regressor_param_names(regressors)))


def check_param_names(names: list[str], where: str, regressors: tuple[str, ...] = ()) -> None:
    """Raise ValueError if any of ``names`` is not a name :func:`valid_param_names` lists."""
    valid = valid_param_names(regressors)
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ValueError(
            f"Unknown parameter names in {where}: {unknown}. Valid names are Prophet's "
            f"constructor arguments, per-seasonality names and regressor names (for regressor_cols="
            f"{list(regressors)}): {valid}."
        )


def _suggest(trial: optuna.trial.BaseTrial, name: str, dist: Any) -> Any:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, list(dist.choices))
    raise InputTypeError(f"Unsupported distribution for {name!r}: {dist!r}.")  # pragma: no cover


@dataclass(frozen=True)
class SearchSpace:
    """A resolved search space: either named Optuna distributions or a sampling function.

    Parameters
    ----------
    distributions : dict or None
        Parameter name -> ``optuna.distributions`` object.
    function : callable or None
        ``function(trial) -> dict`` sampling the parameters itself.
    """

    distributions: Mapping[str, Any] | None = None
    function: Callable[[Any], dict[str, Any]] | None = None
    #: Parameters every trial of this space carries unchanged (the ``"auto"`` space's
    #: seasonality switches, read from the group's history).
    fixed: Mapping[str, Any] = field(default_factory=dict)
    #: True for ``"auto"`` before it is resolved for a group with :meth:`for_group`.
    auto: bool = False

    def sample(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """Sample one parameter set from ``trial`` (an Optuna trial)."""
        if self.auto:
            raise RuntimeError("the 'auto' search space must be resolved with for_group() before sampling")
        if self.function is not None:
            params = self.function(trial)
            if not isinstance(params, Mapping):
                raise InputTypeError(
                    f"A callable search_space must return a dict of parameters, got "
                    f"{type(params).__name__}."
                )

            # numpy scalars as Python ones: Prophet's JSON, results and checkpoints take them.
            return {**self.fixed, **{name: plain_value(value) for name, value in params.items()}}
        assert self.distributions is not None
        return {**self.fixed, **{name: _suggest(trial, name, dist) for name, dist in self.distributions.items()}}

    def for_group(self, profile: GroupProfile, prophet_params: Mapping[str, Any] | None = None) -> SearchSpace:
        """The space one group is tuned over: ``"auto"`` resolved from ``profile`` (leaving out
        what ``prophet_params`` fixes), any other space as it is."""
        return auto_space(profile, prophet_params) if self.auto else self

    def default_trial(self) -> dict[str, Any] | None:
        """Prophet's default configuration as a trial of this space (the values of its tuned
        parameters), or None when the space can't express it: a callable space, per-seasonality
        names (they replace Prophet's automatic seasonalities), or a range that leaves a default
        out. Such a space's default is scored as an extra candidate instead."""
        if self.function is not None or self.auto:
            return None
        defaults = self._defaults()
        trial = {}
        for name, dist in (self.distributions or {}).items():
            if name not in defaults or not distribution_contains(dist, defaults[name]):
                return None
            trial[name] = defaults[name]
        return trial

    def first_trials(self) -> list[dict[str, Any]]:
        """The trials every study of this space starts with: Prophet's default configuration
        (:meth:`default_trial`) on each target transform the space may use, raw first; none
        where the space can't express the defaults. (Adding the same with the monthly switch on
        was measured: within noise on Rossmann and the M5 subset, and it takes trials from
        small budgets; docs/accuracy.md.)"""
        default = self.default_trial()
        if default is None:
            return []
        firsts = [default]
        transform = (self.distributions or {}).get(PARAM)
        if transform is not None:
            firsts += [{**default, PARAM: name} for name in transform.choices if name != default[PARAM]]
        return firsts

    def default_params(self) -> dict[str, Any]:
        """The parameters of Prophet's default configuration in this space: the fixed ones, and
        Prophet's default value of each tuned parameter that has one (``best_params_`` then shows
        them where the defaults won; a tuned name Prophet has no default for, such as a monthly
        seasonality's prior scale, is left out: the default configuration has no such part)."""
        defaults = self._defaults()
        tuned = {name: defaults[name] for name in (self.distributions or {}) if name in defaults}
        return {**tuned, **self.fixed}

    def _defaults(self) -> dict[str, Any]:
        """Prophet's default value of each parameter name, for this space: a space that tunes
        the monthly switch has Prophet's configuration at the switch off, where the monthly
        prior scale and order are unused (their values then: what ``add_seasonality`` takes)."""
        defaults = {**prophet_defaults(), PARAM: "none"}
        if MONTHLY_SWITCH in (self.distributions or {}):
            defaults.update({MONTHLY_SWITCH: False, "monthly_fourier_order": DEFAULT_FOURIER_ORDERS["monthly"],
                             "monthly_seasonality_prior_scale": defaults["seasonality_prior_scale"]})
        return defaults

    def __call__(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        return self.sample(trial)

    def n_models(self) -> int | None:
        """How many distinct parameter sets the space holds: 1 with nothing to tune, the number
        of combinations of categorical (and integer) choices; None when it has a continuous
        range or is a callable."""
        from optuna.distributions import CategoricalDistribution, IntDistribution

        if self.function is not None or self.auto or self.distributions is None:
            return None
        count = 1
        for dist in self.distributions.values():
            if isinstance(dist, CategoricalDistribution):
                count *= len(dist.choices)
            elif isinstance(dist, IntDistribution):
                count *= (dist.high - dist.low) // dist.step + 1
            else:
                return None
        return count

    def with_transforms(self, names: tuple[str, ...]) -> SearchSpace:
        """This space with the target transforms a group may use
        (:func:`prophet_grouped.transforms.choices`): several are one more categorical parameter
        (``"transform"``); ``("log1p",)`` alone is fixed in every trial; the raw target alone
        (``("none",)``) leaves the space as it is."""
        from optuna.distributions import CategoricalDistribution

        if tuple(names) == ("none",) or not names:
            return self
        if len(names) == 1:
            return replace(self, fixed={**self.fixed, PARAM: names[0]})
        dist = CategoricalDistribution(list(names))
        if self.function is not None:
            return replace(self, function=_WithTransform(self.function, dist))
        return replace(self, distributions={**(self.distributions or {}), PARAM: dist})

    def max_fourier_orders(self) -> dict[str, int]:
        """Seasonality name -> the highest Fourier order this space can sample (distribution
        spaces only; empty for a callable), the monthly one where the space switches it on in
        some trials."""
        from optuna.distributions import IntDistribution

        orders = {}
        for name, dist in (self.distributions or {}).items():
            match = SEASONAL_PARAM_RE.match(name)
            if match and match.group(2) == "fourier_order" and isinstance(dist, IntDistribution):
                orders[match.group(1)] = int(dist.high)
        if MONTHLY_SWITCH in (self.distributions or {}):
            orders.setdefault("monthly", DEFAULT_FOURIER_ORDERS["monthly"])
        return orders


@dataclass(frozen=True)
class _WithTransform:
    """A callable space whose trials also choose the target transform."""

    function: Callable[[Any], dict[str, Any]]
    transform: Any

    def __call__(self, trial: Any) -> dict[str, Any]:
        params = self.function(trial)
        if not isinstance(params, Mapping):
            return params  # SearchSpace.sample says what is wrong
        return {**params, PARAM: _suggest(trial, PARAM, self.transform)}


def _as_distribution(name: str, value: object) -> Any:
    """An optuna distribution from a search_space value: a distribution, ``(low, high)`` or
    ``(low, high, "log")`` (integers give an integer range), or a list of choices."""
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(value, BaseDistribution):
        return value
    if isinstance(value, list) and value:
        return CategoricalDistribution(value)
    if isinstance(value, tuple) and len(value) in (2, 3) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value[:2]
    ) and (len(value) == 2 or value[2] == "log"):
        low, high = value[0], value[1]
        if low > high:
            raise ValueError(
                f"search_space[{name!r}] has low > high: {value!r}. Give (low, high) with low <= high."
            )
        log = len(value) == 3
        if log and low <= 0:
            raise ValueError(f"search_space[{name!r}] is a log range, so low must be > 0, got {value!r}.")
        if isinstance(low, int) and isinstance(high, int):
            return IntDistribution(low, high, log=log)
        return FloatDistribution(float(low), float(high), log=log)
    raise InputTypeError(
        f"search_space[{name!r}] must be an optuna distribution, a (low, high) or (low, high, 'log') "
        f"range, or a non-empty list of choices; got {value!r}."
    )


def probe(function: Callable[[Any], Any]) -> Mapping[str, Any]:
    """What a callable search space returns on one trial of a throwaway random study."""
    import optuna

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    try:
        params = function(study.ask())
    except Exception as exc:
        raise ValueError(f"The search_space callable raised on a trial: {exc!r}.") from exc
    if not isinstance(params, Mapping):
        raise InputTypeError(f"A callable search_space must return a dict of parameters, got {type(params).__name__}.")
    return params


def resolve_search_space(space: object, regressors: tuple[str, ...] = (),
                         fixed: Collection[str] = ()) -> SearchSpace:
    """Turn the tuner's ``search_space`` argument into a :class:`SearchSpace`, or raise.

    ``regressors`` are the extra regressor columns, whose ``<column>_prior_scale`` and
    ``<column>_mode`` a space may tune. ``fixed``: the names ``prophet_params`` fixes; a space
    that tunes one of them is refused (``"auto"`` leaves them out for each group).

    A callable is dry-run once on a throwaway Optuna trial, so that a space that raises or
    returns unknown names fails in ``fit`` before any work is sent to a backend.
    """
    resolved, names = _resolve(space, regressors)
    both = sorted(set(names) & set(fixed))
    if both:
        raise ValueError(
            f"{both} are both fixed in prophet_params and tuned by search_space={space!r}: a parameter is either "
            f"fixed or tuned. Remove them from prophet_params to tune them, or use a search space without them "
            f"(the 'auto' space leaves out what prophet_params fixes)."
        )
    return resolved


def _resolve(space: object, regressors: tuple[str, ...]) -> tuple[SearchSpace, list[str]]:
    """:func:`resolve_search_space` before the check against ``prophet_params``: the space and
    the names it tunes (a callable's from its dry run; none for ``"auto"``)."""
    if isinstance(space, str):
        if space not in PRESETS:
            raise ValueError(
                f"Unknown search_space preset {space!r}; expected one of {list(PRESETS)}, a dict "
                f"of optuna distributions or a callable(trial) -> dict."
            )
        if space == "auto":
            return SearchSpace(auto=True), []
        distributions = _preset(space)
        return SearchSpace(distributions=distributions), list(distributions)
    if isinstance(space, Mapping):
        if not space:
            raise ValueError("search_space is an empty dict: give at least one parameter to tune.")
        names = [str(k) for k in space]
        check_param_names(names, "search_space", regressors)
        return SearchSpace(distributions={k: _as_distribution(k, v) for k, v in space.items()}), names
    if callable(space):
        names = [str(k) for k in probe(space)]
        check_param_names(names, "the dict returned by search_space", regressors)
        return SearchSpace(function=space), names  # type: ignore[arg-type]
    raise InputTypeError(
        f"search_space must be one of {list(PRESETS)}, a dict of optuna distributions or a "
        f"callable(trial) -> dict, got {type(space).__name__}."
    )
