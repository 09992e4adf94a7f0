"""Search spaces: presets and user spaces, reduced to one sampling function.

Every backend samples through :meth:`SearchSpace.sample`, which takes an Optuna trial and
returns a dict of parameter values. Ray Tune's ``OptunaSearch`` accepts the same function as a
define-by-run space, so there is one conversion, here.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

#: Periods, in days, of the seasonalities that can be tuned per name.
SEASONALITY_PERIODS = {"yearly": 365.25, "monthly": 30.5, "weekly": 7.0, "daily": 1.0}
#: Fourier orders used when a space tunes a seasonality's prior scale but not its order.
DEFAULT_FOURIER_ORDERS = {"yearly": 10, "monthly": 5, "weekly": 3, "daily": 4}
_SEASONAL_RE = re.compile(r"^(yearly|monthly|weekly|daily)_(seasonality_prior_scale|fourier_order)$")

PRESETS = ("paper", "prophet-docs")


def _preset(name: str) -> dict[str, Any]:
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


def prophet_kwargs() -> list[str]:
    """Names of Prophet's constructor arguments."""
    from .engines import quiet

    with quiet():  # Prophet logs a missing plotly at import.
        from prophet import Prophet

    return [p for p in inspect.signature(Prophet.__init__).parameters if p != "self"]


def valid_param_names() -> list[str]:
    """Every name a search space may use: Prophet's constructor kwargs and per-seasonality names."""
    seasonal = [f"{s}_{kind}" for s in SEASONALITY_PERIODS for kind in ("seasonality_prior_scale", "fourier_order")]
    return sorted(set(prophet_kwargs()) | set(seasonal))


def check_param_names(names: list[str], where: str) -> None:
    """Raise ValueError if any of ``names`` is neither a Prophet kwarg nor a seasonality name."""
    valid = valid_param_names()
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ValueError(
            f"Unknown parameter names in {where}: {unknown}. Valid names are Prophet's "
            f"constructor arguments and per-seasonality names: {valid}."
        )


def _suggest(trial: optuna.trial.BaseTrial, name: str, dist: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log, step=dist.step)
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, list(dist.choices))
    raise TypeError(f"Unsupported distribution for {name!r}: {dist!r}.")  # pragma: no cover


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

    def sample(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """Sample one parameter set from ``trial`` (an Optuna trial)."""
        if self.function is not None:
            params = self.function(trial)
            if not isinstance(params, Mapping):
                raise TypeError(
                    f"A callable search_space must return a dict of parameters, got "
                    f"{type(params).__name__}."
                )
            return dict(params)
        assert self.distributions is not None
        return {name: _suggest(trial, name, dist) for name, dist in self.distributions.items()}

    def __call__(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        return self.sample(trial)

    def max_fourier_orders(self) -> dict[str, int]:
        """Seasonality name -> the highest Fourier order this space can sample (distribution
        spaces only; empty for a callable)."""
        from optuna.distributions import IntDistribution

        orders = {}
        for name, dist in (self.distributions or {}).items():
            match = _SEASONAL_RE.match(name)
            if match and match.group(2) == "fourier_order" and isinstance(dist, IntDistribution):
                orders[match.group(1)] = int(dist.high)
        return orders


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
    raise TypeError(
        f"search_space[{name!r}] must be an optuna distribution, a (low, high) or (low, high, 'log') "
        f"range, or a non-empty list of choices; got {value!r}."
    )


def resolve_search_space(space: object) -> SearchSpace:
    """Turn the tuner's ``search_space`` argument into a :class:`SearchSpace`, or raise.

    A callable is dry-run once on a throwaway Optuna trial, so that a space that raises or
    returns unknown names fails in ``fit`` before any work is sent to a backend.
    """

    if isinstance(space, str):
        if space not in PRESETS:
            raise ValueError(
                f"Unknown search_space preset {space!r}; expected one of {list(PRESETS)}, a dict "
                f"of optuna distributions or a callable(trial) -> dict."
            )
        return SearchSpace(distributions=_preset(space))
    if isinstance(space, Mapping):
        if not space:
            raise ValueError("search_space is an empty dict: give at least one parameter to tune.")
        check_param_names([str(k) for k in space], "search_space")
        return SearchSpace(distributions={k: _as_distribution(k, v) for k, v in space.items()})
    if callable(space):
        import optuna

        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        trial = study.ask()
        try:
            params = space(trial)
        except Exception as exc:
            raise ValueError(f"The search_space callable raised on a trial: {exc!r}.") from exc
        if not isinstance(params, Mapping):
            raise TypeError(
                f"A callable search_space must return a dict of parameters, got {type(params).__name__}."
            )
        check_param_names([str(k) for k in params], "the dict returned by search_space")
        return SearchSpace(function=space)  # type: ignore[arg-type]
    raise TypeError(
        f"search_space must be one of {list(PRESETS)}, a dict of optuna distributions or a "
        f"callable(trial) -> dict, got {type(space).__name__}."
    )
