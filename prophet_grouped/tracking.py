"""Log a fitted tuner to MLflow as one run, in bulk (the ``[mlflow]`` extra).

One batch request for the settings and summary metrics, then three artifacts: the per-group
results table, the best parameters table and the saved tuner folder. Never one request per
group or per trial (what makes autologging unusable for thousands of groups).
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ._imports import import_optional

if TYPE_CHECKING:
    from .estimator import GroupedProphetTuner

#: MLflow's limit on a parameter value's length.
_MAX_PARAM = 6000


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text[:_MAX_PARAM]


def log_to_mlflow(
    tuner: GroupedProphetTuner,
    run_name: str | None = None,
    experiment_name: str | None = None,
    tracking_uri: str | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    """Log a fitted tuner to MLflow as one run; returns the run id.

    Parameters
    ----------
    tuner : GroupedProphetTuner
        A fitted tuner.
    run_name, experiment_name : str or None
        The run's name; the experiment (created if missing; None: MLflow's default).
    tracking_uri : str or None
        Where to log (e.g. ``"file:///tmp/mlruns"``, ``"databricks"``); None: MLflow's default
        (``MLFLOW_TRACKING_URI``).
    tags : dict or None
        Extra run tags.

    What is logged: every constructor parameter as a run parameter; ``n_groups``, ``n_ok``,
    ``n_failed``, ``n_fallback``, ``n_trials``, ``mean_best_score``, ``median_best_score`` and
    ``fit_seconds`` as metrics; ``results.csv`` (one row per group with its best parameters),
    and the saved tuner (``tuner/``, loadable with ``GroupedProphetTuner.load``) as artifacts.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(tuner, "results_")
    tracking = import_optional("mlflow.tracking")
    entities = import_optional("mlflow.entities")
    client = tracking.MlflowClient(tracking_uri=tracking_uri)
    experiment_id = "0"
    if experiment_name is not None:
        found = client.get_experiment_by_name(experiment_name)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment_name)
    run_tags = {"mlflow.source.name": "prophet_grouped", **(tags or {})}
    if run_name:
        run_tags["mlflow.runName"] = run_name
    run = client.create_run(experiment_id, tags=run_tags)
    run_id = run.info.run_id
    try:
        results = tuner.results_
        scores = results.loc[results["status"] == "ok", "best_score"].to_numpy(dtype=float)
        now = int(time.time() * 1000)
        metrics = {
            "n_groups": len(results),
            "n_ok": int((results["status"] == "ok").sum()),
            "n_failed": int((results["status"] == "failed").sum()),
            "n_fallback": int((results["status"] == "fallback").sum()),
            "n_trials": int(results["n_trials"].sum()),
            "fit_seconds": float(results["seconds"].sum()),
        }
        if len(scores):
            metrics["mean_best_score"] = float(np.mean(scores))
            metrics["median_best_score"] = float(np.median(scores))
        params = {name: _param_value(value) for name, value in tuner.get_params(deep=False).items()}
        params["engine_"] = tuner.engine_
        client.log_batch(
            run_id,
            metrics=[entities.Metric(k, float(v), now, 0) for k, v in metrics.items()],
            params=[entities.Param(k, v) for k, v in params.items()],
        )
        with tempfile.TemporaryDirectory(prefix="prophet_grouped_mlflow_") as folder:
            table = results.merge(tuner.best_params_, on=tuner.group_cols_, how="left")
            table_path = os.path.join(folder, "results.csv")
            table.to_csv(table_path, index=False)
            client.log_artifact(run_id, table_path)
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # unstorable params: said at save()
                tuner.save(os.path.join(folder, "tuner"))
            client.log_artifacts(run_id, os.path.join(folder, "tuner"), artifact_path="tuner")
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    return run_id
