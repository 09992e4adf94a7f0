"""MLflow logging against a real local file-based tracking store."""

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
