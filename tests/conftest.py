"""Shared fixtures: small generated data and a standard tuner configuration."""

from __future__ import annotations

import pytest

from prophet_grouped import make_retail_sales


@pytest.fixture(scope="session")
def sales8():
    """8 store x item groups of 730 days."""
    return make_retail_sales(n_stores=2, n_items=4, periods=730, seed=0)


@pytest.fixture(scope="session")
def sales6():
    """The cross-backend scenario: 6 groups of 400 days."""
    return make_retail_sales(n_stores=2, n_items=3, periods=400, seed=1)


#: Settings of the cross-backend scenario, shared by every backend's test.
CROSS_BACKEND = dict(
    group_cols=["store", "item"], n_trials=6, early_stopping_rounds=None, horizon=30, random_state=42,
    # One validation fold: these tests are about where work runs (tests/test_defaults.py covers
    # the default of three), and a third of the fits keeps the suite's time.
    cv_folds=1,
    # sMAPE (the custom metrics of these tests wrap it too): with it the scenario's groups choose
    # both targets, log1p(y) and y (test_transforms.py checks), so every backend is held to both.
    metric="smape",
)


import os  # noqa: E402
import sys  # noqa: E402

# Spark's Python workers (and Ray on Spark) must run this environment's python.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
# The tests start Ray in several ways on one machine: a local ray.init() writes ~/.ray/auth_token,
# after which `ray start` turns token auth on and Ray-on-Spark worker nodes fail to authenticate
# (Ray 2.60). One explicit mode for every Ray process the tests start, set before Spark starts.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

# Worker processes (Spark executors, Ray workers) unpickle test helpers from this package.
_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_root, os.environ.get("PYTHONPATH")) if p)
_bin = os.path.dirname(sys.executable)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")


@pytest.fixture(scope="session")
def local_reference(sales6):
    """The cross-backend scenario tuned on the local backend: what every backend must match."""
    from prophet_grouped import GroupedProphetTuner

    return GroupedProphetTuner(n_jobs=1, **CROSS_BACKEND).fit(sales6)


@pytest.fixture(scope="session")
def date_keyed_sales():
    """4 groups of 300 days keyed by a date column (the store's opening day) and an item."""
    import pandas as pd

    df = make_retail_sales(n_stores=2, n_items=2, periods=300, seed=3)
    opened = df["store"].map({1: "2020-03-01", 2: "2021-07-15"})
    return df.assign(opened=pd.to_datetime(opened)).drop(columns="store")


#: The date-keyed scenario's settings (the cross-backend ones, fewer trials).
DATE_KEYED = {**CROSS_BACKEND, "group_cols": ["opened", "item"], "n_trials": 4}


@pytest.fixture(scope="session")
def date_keyed_reference(date_keyed_sales):
    """The date-keyed scenario tuned on the local backend."""
    from prophet_grouped import GroupedProphetTuner

    return GroupedProphetTuner(n_jobs=1, **DATE_KEYED).fit(date_keyed_sales)


@pytest.fixture(scope="session")
def drivers_sales():
    """The drivers scenario: 4 groups of 300 days with price, promotion and a country per store;
    the last 28 days held out (with their known price and promotion)."""
    import numpy as np

    df = make_retail_sales(n_stores=2, n_items=2, periods=328, seed=6, covariates=True)
    df["country"] = np.where(df["store"] == 1, "US", "DE")
    cut = df["ds"].max() - __import__("pandas").Timedelta(days=28)
    return df[df["ds"] <= cut].reset_index(drop=True), df[df["ds"] > cut].drop(columns="y").reset_index(drop=True)


def drivers_settings():
    """Settings of the drivers scenario: regressors, one store's events plus everyone's, countries."""
    import pandas as pd

    events = pd.DataFrame({"holiday": ["store_sale", "store_sale", "payday"],
                           "ds": pd.to_datetime(["2019-04-06", "2019-08-03", "2019-06-28"]),
                           "store": [2.0, 2.0, float("nan")], "lower_window": [-1, -1, 0],
                           "upper_window": [1, 1, 0]})
    return dict(CROSS_BACKEND, n_trials=4, regressor_cols=["price", "promo"], holidays=events,
                holidays_country="country")


@pytest.fixture(scope="session")
def drivers_reference(drivers_sales):
    """The drivers scenario tuned on the local backend."""
    from prophet_grouped import GroupedProphetTuner

    return GroupedProphetTuner(n_jobs=1, **drivers_settings()).fit(drivers_sales[0])


