"""Spark backend on a real local[2] session started here."""


import numpy as np
import pandas as pd
import pytest

from prophet_grouped import GroupedProphetTuner, GroupFitWarning, make_retail_sales
from prophet_grouped.backends.spark import plan_partitions

from .conftest import (
    CROSS_BACKEND,
    DATE_KEYED,
    ETS_SETTINGS,
    RETRAIN,
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
    start_spark,
)

pytestmark = pytest.mark.spark
GROUPS = ["store", "item"]


@pytest.fixture(scope="module")
def spark():
    session = start_spark("local[2]")
    yield session
    session.stop()


def test_cross_backend_spark_dataframe(spark, sales6, local_reference):
    sdf = spark.createDataFrame(sales6)
    tuner = GroupedProphetTuner(backend="spark", backend_options={"spark": spark}, **CROSS_BACKEND)
    forecast = tuner.forecast(sdf, periods=10)  # tuned, refit and forecast inside Spark
    assert_same_results(tuner, local_reference)
    assert type(forecast).__module__.startswith("pyspark.sql"), "a Spark DataFrame in, a Spark DataFrame out"
    assert tuner.models_ == {}, "keep_models=False: no model came to the driver"
    # The tuning output was left cached for the forecast frame to read.
    assert spark._jsparkSession.sharedState().cacheManager().isEmpty(), "nothing left cached"
    assert_forecast_matches(forecast, local_reference, periods=10)


def test_the_ets_challenger_in_spark_matches_local(spark, ets_sales, ets_reference):
    """A Spark DataFrame tuned with the AutoETS challenger in Spark tasks (the ETS models come back
    as JSON in the result rows); a Spark DataFrame of dates forecast in Spark: as the local fit."""
    tuner = GroupedProphetTuner(backend="spark", backend_options={"spark": spark}, **ETS_SETTINGS)
    tuner.fit(spark.createDataFrame(ets_sales))
    assert_same_ets_results(tuner, ets_reference)
    future = ets_reference.make_future_dataframe(periods=10)
    got = tuner.predict(spark.createDataFrame(future)).toPandas().sort_values(["unique_id", "ds"])
    expected = ets_reference.predict(future)
    np.testing.assert_allclose(got[["yhat", "yhat_lower", "yhat_upper"]].to_numpy(),
                               expected[["yhat", "yhat_lower", "yhat_upper"]].to_numpy(), rtol=1e-9)


def test_cross_backend_pandas_input_uses_active_session(spark, sales6, local_reference):
    tuner = GroupedProphetTuner(backend="spark", **CROSS_BACKEND)
    forecast = tuner.forecast(sales6, periods=10, keep_models=True)
    assert_same_results(tuner, local_reference)
    assert isinstance(forecast, pd.DataFrame) and len(tuner.models_) == 6
    assert_forecast_matches(forecast, local_reference, periods=10)
    # The active session was used, not stopped.
    assert spark.sparkContext._jsc is not None
    assert spark.range(3).count() == 3


def test_session_settings_restored(spark, sales6):
    key = "spark.sql.adaptive.coalescePartitions.enabled"
    spark.conf.set(key, "true")
    spark.conf.unset("spark.sql.execution.arrow.pyspark.enabled")
    before = spark.conf.get("spark.sql.execution.arrow.pyspark.enabled", None)
    df = sales6[sales6["item"] == 1]
    GroupedProphetTuner(backend="spark", **{**CROSS_BACKEND, "n_trials": 1}).fit(df)
    assert spark.conf.get(key) == "true"
    assert spark.conf.get("spark.sql.execution.arrow.pyspark.enabled", None) == before


