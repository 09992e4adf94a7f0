"""``models_``: every group's fitted model, kept compact and made a Prophet object when asked for.

A fitted Prophet object takes about four times the memory of its pickle (history frames,
Stan output). The store keeps each group's model as one record: pickled bytes (as a worker
sends it) or Prophet's JSON (as Spark rows, checkpoints and saved folders hold it, turned into
pickled bytes the first time the model is asked for). ``store[key]`` returns an ordinary
``prophet.Prophet``; :meth:`ModelStore.record` hands the compact record to a worker, which
loads it there (:func:`load_record`).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prophet import Prophet

#: A model's compact form: ("pickle", bytes) or ("json", Prophet JSON text).
Record = tuple[str, Any]


def dump_model(model: Prophet) -> Record:
    """The compact record of a fitted model."""
    return ("pickle", pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))


def load_record(record: Record) -> Prophet:
    """The Prophet object of a record (pickles come from this same environment)."""
    kind, payload = record
    if kind == "pickle":
        return pickle.loads(payload)
    from prophet.serialize import model_from_json

    from .engines import quiet

    with quiet():
        return model_from_json(payload)


class ModelStore(Mapping):
    """Group key -> fitted ``prophet.Prophet``, each kept as a compact record and loaded when
    asked for (a mapping: ``store[key]``, ``key in store``, ``len``, ``items()``...)."""

    def __init__(self) -> None:
        self._records: dict[tuple[Any, ...], Record] = {}

    def add(self, key: tuple[Any, ...], record: Record) -> None:
        """Keep ``record`` as group ``key``'s model."""
        self._records[key] = record

    def record(self, key: tuple[Any, ...]) -> Record:
        """Group ``key``'s compact record (JSON records become pickles here, once)."""
        record = self._records[key]
        if record[0] == "json":
            record = dump_model(load_record(record))
            self._records[key] = record
        return record

    def json(self, key: tuple[Any, ...]) -> str:
        """Group ``key``'s model as Prophet JSON (what a saved folder holds)."""
        record = self._records[key]
        if record[0] == "json":
            return record[1]
        from prophet.serialize import model_to_json

        return model_to_json(load_record(record))

    def __getitem__(self, key: tuple[Any, ...]) -> Prophet:
        return load_record(self.record(key))

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, key: object) -> bool:
        return key in self._records

    def __repr__(self) -> str:
        return f"ModelStore({len(self)} models; store[key] loads one as a prophet.Prophet)"
