"""The local backend's two kinds of worker process: forked from the driver, and joblib's loky."""

import os
import subprocess
import sys
import threading

import pytest

from prophet_grouped import GroupedProphetTuner
from prophet_grouped.backends.local import LocalBackend, WorkerDiedError

from . import conftest
from .conftest import CROSS_BACKEND, KillOnce, assert_same_results

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork workers: Linux only")


class SeesDriverState:
    """A metric that writes, per worker process, whether the worker sees a value the driver set
    in memory after start-up (``conftest.DRIVER_STATE``): only a forked worker does."""

    def __init__(self, folder: str):
        self.folder = folder

    def __call__(self, y_true, y_pred):
        from prophet_grouped.metrics import smape
        from tests import conftest as worker_conftest

        with open(os.path.join(self.folder, str(os.getpid())), "w") as fh:
            fh.write(str(getattr(worker_conftest, "DRIVER_STATE", None)))
        return smape(y_true, y_pred)


@pytest.mark.parametrize("start_method", ["fork", "loky"])
def test_both_worker_kinds_give_the_serial_results(start_method, sales6, local_reference, tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "DRIVER_STATE", "set in the driver", raising=False)
    tuner = GroupedProphetTuner(n_jobs=2, backend_options={"start_method": start_method},
                                **{**CROSS_BACKEND, "metric": SeesDriverState(str(tmp_path))}).fit(sales6)
    assert_same_results(tuner, local_reference)
    seen = {pid: (tmp_path / pid).read_text() for pid in os.listdir(tmp_path)}
    assert len(seen) == 2, f"expected two worker processes, saw {seen}"
    assert str(os.getpid()) not in seen  # the groups ran in workers, not here
    expected = "set in the driver" if start_method == "fork" else "None"
    assert set(seen.values()) == {expected}


def test_a_killed_fork_worker_is_replaced_and_no_group_lost(sales6, local_reference, tmp_path):
    marker = tmp_path / "killed"
    tuner = GroupedProphetTuner(n_jobs=2, backend_options={"start_method": "fork"},
                                **{**CROSS_BACKEND, "metric": KillOnce(str(marker), threshold=0.0)}).fit(sales6)
    assert marker.exists(), "no worker was killed: the test proved nothing"
    assert_same_results(tuner, local_reference)


class AlwaysKill:
    """A metric that SIGKILLs its worker every time it scores a validation window whose mean is
    above ``threshold`` (one group's)."""

    def __init__(self, threshold: float):
        self.threshold = threshold

    def __call__(self, y_true, y_pred):
        import signal

        from prophet_grouped.metrics import smape

        if y_true.mean() > self.threshold:
            os.kill(os.getpid(), signal.SIGKILL)
        return smape(y_true, y_pred)


def test_a_group_that_always_kills_its_worker_stops_the_fit_with_its_key(sales6):
    # The mean of each group's validation window (the last `horizon` days, one fold).
    means = sales6.sort_values("ds").groupby(["store", "item"])["y"].apply(lambda y: y.iloc[-30:].mean())
    worst = tuple(int(v) for v in means.idxmax())
    backend = LocalBackend(start_method="fork", max_retries=1)
    threshold = (means.max() + means.drop(means.idxmax()).max()) / 2
    tuner = GroupedProphetTuner(backend=backend, n_jobs=2, **{**CROSS_BACKEND, "metric": AlwaysKill(threshold)})
    with pytest.raises(WorkerDiedError, match=rf"tuning group \({worst[0]}, {worst[1]}\) died 2 times .*max_retries=1"):
        tuner.fit(sales6)


def test_auto_forks_only_from_a_process_without_other_threads():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert LocalBackend().resolved_start_method() == "loky"
    finally:
        stop.set()
        thread.join()
    # A fresh interpreter runs one thread.
    code = "from prophet_grouped.backends.local import LocalBackend; print(LocalBackend().resolved_start_method())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "fork"


def test_bad_start_method():
    with pytest.raises(ValueError, match=r"Invalid start_method: 'spawn', expected one of \['auto', 'fork', 'loky'\]\."):
        GroupedProphetTuner(backend_options={"start_method": "spawn"}, n_jobs=2,
                            **{**CROSS_BACKEND, "n_trials": 1}).fit(
            __import__("prophet_grouped").make_retail_sales(1, 2, 200))


def test_fork_workers_fit_with_stan_too():
    """Forked workers run cmdstan processes of their own (the Stan engine): same results as one process."""
    from prophet_grouped import make_retail_sales

    df = make_retail_sales(n_stores=1, n_items=2, periods=200, seed=4)
    settings = dict(group_cols=["store", "item"], n_trials=2, horizon=14, cv_folds=1, random_state=0, engine="stan")
    serial = GroupedProphetTuner(n_jobs=1, **settings).fit(df)
    forked = GroupedProphetTuner(n_jobs=2, backend_options={"start_method": "fork"}, **settings).fit(df)
    assert forked.engine_ == "stan"
    assert_same_results(forked, serial)


@pytest.mark.parametrize("name", ["local", "spark", "ray"])
def test_clone_keeps_every_backend_option_and_shares_the_session(name):
    """The Spark and Ray backends copied themselves by listing their options by hand: an
    option added later would be dropped by scikit-learn's clone without a word."""
    import copy
    import inspect
    import threading

    from sklearn.base import clone

    from prophet_grouped.backends import get_backend

    backend = get_backend(name)
    session = threading.Lock()  # stands in for a SparkSession: an object that can't be copied
    for param in list(inspect.signature(type(backend)).parameters)[:]:
        setattr(backend, param, session if param == "spark" else f"not-the-default-{param}")
    backend.added_later = ["a", "new", "option"]
    with pytest.raises(TypeError):
        copy.deepcopy(session)
    tuner = clone(GroupedProphetTuner(backend=backend))
    copied = tuner.backend
    assert copied is not backend and type(copied) is type(backend)
    assert vars(copied) == vars(backend)
    assert copied.added_later is not backend.added_later, "options are copied, not shared"
    if hasattr(backend, "spark"):
        assert copied.spark is session, "the session is shared"
