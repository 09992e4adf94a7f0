"""The canonical group key: one form for a group's key values on every backend, in every file."""

import datetime
import os

import numpy as np
import pandas as pd
import pytest

from prophet_grouped import GroupedProphetTuner
from prophet_grouped.forecast import forecast_seed
from prophet_grouped.keys import (
    group_key,
    key_from_json,
    key_kinds,
    key_name,
    key_text,
    key_to_json,
)
from prophet_grouped.retrain import WARM_TOP
from prophet_grouped.tuning import group_seed

from .conftest import DATE_KEYED, assert_same_results
from .test_cli import run

DAY = pd.Timestamp("2024-03-01")


@pytest.mark.parametrize("value", [DAY, datetime.date(2024, 3, 1), datetime.datetime(2024, 3, 1),
                                   np.datetime64("2024-03-01"), np.datetime64("2024-03-01T00:00:00.000000000")])
def test_a_date_has_one_key_seed_and_file_name_whatever_its_type(value):
    key = group_key((value, np.int64(7)))
    assert key == (DAY, 7) and type(key[0]) is pd.Timestamp and type(key[1]) is int
    assert group_seed(3, (value, 7)) == group_seed(3, (DAY, 7))
    assert forecast_seed(3, (value, 7)) == forecast_seed(3, (DAY, 7))
    assert key_name((value, 7)) == key_name((DAY, 7))


def test_numbers_text_and_missing_values():
    assert group_key((np.int64(1), np.float64(2.5), np.bool_(True), "001")) == (1, 2.5, True, "001")
    assert [type(v) for v in group_key((np.int64(1), np.float64(2.5), np.bool_(True)))] == [int, float, bool]
    assert group_key((None, float("nan"), pd.NaT)) == (None, None, None)
    assert group_key(np.int64(5)) == (5,)  # one group column: a bare value
    assert group_seed(0, ("001",)) != group_seed(0, (1,))
    # Seeds of plain keys are what they were before dates became canonical (saved checkpoints
    # and runs keep their results).
    assert group_seed(0, (np.int64(1), "a")) == group_seed(0, (1, "a"))


def test_key_text_json_round_trip_and_kinds():
    key = (DAY, pd.Timestamp("2024-03-01 13:30"), "001", 4)
    assert [key_text(v) for v in key] == ["2024-03-01", "2024-03-01T13:30:00", "001", "4"]
    stored = key_to_json(key)
    assert stored == ["2024-03-01T00:00:00", "2024-03-01T13:30:00", "001", 4]
    kinds = key_kinds([key], 4)
    assert kinds == ["timestamp", "timestamp", None, None]
    assert key_from_json(stored, kinds) == key


def test_date_keyed_tuner_survives_save_and_load(date_keyed_sales, date_keyed_reference, tmp_path):
    tuner = date_keyed_reference
    assert all(type(k[0]) is pd.Timestamp for k in tuner.trials_)
    assert tuner.results_["opened"].dtype == "datetime64[ns]"
    tuner.save(str(tmp_path / "t"))
    loaded = GroupedProphetTuner.load(str(tmp_path / "t"))
    assert set(loaded.trials_) == set(tuner.trials_) == set(loaded.models_) == set(loaded.studies_)
    pd.testing.assert_frame_equal(loaded.best_params_, tuner.best_params_, check_dtype=False)
    assert loaded.results_["opened"].dtype == "datetime64[ns]"
    future = tuner.make_future_dataframe(periods=10)
    pd.testing.assert_frame_equal(loaded.predict(future), tuner.predict(future))
    # a frame whose date keys are datetime.date objects (as Spark hands them) predicts the same
    as_dates = future.assign(opened=future["opened"].dt.date)
    pd.testing.assert_frame_equal(loaded.predict(as_dates)[["yhat"]], tuner.predict(future)[["yhat"]])
    # a warm start from the saved folder finds every date-keyed group: each new study scores the
    # previous study's best sets again (whether the previous trials then join it depends on the
    # previous lead, see retrain.lead_holds)
    # (another seed than the previous fit's: a cold study would sample other sets)
    warm = GroupedProphetTuner(n_jobs=1, warm_start=str(tmp_path / "t"), **{**DATE_KEYED, "n_trials": 5, "random_state": 99})
    warm.fit(date_keyed_sales)
    assert set(warm.studies_) == set(loaded.studies_)
    for key, study in loaded.studies_.items():
        best_sets = [params for params, _ in sorted(study["trials"], key=lambda pv: pv[1])[:WARM_TOP]]
        assert all(params in [p for p, _ in warm.studies_[key]["trials"]] for params in best_sets), key


