"""Calibrated intervals: a group's forecast interval from its own out-of-sample errors.

A leaf module (numpy only). Each group's validation folds hold forecasts of its chosen model
for data it did not see; the quantiles of those errors (``y - yhat`` in the model's own space:
``log1p(y) - yhat`` for a model of ``log1p(y)``, so that its interval scales with the level) at
``(1 - width) / 2`` and ``(1 + width) / 2``, added to a point forecast in that space and
transformed back, give an interval that covers about ``width`` of such points (split-conformal
prediction). A fitted model carries them as the attribute :data:`ATTRIBUTE`
(``{"lower": ..., "upper": ..., "width": ...}``), written into its JSON beside Prophet's fields by
:mod:`prophet_grouped.models`. Prophet's own interval comes from its noise estimate and trend
changes; on retail data it covers 0.6-0.9 of held-out points where it claims 0.8 (docs/accuracy.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The tuner's ``intervals`` settings: Prophet's own, the calibrated one, or the wider of the two
#: at each bound.
SETTINGS = ("prophet", "calibrated", "wider")
#: The settings that calibrate offsets from the validation errors.
CALIBRATING = ("calibrated", "wider")
#: Fewer validation errors than this keep Prophet's own interval.
MIN_ERRORS = 20
#: Name of the attribute a fitted Prophet model carries its calibration in.
ATTRIBUTE = "calibrated_interval"


def check_setting(value: Any) -> None:
    """Raise ValueError unless ``value`` is one of :data:`SETTINGS`."""
    if not (isinstance(value, str) and value in SETTINGS):
        raise ValueError(
            f"intervals must be 'prophet' (Prophet's own), 'calibrated' (each group's interval from its "
            f"validation errors) or 'wider' (the wider of the two at each bound), got {value!r}."
        )


def quantiles(errors: np.ndarray, width: float) -> tuple[float, float] | None:
    """The (lower, upper) offsets of a ``width`` interval from validation errors ``y - yhat``;
    None with fewer than :data:`MIN_ERRORS` errors."""
    errors = np.asarray(errors, dtype=float)
    errors = errors[np.isfinite(errors)]
    if len(errors) < MIN_ERRORS:
        return None
    low, high = np.quantile(errors, [(1 - width) / 2, (1 + width) / 2])
    return float(low), float(high)


def attach(model: Any, offsets: tuple[float, float] | None, width: float, wider: bool = False) -> None:
    """Record a model's calibrated offsets (nothing when there are none); ``wider``: its interval
    is the wider of its own and the calibrated one at each bound."""
    if offsets is not None:
        spec = {"lower": offsets[0], "upper": offsets[1], "width": float(width)}
        if wider:
            spec["wider"] = True
        setattr(model, ATTRIBUTE, spec)


def is_wider(model: Any) -> bool:
    """Whether a model's calibrated offsets widen its own interval rather than replace it."""
    return bool((getattr(model, ATTRIBUTE, None) or {}).get("wider"))


def bounds(yhat: np.ndarray, lower: np.ndarray, upper: np.ndarray, offsets: tuple[float, float],
           wider: bool) -> tuple[np.ndarray, np.ndarray]:
    """The interval of point forecasts ``yhat`` with calibrated ``offsets``: ``yhat`` plus them,
    or, ``wider``, the wider of that and the model's own (``lower``, ``upper``) at each bound."""
    low, high = yhat + offsets[0], yhat + offsets[1]
    if wider:
        return np.fmin(lower, low), np.fmax(upper, high)
    return low, high


def of(model: Any) -> tuple[float, float] | None:
    """A fitted model's calibrated (lower, upper) offsets, or None."""
    spec = getattr(model, ATTRIBUTE, None)
    if not spec:
        return None
    return float(spec["lower"]), float(spec["upper"])
