"""The AutoETS challenger (``candidates=("prophet", "ets")``): each group keeps the model kind
that wins on its validation folds; an ETS group forecasts what statsforecast's AutoETS forecasts
(real statsforecast, Prophet and Optuna), through predict, forecast, save/load, plots, the CLI
and MLflow. Spark and Ray run the same scenario in test_spark.py and test_ray.py."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from statsforecast.models import AutoETS

from prophet_grouped import GroupedProphetTuner
from prophet_grouped.ets import EtsModel, regular_series
from prophet_grouped.metrics import mae
from prophet_grouped.models import model_from_text, model_json
from tests.conftest import ETS_SETTINGS


def _series(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    y = 30 + 0.05 * i + 5 * np.sin(2 * np.pi * i / 7) + rng.normal(0, 1, n)
    return pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=n, freq="D"), "y": y})


def test_an_ets_model_forecasts_what_statsforecast_forecasts():
    frame = _series()
    model = EtsModel.fit(frame, "D", 7)
    reference = AutoETS(season_length=7).fit(frame["y"].to_numpy())
    ahead = reference.predict(10, level=[80])
    inside = reference.predict_in_sample(level=[80])
    future = pd.date_range(frame["ds"].iloc[-1], periods=11, freq="D")[1:]
    got = model.predict_values(future.to_numpy())
    np.testing.assert_allclose(got, np.column_stack([ahead["mean"], ahead["lo-80"], ahead["hi-80"]]), rtol=1e-12)
    got = model.predict_values(frame["ds"].to_numpy()[-5:])
    expected = np.column_stack([inside["fitted"], inside["fitted-lo-80"], inside["fitted-hi-80"]])[-5:]
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    # Its JSON (what saved folders, checkpoints and Spark rows hold) forecasts the same.
    again = model_from_text(model_json(model))
    assert isinstance(again, EtsModel)
    np.testing.assert_array_equal(again.predict_values(future.to_numpy()), model.predict_values(future.to_numpy()))


def test_gaps_are_interpolated_and_closed_days_skipped_on_the_groups_calendar():
    frame = _series(210)
    frame = frame[frame["ds"].dt.dayofweek != 6].reset_index(drop=True)  # closed on Sundays
    gappy = frame.drop(index=[50, 51, 120]).reset_index(drop=True)  # three unknown days
    grid, y = regular_series(gappy["ds"], gappy["y"].to_numpy(), "D", ("SUN",))
    assert (grid.dayofweek != 6).all() and len(grid) == len(frame)
    np.testing.assert_allclose(y[50:52], gappy["y"].iloc[49] + (gappy["y"].iloc[50] - gappy["y"].iloc[49]) * np.array([1, 2]) / 3)
    model = EtsModel.fit(gappy, "D", 7, closed=("SUN",))
    assert model.state["m"] == 6, "a week of a shop closed on Sundays is 6 open days"
    reference = AutoETS(season_length=6).fit(y).predict(12)["mean"]
    future = model.make_future_dataframe(12, include_history=False)["ds"]
    assert (future.dt.dayofweek != 6).all()
    np.testing.assert_allclose(model.predict_values(future.to_numpy())[:, 0], reference, rtol=1e-12)
    # A Sunday asked for explicitly gets the next open day's forecast.
    sunday = future[future.dt.dayofweek == 5].iloc[0] + pd.Timedelta(days=1)
    monday = sunday + pd.Timedelta(days=1)
    both = model.predict_values(np.array([sunday, monday], dtype="datetime64[ns]"))
    np.testing.assert_array_equal(both[0], both[1])


@pytest.fixture(scope="module")
def reference(ets_reference):
    return ets_reference


def test_each_group_keeps_the_model_kind_that_wins_on_its_folds(ets_sales, reference):
    results = reference.results_.set_index("unique_id")
    assert set(results["model"]) == {"prophet", "ets"}, "the scenario has groups of each kind"
    for uid, row in results.iterrows():
        history = ets_sales[ets_sales["unique_id"] == uid].reset_index(drop=True)
        # AutoETS's loss recomputed by hand on the same two folds of 14 days.
        losses = []
        for k in (2, 1):
            cut = len(history) - 14 * k
            train, valid = history.iloc[:cut], history.iloc[cut:cut + 14]
            yhat = AutoETS(season_length=7).fit(train["y"].to_numpy()).predict(14)["mean"]
            losses.append(mae(valid["y"].to_numpy(), np.maximum(yhat, 0.0)))
        assert row["ets_score"] == pytest.approx(np.mean(losses), rel=1e-9)
        prophet_best = min(v for v in reference.trials_[(uid,)] if v is not None)
        assert row["best_score"] == pytest.approx(min(prophet_best, row["ets_score"]), rel=1e-12)
        assert row["model"] == ("ets" if row["ets_score"] < prophet_best else "prophet")
        model = reference.models_[(uid,)]
        assert isinstance(model, EtsModel) == (row["model"] == "ets")
        if row["model"] == "ets":
            assert row["transform"] == "none"
            future = reference.make_future_dataframe(periods=7)
            got = reference.predict(future[future["unique_id"] == uid])
            direct = AutoETS(season_length=7).fit(history["y"].to_numpy()).predict(7, level=[80])
            np.testing.assert_allclose(got["yhat"], np.maximum(direct["mean"], 0.0), rtol=1e-9)
            np.testing.assert_allclose(got["yhat_upper"], np.maximum(direct["hi-80"], 0.0), rtol=1e-9)


def test_ets_groups_through_save_load_forecast_plots_and_calibration(ets_sales, reference, tmp_path):
    future = reference.make_future_dataframe(periods=10)
    expected = reference.predict(future)
    reference.save(tmp_path / "run")
    loaded = GroupedProphetTuner.load(tmp_path / "run")
    pd.testing.assert_frame_equal(loaded.predict(future), expected)
    pd.testing.assert_series_equal(loaded.results_["model"], reference.results_["model"])
    # forecast() forecasts in the worker, right after the refit: the same numbers.
    one_pass = GroupedProphetTuner(n_jobs=2, **ETS_SETTINGS).forecast(ets_sales, periods=10)
    pd.testing.assert_frame_equal(one_pass[expected.columns].reset_index(drop=True), expected, check_exact=False,
                                  rtol=1e-9)
    ets_key = tuple(reference.results_.loc[reference.results_["model"] == "ets", ["unique_id"]].iloc[0])
    fig = reference.plot_forecast(ets_key, periods=10, history=60)
    line = fig.axes[0].get_lines()[1]
    np.testing.assert_allclose(line.get_ydata()[-10:], expected.loc[expected["unique_id"] == ets_key[0], "yhat"])
    # Calibrated intervals: an ETS group's band is its point forecast plus its fold errors' quantiles.
    calibrated = GroupedProphetTuner(n_jobs=1, **{**ETS_SETTINGS, "intervals": "calibrated"}).fit(ets_sales)
    fc = calibrated.predict(future[future["unique_id"] == ets_key[0]])
    model = calibrated.models_[ets_key]
    assert model.offsets is not None
    np.testing.assert_allclose(fc["yhat_upper"] - fc["yhat"], model.offsets[1], rtol=1e-9)
    # "wider": AutoETS's own interval or the calibrated one, whichever is wider at each bound.
    wider = GroupedProphetTuner(n_jobs=1, **{**ETS_SETTINGS, "intervals": "wider"}).fit(ets_sales)
    got = wider.predict(future[future["unique_id"] == ets_key[0]])
    own = expected[expected["unique_id"] == ets_key[0]].reset_index(drop=True)
    np.testing.assert_allclose(got["yhat_upper"], np.maximum(own["yhat_upper"], fc["yhat_upper"]), rtol=1e-9)
    np.testing.assert_allclose(got["yhat_lower"], np.minimum(own["yhat_lower"], fc["yhat_lower"]), rtol=1e-9)


def test_candidates_are_checked_before_any_work(ets_sales, monkeypatch):
    for bad in (("ets",), "forest", ("prophet", "prophet"), ()):
        with pytest.raises(ValueError, match=r"candidates must hold 'prophet' and.*got " + __import__("re").escape(repr(bad))):
            GroupedProphetTuner(candidates=bad).fit(ets_sales)
    # Without statsforecast: one ImportError naming the extra, before any group is tuned.
    monkeypatch.setitem(sys.modules, "statsforecast", None)
    monkeypatch.setitem(sys.modules, "statsforecast.models", None)
    with pytest.raises(ImportError, match=r"pip install 'prophet-grouped\[ets\]'"):
        GroupedProphetTuner(candidates=("prophet", "ets"), n_trials=50).fit(ets_sales)
    tuner = GroupedProphetTuner(n_trials=1, cv_folds=1, horizon=14, n_jobs=1).fit(ets_sales)
    assert (tuner.results_["model"] == "prophet").all() and tuner.results_["ets_score"].isna().all()


def test_the_cli_offers_the_challenger(ets_sales, tmp_path):
    import subprocess

    path = tmp_path / "sales.csv"
    ets_sales.to_csv(path, index=False)
    run = subprocess.run([sys.executable, "-m", "prophet_grouped.cli", "tune", str(path), "--group", "unique_id",
                          "--trials", "4", "--horizon", "14", "--folds", "2", "--candidates", "prophet,ets",
                          "--out", str(tmp_path / "run"), "--quiet"], check=False, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "AutoETS won in 2 of 4 groups" in run.stdout + run.stderr
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert sorted(results["model"]) == ["ets", "ets", "prophet", "prophet"]


def test_an_mlflow_model_with_ets_groups_forecasts_like_the_tuner(reference, tmp_path, monkeypatch):
    import mlflow.pyfunc

    from prophet_grouped.tracking import log_model

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    info = log_model(reference)
    with open(mlflow.pyfunc.get_model_dependencies(info.model_uri)) as fh:
        assert "statsforecast==" in fh.read(), "an environment built for the model must have statsforecast"
    future = reference.make_future_dataframe(periods=5)
    got = mlflow.pyfunc.load_model(info.model_uri).predict(future)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), reference.predict(future)[["yhat", "yhat_lower", "yhat_upper"]])


def test_a_sales_history_missing_the_days_nothing_sold_can_fill_them_with_zero():
    """A slow mover whose file has no row for days without sales: the challenger scores AutoETS
    with those days interpolated and with them 0, and keeps the better fill (here 0)."""
    rng = np.random.default_rng(0)
    ds = pd.date_range("2023-01-01", periods=360, freq="D")
    level = 3 * np.exp(np.cumsum(rng.normal(0, 0.08, 360)))  # a wandering level: AutoETS's ground
    y = rng.poisson(level * np.where(np.arange(360) % 7 < 2, 2.0, 0.5))
    sold = pd.DataFrame({"unique_id": "slow", "ds": ds, "y": y.astype(float)})
    sold = sold[sold["y"] > 0].reset_index(drop=True)  # the zero days are missing rows
    tuner = GroupedProphetTuner(n_trials=2, horizon=14, cv_folds=2, n_jobs=1, random_state=0,
                                candidates=("prophet", "ets")).fit(sold)
    row = tuner.results_.iloc[0]
    # Each fill by hand on the two folds (the calendar is every day: no weekday is always missing).
    scores = {}
    for fill in ("interpolate", "zero"):
        losses = []
        for k in (2, 1):
            cutoff = sold["ds"].iloc[-1] - pd.Timedelta(days=14 * k)
            train = sold[sold["ds"] <= cutoff]
            valid = sold[(sold["ds"] > cutoff) & (sold["ds"] <= cutoff + pd.Timedelta(days=14))]
            grid, values = regular_series(train["ds"], train["y"].to_numpy(), "D", (), fill)
            mean = AutoETS(season_length=7).fit(values).predict(30)["mean"]  # from the last day sold
            step = (valid["ds"] - grid[-1]).dt.days.to_numpy() - 1
            losses.append(mae(valid["y"].to_numpy(), np.maximum(mean[step], 0.0)))
        scores[fill] = np.mean(losses)
    assert scores["zero"] < scores["interpolate"]
    assert row["ets_score"] == pytest.approx(scores["zero"], rel=1e-9)
    assert row["model"] == "ets" and tuner.models_[("slow",)].fill == "zero"
    # The final model fills the same way: its forecast is AutoETS's on the zero-filled history.
    _, values = regular_series(sold["ds"], sold["y"].to_numpy(), "D", (), "zero")
    expected = np.maximum(AutoETS(season_length=7).fit(values).predict(7)["mean"], 0.0)
    got = tuner.predict(pd.DataFrame({"unique_id": "slow", "ds": pd.date_range(ds[-1], periods=8)[1:]}))
    np.testing.assert_allclose(got["yhat"], expected, rtol=1e-9)
