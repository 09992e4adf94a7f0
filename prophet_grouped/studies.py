"""``studies_``: every group's finished study, kept compact and made a plain record when asked for.

A study record (:func:`prophet_grouped.retrain.study_record`) is ``{"distributions": {name:
distribution JSON}, "trials": [[params, loss], ...]}``. As Python dicts it takes about 1.9 KB
per group for a one-trial study, most of it the distributions, which every group of a fit
shares, and the parameter names, repeated in every trial. The store keeps each distinct set of
distributions once and each group's trials as one compact JSON byte string (the values in the
order of the distributions' names, a bit mask saying which are present), so that a driver can
hold the studies of a hundred thousand groups: about 0.15 KB per group and 0.1 KB per trial. ``store[key]``
gives the same record back (a new dict each time: changing it changes nothing stored).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._util import KeyedStore

#: A study record: {"distributions": {name: JSON text}, "trials": [[params, loss], ...]}.
Study = Mapping[str, Any]


class StudyStore(KeyedStore):
    """Group key -> study record, each kept as compact bytes (a mapping: ``store[key]``,
    ``key in store``, ``len``, ``items()``; equal to a dict of the same records)."""

    def __init__(self, studies: Mapping[tuple[Any, ...], Study] | None = None) -> None:
        super().__init__()  # group key -> its trials as compact bytes
        # Each distinct distributions mapping once: its names (in order) and the mapping.
        self._variants: list[tuple[tuple[str, ...], dict[str, str]]] = []
        self._variant_ids: dict[str, int] = {}
        for key, study in (studies or {}).items():
            self.add(key, study)

    def add(self, key: tuple[Any, ...], study: Study) -> None:
        """Keep ``study`` as group ``key``'s (it is encoded now; later changes to it are not seen).
        Raises ValueError for a record that is not a study record."""
        try:
            distributions = dict(study["distributions"])
            trials = study["trials"]
        except (KeyError, TypeError):
            raise ValueError(
                f"A study record is a mapping with 'distributions' and 'trials', got {type(study).__name__} "
                f"for group {key!r}."
            ) from None
        text = json.dumps(distributions, sort_keys=True)
        variant = self._variant_ids.get(text)
        if variant is None:
            variant = self._variant_ids[text] = len(self._variants)
            self._variants.append((tuple(distributions), distributions))
        names = self._variants[variant][0]
        position = {name: i for i, name in enumerate(names)}
        encoded = []
        for params, loss in trials:
            unknown = [name for name in params if name not in position]
            if unknown:
                raise ValueError(f"Group {key!r}: trial parameters {unknown} have no distribution in the study record.")
            mask = sum(1 << position[name] for name in params)
            encoded.append([mask, [params[name] for name in names if name in params], loss])
        self._entries[key] = json.dumps([variant, encoded], separators=(",", ":")).encode()

    def __getitem__(self, key: tuple[Any, ...]) -> dict[str, Any]:
        variant, encoded = json.loads(self._entries[key])
        names, distributions = self._variants[variant]
        trials = []
        for mask, values, loss in encoded:
            present = [name for i, name in enumerate(names) if mask >> i & 1]
            trials.append([dict(zip(present, values)), loss])
        return {"distributions": dict(distributions), "trials": trials}

    def __repr__(self) -> str:
        return f"StudyStore({len(self)} studies; store[key] gives one as a dict)"
