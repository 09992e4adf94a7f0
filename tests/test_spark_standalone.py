"""Spark backend on a standalone cluster started with Spark's own launcher, job sent with spark-submit."""

import os
import socket
import subprocess
import time

import pandas as pd
import pytest

from .conftest import CROSS_BACKEND

pytestmark = [pytest.mark.spark, pytest.mark.slow]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on port {port}")


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    import pyspark

    home = os.path.dirname(pyspark.__file__)
    spark_class = os.path.join(home, "bin", "spark-class")
    port = _free_port()
    logs = tmp_path_factory.mktemp("standalone-logs")
    env = {**os.environ, "SPARK_HOME": home, "SPARK_LOG_DIR": str(logs), "SPARK_WORKER_DIR": str(logs)}
    master = subprocess.Popen(
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
         "--webui-port", str(_free_port())],
        env=env, stdout=open(logs / "master.log", "w"), stderr=subprocess.STDOUT,
    )
    url = f"spark://127.0.0.1:{port}"
    worker = None
    try:
        _wait_port(port)
        worker = subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.worker.Worker", url, "--cores", "2", "--memory", "2g",
             "--host", "127.0.0.1", "--webui-port", str(_free_port())],
            env=env, stdout=open(logs / "worker.log", "w"), stderr=subprocess.STDOUT,
        )
        yield url, env, home
    finally:
        for proc in (worker, master):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)


def test_spark_submit_to_standalone_cluster(standalone, sales6, local_reference, tmp_path):
    url, env, home = standalone
    source = tmp_path / "sales.parquet"
    sales6.to_parquet(source, coerce_timestamps="us")  # Spark does not read nanosecond timestamps
    proc = subprocess.run(
        [os.path.join(home, "bin", "spark-submit"), "--master", url, "--conf", "spark.ui.enabled=false",
         "--executor-memory", "1g", os.path.join(ROOT, "examples", "spark_job.py"), str(source), str(tmp_path),
         str(CROSS_BACKEND["cv_folds"]), CROSS_BACKEND["metric"]],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, "\n".join(l for l in proc.stderr.splitlines() if " INFO " not in l)[-4000:]
    best = pd.read_csv(tmp_path / "best_params.csv")
    results = pd.read_csv(tmp_path / "results.csv")
    assert (results["status"] == "ok").all() and len(results) == 6
    expected = local_reference.best_params_
    pd.testing.assert_frame_equal(best, expected, check_dtype=False)
    assert CROSS_BACKEND["random_state"] == 42  # the job uses the same scenario settings
