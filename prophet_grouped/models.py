"""``models_``: every group's fitted model, kept compact and made a Prophet object when asked for.

A fitted Prophet object takes about four times the memory of its pickle (history frames,
Stan output). The store keeps each group's model as one record: pickled bytes (as a worker
sends it), Prophet's JSON (as Spark rows, checkpoints and saved folders hold it, turned into
pickled bytes the first time the model is asked for), or the path of a Prophet JSON file that
the worker which fitted the model wrote to ``model_dir`` (then nothing of the model passes
through the driver). ``store[key]`` returns an ordinary ``prophet.Prophet`` (or, for a group where the AutoETS
challenger won, an :class:`~prophet_grouped.ets.EtsModel`);
:meth:`ModelStore.record` hands the compact record to a worker, which loads it there
(:func:`load_record`): a file record is read by the worker itself.
"""

from __future__ import annotations

import json
import os
import pickle
from typing import TYPE_CHECKING, Any

from . import intervals, transforms
from ._util import KeyedStore, quiet, write_atomic
from .ets import EtsModel, is_ets_record
from .keys import key_name

if TYPE_CHECKING:
    from prophet import Prophet

#: A model's compact form: ("pickle", bytes), ("json", Prophet JSON text) or ("file", path of
#: a Prophet JSON file).
Record = tuple[str, Any]


def model_path(model_dir: str, key: tuple[Any, ...]) -> str:
    """The file of group ``key``'s model in ``model_dir``."""
    return os.path.join(model_dir, f"{key_name(key)}.json")


#: What a fitted model carries besides Prophet's own attributes.
EXTRA_ATTRIBUTES = (transforms.ATTRIBUTE, intervals.ATTRIBUTE)


def model_json(model: Prophet | EtsModel) -> str:
    """A fitted model as Prophet's JSON, with its target transform (:mod:`~prophet_grouped.transforms`)
    and calibrated interval (:mod:`~prophet_grouped.intervals`) as more fields when it has them;
    an ETS model (:class:`~prophet_grouped.ets.EtsModel`) as its own JSON."""
    from prophet.serialize import model_to_dict

    if isinstance(model, EtsModel):
        return json.dumps(model.to_dict())

    record = model_to_dict(model)
    for name in EXTRA_ATTRIBUTES:
        spec = getattr(model, name, None)
        if spec:
            record[name] = spec
    return json.dumps(record)


def model_from_text(text: str) -> Prophet | EtsModel:
    """Inverse of :func:`model_json` (plain Prophet JSON too)."""
    from prophet.serialize import model_from_dict

    record = json.loads(text)
    if is_ets_record(record):
        return EtsModel.from_dict(record)
    extra = {name: record.pop(name) for name in EXTRA_ATTRIBUTES if record.get(name)}
    model = model_from_dict(record)
    for name, spec in extra.items():
        setattr(model, name, spec)
    return model


def write_model(model_dir: str, key: tuple[Any, ...], model: Prophet) -> Record:
    """Write ``model`` as Prophet JSON to its file in ``model_dir`` (atomically: a reader sees
    the old file or the whole new one) and return its file record."""
    path = model_path(model_dir, key)
    os.makedirs(model_dir, exist_ok=True)
    write_atomic(path, model_json(model))
    return ("file", path)


def read_model_file(path: str) -> str:
    """The Prophet JSON text of a model file, with a clear error when it is gone."""
    try:
        with open(path) as fh:
            return fh.read()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"The model file {path!r} is missing. A tuner fitted with model_dir reads its models from "
            f"there: keep that folder while the tuner is used, or save() the tuner (the saved folder "
            f"holds copies)."
        ) from None


def dump_model(model: Prophet) -> Record:
    """The compact record of a fitted model."""
    return ("pickle", pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))


def load_record(record: Record) -> Prophet:
    """The Prophet object of a record (pickles come from this same environment)."""
    kind, payload = record
    if kind == "pickle":
        return pickle.loads(payload)
    text = read_model_file(payload) if kind == "file" else payload
    with quiet():
        return model_from_text(text)


class ModelStore(KeyedStore):
    """Group key -> fitted ``prophet.Prophet``, each kept as a compact record and loaded when
    asked for (a mapping: ``store[key]``, ``key in store``, ``len``, ``items()``...)."""

    def add(self, key: tuple[Any, ...], record: Record) -> None:
        """Keep ``record`` as group ``key``'s model."""
        self._entries[key] = record

    def record(self, key: tuple[Any, ...]) -> Record:
        """Group ``key``'s compact record (JSON records become pickles here, once; file records
        stay paths, for the worker to read)."""
        record = self._entries[key]
        if record[0] == "json":
            record = dump_model(load_record(record))
            self._entries[key] = record
        return record

    def json(self, key: tuple[Any, ...]) -> str:
        """Group ``key``'s model as Prophet JSON (what a saved folder holds)."""
        record = self._entries[key]
        if record[0] == "json":
            return record[1]
        if record[0] == "file":
            return read_model_file(record[1])
        return model_json(load_record(record))

    def __getitem__(self, key: tuple[Any, ...]) -> Prophet:
        return load_record(self.record(key))

    def __repr__(self) -> str:
        return f"ModelStore({len(self)} models; store[key] loads one as a prophet.Prophet)"
