"""Lazy imports of optional dependencies, with an install hint when they are missing."""

from __future__ import annotations

import importlib
from types import ModuleType

_EXTRAS = {
    "matplotlib": "plot",
    "mlflow": "mlflow",
    "psutil": "bench",
    "pyspark": "spark",
    "ray": "ray",
    "prophet_batch": "fast",
}


def import_optional(name: str) -> ModuleType:
    """Import module ``name`` or raise ImportError saying which extra to install."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        root = name.split(".")[0]
        extra = _EXTRAS.get(root, "all")
        raise ImportError(
            f"{name!r} is needed for this feature but could not be imported ({exc}). "
            f"Install it with: pip install 'prophet_grouped[{extra}]'"
        ) from exc
