"""The canonical group key: one form for a group's key values everywhere.

A group's key is a tuple with one value per group column. The same group reaches the library
in different types depending on where its rows come from: numpy scalars from pandas, Python
scalars from Spark, a date column as ``pd.Timestamp`` from pandas and as ``datetime.date``
from Spark. Every place that makes or looks up a key (backends, seeds, checkpoint and model
file names, results, save/load, the CLI) goes through :func:`group_key`, so the same group
has the same key, seed and files on every backend.

The canonical form: Python ``int``, ``float``, ``bool`` and ``str`` for numbers, flags and
text; ``pd.Timestamp`` for dates and times (``datetime.date``, ``datetime.datetime``,
``numpy.datetime64``); None for a missing value.
"""

from __future__ import annotations

import datetime
import hashlib
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["group_key", "key_from_json", "key_kinds", "key_name", "key_order", "key_sorted", "key_text",
           "key_to_json", "plain_value", "value_kind"]

#: How :func:`key_kinds` names a group column whose key values are dates or times.
TIMESTAMP = "timestamp"


#: What :func:`key_order` sorts a key value by first (:func:`value_kind`).
NUMBER, DATE, TEXT, OTHER, MISSING = range(5)


def value_kind(value: Any) -> int:
    """The kind of a canonical key value that :func:`key_order` sorts by first: NUMBER, DATE,
    TEXT, OTHER or MISSING (None, NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, (bool, int, float)):
        return NUMBER
    return DATE if isinstance(value, pd.Timestamp) else TEXT if isinstance(value, str) else OTHER


def key_order(key: Sequence[Any]) -> tuple[Any, ...]:
    """A sort key that orders group keys as their values order: numbers by value (1, 2, 10, not
    "1", "10", "2"), dates by date, text as text; missing values last, and values of different
    kinds in one column by kind (numbers, dates, text, other)."""
    order = []
    for value in group_key(tuple(key)):
        kind = value_kind(value)
        rank = 0 if kind == MISSING else value.value if kind == DATE else str(value) if kind == OTHER else value
        order.append((kind, rank))
    return tuple(order)


def key_sorted(keys: Sequence[tuple[Any, ...]]) -> list[int]:
    """Positions of the canonical keys ``keys`` (:func:`group_key`) in :func:`key_order`'s order.
    Where every column holds numbers only, dates only or text only, the keys themselves sort in
    that order, and no sort key is made per key (a driver sorting a million groups' keys)."""
    kinds: list[set[int]] = [set() for _ in keys[0]] if keys else []
    for key in keys:
        for seen, value in zip(kinds, key):
            seen.add(value_kind(value))
    if all(len(seen) == 1 and seen <= {NUMBER, DATE, TEXT} for seen in kinds):
        try:
            return sorted(range(len(keys)), key=keys.__getitem__)
        except TypeError:  # e.g. dates with and without a time zone in one column
            pass
    return sorted(range(len(keys)), key=lambda i: key_order(keys[i]))


def plain_value(value: Any) -> Any:
    """One key value (or any cell) in canonical form.

    Numpy scalars become the Python scalar they hold, dates and times a ``pd.Timestamp``,
    missing values None; other values are returned as they are.

    Examples
    --------
    >>> import datetime, numpy as np
    >>> plain_value(np.int64(7)), plain_value("001")
    (7, '001')
    >>> plain_value(datetime.date(2024, 3, 1)) == plain_value(np.datetime64("2024-03-01"))
    True
    """
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, datetime.date, np.datetime64)):
        stamp = pd.Timestamp(value)
        return None if stamp is pd.NaT else stamp
    if isinstance(value, (str, bytes)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def group_key(values: Any) -> tuple[Any, ...]:
    """A group's key values (a tuple, or one value for a single group column) as the
    canonical key tuple.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> group_key((np.int64(1), "a"))
    (1, 'a')
    >>> group_key(pd.Timestamp("2024-03-01"))
    (Timestamp('2024-03-01 00:00:00'),)
    """
    values = values if isinstance(values, (tuple, list)) else (values,)
    return tuple(plain_value(v) for v in values)


def key_text(value: Any) -> str:
    """One key value as a person writes it: a midnight timestamp as its date
    (``2024-03-01``), other timestamps in ISO format, anything else as ``str`` does."""
    value = plain_value(value)
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    return str(value)


def key_name(key: Sequence[Any]) -> str:
    """A file name stem for group ``key``: a hash of its canonical values (keys may hold any
    character), the same on every backend."""
    return hashlib.sha256(repr(group_key(tuple(key))).encode()).hexdigest()[:40]


def key_to_json(key: Sequence[Any]) -> list[Any]:
    """``key`` as a JSON-able list: timestamps as ISO text (:func:`key_from_json` with the
    columns' :func:`key_kinds` reads it back)."""
    return [v.isoformat() if isinstance(v, pd.Timestamp) else v for v in group_key(tuple(key))]


def key_kinds(keys: Iterable[Sequence[Any]], n_cols: int) -> list[str | None]:
    """Per group column, :data:`TIMESTAMP` if its key values are dates or times, else None."""
    kinds: list[str | None] = [None] * n_cols
    for key in keys:
        for i, value in enumerate(key):
            if isinstance(value, pd.Timestamp):
                kinds[i] = TIMESTAMP
    return kinds


def key_from_json(values: Sequence[Any], kinds: Sequence[str | None] | None = None) -> tuple[Any, ...]:
    """Inverse of :func:`key_to_json`; ``kinds`` from :func:`key_kinds` (None: no dates)."""
    kinds = kinds or [None] * len(values)
    return tuple(pd.Timestamp(v) if kind == TIMESTAMP and v is not None else v for v, kind in zip(values, kinds))


def group_seed(random_state: int, key: Sequence[Any]) -> int:
    """A sampler seed from (random_state, group key): the same on every backend and worker."""
    text = repr((int(random_state), tuple(str(k) for k in group_key(tuple(key)))))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