def assert_same_forecasts(got, expected, group_cols):
    """Equal forecasts, row for row after sorting by group and date."""
    import pandas as pd

    cols = group_cols + ["ds"]
    got = got.sort_values(cols).reset_index(drop=True)
    expected = expected.sort_values(cols).reset_index(drop=True)
    assert len(got) == len(expected)
    pd.testing.assert_series_equal(got["yhat"], expected["yhat"], check_exact=False, rtol=1e-9)


def start_spark(master: str, **conf):
    """A real Spark session on ``master`` (module fixtures stop it)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName("prophet_grouped-tests")
    settings = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "200",
                "spark.driver.memory": "2g"}
    settings.update(conf)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


class EnvProbe:
    """sMAPE that also writes the value of environment variable ``name`` in the process that
    runs it to file ``marker``: what a worker's environment holds."""

    def __init__(self, marker: str, name: str):
        self.marker = marker
        self.name = name

    def __call__(self, y_true, y_pred):
        from prophet_grouped.metrics import smape

        with open(self.marker, "w") as fh:
            fh.write(str(os.environ.get(self.name)))
        return smape(y_true, y_pred)


class KillOnce:
    """A metric that SIGKILLs the worker process the first time it sees group ``target``'s data.

    The marker file makes the retry (a new process) go through: it tests that a backend retries
    a task whose worker died, and loses no group.
    """

    def __init__(self, marker: str, threshold: float):
        self.marker = marker
        self.threshold = threshold

    def __call__(self, y_true, y_pred):
        import signal

        from prophet_grouped.metrics import smape

        if y_true.mean() > self.threshold and not os.path.exists(self.marker):
            with open(self.marker, "w") as fh:
                fh.write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return smape(y_true, y_pred)


class RecordPid:
    """sMAPE that leaves, in ``folder``, a file named by the id of each process that scores a fold."""

    def __init__(self, folder: str):
        self.folder = folder

    def __call__(self, y_true, y_pred):
        from prophet_grouped.metrics import smape

        open(os.path.join(self.folder, str(os.getpid())), "w").close()
        return smape(y_true, y_pred)


def assert_same_results(tuned, reference):
    """Identical best params and scores per group (the cross-backend contract)."""
    import pandas as pd

    pd.testing.assert_frame_equal(tuned.best_params_, reference.best_params_)
    pd.testing.assert_series_equal(tuned.results_["best_score"], reference.results_["best_score"])
    pd.testing.assert_series_equal(tuned.results_["naive_score"], reference.results_["naive_score"])
    pd.testing.assert_series_equal(tuned.results_["transform"], reference.results_["transform"])
    pd.testing.assert_series_equal(tuned.results_["model"], reference.results_["model"])
    assert (tuned.results_["status"] == "ok").all()


#: The weekly loop's scenario: a previous fit four weeks earlier without group (2, 3), then a
#: warm-started 5-trial challenger against it as champion (Prophet's defaults, the previous 3
#: best, then one trial the previous trials guide).
RETRAIN = dict(n_trials=5, random_state=7, transform=None)


@pytest.fixture(scope="session")
def retrain_reference(sales6):
    """(previous fit, the retrain on the local backend): what every backend must match."""
    import pandas as pd

    from prophet_grouped import GroupedProphetTuner

    then = sales6[(sales6["ds"] <= sales6["ds"].max() - pd.Timedelta(days=28))
                  & ~((sales6["store"] == 2) & (sales6["item"] == 3))]
    previous = GroupedProphetTuner(n_jobs=1, **{**CROSS_BACKEND, "n_trials": 4, "transform": None}).fit(then)
    retrained = GroupedProphetTuner(n_jobs=1, warm_start=previous, champion=previous,
                                    **{**CROSS_BACKEND, **RETRAIN}).fit(sales6)
    return previous, retrained


def assert_same_retrain(tuned, reference):
    """The same warm starts, champion scores and promotions as ``reference``."""
    import pandas as pd

    assert_same_results(tuned, reference)
    columns = ["prior_trials", "champion_score", "promoted"]
    pd.testing.assert_frame_equal(tuned.results_[columns], reference.results_[columns], check_dtype=False)
    # One returning group gets the previous trials; in three the previous search found nothing
    # better than Prophet's defaults, in one its lead did not hold on the new folds (lead_holds);
    # one group is new.
    assert tuned.results_["prior_trials"].gt(0).sum() == 1 and tuned.results_["promoted"].notna().all()


