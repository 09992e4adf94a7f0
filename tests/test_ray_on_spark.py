"""Ray on Spark (ray.util.spark.setup_ray_cluster) on a real local-cluster Spark, and Ray joined by address."""

import os
import shutil
import socket
import subprocess
import sys

import pytest

from prophet_grouped import GroupedProphetTuner

from .conftest import CROSS_BACKEND, assert_same_results, start_spark

pytestmark = [pytest.mark.ray, pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster():
    session = start_spark("local-cluster[2,1,2048]", **{"spark.executor.memory": "2g",
                                                         "spark.task.cpus": "1"})
    yield session
    session.stop()


def test_cross_backend_ray_on_spark(cluster, sales6, local_reference):
    import ray

    tuner = GroupedProphetTuner(backend="ray", backend_options={"spark": cluster}, **CROSS_BACKEND)
    tuner.fit(cluster.createDataFrame(sales6))
    assert_same_results(tuner, local_reference)
    assert not ray.is_initialized(), "the Ray cluster started on Spark was not shut down"
    # Spark itself is still usable afterwards.
    assert cluster.range(5).count() == 5


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
