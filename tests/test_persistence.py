"""save/load round trip: plain files, identical predictions."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from prophet_grouped import GroupedProphetTuner

GROUPS = ["store", "item"]


@pytest.fixture(scope="module")
def fitted(sales6):
    space = {"changepoint_prior_scale": FloatDistribution(0.01, 0.5, log=True),
             "seasonality_mode": CategoricalDistribution(["additive", "multiplicative"])}
    df = sales6[sales6["store"] == 1]
    return GroupedProphetTuner(group_cols=GROUPS, search_space=space, n_trials=3, horizon=30, n_jobs=1,
                               random_state=0).fit(df)


def test_round_trip_predicts_identically(fitted, tmp_path):
    fitted.save(str(tmp_path / "tuner"))
    files = sorted(os.listdir(tmp_path / "tuner"))
    assert files == ["best_params.json", "meta.json", "models.jsonl", "params.json", "results.json", "trials.json"]
    loaded = GroupedProphetTuner.load(str(tmp_path / "tuner"))
    assert loaded.get_params() == fitted.get_params()
    pd.testing.assert_frame_equal(loaded.best_params_, fitted.best_params_, check_dtype=False)
    pd.testing.assert_frame_equal(loaded.results_, fitted.results_, check_dtype=False)
    assert loaded.trials_ == fitted.trials_
    assert (loaded.freq_, loaded.horizon_) == (fitted.freq_, fitted.horizon_) == ("D", 30)
    future = fitted.make_future_dataframe(periods=14)
    pd.testing.assert_frame_equal(loaded.make_future_dataframe(periods=14), future)
    np.random.seed(0)
    expected = fitted.predict(future)
    np.random.seed(0)
    got = loaded.predict(future)
    pd.testing.assert_frame_equal(got, expected)


def test_saved_files_are_plain_json(fitted, tmp_path):
    fitted.save(str(tmp_path / "t"))
    with open(tmp_path / "t" / "models.jsonl") as fh:
        lines = [json.loads(line) for line in fh]
    assert sorted(tuple(x["key"]) for x in lines) == sorted(fitted.models_)
    assert all(isinstance(x["model"], str) and '"changepoints"' in x["model"] for x in lines)


def test_unstorable_parameters_warn(fitted, tmp_path):
    from sklearn.base import clone

    tuner = clone(fitted).set_params(metric=lambda a, b: 0.0)
    tuner.__dict__.update({k: v for k, v in fitted.__dict__.items() if k.endswith("_")})
    with pytest.warns(UserWarning, match=r"saved as their defaults: \['metric'\]"):
        tuner.save(str(tmp_path / "t"))
    assert GroupedProphetTuner.load(str(tmp_path / "t")).metric == "smape"


def test_load_refuses_other_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a saved GroupedProphetTuner: it has no meta.json"):
        GroupedProphetTuner.load(str(tmp_path))


def test_models_are_compact_records_loaded_when_asked_for(fitted, tmp_path):
    from prophet import Prophet

    key = next(iter(fitted.models_))
    assert isinstance(fitted.models_[key], Prophet) and key in fitted.models_
    assert len(fitted.models_) == len(fitted.results_)
    assert fitted.models_.record(key)[0] == "pickle"  # as the worker sent it, never unpickled on fit
    fitted.save(str(tmp_path / "t"))
    loaded = GroupedProphetTuner.load(str(tmp_path / "t"))
    assert {kind for kind, _ in loaded.models_._records.values()} == {"json"}, "load decoded models it was not asked for"
    model = loaded.models_[key]
    assert isinstance(model, Prophet) and loaded.models_._records[key][0] == "pickle"
    pd.testing.assert_frame_equal(model.history, fitted.models_[key].history)