def assert_forecast_matches(forecast, reference, periods):
    """``forecast`` (pandas or Spark) is what ``reference.predict`` gives ``periods`` steps
    ahead of every group: point forecasts and intervals (seeded per group)."""
    import pandas as pd

    if not isinstance(forecast, pd.DataFrame):
        forecast = forecast.toPandas()
    group_cols = reference.group_cols_
    expected = reference.predict(reference.make_future_dataframe(periods=periods))
    got = forecast.astype({"ds": "datetime64[ns]"}).sort_values(group_cols + ["ds"]).reset_index(drop=True)
    expected = expected.sort_values(group_cols + ["ds"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-9)


def run_python(code: str, path: str, home: str):
    """Run ``code`` in a fresh interpreter of this environment with only ``path`` on PATH."""
    import subprocess

    env = {"PATH": path, "HOME": home, "RAY_AUTH_MODE": os.environ["RAY_AUTH_MODE"]}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


class SleepOnce:
    """A metric that sleeps ``seconds`` the first time any process calls it (marker file), then
    scores like sMAPE: one trial of the whole fit hangs."""

    def __init__(self, marker: str, seconds: float):
        self.marker = marker
        self.seconds = seconds

    def __call__(self, y_true, y_pred):
        import time

        from prophet_grouped.metrics import smape

        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pass
        else:
            os.close(fd)
            time.sleep(self.seconds)
        return smape(y_true, y_pred)


class SlowMetric:
    """sMAPE that takes ``seconds`` longer per call: makes a fit last long enough to interrupt."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __call__(self, y_true, y_pred):
        import time

        from prophet_grouped.metrics import smape

        time.sleep(self.seconds)
        return smape(y_true, y_pred)


#: Groups of :func:`unusable_sales` that can't be tuned, with the reason each must get.
UNUSABLE = {
    3: r"ValueError: y is missing \(NaN\) on all 300 rows",
    4: r"ValueError: y is constant \(5\) on all 300 rows: there is nothing to tune",
    5: r"ValueError: too short for cutoff 2019-09-27: 20 training points \(at least 30 needed\) and 30 validation points",
}


def unusable_sales():
    """6 items at one store, 300 days: items 1-2 fine (2 with 10 missing y), 3 all NaN, 4
    constant, 5 with only 50 days."""
    import numpy as np

    df = make_retail_sales(n_stores=1, n_items=6, periods=300, seed=3)
    df.loc[(df["item"] == 2) & (df.index % 7 == 0), "y"] = np.nan
    df.loc[df["item"] == 3, "y"] = np.nan
    df.loc[df["item"] == 4, "y"] = 5.0
    df = df[(df["item"] != 5) | (df["ds"] > df["ds"].max() - np.timedelta64(50, "D"))]
    return df[df["item"] != 6].reset_index(drop=True)


def assert_unusable_results(tuner):
    """What every backend must report for :func:`unusable_sales`."""
    import re

    res = tuner.results_.set_index("item")
    assert list(res.loc[[1, 2], "status"]) == ["ok", "ok"]
    for item, reason in UNUSABLE.items():
        assert res.loc[item, "status"] == "failed"
        assert re.fullmatch(reason, res.loc[item, "error"]), res.loc[item, "error"]
    assert set(tuner.models_) == {(1, 1), (1, 2)}


# ------------------------------------------------------------------ reliability contract
# Each backend's tests call these with their own tuner settings and input conversion.
def check_unusable_groups(as_input, **tuner_kw):
    """Unusable groups are "failed" rows with the same reasons as on the local backend."""
    from prophet_grouped import GroupedProphetTuner, GroupFitWarning

    settings = dict(group_cols=["store", "item"], n_trials=3, horizon=30, random_state=0)
    with pytest.warns(GroupFitWarning, match=r"3 of 5 group\(s\) failed"):
        tuner = GroupedProphetTuner(**settings, **tuner_kw).fit(as_input(unusable_sales()))
    assert_unusable_results(tuner)


def check_trial_timeout(marker, as_input, **tuner_kw):
    """One trial hangs for 2 minutes; trial_timeout=3 stops it and every group still finishes."""
    import time

    from prophet_grouped import GroupedProphetTuner

    df = make_retail_sales(n_stores=1, n_items=2, periods=300, seed=0)
    started = time.monotonic()
    tuner = GroupedProphetTuner(group_cols=["store", "item"], n_trials=3, horizon=30, random_state=0,
                                metric=SleepOnce(marker, 120), trial_timeout=3, **tuner_kw).fit(as_input(df))
    assert os.path.exists(marker)
    assert time.monotonic() - started < 90, "the hanging trial was not cut"
    assert (tuner.results_["status"] == "ok").all()
    assert tuner.results_["n_failed_trials"].sum() == 1
    assert sum(t is None for trials in tuner.trials_.values() for t in trials) == 1
    # The group keeps the reason of its failed trial.
    reasons = tuner.results_["error"].dropna().tolist()
    assert len(reasons) == 1 and reasons[0].startswith("1 of 3 trials failed; first: TrialTimeout"), reasons


def check_checkpoint_resume(ckpt, as_input, **tuner_kw):
    """A fit is checkpointed by the workers; a second fit reads every group back, tuning none;
    changed data is refused."""
    from prophet_grouped import GroupedProphetTuner

    df = make_retail_sales(n_stores=1, n_items=3, periods=300, seed=2)
    settings = dict(group_cols=["store", "item"], n_trials=3, horizon=30, random_state=0, checkpoint_dir=ckpt)
    first = GroupedProphetTuner(**settings, **tuner_kw).fit(as_input(df))
    folder = os.path.join(ckpt, "groups")
    files = {n: os.stat(os.path.join(folder, n)).st_ino for n in os.listdir(folder)}
    assert len(files) == 3
    again = GroupedProphetTuner(**settings, **tuner_kw).fit(as_input(df))
    assert {n: os.stat(os.path.join(folder, n)).st_ino for n in os.listdir(folder)} == files
    assert_same_results(again, first)
    changed = df.assign(y=df["y"] + 1.0)
    with pytest.raises(ValueError, match=r"holds group \(1, \d\) tuned on different data"):
        GroupedProphetTuner(**settings, **tuner_kw).fit(as_input(changed))


def make_ets_sales(n_groups: int = 4, periods: int = 300, seed: int = 3):
    """Groups AutoETS and Prophet each win: even ones drift as random walks (a level that
    moves, ETS's ground), odd ones follow a trend with a strong weekly pattern (Prophet's)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    ds = pd.date_range("2023-01-01", periods=periods, freq="D")
    i = np.arange(periods)
    parts = []
    for g in range(n_groups):
        if g % 2 == 0:
            y = 60 + np.cumsum(rng.normal(0, 2.5, periods))
        else:
            y = 40 + 0.05 * i + 8 * np.sin(2 * np.pi * i / 7) + 4 * np.cos(2 * np.pi * i / 7) + rng.normal(0, 1.5, periods)
        parts.append(pd.DataFrame({"unique_id": f"s{g}", "ds": ds, "y": np.maximum(y, 0.0)}))
    return pd.concat(parts, ignore_index=True)


#: The ETS challenger's scenario (every backend's test compares with the local fit of it).
ETS_SETTINGS = dict(group_cols="unique_id", n_trials=4, horizon=14, cv_folds=2, random_state=0,
                    candidates=("prophet", "ets"),
                    # The models' own intervals, which test_ets.py compares with statsforecast's;
                    # "calibrated" and "wider" are checked there against these.
                    intervals="prophet")


@pytest.fixture(scope="session")
def ets_sales():
    return make_ets_sales()


@pytest.fixture(scope="session")
def ets_reference(ets_sales):
    """The ETS scenario tuned on the local backend, in this process."""
    from prophet_grouped import GroupedProphetTuner

    return GroupedProphetTuner(n_jobs=1, **ETS_SETTINGS).fit(ets_sales)


def assert_same_ets_results(tuned, reference):
    """The same model kind, scores and forecasts per group as the local ETS reference."""
    import pandas as pd

    for col in ("model", "best_score", "ets_score", "default_score", "naive_score"):
        pd.testing.assert_series_equal(tuned.results_[col], reference.results_[col], check_exact=False, rtol=1e-9)
    future = reference.make_future_dataframe(periods=10)
    pd.testing.assert_frame_equal(tuned.predict(future), reference.predict(future), check_exact=False, rtol=1e-9)
