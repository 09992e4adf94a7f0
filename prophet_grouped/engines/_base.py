"""What an engine is: how one Prophet model is fitted, and what a fold may cache for trials."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._util import quiet

if TYPE_CHECKING:
    import pandas as pd
    from prophet import Prophet


class Engine:
    """How a Prophet model is fitted. Subclasses set :attr:`name` and implement :meth:`fit`.

    The objective asks its engine for a fit (:meth:`fit`) and, once per validation fold, for a
    feature cache that serves trials without a fit (:meth:`fold_cache`); it never switches on
    the engine's name.
    """

    name: str = ""

    def fit(self, make_model: Callable[[], Prophet], df: pd.DataFrame, output_dir: str,
            timeout: float | None = None, fast_data: bool | None = None) -> Prophet:
        """Fit a fresh model from ``make_model()`` on ``df`` (ds, y and the model's columns).

        Stan writes its files under ``output_dir``; ``timeout`` (seconds) stops a Stan fit that
        runs longer (``TimeoutError``); ``fast_data``: write Stan's data file with orjson
        (default: when installed).
        """
        raise NotImplementedError

    @staticmethod
    def stan_kwargs(output_dir: str, timeout: float | None) -> dict[str, object]:
        """``Prophet.fit`` keyword arguments for Stan (an engine's own fit or its fallback)."""
        return {"output_dir": output_dir} if timeout is None else {"output_dir": output_dir, "timeout": timeout}

    def fold_cache(self, train: pd.DataFrame, valid: pd.DataFrame,
                   max_orders: Mapping[str, int] | None = None) -> Any:
        """A cache of one fold's features whose ``forecast(model)`` gives a trial's validation
        ``yhat`` without a fit (or None: fit instead), and whose ``misses`` counts the trials
        it could not serve; None when the engine has none."""
        return None

    def preload(self) -> None:
        """Import what fitting needs, so that no import runs inside a trial (a trial_timeout
        interrupting an import would leave the module half-initialized)."""
        with quiet():
            import prophet
            import prophet.serialize  # noqa: F401


