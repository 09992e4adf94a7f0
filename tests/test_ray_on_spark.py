"""Ray on Spark (ray.util.spark.setup_ray_cluster) on a real local-cluster Spark, and Ray joined by address."""

import os
import shutil
import socket
import subprocess
import sys

import pytest

from prophet_grouped import GroupedProphetTuner

from .conftest import CROSS_BACKEND, assert_same_results

pytestmark = [pytest.mark.ray, pytest.mark.spark, pytest.mark.slow]


#: The cross-backend scenario on Ray on Spark, in a fresh interpreter whose HOME holds a Ray
#: token (~/.ray/auth_token, as any earlier local ray.init() leaves) and RAY_AUTH_MODE unset: Ray
#: then starts the head node with token authentication, and the backend must give the worker
#: nodes it starts in Spark tasks the same (Ray 2.60 otherwise fails: "Launch Ray-on-Spark
#: cluster failed", InvalidAuthToken).
RAY_ON_SPARK_WITH_TOKEN = """
import os, sys, uuid
assert "RAY_AUTH_MODE" not in os.environ
import ray
from prophet_grouped import GroupedProphetTuner, make_retail_sales
from tests.conftest import CROSS_BACKEND, EnvProbe, start_spark

os.environ.pop("RAY_AUTH_MODE")  # tests.conftest sets it for the test process; not here
os.makedirs(os.path.expanduser("~/.ray"))
with open(os.path.expanduser("~/.ray/auth_token"), "w") as fh:
    fh.write(uuid.uuid4().hex)
spark = start_spark("local-cluster[2,1,2048]", **{"spark.executor.memory": "2g", "spark.task.cpus": "1"})
sales6 = make_retail_sales(n_stores=2, n_items=3, periods=400, seed=1)
# sMAPE, as the default metric, also noting RAY_AUTH_MODE where the trials run (the worker nodes)
probe = EnvProbe(sys.argv[1] + "/auth_mode", "RAY_AUTH_MODE")
tuner = GroupedProphetTuner(backend="ray", backend_options={"spark": spark}, **{**CROSS_BACKEND, "metric": probe})
tuner.fit(spark.createDataFrame(sales6))
assert open(sys.argv[1] + "/auth_mode").read() == "token", "the worker nodes run with token authentication"
assert not ray.is_initialized(), "the Ray cluster started on Spark was not shut down"
assert spark.range(5).count() == 5, "Spark itself is still usable afterwards"
assert "RAY_AUTH_MODE" not in os.environ and "RAY_ON_SPARK_START_HOOK" not in os.environ, "environment restored"
tuner.best_params_.to_pickle(sys.argv[1] + "/best_params.pkl")
tuner.results_.to_pickle(sys.argv[1] + "/results.pkl")
"""


def test_cross_backend_ray_on_spark_with_a_ray_token_and_no_auth_mode(sales6, local_reference, tmp_path):
    import pandas as pd

    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")}
    env["HOME"] = str(home)
    done = subprocess.run([sys.executable, "-c", RAY_ON_SPARK_WITH_TOKEN, str(tmp_path)], capture_output=True,
                          text=True, env=env, cwd=os.path.dirname(os.path.dirname(__file__)), timeout=900,
                          check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    pd.testing.assert_frame_equal(pd.read_pickle(tmp_path / "best_params.pkl"), local_reference.best_params_)
    results = pd.read_pickle(tmp_path / "results.pkl")
    pd.testing.assert_series_equal(results["best_score"], local_reference.results_["best_score"])
    assert (results["status"] == "ok").all()
    assert (home / ".ray" / "auth_token").exists()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def ray_head(tmp_path):
    ray_cmd = shutil.which("ray") or os.path.join(os.path.dirname(sys.executable), "ray")
    env = {**os.environ}
    for _ in range(3):
        # A port free when probed can be taken before Ray's GCS binds it (seen in CI, right after
        # the previous test's Ray processes shut down): start again on another port.
        port = _free_port()
        proc = subprocess.run([ray_cmd, "start", "--head", f"--port={port}", "--num-cpus=2",
                               "--include-dashboard=false", "--node-ip-address=127.0.0.1"],
                              capture_output=True, text=True, env=env, timeout=120)
        if proc.returncode == 0:
            break
        subprocess.run([ray_cmd, "stop", "--force"], capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    yield f"127.0.0.1:{port}"
    subprocess.run([ray_cmd, "stop", "--force"], capture_output=True, env=env, timeout=120)


def test_cross_backend_joining_an_existing_cluster(ray_head, sales6, local_reference):
    import ray

    tuner = GroupedProphetTuner(backend="ray", backend_options={"address": ray_head}, **CROSS_BACKEND)
    tuner.fit(sales6)
    assert_same_results(tuner, local_reference)
    assert not ray.is_initialized()
