"""Saving and loading a fitted tuner as plain files: JSON, and Prophet's own JSON per model.

Layout of a saved folder::

    meta.json          format version, library version, fitted attributes' scalars, the
                       dtypes of results_ and best_params_ columns
    params.json        constructor parameters that can be stored as JSON
    results.json       results_ (records)
    best_params.json   best_params_ (records)
    trials.json        trial losses per group
    studies.jsonl      each group's study: trial parameters and losses (what warm_start reads)
    models.jsonl       one line per group: {"key": [...], "model": <prophet.serialize JSON>}
    <name>.table.json  a table parameter (the holidays events, a holidays frame in
                       prophet_params), pandas' "table" JSON; params.json names the file

No pickle is needed to load it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._util import write_atomic
from ._version import __version__
from .exceptions import warn_user
from .keys import TIMESTAMP, key_from_json, key_kinds, key_to_json, plain_value
from .models import ModelStore
from .retrain import studies_to_lines
from .studies import StudyStore

if TYPE_CHECKING:
    from .estimator import GroupedProphetTuner

FORMAT_VERSION = 1


_TABLE = "table_file"


def _tables_to_files(value: Any, folder: str, stem: str) -> Any:
    """``value`` with every DataFrame in it (at any depth of dicts) written to a file in
    ``folder`` and replaced by ``{"table_file": name}``."""
    if isinstance(value, pd.DataFrame):
        name = f"{stem}.table.json"
        write_atomic(os.path.join(folder, name), value.to_json(orient="table", date_format="iso"))
        return {_TABLE: name}
    if isinstance(value, dict):
        return {k: _tables_to_files(v, folder, f"{stem}.{k}") for k, v in value.items()}
    return value


def _tables_from_files(value: Any, folder: str) -> Any:
    """Inverse of :func:`_tables_to_files`."""
    if isinstance(value, dict) and set(value) == {_TABLE}:
        table = pd.read_json(os.path.join(folder, value[_TABLE]), orient="table")
        return table.reset_index(drop=True)
    if isinstance(value, dict):
        return {k: _tables_from_files(v, folder) for k, v in value.items()}
    return value


def _params_to_json(params: dict[str, Any], folder: str | None = None) -> tuple[dict[str, Any], list[str]]:
    from optuna.distributions import BaseDistribution, distribution_to_json

    stored: dict[str, Any] = {}
    dropped = []
    for name, value in params.items():
        if folder is not None:
            value = _tables_to_files(value, folder, name)
        if name == "search_space" and isinstance(value, dict) and all(
            isinstance(v, (BaseDistribution, tuple, list)) for v in value.values()
        ):
            # Each value as it was given: a distribution, a (low, high[, "log"]) range or a list
            # of choices (JSON alone would turn a range into a list, i.e. a categorical).
            stored[name] = {"space_values": {
                k: {"distribution": distribution_to_json(v)} if isinstance(v, BaseDistribution)
                else {"tuple" if isinstance(v, tuple) else "list": list(v)} for k, v in value.items()}}
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            dropped.append(name)
            continue
        stored[name] = value
    return stored, dropped


def _params_from_json(stored: dict[str, Any], folder: str | None = None) -> dict[str, Any]:
    from optuna.distributions import json_to_distribution

    params = dict(stored) if folder is None else _tables_from_files(dict(stored), folder)
    space = params.get("search_space")
    if isinstance(space, dict) and "optuna_distributions" in space:  # folders saved before space_values
        params["search_space"] = {k: json_to_distribution(v) for k, v in space["optuna_distributions"].items()}
    elif isinstance(space, dict) and set(space) == {"space_values"}:
        params["search_space"] = {
            k: json_to_distribution(v["distribution"]) if "distribution" in v
            else tuple(v["tuple"]) if "tuple" in v else list(v["list"]) for k, v in space["space_values"].items()}
    if isinstance(params.get("candidates"), list):  # JSON has no tuple: stored as given, a tuple by default
        params["candidates"] = tuple(params["candidates"])
    return params


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as JSON-able dicts (plain Python values), floats exact (pandas' to_json keeps 10 digits: a
    loaded tuner's parameters would differ from its models'), missing values as None, dates as
    ISO text."""
    import math

    rows = []
    for row in frame.to_dict(orient="records"):
        out = {}
        for name, value in row.items():
            value = plain_value(value)
            if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
                out[name] = None
            elif hasattr(value, "isoformat"):
                out[name] = value.isoformat()
            else:
                out[name] = value
        rows.append(out)
    return rows


def _write_json(path: str, value: Any) -> None:
    write_atomic(path, json.dumps(value, default=str))


