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
import logging
import os
import types
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._util import frame_digest, write_atomic
from .keys import key_name, key_to_json
from .results import GroupResult, json_default

if TYPE_CHECKING:
    from .config import TuningConfig

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = 1
#: Status of a result that never leaves the library: the group's stored data differs.
MISMATCH = "checkpoint_mismatch"


def _describe(value: Any, _seen: frozenset[int] = frozenset()) -> Any:
    """A stable, JSON-able description of a setting (functions by name, not by address).

    Modules (a function's closure may hold one) are described by name; an object met again
    inside itself (a cycle) by its type.
    """
    if isinstance(value, types.ModuleType):
        return f"module {value.__name__}"
    if id(value) in _seen:
        return f"<cycle: {type(value).__qualname__}>"
    if not isinstance(value, (str, int, float, bool)) and value is not None:
        _seen = _seen | {id(value)}
    if isinstance(value, pd.DataFrame):  # an event table: its content, not its repr
        return {"frame": frame_digest(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _describe(getattr(value, f.name), _seen) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _describe(v, _seen) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_describe(v, _seen) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if callable(value) and hasattr(value, "__qualname__"):
        # By name and by code: two different lambdas (or an edited function) are two settings.
        code = getattr(value, "__code__", None)
        name = f"{getattr(value, '__module__', '?')}.{value.__qualname__}"
        if code is None:
            return name
        digest = hashlib.sha256(_code_text(code).encode())
        digest.update(json.dumps(_describe(list(getattr(value, "__defaults__", None) or ()), _seen)).encode())
        cells = [c.cell_contents for c in (getattr(value, "__closure__", None) or ()) if _cell_set(c)]
        digest.update(json.dumps(_describe(cells, _seen), default=repr).encode())
        return f"{name}#{digest.hexdigest()[:16]}"
    if hasattr(value, "__dict__"):  # e.g. a callable object: its class and its attributes
        cls = type(value)
        return {f"{cls.__module__}.{cls.__qualname__}": _describe(vars(value), _seen)}
    return repr(value)


def _cell_set(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - raises ValueError for an empty cell
    except ValueError:
        return False
    return True


def _code_text(code: types.CodeType) -> str:
    """A stable text of a function's code: its bytecode, names and constants (nested code
    objects by their own text, never by their address)."""
    consts = [_code_text(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
    return repr((code.co_code.hex(), code.co_names, code.co_varnames, consts))


def stored_seed(directory: str) -> int | None:
    """The base seed of the fit that wrote the checkpoint in ``directory``, None if there is none."""
    try:
        with open(os.path.join(directory, MANIFEST)) as fh:
            seed = json.load(fh).get("settings", {}).get("random_state")
    except (OSError, ValueError):
        return None
    return seed if isinstance(seed, int) else None


def previous_digest(priors: Mapping[Any, Any]) -> str | None:
    """A hash of what the groups take from ``warm_start`` and ``champion`` (None without them):
    a resume with another previous fit must not reuse groups tuned against the first one."""
    if not priors:
        return None
    text = json.dumps(_describe(dict(priors)), default=repr, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def settings(config: TuningConfig, group_cols: list[str], previous: str | None = None) -> dict[str, Any]:
    """What a checkpoint must agree on to be reused: every setting but the folder itself, and
    the :func:`previous_digest` of the previous fit's priors when there is one."""
    described = _describe(config)
    described.pop("checkpoint_dir", None)
    described.pop("retry_failed", None)  # how a resume treats failed groups, not how groups are tuned
    # What a fit keeps of its models: part of the settings only when not fit()'s default, so
    # that checkpoints written before these settings existed still resume.
    if described.get("keep_models") is True:
        described.pop("keep_models")
    if described.get("forecast_periods") is None:
        described.pop("forecast_periods", None)
    for name, default in (("model_dir", None), ("warm_start", False), ("champion", False), ("min_improvement", 0.0)):
        if described.get(name) == default:
            described.pop(name, None)
    wanted = {"format": FORMAT, "group_cols": list(group_cols), "settings": described}
    if previous is not None:
        wanted["previous"] = previous
    return wanted


def open_checkpoint(directory: str, config: TuningConfig, group_cols: list[str], previous: str | None = None) -> None:
    """Create ``directory`` for this fit, or check that it was written by the same settings.

    Raises
    ------
    ValueError
        The folder holds a checkpoint of a fit with other settings, or is not a checkpoint.
    """
    wanted = settings(config, group_cols, previous)
    path = os.path.join(directory, MANIFEST)
    if os.path.exists(path):
        try:
            with open(path) as fh:
                stored = json.load(fh)
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"checkpoint_dir={directory!r}: its {MANIFEST} can't be read ({exc}). Use a new checkpoint_dir, "
                f"or delete this one to start over."
            ) from None
        if stored != wanted:
            old, new = stored.get("settings", {}), wanted["settings"]
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            if stored.get("group_cols") != wanted["group_cols"]:
                changed.insert(0, "group_cols")
            if stored.get("previous") != wanted.get("previous"):
                changed.append("the previous fit (warm_start or champion) the groups were tuned against")
            raise ValueError(
                f"checkpoint_dir={directory!r} holds a checkpoint of a fit with different settings "
                f"(changed: {changed}). Resuming needs the same settings; use a new checkpoint_dir, "
                f"or delete this one to start over."
            )
    elif os.path.isdir(directory) and os.listdir(directory):
        raise ValueError(
            f"checkpoint_dir={directory!r} is a non-empty folder that is not a prophet_grouped "
            f"checkpoint (no {MANIFEST}). Give an empty or new folder."
        )
    try:  # found now, not after the first group's tuning: a folder workers can't write
        os.makedirs(os.path.join(directory, "groups"), exist_ok=True)
        if not os.path.exists(path):
            write_atomic(path, json.dumps(wanted, indent=1))
        write_atomic(os.path.join(directory, "groups", ".write-check.json"), "{}")
        os.unlink(os.path.join(directory, "groups", ".write-check.json"))
    except OSError as exc:
        raise ValueError(
            f"checkpoint_dir={directory!r} can't be written ({exc}). Give a folder this process and every "
            f"worker can write, or checkpoint_dir=None."
        ) from None


def group_path(directory: str, key: tuple[Any, ...]) -> str:
    """The file of group ``key`` in checkpoint ``directory``."""
    return os.path.join(directory, "groups", f"{key_name(key)}.json")


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


def load_group(directory: str, key: tuple[Any, ...], frame: pd.DataFrame,
               retry_failed: bool = True) -> GroupResult | None:
    """The stored result of ``key``, None if it has none (or, with ``retry_failed``, if it
    failed or fell back); a :data:`MISMATCH` result if the group's data differs from the data it
    was tuned on."""
    path = group_path(directory, key)
    try:
        with open(path) as fh:
            stored = json.load(fh)
        fields = (stored["data"], stored["result"]["status"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # A truncated or unreadable file (a writer killed on a network mount, a full disk): the
        # group is tuned again and its file rewritten.
        logger.warning("Checkpoint file %s of group %r can't be read (%s); tuning the group again.", path, key, exc)
        return None
    if fields[1] in ("failed", "fallback") and retry_failed:
        return None  # failures may be transient (a timeout, a lost worker): tried again
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
    return GroupResult.from_fields(key, stored["result"])


def checkpointed(directory: str | None, key: tuple[Any, ...], frame: pd.DataFrame,
                 tune: Callable[[], GroupResult], retry_failed: bool = True) -> GroupResult:
    """The stored result of group ``key`` if ``directory`` holds one, else ``tune()``'s result,
    written there before it is returned (no checkpoint when ``directory`` is None)."""
    if directory is None:
        return tune()
    stored = load_group(directory, key, frame, retry_failed)
    if stored is not None:
        return stored
    result = tune()
    try:
        save_group(directory, key, frame, result)
    except (OSError, TypeError, ValueError) as exc:
        # The group's result is kept; only its checkpoint is missing (it is tuned again on resume).
        note = f"checkpoint not written: {type(exc).__name__}: {exc}"
        result.error = note if not result.error else f"{result.error}; {note}"
    return result


def save_group(directory: str, key: tuple[Any, ...], frame: pd.DataFrame, result: GroupResult) -> None:
    """Write ``result`` as the finished result of group ``key``, atomically."""
    record = {
        "key": key_to_json(key),
        "data": data_fingerprint(frame),
        "result": result.fields(),
    }
    write_atomic(group_path(directory, key), json.dumps(record, default=json_default))
