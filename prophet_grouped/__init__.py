"""Tune and fit one Prophet model per group, with Optuna, on local processes, Spark or Ray.

The public names are imported on first use (PEP 562): a worker process that imports
``prophet_grouped.tuning`` to tune its groups does not import the estimator, and with it
scikit-learn (1.5 s of imports a worker does not need).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._imports import defer_prophet_plot, drop_plotly_notice
from ._version import __version__
from .exceptions import GroupFitWarning

if TYPE_CHECKING:
    from .data import make_retail_sales
    from .estimator import GroupedProphetTuner


drop_plotly_notice()  # Prophet's notice at import; plots here use matplotlib
defer_prophet_plot()  # import prophet without matplotlib.pyplot until Prophet plots

#: Public name -> the module that defines it, imported when the name is first used.
_LAZY = {"GroupedProphetTuner": ".estimator", "make_retail_sales": ".data"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = ["GroupFitWarning", "GroupedProphetTuner", "__version__", "make_retail_sales"]
