"""The per-group result row and its schema, shared by every backend."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .keys import group_key

#: Result fields after the group columns, with their Spark SQL types. Every backend emits
#: rows of exactly these columns.
RESULT_SCHEMA: tuple[tuple[str, str], ...] = (
    ("status", "string"),
    ("error", "string"),
    ("best_score", "double"),
    ("default_score", "double"),
    ("n_folds", "long"),
    ("n_trials", "long"),
    ("n_failed_trials", "long"),
    ("stopped_early", "boolean"),
    ("seconds", "double"),
    ("best_params", "string"),
    ("trials", "string"),
    ("model_json", "string"),
    ("dropped_regressors", "string"),
    ("n_uncached_fits", "long"),
    ("forecast", "string"),
    ("model_file", "string"),
    ("history_end", "string"),
    ("prior_trials", "long"),
    ("study", "string"),
    ("champion_score", "double"),
    ("promoted", "boolean"),
)
RESULT_FIELDS = tuple(name for name, _ in RESULT_SCHEMA)
#: Columns of the public ``results_`` frame, after the group columns.
PUBLIC_RESULT_COLUMNS = ("best_score", "default_score", "n_folds", "n_trials", "stopped_early", "status", "error",
                         "seconds", "n_failed_trials", "dropped_regressors", "n_uncached_fits", "history_end",
                         "prior_trials", "champion_score", "promoted")


@dataclass
class GroupResult:
    """What tuning one group produced. ``status`` is ``"ok"`` or ``"failed"``."""

    key: tuple[Any, ...]
    status: str
    error: str | None = None
    best_score: float = float("nan")
    #: Validation loss of Prophet's default configuration on the same folds.
    default_score: float = float("nan")
    #: Validation folds the group was scored on.
    n_folds: int = 0
    n_trials: int = 0
    n_failed_trials: int = 0
    stopped_early: bool = False
    seconds: float = 0.0
    best_params: dict[str, Any] = field(default_factory=dict)
    trials: list[float | None] = field(default_factory=list)
    model_json: str | None = None
    #: Regressor columns left out of this group's models (constant in its history), comma-separated.
    dropped_regressors: str | None = None
    #: Batch engine: trial fits (one per fold) that could not use the cached features and took
    #: the ordinary fit (logistic growth, conditional seasonalities, a rejected solve).
    n_uncached_fits: int = 0
    #: The forecast after the history (``forecast(X, periods)``), as JSON (:func:`~prophet_grouped.forecast.forecast_to_json`).
    forecast: str | None = None
    #: Where the worker wrote the model (``model_dir``): then rows and checkpoints carry this
    #: path instead of the model.
    model_file: str | None = None
    #: Last date of the history the group's model was refit on (ISO), set with the model.
    history_end: str | None = None
    #: Warm start: trials of the previous study given to the sampler (0: a cold start).
    prior_trials: int = 0
    #: This study's own complete trials (:func:`prophet_grouped.retrain.study_record`).
    study: dict[str, Any] | None = None
    #: Champion-challenger: the champion's loss on this fit's folds (NaN without a champion).
    champion_score: float = float("nan")
    #: Champion-challenger: whether the new best replaced the champion (None without a champion).
    promoted: bool | None = None
    #: The fitted model as set where it was fitted: a compact record
    #: (:func:`prophet_grouped.models.dump_model`: pickled, cheap to send and to keep).
    model_record: Any = field(default=None, repr=False, compare=False)

    def stored_model_json(self) -> str | None:
        """The model as Prophet JSON, for rows and files that hold text (None when the model
        is in ``model_file``)."""
        if self.model_json is None and self.model_record is not None and self.model_record[0] != "file":
            from prophet.serialize import model_to_json

            from .models import load_record

            return model_to_json(load_record(self.model_record))
        return self.model_json

    def to_record(self, group_cols: list[str]) -> dict[str, Any]:
        """A flat row: group columns then :data:`RESULT_FIELDS`, dicts and lists as JSON."""
        row: dict[str, Any] = dict(zip(group_cols, self.key))
        for name in RESULT_FIELDS:
            value = self.stored_model_json() if name == "model_json" else getattr(self, name)
            if name in ("best_params", "trials") or (name == "study" and value is not None):
                value = json.dumps(value, default=json_default)
            row[name] = value
        return row

    @classmethod
    def from_record(cls, row: Mapping[str, Any], group_cols: list[str]) -> GroupResult:
        """Inverse of :meth:`to_record`."""
        # rows written before these fields
        defaults = {"default_score": float("nan"), "n_folds": 0, "dropped_regressors": None, "n_uncached_fits": 0,
                    "forecast": None, "model_file": None, "history_end": None, "prior_trials": 0, "study": None,
                    "champion_score": float("nan"), "promoted": None}
        values = {name: row.get(name, defaults.get(name)) for name in RESULT_FIELDS}
        values["best_params"] = json.loads(values["best_params"] or "{}")
        values["trials"] = json.loads(values["trials"] or "[]")
        values["n_trials"] = int(values["n_trials"])
        values["n_failed_trials"] = int(values["n_failed_trials"])
        values["n_folds"] = int(values["n_folds"] or 0)
        values["n_uncached_fits"] = int(values["n_uncached_fits"] or 0)
        values["default_score"] = float("nan") if values["default_score"] is None else float(values["default_score"])
        values["stopped_early"] = bool(values["stopped_early"])
        values["prior_trials"] = int(values["prior_trials"] or 0)
        values["study"] = json.loads(values["study"]) if isinstance(values["study"], str) else values["study"]
        values["champion_score"] = float("nan") if values["champion_score"] is None else float(values["champion_score"])
        values["promoted"] = None if values["promoted"] is None else bool(values["promoted"])
        key = group_key(tuple(row[c] for c in group_cols))
        return cls(key=key, **values)


def json_default(value: Any) -> Any:
    """``json.dumps`` hook for what a search space or metric may hand back: numpy scalars and
    arrays, timestamps."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def records_frame(results: Iterable[GroupResult], group_cols: list[str]) -> pd.DataFrame:
    """Results as one frame of :meth:`GroupResult.to_record` rows (the Spark output schema)."""
    columns = group_cols + list(RESULT_FIELDS)
    return pd.DataFrame([r.to_record(group_cols) for r in results], columns=columns)
