"""The per-group result row and its schema, shared by every backend."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .keys import group_key
from .models import load_record, model_json
from .transforms import PARAM

#: Result fields after the group columns, with their Spark SQL types. Every backend emits
#: rows of exactly these columns.
RESULT_SCHEMA: tuple[tuple[str, str], ...] = (
    ("status", "string"),
    ("error", "string"),
    ("best_score", "double"),
    ("default_score", "double"),
    ("naive_score", "double"),
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
    ("clipped", "boolean"),
    ("closed_days", "string"),
    ("model", "string"),
    ("ets_score", "double"),
)
RESULT_FIELDS = tuple(name for name, _ in RESULT_SCHEMA)
#: Columns of the public ``results_`` frame, after the group columns.
PUBLIC_RESULT_COLUMNS = ("best_score", "default_score", "naive_score", "value_added", "model", "transform",
                         "ets_score", "n_folds",
                         "n_trials", "stopped_early", "status", "error",
                         "seconds", "n_failed_trials", "dropped_regressors", "n_uncached_fits", "history_end",
                         "prior_trials", "champion_score", "promoted", "clipped", "closed_days")


@dataclass
class GroupResult:
    """What tuning one group produced. ``status`` is ``"ok"`` or ``"failed"``."""

    key: tuple[Any, ...]
    status: str
    error: str | None = None
    best_score: float = float("nan")
    #: Validation loss of Prophet's default configuration on the same folds.
    default_score: float = float("nan")
    #: Validation loss of the seasonal naive forecast (each step's value one season earlier) on
    #: the same folds: the baseline a model has to beat.
    naive_score: float = float("nan")
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
    #: Whether the group's forecasts are clipped at 0 (``nonnegative``; None where it was not tuned).
    clipped: bool | None = None
    #: Weekdays the group's forecasts skip (``"SUN"``, ``"SAT,SUN"``; None: none), set with the model.
    closed_days: str | None = None
    #: The kind of the group's model: "prophet", or "ets" where the AutoETS challenger won on
    #: validation (None where it was not tuned).
    model: str | None = None
    #: Validation loss of AutoETS on the same folds (``candidates`` with "ets"; NaN otherwise).
    ets_score: float = float("nan")
    #: The fitted model as set where it was fitted: a compact record
    #: (:func:`prophet_grouped.models.dump_model`: pickled, cheap to send and to keep).
    model_record: Any = field(default=None, repr=False, compare=False)

    @property
    def value_added(self) -> float:
        """Forecast value added over the seasonal naive forecast on validation:
        ``1 - best_score / naive_score`` (0.25: a quarter less error than the naive forecast;
        negative: worse than it; NaN where either is missing or the naive loss is 0)."""
        best, naive = (float("nan") if v is None else float(v) for v in (self.best_score, self.naive_score))
        if not (np.isfinite(best) and np.isfinite(naive)) or naive <= 0:
            return float("nan")
        return float(1.0 - best / naive)

    @property
    def transform(self) -> str | None:
        """The target transform of the group's tuned model (``"none"``, ``"log1p"``); None
        without a tuned model."""
        if self.status != "ok":
            return "none" if self.status == "fallback" else None
        if self.model == "ets":
            return "none"
        return str(self.best_params.get(PARAM, "none"))

    def stored_model_json(self) -> str | None:
        """The model as Prophet JSON, for rows and files that hold text (None when the model
        is in ``model_file``)."""
        if self.model_json is None and self.model_record is not None and self.model_record[0] != "file":
            return model_json(load_record(self.model_record))
        return self.model_json

    def fields(self) -> dict[str, Any]:
        """Every :data:`RESULT_FIELDS` value, the model as Prophet JSON text: the one form a
        result is stored in (a checkpoint file holds it as JSON; :meth:`to_record` flattens it
        into a row)."""
        return {name: self.stored_model_json() if name == "model_json" else getattr(self, name)
                for name in RESULT_FIELDS}

    @classmethod
    def from_fields(cls, key: tuple[Any, ...], values: Mapping[str, Any]) -> GroupResult:
        """Inverse of :meth:`fields` (dicts and lists may still be JSON text, as rows hold them);
        fields missing from results stored by earlier versions take their defaults."""
        defaults = {"default_score": float("nan"), "naive_score": float("nan"), "n_folds": 0,
                    "dropped_regressors": None, "n_uncached_fits": 0,
                    "forecast": None, "model_file": None, "history_end": None, "prior_trials": 0, "study": None,
                    "champion_score": float("nan"), "promoted": None, "clipped": None, "closed_days": None,
                    "model": None, "ets_score": float("nan")}
        values = {name: values.get(name, defaults.get(name)) for name in RESULT_FIELDS}
        for name, empty in (("best_params", {}), ("trials", []), ("study", None)):
            value = values[name]
            values[name] = json.loads(value) if isinstance(value, str) and value else (empty if not value else value)
        for name in ("n_trials", "n_failed_trials", "n_folds", "n_uncached_fits", "prior_trials"):
            values[name] = int(values[name] or 0)
        if values["model"] is None and values["status"] in ("ok", "fallback"):  # stored before ETS existed
            values["model"] = "prophet"
        for name in ("default_score", "naive_score", "champion_score", "ets_score"):
            values[name] = float("nan") if values[name] is None else float(values[name])
        values["stopped_early"] = bool(values["stopped_early"])
        values["promoted"] = None if values["promoted"] is None else bool(values["promoted"])
        values["clipped"] = None if values["clipped"] is None else bool(values["clipped"])
        return cls(key=group_key(tuple(key)), **values)

    def to_record(self, group_cols: list[str]) -> dict[str, Any]:
        """A flat row: group columns then :data:`RESULT_FIELDS`, dicts and lists as JSON."""
        row: dict[str, Any] = dict(zip(group_cols, self.key))
        for name, value in self.fields().items():
            if name in ("best_params", "trials") or (name == "study" and value is not None):
                value = json.dumps(value, default=json_default)
            row[name] = value
        return row

    @classmethod
    def from_record(cls, row: Mapping[str, Any], group_cols: list[str]) -> GroupResult:
        """Inverse of :meth:`to_record`."""
        return cls.from_fields(tuple(row[c] for c in group_cols), row)


def error_text(exc: BaseException) -> str:
    """An exception as a result's ``error``: its class and message on one line, at most 500
    characters (``"ValueError: y is missing (NaN) on all 200 rows"``)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:500]


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


def history_ends(results: pd.DataFrame, group_cols: list[str]) -> dict[tuple[Any, ...], pd.Timestamp]:
    """Group key -> the last date of its history, from a ``results_`` table (groups without one,
    and tables saved before the column existed, left out): no model is loaded."""
    if "history_end" not in results.columns:
        return {}
    known = results.dropna(subset=["history_end"])
    keys = known[group_cols].itertuples(index=False, name=None)
    return {group_key(key): end for key, end in zip(keys, known["history_end"])}
