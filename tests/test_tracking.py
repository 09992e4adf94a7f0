"""MLflow logging against a real local file-based tracking store."""

import numpy as np
import pandas as pd
import pytest

from prophet_grouped import GroupedProphetTuner, make_retail_sales
from prophet_grouped.tracking import log_to_mlflow

mlflow = pytest.importorskip("mlflow")  # the [mlflow] extra; `make test` installs it


@pytest.fixture
def store(tmp_path, monkeypatch):
    # MLflow 3 keeps the file store behind an opt-in (it prefers a database backend).
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return f"file://{tmp_path / 'mlruns'}"


def _fit(n_items):
    df = make_retail_sales(n_stores=1, n_items=n_items, periods=300, seed=0)
    return GroupedProphetTuner(group_cols=["store", "item"], n_trials=2, horizon=30, n_jobs=1,
                               random_state=0, verbose=0).fit(df)


def test_one_run_with_settings_summary_table_and_loadable_tuner(store, tmp_path):
    from mlflow.tracking import MlflowClient

    tuner = _fit(3)
    run_id = log_to_mlflow(tuner, run_name="nightly", experiment_name="demand", tracking_uri=store)
    client = MlflowClient(tracking_uri=store)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "nightly"
    assert client.get_experiment(run.info.experiment_id).name == "demand"
    assert run.data.params["n_trials"] == "2" and run.data.params["group_cols"] == "['store', 'item']"
    assert run.data.metrics["n_groups"] == 3 and run.data.metrics["n_ok"] == 3
    assert run.data.metrics["mean_best_score"] == pytest.approx(tuner.results_["best_score"].mean())
    assert sorted(a.path for a in client.list_artifacts(run_id)) == ["results.csv", "tuner"]
    table = pd.read_csv(client.download_artifacts(run_id, "results.csv", str(tmp_path)))
    assert len(table) == 3 and "changepoint_prior_scale" in table.columns
    loaded = GroupedProphetTuner.load(client.download_artifacts(run_id, "tuner", str(tmp_path)))
    future = tuner.make_future_dataframe(periods=5)
    pd.testing.assert_frame_equal(loaded.predict(future)[["yhat"]], tuner.predict(future)[["yhat"]])
    # With a backtest: its table as an artifact, each method's mean MAE as a metric.
    history = make_retail_sales(n_stores=1, n_items=3, periods=300, seed=0)
    backtest = tuner.backtest(history, origins=1, methods=("tuned", "seasonal_naive"))
    (tmp_path / "report.html").write_text("<!DOCTYPE html><p>report</p>")
    with_backtest = client.get_run(log_to_mlflow(tuner, tracking_uri=store, backtest=backtest,
                                                 report=str(tmp_path / "report.html")))
    assert "report.html" in [a.path for a in client.list_artifacts(with_backtest.info.run_id)]
    logged = pd.read_csv(client.download_artifacts(with_backtest.info.run_id, "backtest.csv", str(tmp_path / "b")))
    assert len(logged) == len(backtest) == 6
    assert with_backtest.data.metrics["backtest_mae_tuned"] == pytest.approx(
        backtest.loc[backtest["method"] == "tuned", "mae"].mean())


def test_requests_do_not_grow_with_groups_or_trials(store, monkeypatch):
    import mlflow.tracking

    calls = []

    class Counting(mlflow.tracking.MlflowClient):
        def __getattribute__(self, name):
            attr = super().__getattribute__(name)
            if callable(attr) and not name.startswith("_"):
                calls.append(name)
            return attr

    monkeypatch.setattr(mlflow.tracking, "MlflowClient", Counting)
    log_to_mlflow(_fit(1), experiment_name="bulk", tracking_uri=store)  # creates the experiment
    counts = []
    for n_items in (1, 4):
        calls.clear()
        log_to_mlflow(_fit(n_items), experiment_name="bulk", tracking_uri=store)
        counts.append(sorted(calls))
    assert counts[0] == counts[1]
    assert counts[0].count("log_batch") == 1


def test_unfitted_tuner_is_refused(store):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        log_to_mlflow(GroupedProphetTuner(), tracking_uri=store)


@pytest.fixture
def sqlite_store(tmp_path, monkeypatch):
    """A real sqlite-backed tracking store and registry, as the tracking URI of this test."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # the default artifact root (./mlruns) lands here
    return uri


def test_tuner_as_one_pyfunc_model_registered_under_an_alias(sqlite_store, caplog):
    import logging
    import warnings

    import mlflow.pyfunc

    from prophet_grouped.tracking import log_model

    tuner = _fit(3)
    # log_model warned about the pyfunc predict's type hints and the cloudpickled wrapper.
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING, logger="mlflow"):
        warnings.simplefilter("always")
        info = log_model(tuner, registered_model_name="sales_forecast", alias="champion", experiment_name="weekly",
                         run_name="week 48")
    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert info.registered_model_version == 1
    future = tuner.make_future_dataframe(periods=14)
    model = mlflow.pyfunc.load_model("models:/sales_forecast@champion")
    got = model.predict(future)
    expected = tuner.predict(future)[["yhat", "yhat_lower", "yhat_upper"]]
    pd.testing.assert_frame_equal(got, expected)
    # Rows in any order and any batch (as spark_udf sends them): the same point forecast per row.
    # (Intervals are simulated over the dates asked for together, as Prophet's are: a batch with
    # other dates of the group draws other, equally valid, intervals.)
    shuffled = future.sample(frac=1, random_state=0)
    np.testing.assert_allclose(model.predict(shuffled.iloc[:20])["yhat"], expected.loc[shuffled.index[:20], "yhat"],
                               rtol=1e-12)


def test_the_next_fit_reads_champion_and_warm_start_from_the_registry(sqlite_store):
    from mlflow.tracking import MlflowClient

    from prophet_grouped.tracking import log_model

    # (data and seeds where the previous trials reach some groups and not others, and some
    # groups keep their champion)
    df = make_retail_sales(n_stores=1, n_items=3, periods=330, seed=1)
    settings = dict(group_cols=["store", "item"], horizon=30, cv_folds=1, n_jobs=1, verbose=0)
    before = GroupedProphetTuner(n_trials=4, random_state=2, **settings).fit(df[df["ds"] < df["ds"].max() - pd.Timedelta(days=28)])
    log_model(before, registered_model_name="sales_forecast", alias="champion")
    uri = "models:/sales_forecast@champion"
    weekly = GroupedProphetTuner(n_trials=5, random_state=1, warm_start=uri, champion=uri, **settings).fit(df)
    same = GroupedProphetTuner(n_trials=5, random_state=1, warm_start=before, champion=before, **settings).fit(df)
    columns = ["best_score", "prior_trials", "champion_score", "promoted"]
    pd.testing.assert_frame_equal(weekly.results_[columns], same.results_[columns])
    assert set(weekly.results_["prior_trials"]) == {0, 4}
    # The loop's last step: a fit that promoted groups becomes the new champion version.
    assert weekly.results_["promoted"].any()
    info = log_model(weekly, registered_model_name="sales_forecast", alias="champion")
    alias = MlflowClient().get_model_version_by_alias("sales_forecast", "champion")
    assert int(info.registered_model_version) == int(alias.version) == 2


def test_log_model_says_what_an_alias_needs(sqlite_store):
    from prophet_grouped.tracking import log_model

    with pytest.raises(ValueError, match="alias='champion' names a version of a registered model"):
        log_model(_fit(1), alias="champion")
