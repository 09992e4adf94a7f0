"""Tune and fit one Prophet model per group, with Optuna, on local processes, Spark or Ray."""

from .data import make_retail_sales
from .estimator import GroupedProphetTuner
from .exceptions import GroupFitWarning

__version__ = "0.1.0"

__all__ = ["GroupFitWarning", "GroupedProphetTuner", "__version__", "make_retail_sales"]
