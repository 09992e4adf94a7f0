"""Ray backend on a real local Ray with 2 CPUs, started by the tests (or by the backend)."""

import os

import pandas as pd
import pytest

from prophet_grouped import GroupedProphetTuner
from prophet_grouped.backends.ray import RayBackend, check_ray_on_spark_master

from .conftest import (
    CROSS_BACKEND,
    DATE_KEYED,
    ETS_SETTINGS,
    RETRAIN,
    KillOnce,
    RecordPid,
    assert_forecast_matches,
    assert_same_ets_results,
    assert_same_forecasts,
    assert_same_results,
    assert_same_retrain,
    check_checkpoint_resume,
    check_trial_timeout,
    check_unusable_groups,
    drivers_settings,
    run_python,
)

pytestmark = pytest.mark.ray
GROUPS = ["store", "item"]


def _ray_processes() -> list[str]:
    """This process's live descendants that belong to a Ray it started (GCS, raylet, autoscaler
    monitor, workers)."""
    import psutil

    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and "ray" in " ".join(proc.cmdline()):
                found.append(" ".join(proc.cmdline())[:120])
        except psutil.Error:
            continue
    return found


def test_backend_starts_and_stops_its_own_local_ray(sales6, local_reference, caplog):
    import ray

    assert not ray.is_initialized()
    tuner = GroupedProphetTuner(backend="ray", backend_options={"num_cpus": 2}, **CROSS_BACKEND)
    with caplog.at_level("DEBUG", logger="prophet_grouped.backends.ray"):
        forecast = tuner.forecast(sales6, periods=10)  # forecast in the Ray tasks
    # Some groups were tuned in this process while Ray started; the answers are the local backend's.
    shared = [r.getMessage() for r in caplog.records if "while Ray started" in r.getMessage()]
    assert len(shared) == 1 and int(shared[0].split()[0]) >= 1, shared
    assert shared[0].split()[2:4] == ["6", "groups"], shared
    assert_same_results(tuner, local_reference)
    assert tuner.models_ == {}
    assert_forecast_matches(forecast, local_reference, periods=10)
    assert not ray.is_initialized(), "the Ray the backend started was not shut down"
    # Every process of that Ray has ended (the monitor is killed rather than waited for).
    assert _ray_processes() == []


def test_failed_ray_start_stops_the_groups_tuned_meanwhile(sales6, monkeypatch):
    import threading

    import ray

    assert not ray.is_initialized()

    def no_start(*args, **kwargs):
        raise RuntimeError("no Ray here")

    before = threading.active_count()
    monkeypatch.setattr(ray, "init", no_start)
    with pytest.raises(RuntimeError, match="no Ray here"):
        GroupedProphetTuner(backend="ray", **CROSS_BACKEND).fit(sales6)
    assert threading.active_count() == before  # the thread tuning groups meanwhile has ended


def test_trial_timeout_on_a_ray_the_fit_starts(tmp_path):
    # No group is tuned in this process while Ray starts: the timer cuts trials in a main thread only.
    import ray

    assert not ray.is_initialized()
    check_trial_timeout(str(tmp_path / "slept"), lambda df: df, backend="ray", backend_options={"mode": "groups"})
    assert not ray.is_initialized()


