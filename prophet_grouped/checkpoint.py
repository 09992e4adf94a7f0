"""Checkpoints: each finished group's result as one JSON file, so a stopped fit can resume.

Layout of a checkpoint folder::

    manifest.json              the settings and group columns of the fit that wrote it
    groups/<sha256 of key>.json  one finished group: its key, a fingerprint of its data, its result

Group files are written by whichever process tuned the group (a local worker, a Spark
executor, a Ray task), atomically: to a temporary name in the same folder, then renamed. A
reader sees a whole file or none. On a cluster the folder must be on storage every worker can
write (a shared file system, ``/dbfs/...`` on Databricks).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .results import RESULT_FIELDS, GroupResult

if TYPE_CHECKING:
    from .tuning import TuningConfig

MANIFEST = "manifest.json"
FORMAT = 1
#: Status of a result that never leaves the library: the group's stored data differs.
MISMATCH = "checkpoint_mismatch"


def _describe(value: Any) -> Any:
    """A stable, JSON-able description of a setting (functions by name, not by address)."""
    if isinstance(value, pd.DataFrame):  # an event table: its content, not its repr
        from .covariates import frame_digest

        return {"frame": frame_digest(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _describe(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _describe(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_describe(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '?')}.{value.__qualname__}"
    if hasattr(value, "__dict__"):  # e.g. a callable object: its class and its attributes
        cls = type(value)
        return {f"{cls.__module__}.{cls.__qualname__}": _describe(vars(value))}
    return repr(value)


def settings(config: TuningConfig, group_cols: list[str]) -> dict[str, Any]:
    """What a checkpoint must agree on to be reused: every setting but the folder itself."""
    described = _describe(config)
    described.pop("checkpoint_dir", None)
    return {"format": FORMAT, "group_cols": list(group_cols), "settings": described}


def open_checkpoint(directory: str, config: TuningConfig, group_cols: list[str]) -> None:
    """Create ``directory`` for this fit, or check that it was written by the same settings.

    Raises
    ------
    ValueError
        The folder holds a checkpoint of a fit with other settings, or is not a checkpoint.
    """
    wanted = settings(config, group_cols)
    path = os.path.join(directory, MANIFEST)
    if os.path.exists(path):
        with open(path) as fh:
            stored = json.load(fh)
        if stored != wanted:
            old, new = stored.get("settings", {}), wanted["settings"]
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            if stored.get("group_cols") != wanted["group_cols"]:
                changed.insert(0, "group_cols")
            raise ValueError(
                f"checkpoint_dir={directory!r} holds a checkpoint of a fit with different settings "
                f"(changed: {changed}). Resuming needs the same settings; use a new checkpoint_dir, "
                f"or delete this one to start over."
            )
    else:
        if os.path.isdir(directory) and os.listdir(directory):
            raise ValueError(
                f"checkpoint_dir={directory!r} is a non-empty folder that is not a prophet_grouped "
                f"checkpoint (no {MANIFEST}). Give an empty or new folder."
            )
        os.makedirs(os.path.join(directory, "groups"), exist_ok=True)
        write_atomic(path, json.dumps(wanted, indent=1))
    os.makedirs(os.path.join(directory, "groups"), exist_ok=True)


def group_path(directory: str, key: tuple[Any, ...]) -> str:
    """The file of group ``key`` in checkpoint ``directory``."""
    name = hashlib.sha256(repr(tuple(key)).encode()).hexdigest()[:40]
    return os.path.join(directory, "groups", f"{name}.json")


def data_fingerprint(frame: pd.DataFrame) -> str:
    """A hash of a group's dates and values (columns ds, y, then any regressor, cap, floor or
    country column)."""
    digest = hashlib.sha256()
    digest.update(frame["ds"].to_numpy(dtype="datetime64[ns]").view(np.int64).tobytes())
    digest.update(frame["y"].to_numpy(dtype=np.float64).tobytes())
    for col in frame.columns.drop(["ds", "y"]):
        digest.update(str(col).encode())
        values = frame[col]
        if pd.api.types.is_numeric_dtype(values):
            digest.update(values.to_numpy(dtype=np.float64).tobytes())
        else:
            digest.update("\x1f".join(map(str, values)).encode())
    return f"{len(frame)}:{digest.hexdigest()}"


def load_group(directory: str, key: tuple[Any, ...], frame: pd.DataFrame) -> GroupResult | None:
    """The stored result of ``key``, None if it has none; a :data:`MISMATCH` result if the group's
    data differs from the data it was tuned on."""
    path = group_path(directory, key)
    try:
        with open(path) as fh:
            stored = json.load(fh)
    except FileNotFoundError:
        return None
    if stored["data"] != data_fingerprint(frame):
        then = stored["data"].split(":")[0]
        return GroupResult(
            key=key, status=MISMATCH,
            error=(
                f"checkpoint_dir={directory!r} holds group {key!r} tuned on different data ({then} rows "
                f"then, {len(frame)} now, or changed values). Resuming needs the same data; use a "
                f"new checkpoint_dir, or delete this one to start over."
            ),
        )
    values = stored["result"]
    return GroupResult(key=key, **{name: values[name] for name in RESULT_FIELDS if name in values})


def checkpointed(directory: str | None, key: tuple[Any, ...], frame: pd.DataFrame,
                 tune: Callable[[], GroupResult]) -> GroupResult:
    """The stored result of group ``key`` if ``directory`` holds one, else ``tune()``'s result,
    written there before it is returned (no checkpoint when ``directory`` is None)."""
    if directory is None:
        return tune()
    stored = load_group(directory, key, frame)
    if stored is not None:
        return stored
    result = tune()
    save_group(directory, key, frame, result)
    return result


def save_group(directory: str, key: tuple[Any, ...], frame: pd.DataFrame, result: GroupResult) -> None:
    """Write ``result`` as the finished result of group ``key``, atomically."""
    record = {
        "key": list(key),
        "data": data_fingerprint(frame),
        "result": {name: getattr(result, name) for name in RESULT_FIELDS},
    }
    write_atomic(group_path(directory, key), json.dumps(record))


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the whole new one."""
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
