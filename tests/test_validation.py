"""Every bad input gets a ValueError or TypeError that names the problem."""

import numpy as np
import pandas as pd
import pytest
from optuna.distributions import FloatDistribution

from prophet_grouped import GroupedProphetTuner, make_retail_sales

BASE = make_retail_sales(n_stores=1, n_items=2, periods=200, seed=0)


def _tuner(**kw):
    params = dict(group_cols=["store", "item"], n_trials=1, horizon=30, n_jobs=1)
    params.update(kw)
    return GroupedProphetTuner(**params)


CASES = {
    "not a frame": (lambda: BASE.to_numpy(), {}, TypeError, "Expected a pandas DataFrame"),
    "empty frame": (lambda: BASE.iloc[:0], {}, ValueError, "The input frame is empty"),
    "missing column": (lambda: BASE.drop(columns="item"), {}, ValueError,
                       r"The following columns are missing from the input frame: \['item'\]"),
    "unparseable ds": (lambda: BASE.assign(ds=BASE["ds"].astype(str).where(BASE.index != 3, "not-a-date")), {},
                       ValueError, r"Column 'ds' has values that are not dates: \['not-a-date'\]"),
    "numeric ds": (lambda: BASE.assign(ds=np.arange(len(BASE))), {}, ValueError, "Column 'ds' must hold dates, got dtype int64"),
    "tz-aware ds": (lambda: BASE.assign(ds=BASE["ds"].dt.tz_localize("UTC")), {}, ValueError,
                    r"Column 'ds' is timezone-aware \(datetime64\[\w+, UTC\]\)"),
    "mixed-timezone ds": (lambda: BASE.assign(ds=[pd.Timestamp(d, tz="UTC" if i % 2 else "Europe/Paris")
                                                  for i, d in enumerate(BASE["ds"])]), {}, ValueError,
                          "Column 'ds' holds timezone-aware timestamps"),
    "ds as text with numbers": (lambda: BASE.assign(ds=[str(i) for i in range(len(BASE))]), {}, ValueError,
                                r"Column 'ds' has values that are not dates"),
    "infinite y": (lambda: BASE.assign(y=BASE["y"].where(BASE.index != 5, np.inf)), {}, ValueError,
                   "Column 'y' has 1 infinite values"),
    "text y": (lambda: BASE.assign(y=BASE["y"].astype(str)), {}, ValueError,
               r"Column 'y' must be numeric, got dtype (object|str)\. It looks like numbers stored as text"),
    "duplicate dates": (lambda: pd.concat([BASE, BASE.iloc[[0]]]), {}, ValueError,
                        r"2 rows share a group and a date, e\.g\. group \(1, 1\) on 2019-01-01"),
    "null group key": (lambda: BASE.assign(item=BASE["item"].where(BASE.index != 0)), {}, ValueError,
                       "Group column 'item' has 1 missing values"),
    "every group too short": (lambda: BASE[BASE["ds"] < "2019-02-15"], {}, ValueError,
                              r"All 2 group\(s\) are too short for horizon=30 x 1 fold\(s\) of freq='D' \(inferred from the data\): "
                              r"\(1, 1\) \(45 rows\)"),
    "horizon longer than history": (lambda: BASE, {"horizon": 500}, ValueError, r"All 2 group\(s\) are too short for horizon=500"),
    "inverted search range": (lambda: BASE, {"search_space": {"changepoint_prior_scale": (0.5, 0.01)}}, ValueError,
                              r"search_space\['changepoint_prior_scale'\] has low > high: \(0\.5, 0\.01\)"),
    "bad trial_timeout": (lambda: BASE, {"trial_timeout": 0}, ValueError,
                          "trial_timeout must be a number of seconds > 0 or None, got 0."),
    "bad checkpoint_dir": (lambda: BASE, {"checkpoint_dir": 5}, TypeError,
                           "checkpoint_dir must be a folder path"),
    "bad fallback": (lambda: BASE, {"fallback": "naive"}, ValueError, "fallback must be None or 'default', got 'naive'."),
    "unknown metric": (lambda: BASE, {"metric": "r2"}, ValueError, "Unknown metric 'r2'"),
    "unknown backend": (lambda: BASE, {"backend": "dask"}, ValueError,
                        r"Invalid backend: 'dask', expected one of \['local', 'ray', 'spark'\]"),
    "bad search space name": (lambda: BASE, {"search_space": {"cps": FloatDistribution(0.1, 0.2)}}, ValueError,
                              r"Unknown parameter names in search_space: \['cps'\]"),
    "n_trials=0": (lambda: BASE, {"n_trials": 0}, ValueError, "n_trials must be an integer >= 1, got 0."),
    "negative horizon": (lambda: BASE, {"horizon": -1}, ValueError, "horizon must be an integer >= 1 or None, got -1."),
    "bad on_error": (lambda: BASE, {"on_error": "ignore"}, ValueError, "on_error must be 'warn' or 'raise', got 'ignore'."),
    "bad freq": (lambda: BASE, {"freq": "fortnight"}, ValueError, "freq must be a pandas frequency"),
    "bad prophet_params": (lambda: BASE, {"prophet_params": {"seasonalty_mode": "additive"}}, ValueError,
                           r"Unknown Prophet arguments in prophet_params: \['seasonalty_mode'\]"),
    "bad country": (lambda: BASE, {"holidays_country": "XX"}, ValueError, "holidays_country='XX' is not a country"),
    "fixed and tuned by a callable": (lambda: BASE, {"prophet_params": {"changepoint_prior_scale": 0.1},
                                                     "search_space": lambda t: {"changepoint_prior_scale": t.suggest_float("c", 0.01, 1)}},
                                      ValueError, r"\['changepoint_prior_scale'\] are both fixed in prophet_params and tuned"),
    "fixed and tuned": (lambda: BASE, {"prophet_params": {"seasonality_mode": "multiplicative"}, "search_space": "paper"},
                        ValueError, r"\['seasonality_mode'\] are both fixed in prophet_params and tuned by search_space='paper'"),
    "bad engine": (lambda: BASE, {"engine": "gpu"}, ValueError, r"Unknown engine 'gpu'; expected one of \['auto', 'stan', 'batch'\]"),
    "bad group_cols": (lambda: BASE, {"group_cols": 3}, TypeError,
                       "group_cols must be a column name, a non-empty list of column names, or None for a single series"),
    "bad early stopping": (lambda: BASE, {"early_stopping_rounds": 0}, ValueError,
                           "early_stopping_rounds must be an integer >= 1 or None, got 0."),
    "cutoff outside history": (lambda: BASE, {"cutoffs": ["2030-01-01"]}, ValueError,
                               r"No group has data in the validation window after cutoff 2030-01-01"),
    "hourly data with freq='D'": (lambda: BASE.assign(ds=pd.Timestamp("2020-01-01") + pd.to_timedelta(BASE.index % 200, "h")),
                                  {"freq": "D"}, ValueError,
                                  r"freq='D' does not match the dates in column 'ds': 191 of 200 distinct dates are not "
                                  r"on its calendar, e.g. 2020-01-01 01:00:00; they look like freq='h'\. Set freq"),
    "month starts with freq='ME'": (lambda: BASE.assign(ds=np.tile(pd.date_range("2000-01-01", periods=200, freq="MS"), 2)),
                                    {"freq": "ME"}, ValueError,
                                    r"freq='ME' does not match the dates in column 'ds': 200 of 200 distinct dates are "
                                    r"not on its calendar, e.g. 2000-01-01 00:00:00; they look like freq='MS'"),
    "ambiguous day-first dates": (lambda: BASE[BASE["ds"].dt.day <= 12].assign(ds=lambda d: d["ds"].dt.strftime("%d.%m.%Y")),
                                  {}, ValueError,
                                  r"Column 'ds' holds text dates that read two ways: '02\.01\.2019' is 2019-02-01 as '%m\.%d\.%Y' "
                                  r"and 2019-01-02 as '%d\.%m\.%Y' \(day-first or month-first\).* Give the format with date_format"),
    "mixed date formats": (lambda: BASE.assign(ds=[d.strftime("%Y-%m-%d" if i % 2 else "%m/%d/%Y") for i, d in enumerate(BASE["ds"])]),
                           {}, ValueError, r"Column 'ds' mixes several date formats .* Give the format with date_format"),
    "dates off date_format": (lambda: BASE.assign(ds=BASE["ds"].dt.strftime("%Y-%m-%d")), {"date_format": "%d.%m.%Y"},
                              ValueError, r"Column 'ds' has values that don't match date_format='%d\.%m\.%Y': \['2019-01-01'"),
    "bad nonnegative": (lambda: BASE, {"nonnegative": "yes"}, ValueError,
                        "nonnegative must be 'auto' .* True or False, got 'yes'."),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name):
    make_df, params, error, message = CASES[name]
    with pytest.raises(error, match=message):
        _tuner(**params).fit(make_df())


