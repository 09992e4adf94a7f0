"""Target transforms: a group may fit log1p(y) and forecast y, chosen by validation loss in y's
units; forecasts stay within the guard; every path (fast engine, fast predictor, save/load,
forecast in one pass) computes what stock Prophet on log1p(y) and expm1 compute. Real Prophet
and Optuna; the online-retail item that once blew up is read from ../shared/data at run time."""

from __future__ import annotations

import json
import logging
import os
import warnings

import numpy as np
import optuna
import pandas as pd
import pytest

from prophet_grouped import (
    GroupedProphetTuner,
    fastpredict,
    make_retail_sales,
    transforms,
)
from prophet_grouped.engines import quiet, stan_output_dir
from prophet_grouped.metrics import mae
from prophet_grouped.objective import Fold, evaluate, make_folds
from prophet_grouped.search_space import resolve_search_space

logging.getLogger("cmdstanpy").disabled = True
DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def _growing(n: int = 400, rate: float = 0.006, seed: int = 0) -> pd.DataFrame:
    """Sales growing exponentially with a multiplicative weekly pattern."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    y = 5 * np.exp(rate * i) * (1 + 0.3 * np.sin(2 * np.pi * i / 7)) * rng.lognormal(0, 0.1, n)
    return pd.DataFrame({"ds": pd.date_range("2021-01-01", periods=n, freq="D"), "y": y})


def test_the_setting_is_checked_and_log1p_is_refused_where_it_cannot_serve():
    with pytest.raises(ValueError, match=r"transform must be 'auto' .* got 'log'"):
        GroupedProphetTuner(transform="log").fit(make_retail_sales(n_stores=1, n_items=1, periods=100))
    assert transforms.choices("auto", np.array([0.0, 3.0])) == ("none", "log1p")
    assert transforms.choices("auto", np.array([-1.0, 3.0])) == ("none",)
    assert transforms.choices("auto", np.array([0.0, 3.0]), logistic=True) == ("none",)
    assert transforms.choices(None, np.array([0.0, 3.0])) == ("none",)
    with pytest.raises(ValueError, match=r"transform='log1p' can't be used with 1 negative y values"):
        transforms.choices("log1p", np.array([-1.0, 3.0]))


def test_the_guard_caps_back_transformed_values_at_twice_the_history_maximum():
    y = np.array([0.0, 10.0, 50.0])
    cap = transforms.ceiling(y)
    assert cap == 100.0
    back = transforms.inverse(np.log1p(np.array([5.0, 99.0, 1e6])), "log1p", cap)
    np.testing.assert_allclose(back, [5.0, 99.0, 100.0], rtol=1e-12)
    np.testing.assert_array_equal(transforms.inverse(np.array([1e6]), "none", cap), [1e6])


def test_cached_features_give_the_same_losses_as_fitting_prophet_on_log1p():
    """The batch engine's cached solves on log1p(y), back-transformed, equal the ordinary fit."""
    df = make_retail_sales(n_stores=1, n_items=2, periods=500, seed=5)
    space = resolve_search_space("prophet-docs").with_transforms(("none", "log1p"))
    with stan_output_dir() as out:
        for item, part in df.groupby("item"):
            frame = part[["ds", "y"]].reset_index(drop=True)
            folds = make_folds(frame, 30, "D", 2, None, None, engine="batch", transform="log1p")
            plain = [Fold(f.cutoff, f.train, f.valid, None, "log1p") for f in folds]
            study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=item))
            for _ in range(5):
                params = {**space.sample(study.ask()), "transform": "log1p"}
                cached = evaluate(params, folds, mae, "batch", out)
                ordinary = evaluate(params, plain, mae, "batch", out)
                assert cached == pytest.approx(ordinary, rel=1e-9)
            assert sum(f.cache.misses for f in folds) == 0
            # The loss is in y's units: the model's forecast of log1p(y), back-transformed.
            with quiet():
                from prophet import Prophet

                fold = folds[0]
                model = Prophet().fit(fold.train.assign(y=np.log1p(fold.train["y"])))
                yhat = np.expm1(np.minimum(model.predict(fold.valid[["ds"]])["yhat"].to_numpy(),
                                           np.log1p(2 * fold.train["y"].max())))
            by_hand = mae(fold.valid["y"].to_numpy(), yhat)
            assert evaluate({"transform": "log1p"}, [plain[0]], mae, "stan", out) == pytest.approx(by_hand, rel=1e-6)