def test_predict_spark_dataframe_in_spark(spark, local_reference):
    tuner = GroupedProphetTuner(backend="spark", **CROSS_BACKEND)
    # Reuse the reference's fitted state, predicted through Spark.
    tuner.__dict__.update({k: v for k, v in local_reference.__dict__.items() if k.endswith("_")})
    future = tuner.make_future_dataframe(periods=10)
    out = tuner.predict(spark.createDataFrame(future))
    assert type(out).__module__.startswith("pyspark.sql")
    got = out.toPandas().sort_values(GROUPS + ["ds"]).reset_index(drop=True)
    expected = local_reference.predict(future).sort_values(GROUPS + ["ds"]).reset_index(drop=True)
    assert len(got) == len(future) == 60
    for col in ("yhat", "yhat_lower", "yhat_upper"):  # intervals too: seeded per group, not per process
        pd.testing.assert_series_equal(got[col], expected[col], check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(
        got[GROUPS + ["ds"]].astype({"ds": "datetime64[ns]"}), expected[GROUPS + ["ds"]], check_dtype=False
    )


def test_retrain_with_model_dir_on_a_spark_dataframe_matches_local(spark, sales6, retrain_reference, tmp_path):
    """Warm start and champion from saved folders reach the executors (a broadcast); with
    model_dir the executors write the models and the tuning rows carry only paths; predict on a
    Spark DataFrame sends the paths, and each task reads its group's model."""
    import os

    previous, expected = retrain_reference
    previous.save(str(tmp_path / "run1"))
    models = tmp_path / "models"
    tuner = GroupedProphetTuner(backend="spark", backend_options={"spark": spark}, warm_start=str(tmp_path / "run1"),
                                champion=str(tmp_path / "run1"), model_dir=str(models), **{**CROSS_BACKEND, **RETRAIN})
    tuner.fit(spark.createDataFrame(sales6))
    assert_same_retrain(tuner, expected)
    assert tuner.studies_ == expected.studies_
    assert len(os.listdir(models)) == 6
    assert {tuner.models_.record(k)[0] for k in tuner.models_} == {"file"}
    future = expected.make_future_dataframe(periods=10)
    got = tuner.predict(spark.createDataFrame(future)).toPandas()
    got = got.astype({"ds": "datetime64[ns]"}).sort_values(GROUPS + ["ds"]).reset_index(drop=True)
    want = expected.predict(future).sort_values(GROUPS + ["ds"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-9)


def test_mlflow_model_scores_in_spark_with_spark_udf(spark, local_reference, tmp_path, monkeypatch):
    """The tuner logged as one pyfunc model, scored by mlflow.pyfunc.spark_udf in Spark's Python
    workers: the same point forecasts as the tuner's predict."""
    mlflow = pytest.importorskip("mlflow")
    from pyspark.sql import functions as F

    from prophet_grouped.tracking import log_model

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    info = log_model(local_reference, registered_model_name="sales_forecast", alias="champion")
    future = local_reference.make_future_dataframe(periods=10)
    udf = mlflow.pyfunc.spark_udf(spark, info.model_uri, result_type="double", env_manager="local")
    scored = spark.createDataFrame(future).withColumn("yhat", udf(F.struct(*future.columns))).toPandas()
    got = scored.astype({"ds": "datetime64[ns]"}).sort_values(GROUPS + ["ds"]).reset_index(drop=True)
    expected = local_reference.predict(future).sort_values(GROUPS + ["ds"]).reset_index(drop=True)
    pd.testing.assert_series_equal(got["yhat"], expected["yhat"], check_exact=False, rtol=1e-9)


def test_failing_group_is_a_row_not_a_failed_job(spark, sales6):
    df = sales6.copy()
    df.loc[(df["store"] == 2) & (df["item"] == 2) & (df.index % 2 == 0), "y"] = float("inf")  # seen only inside Spark
    sdf = spark.createDataFrame(df)
    tuner = GroupedProphetTuner(backend="spark", **{**CROSS_BACKEND, "n_trials": 2})
    with pytest.warns(UserWarning, match=r"1 of 6 group\(s\) failed"):
        tuner.fit(sdf)
    res = tuner.results_.set_index(GROUPS)
    assert res.loc[(2, 2), "status"] == "failed"
    assert res.loc[(2, 2), "error"].startswith("ValueError: Column 'y' has 200 infinite values.")
    assert (res.drop(index=(2, 2))["status"] == "ok").all()


def test_spark_schema_errors(spark, sales6):
    sdf = spark.createDataFrame(sales6)
    tuner = GroupedProphetTuner(backend="spark", **CROSS_BACKEND)
    with pytest.raises(ValueError, match=r"The following columns are missing from the Spark DataFrame: \['item'\]"):
        tuner.fit(sdf.drop("item"))
    with pytest.raises(ValueError, match="Column 'y' must be numeric, got string"):
        tuner.fit(sdf.withColumn("y", sdf["y"].cast("string")))
    with pytest.raises(ValueError, match="Column 'ds' must be a date, timestamp or date string, got bigint"):
        tuner.fit(sdf.withColumn("ds", sdf["store"].cast("bigint")))
    with pytest.raises(ValueError, match=r"Group columns must have atomic types .* got \{'item': 'array<bigint>'\}"):
        from pyspark.sql import functions as F
        tuner.fit(sdf.withColumn("item", F.array("item")))


def test_local_backend_refuses_spark_dataframe(spark, sales6):
    with pytest.raises(TypeError, match="backend='local' does not read Spark DataFrames"):
        GroupedProphetTuner(**CROSS_BACKEND).fit(spark.createDataFrame(sales6))


def test_plan_partitions_balances_longest_first():
    sizes = [100, 90, 50, 50, 40, 10]
    assignment = plan_partitions(sizes, 2)
    loads = [sum(s for s, p in zip(sizes, assignment) if p == k) for k in range(2)]
    assert sorted(loads) == [160, 180]  # LPT: each group, longest first, to the least loaded
    assert assignment[0] != assignment[1]


def test_plan_partitions_heap_gives_the_simple_plan():
    """The heap-based plan (O(groups x log partitions)) assigns as the plain scan of every
    partition did, ties to the lowest partition included."""
    rng = np.random.default_rng(0)

    def scan(sizes, n):
        load, out = [0] * n, [0] * len(sizes)
        for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
            target = min(range(n), key=load.__getitem__)
            out[i], load[target] = target, load[target] + sizes[i]
        return out

    for n_groups, n_parts in ((1, 1), (7, 3), (200, 6), (1000, 37)):
        sizes = [int(v) for v in rng.choice([120, 365, 730, 2330], size=n_groups)]  # many ties
        assert plan_partitions(sizes, n_parts) == scan(sizes, n_parts)
    capped = plan_partitions([100, 1, 1, 1, 1, 1], 2, max_groups=3)
    assert sorted(np.bincount(capped)) == [3, 3], "the small groups don't all go to the big one's partner"
    with pytest.raises(ValueError, match="7 groups don't fit in 2 partitions of 3 groups"):
        plan_partitions([1] * 7, 2, max_groups=3)


def test_many_groups_get_more_partitions_and_the_same_results(spark, sales6, local_reference, monkeypatch):
    """At most max_groups groups per planned partition (the driver reads one partition of results
    at a time); the answers stay the local backend's."""
    from prophet_grouped.backends import spark as spark_backend

    sdf = spark.createDataFrame(pd.DataFrame({"g": np.repeat(np.arange(10), [5, 1, 1, 1, 1, 2, 2, 2, 2, 9]), "y": 1.0}))
    _, rows, n_parts = spark_backend.group_plan(sdf, ["g"], max_parts=2, max_groups=3)
    per_part = pd.Series([row[-1] for row in rows]).value_counts()
    assert n_parts == 4 and len(per_part) == 4 and per_part.max() <= 3
    assert spark_backend.group_plan(sdf, ["g"], max_parts=2)[2] == 2
    monkeypatch.setattr(spark_backend, "MAX_GROUPS_PER_PARTITION", 2)  # 6 groups: 3 partitions, not 2 x 3 slots
    tuner = GroupedProphetTuner(backend="spark", backend_options={"spark": spark, "partitions_per_slot": 1},
                                **CROSS_BACKEND).fit(spark.createDataFrame(sales6))
    assert_same_results(tuner, local_reference)


def test_clone_with_a_backend_object_shares_the_session(spark, sales6, local_reference):
    from sklearn.base import clone

    from prophet_grouped.backends.spark import SparkBackend

    tuner = GroupedProphetTuner(backend=SparkBackend(spark=spark), **CROSS_BACKEND)
    copy = clone(tuner)
    assert copy.backend is not tuner.backend and copy.backend.spark is spark
    assert_same_results(copy.fit(spark.createDataFrame(sales6)), local_reference)


def test_java_missing_is_said_plainly(tmp_path):
    code = (
        "from prophet_grouped import GroupedProphetTuner, make_retail_sales\n"
        "df = make_retail_sales(1, 1, 200)\n"
        "GroupedProphetTuner(group_cols=['store','item'], horizon=30, backend='spark').fit(df)\n"
    )
    proc = run_python(code, path="/nonexistent", home=str(tmp_path))
    assert proc.returncode != 0
    assert "backend='spark' needs Java to start a Spark session, but 'java' is not on PATH" in proc.stderr


def test_session_it_starts_runs_workers_with_this_python(tmp_path):
    """Without an activated virtualenv (no PYSPARK_PYTHON, the system python3 first on PATH),
    the session the backend starts still runs its Python workers where prophet_grouped is."""
    code = (
        "import os\n"
        "assert 'PYSPARK_PYTHON' not in os.environ\n"
        "from prophet_grouped import GroupedProphetTuner, make_retail_sales\n"
        "df = make_retail_sales(1, 1, 200)\n"
        "t = GroupedProphetTuner(group_cols=['store','item'], horizon=30, n_trials=1, cv_folds=1,\n"
        "                        backend='spark', backend_options={'master': 'local[1]'}).fit(df)\n"
        "print(t.results_['status'].tolist())\n"
    )
    proc = run_python(code, path="/usr/bin:/bin", home=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("['ok']")


def test_unusable_groups_are_failed_rows(spark):
    check_unusable_groups(spark.createDataFrame, backend="spark")


def test_trial_timeout(spark, tmp_path):
    check_trial_timeout(str(tmp_path / "slept"), spark.createDataFrame, backend="spark")


def test_checkpoint_written_by_executors_and_resumed(spark, tmp_path):
    check_checkpoint_resume(str(tmp_path / "ckpt"), spark.createDataFrame, backend="spark")


def test_executors_report_progress_while_the_job_runs(spark, sales6, monkeypatch):
    import prophet_grouped.fitting as fitting_module
    from prophet_grouped.progress import Progress

    made = []

    class Recording(Progress):
        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            made.append(self)

    monkeypatch.setattr(fitting_module, "Progress", Recording)
    df = sales6[sales6["item"] != 3]
    GroupedProphetTuner(backend="spark", verbose=0, **{**CROSS_BACKEND, "n_trials": 2}).fit(spark.createDataFrame(df))
    progress = made[0]
    assert progress.total == 4 and progress.done == 4 and progress.trials == 8
    # Every group was counted from the executors' messages, before Spark returned any row.
    assert set(progress.sources.values()) == {"worker"}


def test_monthly_spark_dataframe_infers_its_frequency_and_clips_like_pandas(spark):
    """freq=None on a Spark DataFrame: the frequency comes from its distinct dates (one Spark
    job), and a Spark predict is the shared per-group forecast, clipped at 0 like pandas'."""
    import numpy as np

    months = pd.date_range("2016-01-01", periods=72, freq="MS")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"shop": "a", "ds": months,
                       "y": np.maximum(0, 5 + 4 * np.sin(2 * np.pi * months.month / 12) - 0.08 * np.arange(72)
                                       + rng.normal(0, 0.5, 72))})
    tuner = GroupedProphetTuner(group_cols="shop", n_trials=2, random_state=0, backend="spark",
                                backend_options={"spark": spark}).fit(spark.createDataFrame(df))
    assert tuner.freq_ == "MS" and tuner.horizon_ == 12 and tuner.results_["status"].tolist() == ["ok"]
    future = tuner.make_future_dataframe(periods=24)
    assert list(future["ds"]) == list(pd.date_range("2022-01-01", periods=24, freq="MS"))
    np.random.seed(0)
    local = tuner.predict(future)
    assert (local[["yhat", "yhat_lower", "yhat_upper"]] >= 0).all().all()
    remote = tuner.predict(spark.createDataFrame(future)).toPandas().sort_values("ds").reset_index(drop=True)
    np.testing.assert_allclose(remote["yhat"], local["yhat"], rtol=1e-9)
    assert (remote[["yhat_lower", "yhat_upper"]] >= 0).all().all()


def test_a_shop_closed_on_saturdays_forecast_in_spark_skips_them_like_pandas(spark):
    """The closed weekdays come from the Spark DataFrame's distinct dates, and the executors'
    one-pass forecasts skip them, equal to the local forecast of the same rows."""
    df = make_retail_sales(n_stores=1, n_items=2, periods=150, seed=3)
    df = df[df["ds"].dt.dayofweek != 5].reset_index(drop=True)
    params = dict(group_cols=["store", "item"], n_trials=2, horizon=14, random_state=0, verbose=0)
    local = GroupedProphetTuner(**params).forecast(df, periods=9)
    tuner = GroupedProphetTuner(backend="spark", backend_options={"spark": spark}, **params)
    remote = tuner.forecast(spark.createDataFrame(df), periods=9)
    remote = remote.toPandas() if hasattr(remote, "toPandas") else remote
    assert tuner.closed_days_ == ["SAT"]
    assert len(remote) == 2 * 9 and not (pd.to_datetime(remote["ds"]).dt.dayofweek == 5).any()
    remote = remote.assign(ds=pd.to_datetime(remote["ds"])).sort_values(["store", "item", "ds"]).reset_index(drop=True)
    local = local.sort_values(["store", "item", "ds"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(remote[local.columns], local, check_dtype=False)


def test_spark_text_dates_it_cannot_read_are_refused(spark, sales6):
    df = sales6[sales6["item"] == 1].assign(ds=lambda d: d["ds"].dt.strftime("%d.%m.%Y"))
    with pytest.raises(ValueError, match=r"Column 'ds' of the Spark DataFrame has 400 distinct values Spark can't "
                                         r"read as timestamps .* e.g. \['01.01.2019', '01.01.2020', '01.02.2019'\]"):
        GroupedProphetTuner(backend="spark", **CROSS_BACKEND).fit(spark.createDataFrame(df))
    with pytest.raises(ValueError, match=r"date_format='%d.%m.%Y' applies to pandas frames"):
        GroupedProphetTuner(backend="spark", date_format="%d.%m.%Y", **CROSS_BACKEND).fit(spark.createDataFrame(df))


def test_drivers_on_a_spark_dataframe_match_local(spark, drivers_sales, drivers_reference):
    """Regressors, per-store events and a country column travel with a Spark DataFrame (never
    collected), and predict on a Spark DataFrame takes the regressors from the frame."""
    history, future = drivers_sales
    tuner = GroupedProphetTuner(backend="spark", **drivers_settings()).fit(spark.createDataFrame(history))
    assert_same_results(tuner, drivers_reference)
    assert {k: m.country_holidays for k, m in tuner.models_.items()} == {
        (1, 1): "US", (1, 2): "US", (2, 1): "DE", (2, 2): "DE"}
    assert all(set(m.extra_regressors) == {"price", "promo"} for m in tuner.models_.values())
    got = tuner.predict(spark.createDataFrame(future)).toPandas()
    assert_same_forecasts(got.astype({"ds": "datetime64[ns]"}), drivers_reference.predict(future), GROUPS)
    with pytest.raises(ValueError, match=r"missing from the Spark DataFrame to predict: \['price'\]"):
        tuner.predict(spark.createDataFrame(future.drop(columns="price")))
    with pytest.raises(ValueError, match=r"must be numeric \(or boolean flags\), got \{'promo': 'string'\}"):
        GroupedProphetTuner(backend="spark", **drivers_settings()).fit(
            spark.createDataFrame(history.astype({"promo": str})))


def test_score_of_a_spark_dataframe_says_how(spark, local_reference):
    future = local_reference.make_future_dataframe(periods=2)
    with pytest.raises(TypeError, match=r"Collect the rows to score first: tuner.score\(sdf.toPandas\(\)\)"):
        local_reference.score(spark.createDataFrame(future))


def test_corrupt_checkpoint_file_is_tuned_again_by_the_executor(spark, tmp_path):
    import json

    from prophet_grouped import make_retail_sales
    from prophet_grouped.checkpoint import group_path

    df = spark.createDataFrame(make_retail_sales(n_stores=1, n_items=2, periods=300, seed=0))
    ckpt = str(tmp_path / "ckpt")
    settings = dict(group_cols=GROUPS, n_trials=2, horizon=30, random_state=0, cv_folds=1, checkpoint_dir=ckpt,
                    backend="spark")
    first = GroupedProphetTuner(**settings).fit(df)
    with open(group_path(ckpt, (1, 1)), "w") as fh:
        fh.write('{"key": [1, 1], "da')  # a writer killed mid-file
    again = GroupedProphetTuner(**settings).fit(df)
    pd.testing.assert_frame_equal(again.results_.drop(columns="seconds"), first.results_.drop(columns="seconds"))
    with open(group_path(ckpt, (1, 1))) as fh:
        assert json.load(fh)["result"]["status"] == "ok"  # rewritten whole by the executor


def test_date_keys_give_local_results_forecasts_and_checkpoint_files(spark, date_keyed_sales, date_keyed_reference,
                                                                    tmp_path):
    """A date group column is a DateType column in Spark (datetime.date in its tasks) and a
    Timestamp in pandas: the same seeds, results, forecasts and checkpoint files."""
    import os

    sdf = spark.createDataFrame(date_keyed_sales.assign(opened=date_keyed_sales["opened"].dt.date))
    assert sdf.schema["opened"].dataType.typeName() == "date"
    tuner = GroupedProphetTuner(backend="spark", backend_options={"spark": spark}, **DATE_KEYED).fit(sdf)
    assert_same_results(tuner, date_keyed_reference)
    assert set(tuner.models_) == set(date_keyed_reference.models_)
    future = date_keyed_reference.make_future_dataframe(periods=5)
    got = tuner.predict(spark.createDataFrame(future.assign(opened=future["opened"].dt.date))).toPandas()
    assert_forecast_matches(got.assign(opened=pd.to_datetime(got["opened"])), date_keyed_reference, periods=5)
    # a checkpoint the local backend wrote is resumed by the executors: nothing tuned again
    ckpt = tmp_path / "ckpt"
    GroupedProphetTuner(n_jobs=1, checkpoint_dir=str(ckpt), **DATE_KEYED).fit(date_keyed_sales)
    written = {name: os.stat(ckpt / "groups" / name).st_mtime_ns for name in os.listdir(ckpt / "groups")}
    resumed = GroupedProphetTuner(backend="spark", backend_options={"spark": spark}, checkpoint_dir=str(ckpt),
                                  **DATE_KEYED).fit(sdf)
    assert {name: os.stat(ckpt / "groups" / name).st_mtime_ns for name in os.listdir(ckpt / "groups")} == written
    assert_same_results(resumed, date_keyed_reference)


@pytest.mark.ray
def test_a_spark_dataframe_reaches_ray_through_staged_parquet(spark, sales6, local_reference, tmp_path):
    """backend="ray" on a Spark DataFrame: Spark writes the groups as Parquet into staging_dir
    (whole groups per file), Ray tasks read their files; same results as local; nothing left."""
    import os

    staging = tmp_path / "staging"
    tuner = GroupedProphetTuner(backend="ray", backend_options={"num_cpus": 2, "staging_dir": str(staging)},
                                **CROSS_BACKEND)
    tuner.fit(spark.createDataFrame(sales6))
    assert_same_results(tuner, local_reference)
    assert staging.is_dir() and os.listdir(staging) == [], "the fit's staged files are removed"
    # The "trials" mode reads the staged files in the driver: a group whose rows can't be used
    # (a date twice) fails alone, with the reason the "groups" mode's tasks give.
    two = sales6[sales6["item"] == 1]
    two = pd.concat([two, two[(two["store"] == 2)].tail(1)], ignore_index=True)
    results = {}
    for mode in ("groups", "trials"):
        fitted = GroupedProphetTuner(backend="ray", backend_options={"num_cpus": 2, "mode": mode},
                                     **{**CROSS_BACKEND, "n_trials": 2})
        with pytest.warns(GroupFitWarning, match=r"1 of 2 group\(s\) failed"):
            fitted.fit(spark.createDataFrame(two))
        results[mode] = fitted.results_.set_index(GROUPS)[["status", "error"]]
    assert results["trials"].loc[(1, 1), "status"] == "ok" and results["trials"].loc[(2, 1), "status"] == "failed"
    assert results["trials"].loc[(2, 1), "error"].startswith("ValueError: 2 rows share a group and a date")
    pd.testing.assert_frame_equal(results["trials"], results["groups"])


def test_checkpoint_folder_problems_on_executors(spark, tmp_path):
    """A folder that can't be written is one clear error before any Spark job; numpy values a
    callable space returns are checkpointed by the executors (no crashed job)."""
    import os

    import numpy as np

    df = make_retail_sales(n_stores=1, n_items=1, periods=300, seed=0)
    settings = dict(group_cols=GROUPS, n_trials=3, horizon=30, random_state=0, cv_folds=1)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match=r"checkpoint_dir='.*file.txt/ckpt' can't be written \(.*\)\. Give a folder"):
        GroupedProphetTuner(backend="spark", checkpoint_dir=str(tmp_path / "file.txt" / "ckpt"), **settings).fit(
            spark.createDataFrame(df))

    def space(trial):
        return {"n_changepoints": np.int64(trial.suggest_int("n_changepoints", 5, 25)),
                "changepoint_prior_scale": np.float64(trial.suggest_float("changepoint_prior_scale", 0.01, 0.5))}

    ckpt = tmp_path / "ckpt"
    tuner = GroupedProphetTuner(backend="spark", checkpoint_dir=str(ckpt), search_space=space, **settings).fit(
        spark.createDataFrame(df))
    assert tuner.results_.loc[0, "status"] == "ok" and tuner.results_.loc[0, "error"] is None
    assert len(os.listdir(ckpt / "groups")) == 1


def test_the_clis_parquet_files_are_read_by_spark(spark, tmp_path):
    """The CLI wrote pandas' nanosecond timestamps, which Spark refused (PARQUET_TYPE_ILLEGAL)."""
    from prophet_grouped import cli

    path = str(tmp_path / "demo.parquet")
    assert cli.main(["demo-data", path, "--stores", "1", "--items", "2", "--days", "40"]) == 0
    got = spark.read.parquet(path).toPandas().sort_values(["item", "ds"]).reset_index(drop=True)
    expected = pd.read_parquet(path).sort_values(["item", "ds"]).reset_index(drop=True)
    assert len(got) == 80
    assert (pd.to_datetime(got["ds"]).to_numpy() == expected["ds"].to_numpy()).all()
    np.testing.assert_array_equal(got["y"].to_numpy(), expected["y"].to_numpy())


def test_rows_with_a_null_group_key_are_refused_like_pandas_before_any_work(spark, sales6):
    """Before, Spark grouped them under NULL and they were lost without a word."""
    df = sales6.astype({"item": "float64"})
    df.loc[df.index[:44], "item"] = np.nan
    tuner = GroupedProphetTuner(backend="spark", backend_options={"spark": spark}, **CROSS_BACKEND)
    message = "Group column 'item' has 44 missing values; every row needs a complete group key."
    with pytest.raises(ValueError, match=message):
        GroupedProphetTuner(**CROSS_BACKEND).fit(df)
    sdf = spark.createDataFrame(df.astype({"item": "object"}).where(df.notna(), None))
    assert sdf.filter(sdf["item"].isNull()).count() == 44
    with pytest.raises(ValueError, match=message):
        tuner.fit(sdf)


@pytest.mark.parametrize("case", ["every group too short", "cutoff after every history", "events of no group",
                                  "not a country"])
def test_spark_input_gets_the_driver_checks_pandas_input_gets(spark, case):
    """Spark input skipped them: every group too short gave N failed rows after the work (pandas:
    a ValueError first), and the events table's group values and the country codes went unchecked."""
    df = make_retail_sales(n_stores=2, n_items=2, periods=120, seed=2)
    df["country"] = np.where(df["store"] == 1, "US", "DE")
    settings = dict(group_cols=GROUPS, n_trials=1, horizon=14, verbose=0)
    events = pd.DataFrame({"holiday": ["sale"], "ds": ["2019-02-01"], "store": [9]})
    frame, extra = {
        "every group too short": (df[df["ds"] < "2019-01-20"], {}),
        "cutoff after every history": (df, {"cutoffs": ["2030-01-01"]}),
        "events of no group": (df, {"holidays": events}),
        "not a country": (df.assign(country=np.where(df["store"] == 1, "US", "XX")), {"holidays_country": "country"}),
    }[case]
    with pytest.raises(ValueError) as local:
        GroupedProphetTuner(**settings, **extra).fit(frame)
    with pytest.raises(ValueError) as remote:
        GroupedProphetTuner(backend="spark", backend_options={"spark": spark}, **settings, **extra).fit(
            spark.createDataFrame(frame))
    assert str(remote.value) == str(local.value)
    assert "All 4 group(s) are too short" in str(local.value) or "cutoff" in case or "events" in case or "XX" in str(
        local.value)


def test_spark_source_counts_what_the_pandas_source_counts(spark):
    """The length check's count, computed in Spark (nothing per group on the driver), is the
    pandas source's: through a date, and through an offset back from each group's last date
    (a fixed one and a month end), with missing values and groups whose histories end apart."""
    from prophet_grouped import plan
    from prophet_grouped.sources import PandasSource, SparkSource

    df = make_retail_sales(n_stores=2, n_items=3, periods=200, seed=4)
    df = df[~((df["item"] == 2) & (df["ds"] > "2019-05-01"))].copy()  # ends earlier
    df.loc[(df["item"] == 3) & (df["ds"] < "2019-03-01"), "y"] = np.nan  # long gap
    tuner = GroupedProphetTuner(group_cols=GROUPS)
    config = plan.make_config(tuner)[1]
    local = PandasSource(df, GROUPS, "ds", "y", None, config.drivers)
    remote = SparkSource(spark.createDataFrame(df), GROUPS, "ds", "y", config)
    for until in (pd.Timestamp("2019-02-10"), pd.Timestamp("2018-01-01"), pd.offsets.Day(30), pd.offsets.Day(400),
                  pd.offsets.MonthEnd(2), pd.DateOffset(weeks=9)):
        expected = local.most_observed_through(until)
        assert remote.most_observed_through(until) == expected, until
    assert local.most_observed_through(pd.Timestamp("2019-02-10")) == 41
    assert local.most_observed_through(pd.offsets.Day(400)) == 0


def test_one_series_without_a_group_column_on_spark_as_on_pandas(spark):
    ds = pd.date_range("2022-01-01", periods=150, freq="D")
    df = pd.DataFrame({"ds": ds, "y": 10 + (ds.dayofweek == 5) * 3.0 + np.arange(150) * 0.1})
    settings = dict(group_cols=None, n_trials=2, horizon=14, random_state=0, verbose=0)
    local = GroupedProphetTuner(**settings).fit(df)
    remote = GroupedProphetTuner(backend="spark", backend_options={"spark": spark}, **settings).fit(
        spark.createDataFrame(df))
    assert remote.group_cols_ == ["series"] and list(remote.trials_) == [("all",)]
    assert remote.results_["best_score"].tolist() == pytest.approx(local.results_["best_score"].tolist(), rel=1e-9)
    future = spark.createDataFrame(pd.DataFrame({"ds": pd.date_range("2022-06-01", periods=3)}))
    got = remote.predict(future).toPandas()
    assert list(got["series"]) == ["all"] * 3 and len(got) == 3


def test_a_session_the_library_starts_keeps_the_terminal_quiet(tmp_path):
    """`prophet-grouped tune --backend spark` printed 8 log4j WARN lines and Spark's stage bars
    over the progress line."""
    import os
    import subprocess
    import sys

    cli = os.path.join(os.path.dirname(sys.executable), "prophet-grouped")
    make_retail_sales(n_stores=1, n_items=2, periods=120, seed=0).to_csv(tmp_path / "s.csv", index=False)
    env = {k: v for k, v in os.environ.items() if k != "SPARK_CONF_DIR"}
    out = subprocess.run([cli, "tune", "s.csv", "--group", "store,item", "--trials", "1", "--horizon", "14",
                          "--backend", "spark", "--out", "run"], cwd=tmp_path, capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    assert " WARN " not in out.stderr and "[Stage" not in out.stderr, out.stderr
    assert "tuned 2 groups (2 ok)" in out.stderr


def test_a_backtest_of_a_spark_dataframe_gives_the_pandas_table(spark):
    df = make_retail_sales(n_stores=1, n_items=2, periods=200, seed=6)
    settings = dict(group_cols=GROUPS, n_trials=2, horizon=14, cv_folds=1, random_state=0, verbose=0)
    local = GroupedProphetTuner(**settings).backtest(df, origins=2, methods=("tuned", "seasonal_naive"))
    remote = GroupedProphetTuner(backend="spark", backend_options={"spark": spark}, **settings).backtest(
        spark.createDataFrame(df), origins=2, methods=("tuned", "seasonal_naive"))
    pd.testing.assert_frame_equal(remote, local, check_dtype=False)