def test_inverted_optuna_distribution_is_refused_when_the_space_is_built():
    with pytest.raises(ValueError, match="low <= high"):
        FloatDistribution(0.5, 0.01)


@pytest.fixture(scope="module")
def fitted():
    return _tuner(n_trials=2, random_state=0).fit(BASE)


FUTURE_CASES = {
    "not a frame": (lambda f: f.to_numpy(), TypeError, "Expected a pandas DataFrame of groups and dates"),
    "empty": (lambda f: f.iloc[:0], ValueError, "The frame to predict is empty"),
    "missing column": (lambda f: f.drop(columns="store"), ValueError,
                       r"The following columns are missing from the frame to predict: \['store'\]"),
    "unknown group": (lambda f: f.assign(item=9), ValueError,
                      r"1 group\(s\) to predict were not in the data given to fit: \[\(1, 9\)\]"),
    "dates before history": (lambda f: f.assign(ds=f["ds"] - pd.Timedelta(days=400)), ValueError,
                             r"2 group\(s\) to predict have dates before their history: \['\(1, 1\) from 2018-06-15 "
                             r"\(history starts 2019-01-01\)'"),
    "tz-aware dates": (lambda f: f.assign(ds=f["ds"].dt.tz_localize("UTC")), ValueError, "Column 'ds' is timezone-aware"),
    "null group key": (lambda f: f.assign(item=f["item"].where(f.index != 0)), ValueError,
                       "Group column 'item' has 1 missing values"),
}


@pytest.mark.parametrize("name", list(FUTURE_CASES))
def test_bad_frame_to_predict(fitted, name):
    change, error, message = FUTURE_CASES[name]
    future = fitted.make_future_dataframe(periods=3)
    with pytest.raises(error, match=message):
        fitted.predict(change(future))
