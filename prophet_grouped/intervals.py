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

#: The tuner's ``intervals`` settings.
SETTINGS = ("prophet", "calibrated")
#: Fewer validation errors than this keep Prophet's own interval.
MIN_ERRORS = 20
#: Name of the attribute a fitted Prophet model carries its calibration in.
ATTRIBUTE = "calibrated_interval"


def check_setting(value: Any) -> None:
    """Raise ValueError unless ``value`` is one of :data:`SETTINGS`."""
    if not (isinstance(value, str) and value in SETTINGS):
        raise ValueError(
            f"intervals must be 'prophet' (Prophet's own) or 'calibrated' (each group's interval from its "
            f"validation errors), got {value!r}."
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


def attach(model: Any, offsets: tuple[float, float] | None, width: float) -> None:
    """Record a model's calibrated offsets (nothing when there are none)."""
    if offsets is not None:
        setattr(model, ATTRIBUTE, {"lower": offsets[0], "upper": offsets[1], "width": float(width)})


def of(model: Any) -> tuple[float, float] | None:
    """A fitted model's calibrated (lower, upper) offsets, or None."""
    spec = getattr(model, ATTRIBUTE, None)
    if not spec:
        return None
    return float(spec["lower"]), float(spec["upper"])
