"""The fast predictor computes Prophet's forecast: point forecasts and intervals equal to
``Prophet.predict``'s, and the tuner's predict is reproducible and the same in parallel."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from prophet_grouped import GroupedProphetTuner, fastpredict, make_retail_sales
from prophet_grouped.forecast import forecast_group

logging.getLogger("cmdstanpy").disabled = True


def _series(n: int, freq: str = "D", seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    ds = pd.date_range("2019-01-01", periods=n, freq=freq)
    y = 50 + 0.02 * i + 5 * np.sin(2 * np.pi * i / 7) + 8 * np.sin(2 * np.pi * i / 365.25) + rng.normal(0, 2, n)
    return pd.DataFrame({"ds": ds, "y": y, "price": rng.normal(3, 0.3, n), "promo": rng.integers(0, 2, n),
                         "open": ds.month < 6})


EVENTS = pd.DataFrame({
    "holiday": ["sale"] * 3 + ["closed"] * 2,
    "ds": pd.to_datetime(["2019-03-01", "2020-03-01", "2021-03-01", "2019-12-25", "2021-12-25"]),
    "lower_window": [-1, -1, -1, 0, 0], "upper_window": [2, 2, 2, 0, 0], "prior_scale": [5.0] * 3 + [1.0] * 2,
})


def _model(kind: str):
    from prophet import Prophet

    if kind == "events":
        return Prophet(holidays=EVENTS, holidays_mode="multiplicative").add_country_holidays("US")
    if kind == "regressors":
        m = Prophet(seasonality_mode="multiplicative")
        m.add_regressor("price")
        m.add_regressor("promo", mode="additive")
        return m
    if kind == "logistic":
        return Prophet(growth="logistic")
    if kind == "flat":
        return Prophet(growth="flat", scaling="minmax")
    if kind == "conditional":
        m = Prophet(weekly_seasonality=False)
        return m.add_seasonality("weekly_open", 7, 3, condition_name="open")
    return Prophet()


CASES = {  # kind: (history, dates to forecast: the last 10 days of history and what follows)
    "events": ("D", 800, 90),
    "regressors": ("D", 800, 90),
    "logistic": ("D", 500, 30),
    "flat": ("D", 400, 30),
    "conditional": ("D", 500, 60),
    "hourly": ("h", 24 * 30, 48),
    "monthly": ("MS", 96, 1),
    "long": ("D", 700, 200),  # past fastpredict._RAMP_MAX future steps: the trend changes summed
}


@pytest.mark.parametrize("kind", list(CASES))
def test_fast_predictor_equals_prophet_predict(kind):
    freq, n, ahead = CASES[kind]
    df = _series(n + ahead, freq)
    if kind == "logistic":
        df["cap"] = 120.0
        df["floor"] = 10.0
    history, future = df.iloc[:n], df.iloc[n - 10:].drop(columns="y")
    model = _model(kind if kind not in ("hourly", "monthly", "long") else "default").fit(history)
    np.random.seed(3)
    expected = model.predict(future)
    got = fastpredict.predict(model, future, np.random.RandomState(3))
    assert got is not None, f"{kind}: the fast predictor did not cover the model"
    pd.testing.assert_series_equal(got["ds"], expected["ds"], check_dtype=False)
    for col in ("trend", "yhat", "yhat_lower", "yhat_upper"):
        np.testing.assert_allclose(got[col], expected[col], rtol=1e-9, atol=1e-9, err_msg=f"{kind}: {col}")
    assert (got["yhat_upper"] > got["yhat_lower"]).all()


@pytest.mark.parametrize("horizon", [90, 300])
def test_fast_sampler_draws_prophets_interval_distribution(horizon):
    """With a Generator the trend changes are drawn sparsely (how many, where, how large)
    rather than cell by cell: a different stream, the same distribution. On a series whose
    trend changed a lot (the intervals widen from 6 to 30-200 units: trend uncertainty
    dominates), the intervals of 20,000 samples agree with Prophet's to 6% of their width
    (measured: at most 3.2%; a 30% error in the changes' rate or size gives 10-16%)."""
    from prophet import Prophet

    df = _series(700)
    i = np.arange(700)
    df["y"] += np.where(i > 300, 0.3 * (i - 300), 0) - np.where(i > 500, 0.5 * (i - 500), 0)
    model = Prophet(uncertainty_samples=20000, changepoint_prior_scale=0.5).fit(df.iloc[:600])
    future = model.make_future_dataframe(periods=horizon, include_history=False)
    np.random.seed(0)
    expected = model.predict(future)
    got = fastpredict.predict(model, future, np.random.default_rng(1))
    width = (expected["yhat_upper"] - expected["yhat_lower"]).to_numpy()
    assert width[-1] > 5 * width[0]
    np.testing.assert_allclose(got["yhat"], expected["yhat"], rtol=1e-9)
    for col in ("yhat_lower", "yhat_upper"):
        error = np.abs(got[col].to_numpy() - expected[col].to_numpy()) / width
        assert error.max() < 0.06, f"{col}: {error.max():.3f} of the interval width from Prophet's"


def test_models_it_does_not_cover_take_prophets_predict_with_the_same_seed():
    df = _series(300)
    model = _model("default").fit(df)
    future = model.make_future_dataframe(periods=20, include_history=False)
    model.mcmc_samples = 10  # as an MCMC fit would be: outside what the fast predictor covers
    assert fastpredict.predict(model, future) is None
    first = forecast_group(model, future, nonnegative=False, seed=5)
    np.random.seed(5)
    expected = model.predict(future)
    np.testing.assert_allclose(first["yhat_lower"], expected["yhat_lower"], rtol=1e-12)
    state = np.random.get_state()[1].copy()
    again = forecast_group(model, future, nonnegative=False, seed=5)
    pd.testing.assert_frame_equal(again, first)
    assert (np.random.get_state()[1] == state).all(), "the global random state was not restored"


def test_without_uncertainty_samples_the_interval_is_nan():
    from prophet import Prophet

    df = _series(300)
    model = Prophet(uncertainty_samples=0).fit(df)
    future = model.make_future_dataframe(periods=5, include_history=False)
    fc = forecast_group(model, future, nonnegative=False, seed=0)
    np.testing.assert_allclose(fc["yhat"], model.predict(future)["yhat"], rtol=1e-9)
    assert fc["yhat_lower"].isna().all() and fc["yhat_upper"].isna().all()


def test_predict_is_reproducible_and_the_same_in_parallel(sales8):
    tuner = GroupedProphetTuner(group_cols=["store", "item"], n_trials=2, cv_folds=1, horizon=30, n_jobs=2,
                                random_state=0).fit(sales8)
    future = tuner.make_future_dataframe(periods=30)
    parallel = tuner.predict(future)
    pd.testing.assert_frame_equal(tuner.predict(future), parallel)
    tuner.set_params(n_jobs=1)
    serial = tuner.predict(future)
    pd.testing.assert_frame_equal(serial, parallel)
    # Each group has its own draws: two groups' interval widths are not a copy of each other.
    width = (serial["yhat_upper"] - serial["yhat_lower"]).to_numpy().reshape(8, 30)
    assert not np.allclose(width[0], width[1])
    # The models' own predict gives the same point forecasts.
    key = (1, 1)
    rows = future[(future["store"] == 1) & (future["item"] == 1)]
    np.testing.assert_allclose(
        serial.loc[rows.index, "yhat"],
        np.maximum(tuner.models_[key].predict(rows[["ds"]])["yhat"].to_numpy(), 0.0),
        rtol=1e-9,
    )


def test_forecast_in_one_pass_equals_fit_then_predict(sales6, local_reference, tmp_path):
    from .conftest import CROSS_BACKEND, assert_forecast_matches, assert_same_results

    tuner = GroupedProphetTuner(n_jobs=2, checkpoint_dir=str(tmp_path / "ckpt"), **CROSS_BACKEND)
    forecast = tuner.forecast(sales6, periods=12)
    assert_same_results(tuner, local_reference)
    assert list(forecast.columns) == ["store", "item", "ds", "yhat", "yhat_lower", "yhat_upper"]
    assert len(forecast) == 6 * 12
    assert_forecast_matches(forecast, local_reference, periods=12)
    assert tuner.models_ == {}
    with pytest.raises(ValueError, match="kept no models.*keep_models=True"):
        tuner.predict(local_reference.make_future_dataframe(periods=3))
    # Resumed from the checkpoint: the forecasts come back with the groups' results.
    again = GroupedProphetTuner(n_jobs=1, checkpoint_dir=str(tmp_path / "ckpt"), **CROSS_BACKEND)
    pd.testing.assert_frame_equal(again.forecast(sales6, periods=12), forecast)
    # Other periods are other settings for the checkpoint.
    with pytest.raises(ValueError, match="forecast_periods"):
        again.forecast(sales6, periods=5)
    kept = GroupedProphetTuner(n_jobs=1, **{**CROSS_BACKEND, "n_trials": 1})
    fc = kept.forecast(sales6[sales6["store"] == 1], keep_models=True)  # periods: the horizon
    assert len(fc) == 3 * 30 and len(kept.models_) == 3
    pd.testing.assert_frame_equal(kept.predict(kept.make_future_dataframe(periods=30)), fc)


def test_forecast_refuses_models_that_need_future_values(sales6):
    tuner = GroupedProphetTuner(group_cols=["store", "item"], regressor_cols=["price"])
    with pytest.raises(ValueError, match=r"future values of \['price'\].*fit\(X\), then predict"):
        tuner.forecast(sales6.assign(price=1.0))
    with pytest.raises(ValueError, match="periods must be"):
        GroupedProphetTuner(group_cols=["store", "item"]).forecast(sales6, periods=0)


def test_make_future_dataframe_is_prophets_from_each_groups_last_date():
    """The next dates of each group come from results_["history_end"] (no model loaded), and
    are what each model's own make_future_dataframe gives: groups ending on different dates,
    daily and monthly data."""
    for freq, n, cut in (("D", 200, 150), ("MS", 96, 72)):
        a, b = _series(n, freq), _series(n, freq, seed=1).iloc[:cut]
        df = pd.concat([a.assign(g="a"), b.assign(g="b")])[["g", "ds", "y"]]
        tuner = GroupedProphetTuner(group_cols="g", n_trials=1, cv_folds=1, n_jobs=1, random_state=0).fit(df)
        assert list(tuner.results_["history_end"]) == [a["ds"].max(), b["ds"].max()]
        got = tuner.make_future_dataframe(periods=7)
        expected = pd.concat([
            tuner.models_[(g,)].make_future_dataframe(periods=7, freq=tuner.freq_, include_history=False).assign(g=g)
            for g in ("a", "b")
        ], ignore_index=True)[["g", "ds"]]
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_make_future_dataframe_after_a_forecast_that_kept_no_models(sales6):
    """It returned an empty frame without a word; the groups' last dates are in results_."""
    import warnings

    params = dict(group_cols=["store", "item"], n_trials=2, horizon=14, cv_folds=1, n_jobs=1, random_state=0,
                  verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        light = GroupedProphetTuner(**params)
        light.forecast(sales6, periods=5)
        kept = GroupedProphetTuner(**params)
        kept.forecast(sales6, periods=5, keep_models=True)
    assert len(light.models_) == 0
    pd.testing.assert_frame_equal(light.make_future_dataframe(periods=7), kept.make_future_dataframe(periods=7))
    with pytest.raises(ValueError, match=r"make_future_dataframe\(include_history=True\) needs the groups' models"):
        light.make_future_dataframe(periods=7, include_history=True)
    with pytest.raises(ValueError, match=r"This tuner kept no models"):
        light.predict(light.make_future_dataframe(periods=7))


def test_without_a_generator_the_fast_predictor_draws_from_numpys_global_state():
    """As Prophet.predict does: np.random.seed decides the draws (reached without numpy's private
    np.random.mtrand._rand)."""
    from prophet_grouped.fastpredict import global_random_state

    model = _model("default").fit(_series(300))
    future = model.make_future_dataframe(periods=20, include_history=False)
    np.random.seed(5)
    first = fastpredict.predict(model, future)
    np.random.seed(5)
    again = fastpredict.predict(model, future)
    np.random.seed(5)
    expected = model.predict(future)
    pd.testing.assert_series_equal(first["yhat_upper"], again["yhat_upper"])
    np.testing.assert_allclose(first["yhat_upper"], expected["yhat_upper"], rtol=1e-9)
    assert global_random_state() is np.random.normal.__self__


@pytest.mark.parametrize("pool_start, start_method", [(float("inf"), "auto"), (0.0, "fork"), (0.0, "loky")])
def test_predict_in_process_or_in_the_pool_gives_the_same_forecasts(pool_start, start_method, monkeypatch):
    """A few dozen groups were sent to a new pool of worker processes, whose start-up cost more
    than the forecasts (1.2-2x stock Prophet, against 9-11x in one process). A few groups are
    timed here and a pool started only when it saves more than it costs: the same forecasts
    either way (pool_start=inf: all here; 0: the rest in forked workers, or loky's)."""
    from prophet_grouped.backends import base, local

    df = make_retail_sales(n_stores=3, n_items=8, periods=200, seed=4)
    tuner = GroupedProphetTuner(group_cols=["store", "item"], n_trials=1, cv_folds=1, horizon=14, n_jobs=1,
                                random_state=0, verbose=0).fit(df)
    future = tuner.make_future_dataframe(periods=20)
    serial = tuner.predict(future)
    pools = []
    real = local.LocalBackend.forecast_in_pool

    def counted(self, parts, *args):
        pools.append(sum(len(part) for part in parts))
        yield from real(self, parts, *args)

    monkeypatch.setattr(local.LocalBackend, "forecast_in_pool", counted)
    monkeypatch.setattr(base, "POOL_START_SECONDS", pool_start)
    monkeypatch.setattr(local, "FORK_START_SECONDS", pool_start)
    tuner.set_params(n_jobs=2, backend=local.LocalBackend(start_method=start_method))
    pd.testing.assert_frame_equal(tuner.predict(future), serial)
    assert pools == ([] if pool_start == float("inf") else [24 - base.PROBE_GROUPS])


def _die(index):
    import os

    os._exit(1)


def test_a_forked_predict_worker_that_dies_loses_no_group(monkeypatch):
    from prophet_grouped.backends import local

    df = make_retail_sales(n_stores=3, n_items=8, periods=200, seed=4)
    tuner = GroupedProphetTuner(group_cols=["store", "item"], n_trials=1, cv_folds=1, horizon=14, n_jobs=1,
                                random_state=0, verbose=0).fit(df)
    future = tuner.make_future_dataframe(periods=20)
    serial = tuner.predict(future)
    monkeypatch.setattr(local, "FORK_START_SECONDS", 0.0)
    monkeypatch.setattr(local, "_forecast_part", _die)  # the forked worker dies
    tuner.set_params(n_jobs=2, backend=local.LocalBackend(start_method="fork"))
    pd.testing.assert_frame_equal(tuner.predict(future), serial)


def test_a_forecast_batch_runs_with_the_collector_paused_and_leaves_no_cycles_behind():
    """forecast_batch pauses Python's garbage collector (a full collection inside a 60-group
    predict cost a quarter of it): that is safe only while it makes no reference cycles, which
    the collector would otherwise free. Checked on saved models (loaded inside the batch), with
    holidays, intervals and the calibrated offsets; the collector is on again afterwards, and
    a batch that raises leaves it on too."""
    import gc

    from prophet_grouped import GroupedProphetTuner, make_retail_sales
    from prophet_grouped.forecast import forecast_batch

    df = make_retail_sales(n_stores=1, n_items=3, periods=400, seed=2)
    tuner = GroupedProphetTuner(group_cols=["store", "item"], n_trials=2, cv_folds=1, horizon=28, n_jobs=1,
                                holidays_country="US", random_state=0).fit(df)
    future = tuner.make_future_dataframe(periods=30)
    expected = tuner.predict(future)
    jobs = [(key, tuner.models_.record(key), part["ds"].to_numpy())
            for key, part in future.groupby(["store", "item"])]
    assert all(isinstance(record, tuple) for _, record, _ in jobs)  # loaded inside the batch
    gc.collect()
    seen = []
    gc.callbacks.append(lambda phase, info: seen.append(phase))
    try:
        out = forecast_batch(jobs, True, 0)
    finally:
        gc.callbacks.pop()
    assert seen == [] and gc.isenabled()
    assert gc.collect() == 0, "a forecast batch left reference cycles for the collector"
    assert len(out) == 3 and all(values.shape == (30, 3) for _, values in out)
    got = np.concatenate([values for _, values in sorted(out)])
    np.testing.assert_allclose(got[:, 0], expected.sort_values(["store", "item", "ds"])["yhat"].to_numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="dates before their history"):
        forecast_batch([(jobs[0][0], jobs[0][1], np.array(["2000-01-01"], dtype="datetime64[ns]"))], True, 0)
    assert gc.isenabled()