def test_checkpoint_of_a_date_keyed_fit_resumes(date_keyed_sales, date_keyed_reference, tmp_path):
    settings = {**DATE_KEYED, "checkpoint_dir": str(tmp_path / "ckpt")}
    GroupedProphetTuner(n_jobs=1, **settings).fit(date_keyed_sales)
    folder = tmp_path / "ckpt" / "groups"
    names = {f"{key_name(key)}.json" for key in date_keyed_reference.trials_}
    assert set(os.listdir(folder)) == names
    written = {name: os.stat(folder / name).st_mtime_ns for name in names}
    resumed = GroupedProphetTuner(n_jobs=1, **settings).fit(date_keyed_sales)
    assert {name: os.stat(folder / name).st_mtime_ns for name in names} == written  # nothing tuned again
    assert_same_results(resumed, date_keyed_reference)


def test_cli_keeps_codes_that_look_like_numbers_and_reads_dates(tmp_path):
    ds = pd.date_range("2021-01-01", periods=160, freq="D")
    rows = []
    for store, level in (("001", 10.0), ("1", 30.0)):
        for opened in ("2020-03-01", "2021-07-15"):
            rows.append(pd.DataFrame({"store": store, "opened": opened, "ds": ds,
                                      "y": level + (ds.dayofweek == 5) * 4.0 + np.arange(160) * 0.05}))
    pd.concat(rows).to_csv(tmp_path / "sales.csv", index=False)
    tuned = run("tune", "sales.csv", "--group", "store,opened", "--trials", "2", "--folds", "1", "--horizon", "14",
                "--quiet", "--out", "out", cwd=tmp_path)
    assert tuned.returncode == 0, tuned.stderr
    results = pd.read_csv(tmp_path / "out" / "results.csv", dtype={"store": str})
    assert sorted(results["store"].unique()) == ["001", "1"] and len(results) == 4
    done = run("predict", "out", "--periods", "3", "--group", "001,2021-07-15", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "store,opened,ds,yhat,yhat_lower,yhat_upper,origin,run_id" and len(lines) == 4
    assert all(line.startswith("001,2021-07-15,") for line in lines[1:])
    # --future as a CSV: its store column is read as the text it is written as
    future = pd.DataFrame({"store": ["001", "1"], "opened": ["2020-03-01", "2020-03-01"],
                           "ds": ["2021-06-10", "2021-06-10"]})
    future.to_csv(tmp_path / "future.csv", index=False)
    done = run("predict", "out", "--future", "future.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    fc = pd.read_csv(pd.io.common.StringIO(done.stdout), dtype={"store": str})
    assert list(fc["store"]) == ["001", "1"] and fc["yhat"].iloc[0] < fc["yhat"].iloc[1]
    missing = run("predict", "out", "--periods", "3", "--group", "2,2021-07-15", cwd=tmp_path)
    assert missing.returncode == 1 and "e.g. 001,2020-03-01" in missing.stderr, missing.stderr


def test_cli_future_file_matches_the_keys_of_a_tuner_fitted_in_python(date_keyed_reference, tmp_path):
    date_keyed_reference.save(str(tmp_path / "t"))
    future = date_keyed_reference.make_future_dataframe(periods=2)
    future.to_csv(tmp_path / "future.csv", index=False)  # keys as text: "2020-03-01", "1"
    done = run("predict", "t", "--future", "future.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    fc = pd.read_csv(pd.io.common.StringIO(done.stdout), parse_dates=["opened", "ds"])
    expected = date_keyed_reference.predict(future)
    np.testing.assert_allclose(fc["yhat"], expected["yhat"], rtol=1e-9)


def test_groups_come_out_in_the_order_of_their_key_values_not_their_text():
    """Integer keys came out 1, 10, 2 (sorted as text) where the docs say key order."""
    import warnings

    from prophet_grouped import GroupedProphetTuner, make_retail_sales
    from prophet_grouped.keys import key_order

    df = make_retail_sales(n_stores=1, n_items=3, periods=150, seed=0)
    df["item"] = df["item"].map({1: 10, 2: 2, 3: 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tuner = GroupedProphetTuner(group_cols=["store", "item"], n_trials=1, horizon=14, cv_folds=1, n_jobs=1,
                                    verbose=0).fit(df)
    assert tuner.results_["item"].tolist() == [1, 2, 10]
    assert list(tuner.models_) == [(1, 1), (1, 2), (1, 10)]
    keys = [("b", 2), ("a", 10), ("a", 9), (None, 1), ("a", float("nan")), ("a", pd.Timestamp("2024-01-01"))]
    # Numbers by value, then dates, then text; a missing value last.
    assert [keys.index(k) for k in sorted(keys, key=key_order)] == [2, 1, 5, 4, 0, 3]
