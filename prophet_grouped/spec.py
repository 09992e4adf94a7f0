"""What a model is: an unfitted Prophet built from a trial's parameters, the fixed
``prophet_params`` and a group's drivers (regressors, events, country)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import transforms
from .search_space import (
    DEFAULT_FOURIER_ORDERS,
    MONTHLY_SWITCH,
    SEASONAL_PARAM_RE,
    SEASONALITY_PERIODS,
    regressor_param_names,
)

if TYPE_CHECKING:
    from prophet import Prophet

    from .covariates import GroupDrivers

__all__ = ["build_prophet"]


def _same_value(a: Any, b: Any) -> bool:
    """Whether two parameter values are equal (False when they can't be compared)."""
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def build_prophet(
    params: Mapping[str, Any],
    prophet_params: Mapping[str, Any] | None = None,
    holidays_country: str | None = None,
    uncertainty_samples: int | None = None,
    drivers: GroupDrivers | None = None,
) -> Prophet:
    """An unfitted Prophet for ``params`` on top of the fixed ``prophet_params``.

    Names like ``yearly_seasonality_prior_scale`` and ``weekly_fourier_order`` become
    ``add_seasonality(name, period, fourier_order, prior_scale)`` calls (periods 365.25, 30.5,
    7 and 1 days) with the built-in seasonality of that name switched off; ``regressor_prior_scale``,
    ``regressor_mode``, ``<column>_prior_scale`` and ``<column>_mode`` set the extra regressors'
    ``add_regressor`` arguments; ``monthly_seasonality`` (True/False), where given, adds the
    monthly seasonality or leaves it out whatever the ``monthly_*`` names say; every other name
    is a Prophet constructor argument.
    ``drivers`` (a group's regressors, events and country) replaces ``prophet_params`` and
    ``holidays_country``.

    Raises ValueError when ``params`` gives a name ``prophet_params`` fixes another value (a
    callable search space that returns it on some trials only: the check when the fit starts
    sees one trial); a parameter is either fixed or tuned.
    """
    from prophet import Prophet

    if drivers is not None:
        prophet_params, holidays_country = drivers.prophet_params, drivers.country
    params = {name: value for name, value in params.items() if name != transforms.PARAM}
    clash = sorted(name for name, value in params.items()
                   if name in (prophet_params or {}) and not _same_value(value, prophet_params[name]))
    if clash:
        raise ValueError(
            f"The trial's parameters {({name: params[name] for name in clash})} would replace what prophet_params "
            f"fixes ({({name: prophet_params[name] for name in clash})}): a parameter is either fixed or tuned. "
            f"Remove {clash} from prophet_params, or from what the search_space callable returns."
        )
    regressor_names = set(regressor_param_names(drivers.regressors + drivers.dropped if drivers else ()))
    kwargs: dict[str, Any] = dict(prophet_params or {})
    fixed_monthly = kwargs.pop(MONTHLY_SWITCH, None)  # not a Prophet argument: build_prophet's own
    monthly = params.get(MONTHLY_SWITCH, fixed_monthly)
    if drivers is not None and drivers.holidays is not None:
        kwargs["holidays"] = drivers.holidays
    seasonal: dict[str, dict[str, Any]] = {}
    for name, value in params.items():
        match = SEASONAL_PARAM_RE.match(name)
        if name in regressor_names:
            continue
        if match:
            seasonal.setdefault(match.group(1), {})[match.group(2)] = value
        elif name != MONTHLY_SWITCH:
            kwargs[name] = value
    if monthly:  # the switch decides where given; without it, monthly_* names add the seasonality
        seasonal.setdefault("monthly", {})
    elif monthly is not None:
        seasonal.pop("monthly", None)
    for name in seasonal:
        if name != "monthly":
            kwargs[f"{name}_seasonality"] = False
    if uncertainty_samples is not None:
        kwargs["uncertainty_samples"] = uncertainty_samples
    model = Prophet(**kwargs)
    for name, spec in seasonal.items():
        prior = spec.get("seasonality_prior_scale")
        model.add_seasonality(
            name=name,
            period=SEASONALITY_PERIODS[name],
            fourier_order=int(spec.get("fourier_order", DEFAULT_FOURIER_ORDERS[name])),
            prior_scale=None if prior is None else float(prior),
        )
    if holidays_country:
        if holidays_country in _CHECKED_COUNTRIES:
            # What add_country_holidays does once its check of the holiday names has passed;
            # the check populates the holidays calendar, about a tenth of a batch trial.
            model.country_holidays = holidays_country
        else:
            model.add_country_holidays(country_name=holidays_country)
            _CHECKED_COUNTRIES.add(holidays_country)
    if drivers is not None:
        for col, (prior, mode) in drivers.regressor_settings(params).items():
            model.add_regressor(col, prior_scale=prior, mode=mode)
    return model


#: Countries whose holiday names add_country_holidays has checked in this process (they can't
#: clash with the seasonality names build_prophet uses).
_CHECKED_COUNTRIES: set[str] = set()
