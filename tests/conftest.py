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


def assert_same_results(tuned, reference):
    """Identical best params and scores per group (the cross-backend contract)."""
    import pandas as pd

    pd.testing.assert_frame_equal(tuned.best_params_, reference.best_params_)
    pd.testing.assert_series_equal(tuned.results_["best_score"], reference.results_["best_score"])
    assert (tuned.results_["status"] == "ok").all()


def run_python(code: str, path: str, home: str):
    """Run ``code`` in a fresh interpreter of this environment with only ``path`` on PATH."""
    import subprocess

    env = {"PATH": path, "HOME": home, "RAY_AUTH_MODE": os.environ["RAY_AUTH_MODE"]}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
