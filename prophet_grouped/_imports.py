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


class _PlotlyNotice:
    """Logging filter dropping Prophet's "Importing plotly failed" notice: Prophet logs it at
    import when plotly is missing, and this library plots with matplotlib."""

    def filter(self, record: object) -> bool:
        return "Importing plotly failed" not in str(getattr(record, "msg", ""))


def drop_plotly_notice() -> None:
    """Install :class:`_PlotlyNotice` on Prophet's ``prophet.plot`` logger (once; other
    messages of that logger pass)."""
    import logging

    logger = logging.getLogger("prophet.plot")
    if not any(isinstance(f, _PlotlyNotice) for f in logger.filters):
        logger.addFilter(_PlotlyNotice())
