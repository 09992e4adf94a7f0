"""Lazy imports of optional dependencies, with an install hint when they are missing."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

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


class _DeferredProphetPlot:
    """Import hook that stands in for ``prophet.plot`` until it is used.

    ``import prophet`` imports ``prophet.plot``, which imports ``matplotlib.pyplot``: about 0.6 s
    of every fresh process that tunes or forecasts (the driver, each Spark, Ray or loky worker),
    to define plotting functions that tuning never calls. While this hook is on ``sys.meta_path``,
    ``prophet.plot`` is created as a small module whose ``plot`` and ``plot_components`` (the two
    names ``prophet.forecaster`` imports) and every other attribute load the real module on first
    use, which then replaces it in ``sys.modules`` and on the ``prophet`` package. Nothing changes
    for a process that imported Prophet before ``prophet_grouped``.
    """

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> Any:
        if fullname != "prophet.plot":
            return None
        import importlib.util

        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: Any) -> None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        import sys

        if self in sys.meta_path:
            sys.meta_path.remove(self)  # one stand-in; the next import of prophet.plot is Prophet's
        module.__dict__.update(
            plot=_delegate("plot"), plot_components=_delegate("plot_components"),
            __getattr__=_forward,
        )
        module.__dict__["_prophet_grouped_stand_in"] = True


def _real_prophet_plot() -> ModuleType:
    """Prophet's ``prophet.plot``, imported now if the stand-in is in its place."""
    import sys

    current = sys.modules.get("prophet.plot")
    if current is not None and not getattr(current, "_prophet_grouped_stand_in", False):
        return current
    sys.modules.pop("prophet.plot", None)
    for finder in [f for f in sys.meta_path if isinstance(f, _DeferredProphetPlot)]:
        sys.meta_path.remove(finder)
    return importlib.import_module("prophet.plot")  # also sets the prophet package's attribute


def _forward(name: str) -> Any:
    """The stand-in's other attributes: Prophet's, once imported. The import system's own
    probes (``__path__`` and other dunder names) are answered without importing."""
    if name.startswith("__") and name.endswith("__"):
        raise AttributeError(name)
    return getattr(_real_prophet_plot(), name)


def _delegate(name: str) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(_real_prophet_plot(), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"Prophet's prophet.plot.{name}, imported on first use."
    return call


def defer_prophet_plot() -> None:
    """Install :class:`_DeferredProphetPlot` unless Prophet (or its plotting module) is
    already imported, or matplotlib.pyplot is (then there is nothing to save)."""
    import sys

    if {"prophet", "prophet.plot", "matplotlib.pyplot"} & set(sys.modules):
        return
    if not any(isinstance(f, _DeferredProphetPlot) for f in sys.meta_path):
        sys.meta_path.insert(0, _DeferredProphetPlot())
