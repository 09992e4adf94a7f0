"""Leaf helpers every layer may use: atomic file writes, quiet third-party logging, content
digests, the garbage collector paused, the base of the per-group stores. Imports nothing of ours (a test keeps it so)."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pandas as pd

__all__ = ["KeyedStore", "frame_digest", "gc_paused", "quiet", "write_atomic"]

_QUIET_LOGGERS = ("cmdstanpy", "prophet", "prophet.plot", "prophet_batch", "optuna")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence cmdstanpy, Prophet and Optuna loggers for the duration, then restore them."""
    saved = {}
    for name in _QUIET_LOGGERS:
        logger = logging.getLogger(name)
        saved[name] = (logger.level, logger.disabled)
        logger.setLevel(logging.ERROR if name != "prophet.plot" else logging.CRITICAL)
        if name == "cmdstanpy":
            # cmdstanpy's get_logger() resets the level to DEBUG the first time it runs.
            logger.disabled = True
    try:
        yield
    finally:
        for name, (level, disabled) in saved.items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            logger.disabled = disabled


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block, then as it was.

    For numeric loops that make no reference cycles (a forecast batch: tests/test_forecast.py
    checks that it leaves none): a full collection that falls inside them scans every object of
    the process (measured: 47-72 ms, a quarter of a 60-group predict) and frees nothing there."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


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


def frame_digest(frame: pd.DataFrame | None) -> str | None:
    """A content hash of a small table (an event table), stable across processes."""
    if frame is None:
        return None
    digest = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return f"{len(frame)}:{digest.hexdigest()[:32]}"


class KeyedStore(Mapping):
    """Base of the fitted tuner's per-group stores (``models_``, ``studies_``): group key -> an
    entry kept in ``_entries`` in a compact form of the subclass's own, which its
    ``__getitem__`` turns into what users get. Iteration, ``len``, ``in`` and :meth:`reorder`
    read the entries only."""

    def __init__(self) -> None:
        self._entries: dict[tuple[Any, ...], Any] = {}

    def reorder(self, keys: Iterable[tuple[Any, ...]]) -> None:
        """Put the groups in the order of ``keys`` (groups not in ``keys`` are dropped)."""
        self._entries = {key: self._entries[key] for key in keys if key in self._entries}

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries
