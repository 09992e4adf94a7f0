"""Log a fitted tuner to MLflow as one run, in bulk (the ``[mlflow]`` extra).

One batch request for the settings and summary metrics, then three artifacts: the per-group
results table, the best parameters table and the saved tuner folder. Never one request per
group or per trial (what makes autologging unusable for thousands of groups).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._environ import environ
from ._imports import import_optional
from .previous import download_tuner  # noqa: F401 - public here since the registry loop began

if TYPE_CHECKING:
    from .estimator import GroupedProphetTuner

#: MLflow's limit on a parameter value's length.
_MAX_PARAM = 6000


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text[:_MAX_PARAM]


def check_tracking(tracking_uri: str | None = None, experiment_name: str | None = None,
                   timeout: float = 10.0) -> None:
    """Raise ValueError unless MLflow can log to ``tracking_uri`` (None: MLflow's default):
    checked with one request that gives up after ``timeout`` seconds, so that a wrong or
    unreachable tracking server is found before the tuning, not after it (MLflow's own client
    retries an unreachable server for minutes)."""
    mlflow = import_optional("mlflow")
    uri = tracking_uri or mlflow.get_tracking_uri()
    try:
        quick = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(max(1, timeout)))}
        with environ(quick):
            client = mlflow.MlflowClient(tracking_uri=uri)
            if experiment_name:
                client.get_experiment_by_name(experiment_name)
            else:
                client.search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001  (MLflow raises many kinds: connection, store, URI)
        text = " ".join(str(exc).split())[:300]
        raise ValueError(
            f"MLflow can't log to {uri!r}: {type(exc).__name__}: {text}. Give a tracking URI it can reach, e.g. "
            f"--mlflow-uri sqlite:///mlflow.db (a local database; artifacts then go to ./mlruns) or "
            f"http://HOST:5000 of a running server."
        ) from None


def log_to_mlflow(
    tuner: GroupedProphetTuner,
    run_name: str | None = None,
    experiment_name: str | None = None,
    tracking_uri: str | None = None,
    tags: dict[str, str] | None = None,
    backtest: pd.DataFrame | None = None,
    report: str | None = None,
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
    backtest : pandas.DataFrame or None
        A table of :meth:`GroupedProphetTuner.backtest`: logged as ``backtest.csv``, with each
        method's mean MAE as metric ``backtest_mae_<method>``.
    report : str or None
        The path of an HTML report (``prophet-grouped backtest`` or ``report``): logged as is.

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
        if backtest is not None:
            for method, mae in backtest.groupby("method")["mae"].mean().items():
                metrics[f"backtest_mae_{method}"] = float(mae)
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
            if backtest is not None:
                backtest_path = os.path.join(folder, "backtest.csv")
                backtest.to_csv(backtest_path, index=False)
                client.log_artifact(run_id, backtest_path)
            if report is not None:
                client.log_artifact(run_id, os.fspath(report))
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


def log_model(
    tuner: GroupedProphetTuner,
    name: str = "model",
    registered_model_name: str | None = None,
    alias: str | None = None,
    experiment_name: str | None = None,
    run_name: str | None = None,
    tracking_uri: str | None = None,
) -> Any:
    """Log a fitted tuner as one MLflow pyfunc model (one run, one artifact folder); returns
    MLflow's ``ModelInfo`` (``model_uri``, ``registered_model_version``).

    ``mlflow.pyfunc.load_model(uri).predict(frame)`` forecasts a frame of group columns and
    dates (and regressor values) with the tuner's ``predict``, returning ``yhat``,
    ``yhat_lower`` and ``yhat_upper`` row for row; ``mlflow.pyfunc.spark_udf(spark, uri,
    result_type="double")`` scores ``yhat`` inside Spark.

    Parameters
    ----------
    tuner : GroupedProphetTuner
        A fitted tuner.
    name : str
        The model's name in the run.
    registered_model_name : str or None
        Register the model as a new version of this registry model.
    alias : str or None
        Point this alias of ``registered_model_name`` (e.g. ``"champion"``) at the new version,
        so that ``"models:/<name>@<alias>"`` names it, e.g. as ``champion`` or ``warm_start`` of
        the next fit.
    experiment_name, run_name : str or None
        The experiment (created if missing; None: the active or default one) and the run's name.
    tracking_uri : str or None
        Where to log (e.g. ``"sqlite:///mlflow.db"``, ``"databricks"``); None: MLflow's current
        tracking URI. The registry is the tracking store's.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(tuner, "results_")
    if alias is not None and registered_model_name is None:
        raise ValueError(f"alias={alias!r} names a version of a registered model: give registered_model_name too.")
    mlflow = import_optional("mlflow")
    import_optional("mlflow.pyfunc")
    from .mlflow_model import GroupedProphetModel

    previous_uri = mlflow.get_tracking_uri() if tracking_uri is not None else None
    if tracking_uri is not None:
        mlflow.set_tracking_uri(tracking_uri)
    try:
        client = mlflow.tracking.MlflowClient()
        experiment_id = None
        if experiment_name is not None:
            found = client.get_experiment_by_name(experiment_name)
            experiment_id = found.experiment_id if found else client.create_experiment(experiment_name)
        with tempfile.TemporaryDirectory(prefix="prophet_grouped_mlflow_") as folder:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # unstorable params: said at save()
                tuner.save(os.path.join(folder, "tuner"))
            example = tuner.make_future_dataframe(periods=1).head(1)
            for col in tuner.future_cols_:
                example[col] = 0.0
            with mlflow.start_run(experiment_id=experiment_id, run_name=run_name,
                                  tags={"mlflow.source.name": "prophet_grouped"}), warnings.catch_warnings(), \
                    environ({"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}):
                # MLflow's hints about inferring a signature (integer key columns can't hold missing
                # values: keys never are missing) don't apply; the upload's progress bars neither.
                warnings.simplefilter("ignore", UserWarning)
                signature = mlflow.models.infer_signature(example, GroupedProphetModel.example_output())
                # MLflow warns that the python_model object is cloudpickled: it is an empty
                # wrapper whose class is imported by name, the tuner itself is plain files.
                pyfunc_logger = logging.getLogger("mlflow.pyfunc")
                level = pyfunc_logger.level
                pyfunc_logger.setLevel(logging.ERROR)
                try:
                    info = mlflow.pyfunc.log_model(
                        name=name, python_model=GroupedProphetModel(),
                        artifacts={"tuner": os.path.join(folder, "tuner")}, signature=signature,
                        registered_model_name=registered_model_name,
                        pip_requirements=_requirements(ets=(tuner.results_.get("model") == "ets").any()),
                    )
                finally:
                    pyfunc_logger.setLevel(level)
        if alias is not None:
            client.set_registered_model_alias(registered_model_name, alias, info.registered_model_version)
        return info
    finally:
        if previous_uri is not None:
            mlflow.set_tracking_uri(previous_uri)


def _requirements(ets: bool = False) -> list[str]:
    """The model's pip requirements, pinned to this environment (MLflow's own inference runs the
    model in a subprocess: seconds per model); statsforecast too where a group's model is ETS."""
    from importlib.metadata import PackageNotFoundError, version

    pinned = []
    for name in ("prophet_grouped", "prophet", "pandas", "numpy", "optuna", "scikit-learn",
                 *(("statsforecast",) if ets else ())):
        try:
            pinned.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pinned.append(name)
    return pinned
