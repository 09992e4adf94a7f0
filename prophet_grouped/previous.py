"""The weekly loop's driver side: a previous fit (``warm_start``, ``champion``) read and turned
into one :class:`~prophet_grouped.retrain.GroupPrior` per group, which the workers use."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._environ import environ
from ._imports import import_optional
from .exceptions import InputTypeError
from .keys import group_key
from .persistence import load, records
from .retrain import GroupPrior

if TYPE_CHECKING:
    from .estimator import GroupedProphetTuner

__all__ = ["download_tuner", "previous_params", "priors", "resolve_previous"]


def resolve_previous(value: Any, name: str, cls: type[GroupedProphetTuner]) -> GroupedProphetTuner | None:
    """``warm_start`` or ``champion`` as a fitted tuner of class ``cls``: None, a fitted tuner,
    the folder of a saved one, or an MLflow model URI of one logged by
    :func:`prophet_grouped.tracking.log_model` (``"models:/sales_forecast@champion"``:
    downloaded from the current tracking URI's store)."""
    if value is None:
        return None
    # A saved tuner is read without its models: only parameters and studies are used here.
    if isinstance(value, str) and value.startswith(("models:/", "runs:/")):
        return load(cls, download_tuner(value), models=False)
    if isinstance(value, (str, os.PathLike)):
        try:
            return load(cls, os.fspath(value), models=False)
        except FileNotFoundError as exc:
            raise ValueError(f"{name}={os.fspath(value)!r} is not a saved tuner: {exc}") from None
    if isinstance(value, cls):
        if not hasattr(value, "best_params_"):
            raise ValueError(f"{name} must be a fitted tuner; this one was never fitted. Fit it, or pass None.")
        return value
    raise InputTypeError(
        f"{name} must be a fitted GroupedProphetTuner, the folder of a saved one (tuner.save(path)), an MLflow "
        f"model URI ('models:/name@alias'), or None; "
        f"got {type(value).__name__}."
    )


def previous_params(tuner: GroupedProphetTuner) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Group key -> best parameters of a fitted tuner (groups that were tuned: status "ok"),
    plain values, the parameters a group did not have left out."""
    group_cols = tuner.group_cols_
    frame = tuner.best_params_
    keys = frame[group_cols].itertuples(index=False, name=None)
    rows = records(frame.drop(columns=group_cols))
    return {group_key(key): {name: value for name, value in row.items() if value is not None}
            for key, row in zip(keys, rows)}


def priors(warm_start: GroupedProphetTuner | None, champion: GroupedProphetTuner | None, group_cols: list[str],
           keys: Iterable[tuple[Any, ...]] | None = None) -> dict[tuple[Any, ...], GroupPrior]:
    """One :class:`GroupPrior` per group the previous tuners know (restricted to ``keys`` when
    given). Raises ValueError when a previous tuner grouped by other columns."""
    for name, tuner in (("warm_start", warm_start), ("champion", champion)):
        if tuner is not None and list(tuner.group_cols_) != list(group_cols):
            raise ValueError(
                f"{name} was fitted with group_cols={list(tuner.group_cols_)}, this fit groups by "
                f"{list(group_cols)}: a previous fit helps only the same groups."
            )
    warm_best = previous_params(warm_start) if warm_start is not None else {}
    studies = dict(getattr(warm_start, "studies_", {}) or {}) if warm_start is not None else {}
    champions = previous_params(champion) if champion is not None else {}
    wanted = None if keys is None else set(keys)
    out = {}
    for key in set(warm_best) | set(studies) | set(champions):
        if wanted is not None and key not in wanted:
            continue
        out[key] = GroupPrior(study=studies.get(key), best=warm_best.get(key), champion=champions.get(key))
    return out


def download_tuner(model_uri: str) -> str:
    """The local folder of the saved tuner inside an MLflow model logged by :func:`log_model`
    (``"models:/sales_forecast@champion"``, ``"runs:/<id>/model"``...), downloaded from the
    current tracking URI's store."""
    mlflow = import_optional("mlflow")
    with environ({"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}):  # a bar per file on stderr otherwise
        local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri)
    folder = os.path.join(local, "artifacts", "tuner")
    if not os.path.isdir(folder):
        raise ValueError(
            f"{model_uri!r} is an MLflow model but not one logged by prophet_grouped.tracking.log_model "
            f"(no artifacts/tuner folder in it)."
        )
    return folder
