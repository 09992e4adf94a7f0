"""Target transforms: a group's model may be fitted on ``log1p(y)`` and forecast in ``y``'s units.

A leaf module (numpy only). A trial chooses the transform through the parameter
:data:`PARAM` (``"none"`` or ``"log1p"``); its loss is always computed in ``y``'s own units, on
back-transformed forecasts. A fitted model carries its transform as the attribute
:data:`ATTRIBUTE` (``{"name": "log1p", "ceiling": ...}``), which pickles travel with and which
:mod:`prophet_grouped.models` writes into the model's JSON beside Prophet's own fields (Prophet's
``model_from_json`` ignores it: such a file read by Prophet alone forecasts ``log1p(y)``).

The guard: a linear trend in ``log1p`` space is an exponential one in ``y``; back-transformed
forecasts (and interval bounds) are capped at :data:`GUARD` times the largest ``y`` of the
history the model was fitted on, so a trend the last weeks bent upwards can't run away.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The trial parameter that chooses the transform.
PARAM = "transform"
#: Transforms a model can be fitted on; ``"none"`` is the raw target.
NAMES = ("none", "log1p")
#: The ``transform`` settings of the tuner: ``"auto"`` (each non-negative group chooses between
#: ``"none"`` and ``"log1p"`` by validation loss), ``"log1p"``, or None (the raw target).
SETTINGS = ("auto", "log1p", None)
#: Back-transformed forecasts stay below this multiple of the history's largest value.
GUARD = 2.0
#: Name of the attribute a fitted Prophet model carries its transform in.
ATTRIBUTE = "target_transform"


def check_setting(value: Any) -> None:
    """Raise ValueError unless ``value`` is one of :data:`SETTINGS`."""
    if value is not None and not (isinstance(value, str) and value in SETTINGS):
        raise ValueError(
            f"transform must be 'auto' (each group with no negative value chooses log1p or the raw target by "
            f"validation loss), 'log1p' or None (the raw target), got {value!r}."
        )


def choices(setting: Any, y: np.ndarray, logistic: bool = False) -> tuple[str, ...]:
    """The transforms a group with history values ``y`` may use under ``setting``: both for
    ``"auto"`` when ``y`` has no negative value (and the trend is not logistic, whose cap is in
    ``y``'s units), else the raw target; ``("log1p",)`` when fixed. ValueError when ``"log1p"``
    is fixed for a group it can't serve."""
    usable = bool(np.nanmin(y) >= 0) and not logistic
    if setting == "log1p":
        if not usable:
            why = "logistic growth (its cap is in y's units)" if logistic else f"{int((y < 0).sum())} negative y values"
            raise ValueError(f"transform='log1p' can't be used with {why}; use transform='auto' or None")
        return ("log1p",)
    if setting == "auto" and usable:
        return NAMES
    return ("none",)


def forward(y: np.ndarray, name: str | None) -> np.ndarray:
    """``y`` in the model's space."""
    return np.log1p(y) if name == "log1p" else y


def ceiling(y: np.ndarray) -> float:
    """The guard's cap, in ``y``'s units, for a model fitted on history values ``y``."""
    return float(GUARD * max(float(np.nanmax(y)), 0.0))


def inverse(values: np.ndarray, name: str | None, cap: float | None = None) -> np.ndarray:
    """Forecasts in the model's space back in ``y``'s units, below ``cap`` when given."""
    if name != "log1p":
        return values
    if cap is not None:
        values = np.minimum(values, np.log1p(cap))
    return np.expm1(values)


def of(model: Any) -> tuple[str, float | None]:
    """(name, ceiling) of a fitted model's transform; ``("none", None)`` without one."""
    spec = getattr(model, ATTRIBUTE, None)
    if not spec:
        return "none", None
    return str(spec["name"]), spec.get("ceiling")


def attach(model: Any, name: str, cap: float | None) -> None:
    """Record on a fitted model that it was fitted on ``name``-transformed values."""
    if name != "none":
        setattr(model, ATTRIBUTE, {"name": name, "ceiling": cap})


def history_y(model: Any) -> np.ndarray:
    """The ``y`` values a fitted model's history holds, in ``y``'s own units."""
    name, _ = of(model)
    return inverse(model.history["y"].to_numpy(dtype=float), name)
