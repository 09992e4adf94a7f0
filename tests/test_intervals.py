"""Calibrated intervals: each group's interval is its point forecast plus the quantiles of its
chosen model's errors on its validation folds. Real Prophet and Optuna."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from prophet_grouped import (
    GroupedProphetTuner,
    intervals,
    make_retail_sales,
    plan,
    transforms,
)
from prophet_grouped.engines import stan_output_dir
from prophet_grouped.objective import Fold, fold_errors, forecast_folds, make_folds
from prophet_grouped.tuning import usable_rows

SETTINGS = dict(group_cols=["store", "item"], n_trials=4, horizon=28, cv_folds=2, random_state=0, n_jobs=1,
                verbose=0, intervals="calibrated")


@pytest.fixture(scope="module")
def sales():
    """Three generated store-items and one growing in proportion (which "auto" fits on log1p)."""
    df = make_retail_sales(n_stores=1, n_items=3, periods=500, seed=4)
    i = np.arange(500)
    rng = np.random.default_rng(4)
    growing = 5 * np.exp(0.004 * i) * (1 + 0.3 * np.sin(2 * np.pi * i / 7)) * rng.lognormal(0, 0.15, 500)
    extra = pd.DataFrame({"store": 1, "item": 4, "ds": df["ds"].iloc[:500].to_numpy(), "y": growing})
    return pd.concat([df, extra], ignore_index=True)


@pytest.fixture(scope="module")
def calibrated(sales):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GroupedProphetTuner(**SETTINGS).fit(sales)


def test_the_offsets_are_the_quantiles_of_the_chosen_models_validation_errors(sales, calibrated):
    """Recomputed by hand on folds without the engine's cache (the ordinary fit): equal."""
    config = plan.make_config(calibrated)[1]
    for (store, item), part in sales.groupby(["store", "item"]):
        params = calibrated.best_params_.set_index(["store", "item"]).loc[(store, item)].dropna().to_dict()
        frame = part[["ds", "y"]].reset_index(drop=True)
        transform = params.get("transform", "none")
        folds = [Fold(f.cutoff, f.train, f.valid, None, transform)
                 for f in make_folds(frame, 28, "D", 2, None, transform=transform)]
        _, drivers = usable_rows(frame, config, (store, item))
        with stan_output_dir() as out:
            forecasts = forecast_folds(params, folds, "batch", out, drivers=drivers, back=False)
        errors = np.concatenate([transforms.forward(f.valid["y"].to_numpy(), transform) - yhat
                                 for f, yhat in zip(folds, forecasts)])
        np.testing.assert_array_equal(fold_errors(folds, forecasts), errors)
        assert len(errors) == 56
        low, high = np.quantile(errors, [0.1, 0.9])
        model = calibrated.models_[(store, item)]
        assert intervals.of(model) == pytest.approx((low, high), rel=1e-9, abs=1e-9)


def test_predict_adds_the_offsets_to_the_point_forecast_and_clips_at_zero(calibrated):
    future = calibrated.make_future_dataframe(periods=30)
    fc = calibrated.predict(future)
    kinds = set()
    for key, part in fc.groupby(["store", "item"]):
        model = calibrated.models_[key]
        low, high = intervals.of(model)
        name, cap = transforms.of(model)
        kinds.add(name)
        assert low < 0 < high and part["yhat"].max() < (cap or np.inf)  # the guard does not bind here
        # In the model's space (log1p(y) for a log1p model), then back and clipped at 0.
        point = transforms.forward(part["yhat"].to_numpy(), name)
        for col, offset in (("yhat_lower", low), ("yhat_upper", high)):
            np.testing.assert_allclose(part[col], np.maximum(transforms.inverse(point + offset, name), 0), rtol=1e-9)
    assert kinds == {"none", "log1p"}, kinds


def test_prophets_own_intervals_on_request_and_a_short_validation_keeps_them(sales, calibrated):
    assert GroupedProphetTuner().intervals == "wider", "the default: the wider of the two"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        own = GroupedProphetTuner(**{**SETTINGS, "intervals": "prophet"}).fit(sales)
        short = GroupedProphetTuner(**{**SETTINGS, "horizon": 9, "cv_folds": 2}).fit(sales)  # 18 errors
    assert all(intervals.of(m) is None for m in own.models_.values())
    assert all(intervals.of(m) is None for m in short.models_.values())
    future = own.make_future_dataframe(periods=30)
    pd.testing.assert_series_equal(own.predict(future)["yhat"], calibrated.predict(future)["yhat"])
    assert not np.allclose(own.predict(future)["yhat_upper"], calibrated.predict(future)["yhat_upper"])
    with pytest.raises(ValueError, match=r"intervals must be 'prophet' .* got 'conformal'"):
        GroupedProphetTuner(**{**SETTINGS, "intervals": "conformal"}).fit(sales)


def test_the_calibration_survives_save_load_and_the_width_follows_interval_width(sales, calibrated, tmp_path):
    calibrated.save(str(tmp_path / "t"))
    loaded = GroupedProphetTuner.load(str(tmp_path / "t"))
    future = calibrated.make_future_dataframe(periods=10)
    pd.testing.assert_frame_equal(loaded.predict(future), calibrated.predict(future))
    key = next(iter(loaded.models_))
    assert json.loads(loaded.models_.json(key))["calibrated_interval"]["width"] == 0.8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wide = GroupedProphetTuner(**{**SETTINGS, "prophet_params": {"interval_width": 0.95}}).fit(sales)
    # Trials draw no intervals: the same models, wider quantiles of the same errors.
    pd.testing.assert_frame_equal(wide.best_params_, calibrated.best_params_)
    for key, model in wide.models_.items():
        low, high = intervals.of(model)
        narrow = intervals.of(calibrated.models_[key])
        assert low < narrow[0] and high > narrow[1]
        assert json.loads(wide.models_.json(key))["calibrated_interval"]["width"] == 0.95


def test_wider_takes_the_wider_of_prophets_own_and_the_calibrated_interval_at_each_bound(sales, calibrated, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        own = GroupedProphetTuner(**{**SETTINGS, "intervals": "prophet"}).fit(sales)
        wider = GroupedProphetTuner(**{**SETTINGS, "intervals": "wider"}).fit(sales)
    future = own.make_future_dataframe(periods=30)
    got, a, b = wider.predict(future), own.predict(future), calibrated.predict(future)
    pd.testing.assert_series_equal(got["yhat"], a["yhat"])
    np.testing.assert_allclose(got["yhat_lower"], np.minimum(a["yhat_lower"], b["yhat_lower"]), rtol=1e-12)
    np.testing.assert_allclose(got["yhat_upper"], np.maximum(a["yhat_upper"], b["yhat_upper"]), rtol=1e-12)
    # Each bound comes from each side somewhere: neither interval contains the other everywhere.
    assert (a["yhat_upper"] > b["yhat_upper"]).any() and (b["yhat_upper"] > a["yhat_upper"]).any()
    wider.save(str(tmp_path / "w"))
    pd.testing.assert_frame_equal(GroupedProphetTuner.load(str(tmp_path / "w")).predict(future), got)
