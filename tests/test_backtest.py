"""Backtests: held-out windows of a planner's own history, the tuner against untuned Prophet and
the seasonal naive forecast."""

import logging

import numpy as np
import pandas as pd
import pytest

from prophet_grouped import GroupedProphetTuner, make_retail_sales
from prophet_grouped.backtest import summary

GROUPS = ["store", "item"]


@pytest.fixture(scope="module")
def history():
    return make_retail_sales(n_stores=1, n_items=2, periods=300, seed=6)


@pytest.fixture(scope="module")
def table(history):
    tuner = GroupedProphetTuner(group_cols=GROUPS, n_trials=3, horizon=14, cv_folds=1, n_jobs=1, random_state=0,
                                verbose=0)
    out = tuner.backtest(history, origins=2)
    assert not hasattr(tuner, "results_"), "the tuner itself is not fitted"
    return out


def test_one_row_per_group_origin_and_method_scored_on_the_held_out_rows(history, table):
    assert list(table.columns) == [*GROUPS, "origin", "method", "mae", "rmse", "bias", "coverage", "n"]
    last = history["ds"].max()
    assert sorted(table["origin"].unique()) == [last - pd.Timedelta(days=28), last - pd.Timedelta(days=14)]
    assert len(table) == 2 * 2 * 3 and (table["n"] == 14).all()
    assert table.loc[table["method"] == "seasonal_naive", "coverage"].isna().all()
    assert table.loc[table["method"] != "seasonal_naive", "coverage"].between(0, 1).all()
    # The seasonal naive rows, by hand: each group's last week repeated.
    origin = last - pd.Timedelta(days=28)
    part = history[(history["store"] == 1) & (history["item"] == 1)]
    week = part[part["ds"] <= origin]["y"].to_numpy()[-7:]
    held = part[(part["ds"] > origin) & (part["ds"] <= origin + pd.Timedelta(days=14))]["y"].to_numpy()
    row = table[(table["method"] == "seasonal_naive") & (table["origin"] == origin) & (table["item"] == 1)].iloc[0]
    assert row["mae"] == pytest.approx(np.mean(np.abs(np.tile(week, 2) - held)), rel=1e-12)
    assert row["bias"] == pytest.approx(np.tile(week, 2).sum() / held.sum(), rel=1e-12)
    lines = summary(table, GROUPS)
    assert list(lines["method"]) == ["tuned", "prophet", "seasonal_naive"]
    assert lines.loc[lines["method"] == "tuned", "pairs"].item() == 4


def test_untuned_prophet_rows_are_a_hand_made_prophet_fit(history, table):
    from prophet import Prophet

    logging.getLogger("cmdstanpy").disabled = True
    for (store, item, origin), row in table[table["method"] == "prophet"].set_index([*GROUPS, "origin"]).iterrows():
        part = history[(history["store"] == store) & (history["item"] == item)]
        train = part[part["ds"] <= origin][["ds", "y"]]
        held = part[(part["ds"] > origin) & (part["ds"] <= origin + pd.Timedelta(days=14))]
        yhat = np.maximum(Prophet().fit(train).predict(held[["ds"]])["yhat"].to_numpy(), 0)  # sales: clipped at 0
        assert row["mae"] == pytest.approx(np.mean(np.abs(yhat - held["y"].to_numpy())), rel=1e-6, abs=1e-9)


def test_backtest_says_what_is_wrong(history):
    tuner = GroupedProphetTuner(group_cols=GROUPS, n_trials=1, horizon=14, verbose=0)
    with pytest.raises(ValueError, match=r"origins must be an integer >= 1, got 0"):
        tuner.backtest(history, origins=0)
    with pytest.raises(ValueError, match=r"methods must be a non-empty list of \['tuned', 'prophet', "
                                         r"'seasonal_naive', 'ets'\], got \['theta'\]"):
        tuner.backtest(history, methods=["theta"])
    with pytest.raises(ValueError, match=r"origins=30 x horizon=14 steps of 'D' reach back before the history"):
        tuner.backtest(history, origins=30)
    with pytest.raises(TypeError, match=r"backtest takes a DataFrame of the history \(pandas or Spark\), got ndarray"):
        tuner.backtest(history.to_numpy())


def test_the_ets_method_is_autoets_on_each_window_and_untuned_prophet_stays_prophet(history):
    """"ets": statsforecast's AutoETS fitted on each group's rows up to the origin; with the ETS
    challenger among the tuner's candidates, the untuned-Prophet rows are still plain Prophet."""
    from statsforecast.models import AutoETS

    tuner = GroupedProphetTuner(group_cols=GROUPS, n_trials=2, horizon=14, cv_folds=1, n_jobs=1, random_state=0,
                                verbose=0, candidates=("prophet", "ets"))
    table = tuner.backtest(history, origins=1, methods=["prophet", "ets"])
    plain = GroupedProphetTuner(group_cols=GROUPS, n_trials=2, horizon=14, cv_folds=1, n_jobs=1, random_state=0,
                                verbose=0).backtest(history, origins=1, methods=["prophet"])
    pd.testing.assert_frame_equal(table[table["method"] == "prophet"].reset_index(drop=True), plain)
    origin = history["ds"].max() - pd.Timedelta(days=14)
    for (store, item), part in history.groupby(GROUPS):
        train = part[part["ds"] <= origin]["y"].to_numpy()
        held = part[part["ds"] > origin]["y"].to_numpy()
        yhat = np.maximum(AutoETS(season_length=7).fit(train).predict(14)["mean"], 0)
        row = table[(table["method"] == "ets") & (table["store"] == store) & (table["item"] == item)].iloc[0]
        assert row["mae"] == pytest.approx(np.mean(np.abs(yhat - held)), rel=1e-9)
        assert 0 <= row["coverage"] <= 1