@pytest.mark.parametrize("num_cpus", [0, -2, 1.5, "2", True])
def test_bad_num_cpus_is_refused_before_any_work(sales6, num_cpus):
    with pytest.raises(ValueError, match=rf"Invalid num_cpus for the Ray backend: {num_cpus!r}; give a whole number"):
        GroupedProphetTuner(backend="ray", backend_options={"num_cpus": num_cpus}, **CROSS_BACKEND).fit(sales6)


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR",
             runtime_env={"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}})
    yield ray
    ray.shutdown()


def test_cross_backend_on_running_ray_is_left_running(ray_local, sales6, local_reference, tmp_path):
    # model_dir: the Ray tasks write the models, predict's tasks read them there.
    tuner = GroupedProphetTuner(backend="ray", model_dir=str(tmp_path), **CROSS_BACKEND).fit(sales6)
    assert_same_results(tuner, local_reference)
    assert ray_local.is_initialized()
    assert len(list(tmp_path.iterdir())) == 6 and {tuner.models_.record(k)[0] for k in tuner.models_} == {"file"}
    # predict runs as Ray tasks on the running Ray: the same forecasts as the local backend's.
    assert_forecast_matches(tuner.predict(tuner.make_future_dataframe(periods=7)), local_reference, periods=7)
    assert ray_local.is_initialized()


def test_the_ets_challenger_in_each_ray_mode_matches_local(ray_local, ets_sales, ets_reference):
    """Groups, trials (AutoETS scored beside the shared study) and Ray Tune modes: the same model
    kind, scores and forecasts per group as the local fit."""
    for mode in ("groups", "trials", "tune"):
        tuner = GroupedProphetTuner(backend="ray", backend_options={"mode": mode}, **ETS_SETTINGS).fit(ets_sales)
        if mode == "trials":  # trials run in parallel: another TPE order, so only AutoETS's own numbers
            pd.testing.assert_series_equal(tuner.results_["ets_score"], ets_reference.results_["ets_score"])
            continue
        assert_same_ets_results(tuner, ets_reference)


def test_warm_start_and_champion_in_ray_tasks_match_local(ray_local, sales6, retrain_reference, tmp_path):
    previous, expected = retrain_reference
    tuner = GroupedProphetTuner(backend="ray", warm_start=previous, champion=previous, **{**CROSS_BACKEND, **RETRAIN})
    assert_same_retrain(tuner.fit(sales6), expected)
    # trials mode runs the same shared study (trials in parallel: another TPE order, so the
    # promotions may differ): the previous trials reach it and the champion is scored
    # (the group the previous trials reach, whose champion is not Prophet's defaults)
    reached = expected.results_.set_index(["store", "item"])["prior_trials"].gt(0)
    assert reached.sum() == 1
    key = reached.idxmax()
    champion = previous.best_params_.set_index(["store", "item"]).loc[key]
    assert champion["changepoint_prior_scale"] != 0.05, "the champion is Prophet's defaults: the test proves less"
    one = sales6[(sales6["store"] == key[0]) & (sales6["item"] == key[1])]
    trials_mode = GroupedProphetTuner(backend="ray", backend_options={"mode": "trials"}, warm_start=previous,
                                      champion=previous, **{**CROSS_BACKEND, **RETRAIN}).fit(one)
    row = trials_mode.results_.iloc[0]
    assert row["status"] == "ok" and row["prior_trials"] > 0 and row["promoted"] in (True, False)
    champion_score = expected.results_.set_index(["store", "item"]).loc[key, "champion_score"]
    assert row["champion_score"] == champion_score
    # Without a warm start the champion's parameters are no trial of the study: they are scored
    # where the trials run too, never in the driver.
    scorers = tmp_path / "scorers"
    scorers.mkdir()
    champion_only = GroupedProphetTuner(backend="ray", backend_options={"mode": "trials"}, champion=previous,
                                        **{**CROSS_BACKEND, **RETRAIN, "metric": RecordPid(str(scorers))}).fit(one)
    assert champion_only.results_.iloc[0]["champion_score"] == pytest.approx(champion_score, rel=1e-12)
    pids = {int(p.name) for p in scorers.iterdir()}
    assert pids and os.getpid() not in pids, f"folds scored in the driver ({os.getpid()}): {sorted(pids)}"


def test_tune_mode_runs_the_groups_as_ray_tune_trials_with_local_results(ray_local, sales6, local_reference,
                                                                          retrain_reference, tmp_path):
    """mode="tune": Ray Tune trials over batches of groups, each running the shared unit of work;
    a trial whose worker is killed is run again by Tune's FailureConfig; warm start and champion
    reach the trials."""
    marker = tmp_path / "killed"
    metric = KillOnce(str(marker), threshold=0.0)
    tuner = GroupedProphetTuner(backend="ray", backend_options={"mode": "tune"},
                                **{**CROSS_BACKEND, "metric": metric}).fit(sales6)
    assert marker.exists(), "no worker was killed: the test proved nothing"
    assert_same_results(tuner, local_reference)
    assert_forecast_matches(tuner.predict(tuner.make_future_dataframe(periods=5)), local_reference, periods=5)
    previous, expected = retrain_reference
    retrained = GroupedProphetTuner(backend="ray", backend_options={"mode": "tune"}, warm_start=previous,
                                    champion=previous, **{**CROSS_BACKEND, **RETRAIN})
    assert_same_retrain(retrained.fit(sales6), expected)


def test_killed_worker_is_retried_and_no_group_lost(ray_local, sales6, local_reference, tmp_path):
    marker = tmp_path / "killed"
    metric = KillOnce(str(marker), threshold=0.0)
    tuner = GroupedProphetTuner(backend="ray", **{**CROSS_BACKEND, "metric": metric}).fit(sales6)
    assert marker.exists(), "no worker was killed: the test proved nothing"
    assert_same_results(tuner, local_reference)


def test_trials_mode_runs_each_groups_trials_in_parallel_on_ray(ray_local, sales6):
    df = sales6[(sales6["store"] == 1) & (sales6["item"] <= 2)]
    tuner = GroupedProphetTuner(backend="ray", backend_options={"mode": "trials"},
                                **{**CROSS_BACKEND, "n_trials": 4}).fit(df)
    res = tuner.results_
    assert (res["status"] == "ok").all() and (res["n_trials"] == 4).all()
    assert res["best_score"].notna().all()
    bp = tuner.best_params_
    assert bp["changepoint_prior_scale"].between(0.001, 0.5).all() and bp["weekly_seasonality"].all()
    for key in tuner.models_:
        row = res.set_index(GROUPS).loc[key]
        # the best trial, or Prophet's defaults where it beat them by less than defaults_margin
        best, default = min(tuner.trials_[key]), float(row["default_score"])
        margin = tuner.get_params()["defaults_margin"]
        assert float(row["best_score"]) == pytest.approx(best if best < default * (1 - margin) else default)
        # Prophet's default configuration went first (the shared study enqueues it).
        assert float(row["default_score"]) in tuner.trials_[key] and row["best_score"] <= row["default_score"]
    fc = tuner.predict(tuner.make_future_dataframe(periods=5))
    assert len(fc) == 10 and fc["yhat"].notna().all()


def test_auto_mode_uses_trials_when_fewer_groups_than_cpus(ray_local, sales6):
    df = sales6[(sales6["store"] == 2) & (sales6["item"] == 3)]
    tuner = GroupedProphetTuner(backend="ray", **{**CROSS_BACKEND, "n_trials": 3, "early_stopping_rounds": 1}).fit(df)
    row = tuner.results_.iloc[0]
    assert row["status"] == "ok" and 2 <= row["n_trials"] <= 3


def test_bad_mode(ray_local, sales6):
    with pytest.raises(ValueError, match=r"Invalid Ray mode: 'fast', expected one of \['auto', 'groups', 'tune', 'trials'\]"):
        GroupedProphetTuner(backend="ray", backend_options={"mode": "fast"}, **CROSS_BACKEND).fit(sales6)


def test_unknown_backend_option():
    with pytest.raises(ValueError, match="Invalid backend_options for backend='ray'"):
        GroupedProphetTuner(backend="ray", backend_options={"adress": "x"}, **CROSS_BACKEND).fit(None)


def test_address_that_does_not_answer(sales6):
    import ray

    if ray.is_initialized():
        ray.shutdown()
    backend = RayBackend(address="127.0.0.1:1")
    with pytest.raises(ConnectionError, match=r"Could not connect to the Ray cluster at address='127.0.0.1:1'"):
        GroupedProphetTuner(backend=backend, **CROSS_BACKEND).fit(sales6)


def test_ray_on_spark_master_check():
    check_ray_on_spark_master("local-cluster[2,1,1024]")
    check_ray_on_spark_master("spark://10.0.0.1:7077")
    check_ray_on_spark_master("yarn")  # as ray.util.spark accepts it
    with pytest.raises(ValueError, match=r"Ray on Spark runs on local, local-cluster, standalone \(spark://\) and "
                                         r"YARN masters only; this session's master is 'k8s://https://k8s:443'"):
        check_ray_on_spark_master("k8s://https://k8s:443")


def test_ray_command_missing_is_said_plainly(tmp_path):
    code = (
        "from prophet_grouped import GroupedProphetTuner, make_retail_sales\n"
        "df = make_retail_sales(1, 1, 200)\n"
        "GroupedProphetTuner(group_cols=['store','item'], horizon=30, backend='ray',\n"
        "                    backend_options={'ray_on_spark': True}).fit(df)\n"
    )
    proc = run_python(code, path="/usr/bin:/bin", home=str(tmp_path))
    assert proc.returncode != 0
    assert "Ray on Spark launches the 'ray' command, which is not on PATH" in proc.stderr


@pytest.mark.parametrize("mode", ["groups", "trials"])
def test_unusable_groups_are_failed_rows(ray_local, mode):
    check_unusable_groups(lambda df: df, backend="ray", backend_options={"mode": mode})


def test_trial_timeout(ray_local, tmp_path):
    check_trial_timeout(str(tmp_path / "slept"), lambda df: df, backend="ray", backend_options={"mode": "groups"})


@pytest.mark.parametrize("mode", ["groups", "tune", "trials"])
def test_checkpoint_resume(ray_local, tmp_path, mode):
    check_checkpoint_resume(str(tmp_path / "ckpt"), lambda df: df, backend="ray", backend_options={"mode": mode})


def test_drivers_on_ray_match_local(ray_local, drivers_sales, drivers_reference):
    history, future = drivers_sales
    tuner = GroupedProphetTuner(backend="ray", backend_options={"mode": "groups"}, **drivers_settings()).fit(history)
    assert_same_results(tuner, drivers_reference)
    assert_same_forecasts(tuner.predict(future), drivers_reference.predict(future), GROUPS)
    # Ray Tune's trials mode builds the same models (one group's trials in parallel).
    one = history[(history["store"] == 2) & (history["item"] == 1)]
    trials = GroupedProphetTuner(backend="ray", backend_options={"mode": "trials"}, **drivers_settings()).fit(one)
    model = trials.models_[(2, 1)]
    assert set(model.extra_regressors) == {"price", "promo"} and model.country_holidays == "DE"
    assert set(model.holidays["holiday"]) == {"store_sale", "payday"}


def test_date_keys_give_local_results_and_forecasts(ray_local, date_keyed_sales, date_keyed_reference):
    tuner = GroupedProphetTuner(backend="ray", **DATE_KEYED).fit(date_keyed_sales)
    assert_same_results(tuner, date_keyed_reference)
    assert all(type(key[0]) is pd.Timestamp for key in tuner.models_)
    assert_forecast_matches(tuner.predict(tuner.make_future_dataframe(periods=5)), date_keyed_reference, periods=5)
