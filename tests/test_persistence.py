"""save/load round trip: plain files, identical predictions."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from prophet_grouped import GroupedProphetTuner
from prophet_grouped.models import key_name

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
    assert files == ["best_params.json", "meta.json", "models.jsonl", "params.json", "results.json", "studies.jsonl",
                     "trials.json"]
    loaded = GroupedProphetTuner.load(str(tmp_path / "tuner"))
    assert loaded.get_params() == fitted.get_params()
    # Columns and dtypes as fitted (ets_score and champion_score, all missing here, stay float).
    pd.testing.assert_frame_equal(loaded.best_params_, fitted.best_params_)
    pd.testing.assert_frame_equal(loaded.results_, fitted.results_)
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
    assert GroupedProphetTuner.load(str(tmp_path / "t")).metric == "mae"


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
    assert {kind for kind, _ in loaded.models_._entries.values()} == {"json"}, "load decoded models it was not asked for"
    model = loaded.models_[key]
    assert isinstance(model, Prophet) and loaded.models_._entries[key][0] == "pickle"
    pd.testing.assert_frame_equal(model.history, fitted.models_[key].history)


def test_model_dir_workers_write_the_models_and_the_driver_keeps_paths(fitted, sales6, tmp_path):
    """With model_dir each worker writes its groups' models as Prophet JSON files and the
    tuner keeps their paths: the same forecasts as models sent to the driver; checkpoints hold
    the path, not the model; save() copies the models, so the saved folder outlives model_dir."""
    import shutil

    from sklearn.base import clone

    folder, checkpoints = tmp_path / "models", tmp_path / "ckpt"
    df = sales6[sales6["store"] == 1]
    tuner = clone(fitted).set_params(n_jobs=2, model_dir=str(folder), checkpoint_dir=str(checkpoints)).fit(df)
    assert sorted(os.listdir(folder)) == sorted(f"{key_name(k)}.json" for k in fitted.models_)
    assert {tuner.models_.record(k)[0] for k in tuner.models_} == {"file"}
    future = fitted.make_future_dataframe(periods=14)
    pd.testing.assert_frame_equal(tuner.predict(future), fitted.predict(future))
    stored = [json.loads((checkpoints / "groups" / name).read_text())["result"]
              for name in os.listdir(checkpoints / "groups")]
    assert all(r["model_json"] is None and r["model_file"].startswith(str(folder)) for r in stored)
    resumed = clone(tuner).fit(df)  # every group from the checkpoint: the models stay where they are
    assert {resumed.models_.record(k)[0] for k in resumed.models_} == {"file"}
    pd.testing.assert_frame_equal(resumed.predict(future), fitted.predict(future))

    tuner.save(str(tmp_path / "saved"))
    shutil.rmtree(folder)
    with pytest.raises(FileNotFoundError, match="is missing. A tuner fitted with model_dir reads its models"):
        tuner.predict(future)
    # The next dates come from results_["history_end"]: no model is read for them.
    pd.testing.assert_frame_equal(tuner.make_future_dataframe(periods=14), future)
    loaded = GroupedProphetTuner.load(str(tmp_path / "saved"))
    pd.testing.assert_frame_equal(loaded.predict(future), fitted.predict(future))


def test_model_dir_that_cannot_be_written_is_refused_before_tuning(fitted, sales6, tmp_path):
    from sklearn.base import clone

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match=r"model_dir=.*a_file.* can't be written"):
        clone(fitted).set_params(model_dir=str(blocker)).fit(sales6)
    with pytest.raises(TypeError, match="model_dir must be a folder path"):
        clone(fitted).set_params(model_dir=3).fit(sales6)


def test_loading_and_predicting_prints_nothing(fitted, tmp_path):
    """No "Importing plotly failed" notice from Prophet's import (plots here use matplotlib)."""
    import subprocess
    import sys

    fitted.save(str(tmp_path / "t"))
    code = ("from prophet_grouped import GroupedProphetTuner as T\n"
            f"t = T.load({str(tmp_path / 't')!r})\n"
            "print(len(t.predict(t.make_future_dataframe(periods=3))))\n")
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(3 * len(fitted.models_))
    assert done.stderr == "", done.stderr


def test_a_search_space_of_ranges_and_choices_is_saved_as_given(tmp_path):
    """A (low, high, "log") range came back as a list, i.e. a categorical of its three items:
    the loaded tuner searched another space (its best values 0.5 or NaN)."""
    from optuna.distributions import FloatDistribution

    from prophet_grouped import make_retail_sales

    space = {"changepoint_prior_scale": (0.001, 0.5, "log"), "seasonality_mode": ["additive", "multiplicative"],
             "seasonality_prior_scale": FloatDistribution(0.1, 10.0, log=True)}
    df = make_retail_sales(n_stores=1, n_items=1, periods=150, seed=0)
    tuner = GroupedProphetTuner(group_cols=["store", "item"], search_space=space, n_trials=2, horizon=14,
                                cv_folds=1, n_jobs=1, verbose=0).fit(df)
    tuner.save(str(tmp_path / "t"))
    loaded = GroupedProphetTuner.load(str(tmp_path / "t"))
    assert loaded.search_space == space
    assert isinstance(loaded.search_space["changepoint_prior_scale"], tuple)
    refit = loaded.fit(df)
    assert 0.001 <= refit.best_params_["changepoint_prior_scale"].iloc[0] <= 0.5