def _write_lines(path: str, lines: Iterable[str]) -> None:
    """Write ``lines`` to ``path`` through a temporary file (a reader sees no half-written file)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        fh.writelines(lines)
    os.replace(tmp, path)


def save(tuner: GroupedProphetTuner, path: str) -> None:
    """Write a fitted tuner to folder ``path`` (created if needed)."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(tuner, "models_")
    os.makedirs(path, exist_ok=True)
    params, dropped = _params_to_json(tuner.get_params(), path)
    if dropped:
        warn_user(
            f"These parameters can't be stored as plain files and are saved as their defaults: {dropped}. "
            f"The loaded tuner predicts as this one; set them again before fitting it.",
            UserWarning,
        )
    _write_json(os.path.join(path, "params.json"), params)
    _write_json(os.path.join(path, "meta.json"), {
        "format_version": FORMAT_VERSION, "prophet_grouped_version": __version__,
        "group_cols_": tuner.group_cols_, "engine_": tuner.engine_, "random_state_": tuner.random_state_,
        "freq_": tuner.freq_, "closed_days_": list(getattr(tuner, "closed_days_", [])),
        "horizon_": tuner.horizon_, "future_cols_": tuner.future_cols_, "run_id_": getattr(tuner, "run_id_", None),
        "date_format_": getattr(tuner, "date_format_", None),
        # Which group columns hold dates: their keys are ISO text in the files.
        "key_kinds": key_kinds(tuner.trials_, len(tuner.group_cols_)),
        # JSON has one null: a column of missing numbers (ets_score without the challenger)
        # would come back as objects without its dtype.
        "dtypes": {name: {col: str(dtype) for col, dtype in getattr(tuner, name).dtypes.items()}
                   for name in ("results_", "best_params_")},
    })
    _write_json(os.path.join(path, "results.json"), records(tuner.results_))
    _write_json(os.path.join(path, "best_params.json"), records(tuner.best_params_))
    _write_json(os.path.join(path, "trials.json"), [{"key": key_to_json(k), "losses": v} for k, v in tuner.trials_.items()])
    _write_lines(os.path.join(path, "studies.jsonl"), studies_to_lines(getattr(tuner, "studies_", {})))
    _write_lines(os.path.join(path, "models.jsonl"),
                 (json.dumps({"key": key_to_json(key), "model": tuner.models_.json(key)}) + "\n" for key in tuner.models_))


_NUMERIC_DTYPES = ("float64", "float32", "int64", "int32", "bool")


def _restore_dtypes(frame: pd.DataFrame, dtypes: dict[str, str]) -> None:
    """Give ``frame``'s numeric and boolean columns the dtypes they were saved with (a column
    read back as objects because every value was missing becomes float NaN again)."""
    for col, dtype in dtypes.items():
        if col in frame.columns and dtype in _NUMERIC_DTYPES and str(frame[col].dtype) != dtype:
            with contextlib.suppress(TypeError, ValueError):  # e.g. missing values in an int column
                frame[col] = frame[col].astype(dtype)


def load(cls: type[GroupedProphetTuner], path: str, models: bool = True) -> GroupedProphetTuner:
    """Read a tuner written by :func:`save`; without ``models``, everything but the models
    (what a warm start or a champion reads: parameters and studies, not 250 KB per group)."""
    if not os.path.exists(os.path.join(path, "meta.json")) and os.path.exists(os.path.join(path, "tuner", "meta.json")):
        path = os.path.join(path, "tuner")  # a `prophet-grouped tune --out` folder holds the tuner in tuner/
    meta_path = os.path.join(path, "meta.json")
    if not os.path.exists(meta_path):
        raise FileNotFoundError(f"{path!r} is not a saved GroupedProphetTuner: it has no meta.json.")
    with open(meta_path) as fh:
        meta = json.load(fh)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path!r} was saved in format {meta.get('format_version')!r}; this version reads format "
            f"{FORMAT_VERSION}."
        )
    with open(os.path.join(path, "params.json")) as fh:
        tuner = cls(**_params_from_json(json.load(fh), path))
    tuner.group_cols_ = list(meta["group_cols_"])
    tuner.engine_ = meta["engine_"]
    tuner.random_state_ = meta["random_state_"]
    # Folders saved before the frequency was inferred used the freq parameter (then "D" by default).
    tuner.freq_ = meta.get("freq_") or tuner.freq or "D"
    tuner.closed_days_ = list(meta.get("closed_days_", []))  # none before they were read
    tuner.horizon_ = meta.get("horizon_") or tuner.horizon
    tuner.future_cols_ = list(meta.get("future_cols_", []))  # none before regressors existed
    tuner.run_id_ = meta.get("run_id_")  # None for folders saved before fits had an id
    tuner.date_format_ = meta.get("date_format_")
    with open(os.path.join(path, "results.json")) as fh:
        tuner.results_ = pd.DataFrame(json.load(fh))
    if "history_end" in tuner.results_.columns:  # folders saved before it have none
        tuner.results_["history_end"] = pd.to_datetime(tuner.results_["history_end"]).dt.tz_localize(None) \
            .astype("datetime64[ns]")
    with open(os.path.join(path, "best_params.json")) as fh:
        records = json.load(fh)
    tuner.best_params_ = pd.DataFrame(records) if records else pd.DataFrame(columns=tuner.group_cols_)
    for name, dtypes in meta.get("dtypes", {}).items():  # none before dtypes were kept
        _restore_dtypes(getattr(tuner, name), dtypes)
    kinds = meta.get("key_kinds")  # none before date keys were canonical
    for col, kind in zip(tuner.group_cols_, kinds or []):
        if kind == TIMESTAMP:
            for frame in (tuner.results_, tuner.best_params_):
                if col in frame.columns:
                    frame[col] = pd.to_datetime(frame[col])
    with open(os.path.join(path, "trials.json")) as fh:
        tuner.trials_ = {key_from_json(item["key"], kinds): item["losses"] for item in json.load(fh)}
    tuner.studies_ = StudyStore()
    studies = os.path.join(path, "studies.jsonl")
    if os.path.exists(studies):  # folders saved before studies were kept have none
        with open(studies) as fh:
            for line in fh:
                item = json.loads(line)
                tuner.studies_.add(key_from_json(item["key"], kinds), item["study"])
    # Each model stays Prophet JSON until it is asked for (ModelStore).
    tuner.models_ = ModelStore()
    if not models:
        return tuner
    with open(os.path.join(path, "models.jsonl")) as fh:
        for line in fh:
            item = json.loads(line)
            tuner.models_.add(key_from_json(item["key"], kinds), ("json", item["model"]))
    return tuner