@pytest.fixture(scope="module")
def growing_tuner():
    frames = [_growing(seed=s).assign(item=s) for s in (0, 1)]
    df = pd.concat(frames, ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tuner = GroupedProphetTuner(group_cols="item", n_trials=6, horizon=28, transform="log1p", n_jobs=1,
                                    random_state=0, verbose=0).fit(df)
    return df, tuner


def test_forecasts_of_an_exponential_trend_stay_within_the_guard_and_equal_prophet_on_log1p(growing_tuner):
    df, tuner = growing_tuner
    assert (tuner.results_["transform"] == "log1p").all()
    assert (tuner.best_params_["transform"] == "log1p").all()
    future = tuner.make_future_dataframe(periods=730)
    fc = tuner.predict(future)
    for item, part in df.groupby("item"):
        cap = 2 * part["y"].max()
        got = fc[fc["item"] == item]
        assert got[["yhat", "yhat_lower", "yhat_upper"]].to_numpy().max() <= cap * (1 + 1e-12)
        assert got["yhat"].iloc[-1] == pytest.approx(cap)  # two years on, the trend has met the cap
        # Stock Prophet with the same parameters on log1p(y), back-transformed and capped:
        # the fast predictor's point forecast equals it.
        model = tuner.models_[(item,)]
        np.random.seed(0)
        with quiet():
            stock = model.predict(future.loc[future["item"] == item, ["ds"]])
        expected = np.expm1(np.minimum(stock["yhat"].to_numpy(), np.log1p(cap)))
        np.testing.assert_allclose(got["yhat"].to_numpy(), expected, rtol=1e-9, atol=1e-9)
        fast = fastpredict.predict(model, future.loc[future["item"] == item, ["ds"]], np.random.RandomState(0))
        np.testing.assert_allclose(np.expm1(np.minimum(fast["yhat_upper"], np.log1p(cap))),
                                   np.expm1(np.minimum(stock["yhat_upper"], np.log1p(cap))), rtol=1e-9)


def test_a_log1p_model_survives_save_load_and_its_file_is_plain_prophet_json_plus_the_transform(growing_tuner, tmp_path):
    df, tuner = growing_tuner
    tuner.save(str(tmp_path / "t"))
    loaded = GroupedProphetTuner.load(str(tmp_path / "t"))
    future = tuner.make_future_dataframe(periods=60)
    pd.testing.assert_frame_equal(loaded.predict(future), tuner.predict(future))
    text = loaded.models_.json((0,))
    assert json.loads(text)["target_transform"] == {"name": "log1p", "ceiling": 2 * df.loc[df["item"] == 0, "y"].max()}
    from prophet.serialize import model_from_json

    with quiet():
        plain = model_from_json(text)  # Prophet reads it; it forecasts log1p(y)
    assert plain.history["y"].max() == pytest.approx(np.log1p(df.loc[df["item"] == 0, "y"].max()))


def test_forecast_in_one_pass_equals_fit_then_predict_with_the_transform(growing_tuner):
    df, tuner = growing_tuner
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one_pass = GroupedProphetTuner(**tuner.get_params()).forecast(df, periods=45)
    expected = tuner.predict(tuner.make_future_dataframe(periods=45))
    pd.testing.assert_frame_equal(one_pass.reset_index(drop=True), expected.reset_index(drop=True))


def test_auto_chooses_per_group_by_validation_loss_with_prophets_defaults_scored_both_ways():
    """A series growing exponentially is fitted better on log1p(y); a steady additive one is not.
    Prophet's defaults are the first two trials, raw then log1p (under a year of days: no monthly
    seasonality is tuned, which would make the defaults an extra candidate)."""
    steady = make_retail_sales(n_stores=1, n_items=1, periods=360, seed=3)[["ds", "y"]]
    df = pd.concat([_growing(n=360, seed=2).assign(item="growing"), steady.assign(item="steady")], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tuner = GroupedProphetTuner(group_cols="item", n_trials=8, horizon=28, metric="mae", n_jobs=1,
                                    random_state=0, verbose=0).fit(df)
    results = tuner.results_.set_index("item")
    assert results.loc["growing", "transform"] == "log1p"
    study = tuner.studies_[("growing",)]
    first_two = [params for params, _ in study["trials"][:2]]
    assert [p["transform"] for p in first_two] == ["none", "log1p"]
    assert first_two[0]["changepoint_prior_scale"] == first_two[1]["changepoint_prior_scale"] == 0.05
    # The default score is untuned Prophet on y itself, as before.
    assert results.loc["growing", "default_score"] == pytest.approx(study["trials"][0][1])
    none = GroupedProphetTuner(**{**tuner.get_params(), "transform": None}).fit(df)
    assert (none.results_["transform"] == "none").all() and "transform" not in none.best_params_.columns
    pd.testing.assert_series_equal(none.results_["default_score"], tuner.results_["default_score"])


@pytest.mark.skipif(not os.path.isdir(DATA), reason=f"the real data folder {DATA} is missing")
def test_the_online_retail_item_that_blew_up_is_bounded_by_the_guard_and_not_chosen_by_auto():
    """Item 22086 of Prophet's online-retail example, the 28 days two windows before the end
    (autumn 2011, its sales rising fast): on log1p(y) its forecast ran exponentially (MAE 766,
    peak 3,056 after a history peak of 320) where the raw model errs by 73. The guard bounds it
    at twice the history's peak; "auto" scores both on validation and keeps the raw target."""
    df = pd.read_csv(os.path.join(DATA, "example_online_retail_multivariate.csv"), parse_dates=["ds"])
    end = df["ds"].max() - pd.Timedelta(days=56)  # the data set's end, two windows back
    df = df[df["item"].astype(str) == "22086"]
    train, test = df[df["ds"] <= end - pd.Timedelta(days=28)], df[(df["ds"] > end - pd.Timedelta(days=28)) & (df["ds"] <= end)]
    actual = test["y"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logged = GroupedProphetTuner(group_cols="item", horizon=28, transform="log1p", n_jobs=1, random_state=0,
                                     verbose=0).fit(train)
        auto = GroupedProphetTuner(**{**logged.get_params(), "transform": "auto"}).fit(train)
        raw = GroupedProphetTuner(**{**logged.get_params(), "transform": None}).fit(train)
    fc = logged.predict(test[["item", "ds"]])
    assert fc[["yhat", "yhat_upper"]].to_numpy().max() <= 2 * train["y"].max() * (1 + 1e-12)
    model = logged.models_[("22086",)]
    with quiet():
        unguarded = np.maximum(np.expm1(model.predict(test[["ds"]])["yhat"].to_numpy()), 0)
    assert unguarded.max() > 4 * train["y"].max()  # what the guard is for
    assert mae(actual, fc["yhat"].to_numpy()) < 0.5 * mae(actual, unguarded)
    assert auto.results_["transform"].iloc[0] == "none"
    auto_error = mae(actual, auto.predict(test[["item", "ds"]])["yhat"].to_numpy())
    assert auto_error <= 1.1 * mae(actual, raw.predict(test[["item", "ds"]])["yhat"].to_numpy())


def test_the_cross_backend_scenario_has_groups_on_both_targets(local_reference):
    """Every backend's test matches local_reference group by group (conftest.assert_same_results),
    so each backend is held to the same transforms and back-transformed forecasts on both kinds."""
    assert set(local_reference.results_["transform"]) == {"none", "log1p"}


def test_a_champion_on_log1p_is_not_scored_on_y_where_the_group_may_no_longer_use_it():
    """Its parameters were scored on the raw folds (the transform name dropped) and could be
    refit on log1p(y) of a history with negative values."""
    before = _growing(seed=4).assign(item=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        previous = GroupedProphetTuner(group_cols="item", n_trials=2, horizon=28, cv_folds=1, transform="log1p",
                                       n_jobs=1, random_state=0, verbose=0).fit(before)
        after = before.copy()
        after.loc[after.index[5], "y"] = -1.0  # a return: log1p is out
        tuner = GroupedProphetTuner(group_cols="item", n_trials=2, horizon=28, cv_folds=1, champion=previous,
                                    n_jobs=1, random_state=0, verbose=0).fit(after)
    row = tuner.results_.iloc[0]
    assert row["status"] == "ok" and bool(row["promoted"]) and row["transform"] == "none"
    assert "the champion's parameters: ValueError: transform='log1p' is not one this group may use" in row["error"]
