"""Tune and fit one Prophet model per group, with Optuna, on local processes, Spark or Ray."""

from ._imports import drop_plotly_notice
from .data import make_retail_sales
from .estimator import GroupedProphetTuner
from .exceptions import GroupFitWarning

__version__ = "0.1.0"

drop_plotly_notice()  # Prophet's notice at import; plots here use matplotlib

__all__ = ["GroupFitWarning", "GroupedProphetTuner", "__version__", "make_retail_sales"]
