import optuna
import pytest
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from prophet_grouped.objective import build_prophet
from prophet_grouped.search_space import resolve_search_space


def test_paper_space_is_the_published_one():
    d = resolve_search_space("paper").distributions
    assert d["seasonality_mode"] == CategoricalDistribution(["multiplicative", "additive"])
    assert d["yearly_seasonality_prior_scale"] == FloatDistribution(0.01, 2.0)
    assert d["monthly_seasonality_prior_scale"] == FloatDistribution(0.01, 10.0)
    assert d["weekly_seasonality_prior_scale"] == FloatDistribution(0.01, 10.0)
    assert d["changepoint_prior_scale"] == FloatDistribution(0.01, 0.9)
    assert d["holidays_prior_scale"] == FloatDistribution(0.005, 30.0)
    # tune.randint(12, 13), (4, 5), (1, 3): exclusive upper bounds.
    assert d["yearly_fourier_order"] == IntDistribution(12, 12)
    assert d["monthly_fourier_order"] == IntDistribution(4, 4)
    assert d["weekly_fourier_order"] == IntDistribution(1, 2)


def test_prophet_docs_space():
    d = resolve_search_space("prophet-docs").distributions
    assert d["changepoint_prior_scale"] == FloatDistribution(0.001, 0.5, log=True)
    assert d["seasonality_prior_scale"] == FloatDistribution(0.01, 10.0, log=True)
    assert d["holidays_prior_scale"] == FloatDistribution(0.01, 10.0, log=True)
    assert set(d["seasonality_mode"].choices) == {"additive", "multiplicative"}


def test_paper_params_build_the_published_model():
    params = {
        "seasonality_mode": "multiplicative", "yearly_seasonality_prior_scale": 1.5,
        "monthly_seasonality_prior_scale": 3.0, "weekly_seasonality_prior_scale": 4.0,
        "changepoint_prior_scale": 0.2, "holidays_prior_scale": 7.0,
        "yearly_fourier_order": 12, "monthly_fourier_order": 4, "weekly_fourier_order": 2,
    }
    m = build_prophet(params, holidays_country="US", uncertainty_samples=0)
    assert m.seasonality_mode == "multiplicative"
    assert m.changepoint_prior_scale == 0.2 and m.holidays_prior_scale == 7.0
    assert m.uncertainty_samples == 0 and m.country_holidays == "US"
    assert m.seasonalities["yearly"] == {"period": 365.25, "fourier_order": 12, "prior_scale": 1.5,
                                         "mode": "multiplicative", "condition_name": None}
    assert m.seasonalities["monthly"]["period"] == 30.5 and m.seasonalities["monthly"]["fourier_order"] == 4
    assert m.seasonalities["weekly"]["period"] == 7.0 and m.seasonalities["weekly"]["prior_scale"] == 4.0
    assert m.yearly_seasonality is False and m.weekly_seasonality is False


def test_dict_space_samples_its_names():
    space = resolve_search_space({"changepoint_prior_scale": FloatDistribution(0.01, 0.5, log=True),
                                  "n_changepoints": IntDistribution(5, 30)})
    study = optuna.create_study()
    params = space.sample(study.ask())
    assert set(params) == {"changepoint_prior_scale", "n_changepoints"}
    assert 0.01 <= params["changepoint_prior_scale"] <= 0.5
    build_prophet(params)  # usable as Prophet(**params)


def test_callable_space():
    def space(trial):
        return {"changepoint_prior_scale": trial.suggest_float("cps", 0.01, 0.5)}
    params = resolve_search_space(space).sample(optuna.create_study().ask())
    assert list(params) == ["changepoint_prior_scale"]


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown parameter names in search_space: \['changepoint_scale'\]\. "
                                         r"Valid names are .*'changepoint_prior_scale'"):
        resolve_search_space({"changepoint_scale": FloatDistribution(0.01, 0.5)})


def test_bad_spaces():
    with pytest.raises(ValueError, match="Unknown search_space preset 'papr'"):
        resolve_search_space("papr")
    with pytest.raises(TypeError, match=r"search_space\['changepoint_prior_scale'\] must be an optuna distribution, "
                                        r"a \(low, high\) or \(low, high, 'log'\) range, or a non-empty list of choices; got 'x'"):
        resolve_search_space({"changepoint_prior_scale": "x"})
    with pytest.raises(ValueError, match=r"search_space\['changepoint_prior_scale'\] is a log range, so low must be > 0"):
        resolve_search_space({"changepoint_prior_scale": (0, 0.5, "log")})
    with pytest.raises(TypeError, match="A callable search_space must return a dict of parameters, got list"):
        resolve_search_space(lambda trial: [1])
    with pytest.raises(ValueError, match=r"Unknown parameter names in the dict returned by search_space: \['bogus'\]"):
        resolve_search_space(lambda trial: {"bogus": 1})
    with pytest.raises(ValueError, match="empty dict"):
        resolve_search_space({})
    with pytest.raises(TypeError, match="search_space must be one of"):
        resolve_search_space(3)


def test_ranges_and_lists_become_distributions():
    space = resolve_search_space({
        "changepoint_prior_scale": (0.001, 0.5, "log"),
        "weekly_fourier_order": (1, 4),
        "holidays_prior_scale": (0.1, 10),
        "seasonality_mode": ["additive", "multiplicative"],
    })
    d = space.distributions
    assert d["changepoint_prior_scale"] == FloatDistribution(0.001, 0.5, log=True)
    assert d["weekly_fourier_order"] == IntDistribution(1, 4)
    assert d["holidays_prior_scale"] == FloatDistribution(0.1, 10.0)
    assert d["seasonality_mode"] == CategoricalDistribution(["additive", "multiplicative"])


def test_max_fourier_orders():
    assert resolve_search_space("paper").max_fourier_orders() == {"yearly": 12, "monthly": 4, "weekly": 2}
    assert resolve_search_space("prophet-docs").max_fourier_orders() == {}
    assert resolve_search_space(lambda trial: {"weekly_fourier_order": 3}).max_fourier_orders() == {}
