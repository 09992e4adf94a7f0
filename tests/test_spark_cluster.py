"""Spark backend on a real local-cluster (separate executor JVMs and Python workers)."""

import pytest

from prophet_grouped import GroupedProphetTuner

from .conftest import CROSS_BACKEND, KillOnce, assert_same_results, start_spark

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def cluster():
    session = start_spark("local-cluster[2,1,1024]", **{"spark.executor.memory": "1g"})
    yield session
    session.stop()


def test_cross_backend_on_local_cluster(cluster, sales6, local_reference):
    tuner = GroupedProphetTuner(backend="spark", **CROSS_BACKEND).fit(cluster.createDataFrame(sales6))
    assert_same_results(tuner, local_reference)


def test_killed_python_worker_is_retried_and_no_group_lost(cluster, sales6, local_reference, tmp_path):
    marker = tmp_path / "killed"
    metric = KillOnce(str(marker), threshold=0.0)  # the first metric call anywhere kills its worker
    tuner = GroupedProphetTuner(backend="spark", **{**CROSS_BACKEND, "metric": metric})
    tuner.fit(cluster.createDataFrame(sales6))
    assert marker.exists(), "no worker was killed: the test proved nothing"
    assert_same_results(tuner, local_reference)
