"""How one Prophet model is fitted: stock Stan (cmdstanpy) or prophet-batch's direct MAP solve.

One module per engine (:mod:`.stan`, :mod:`.batch`), each an :class:`~._base.Engine`;
:func:`fit_prophet` is the only place a model is fitted, for trials and for the final refit
alike, and :func:`fold_cache` gives the objective the engine's per-fold feature cache.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._base import Engine, quiet
from .batch import BatchEngine, check_prophet_batch
from .stan import StanEngine, remove_stale_output_dirs, stan_output_dir

if TYPE_CHECKING:
    import pandas as pd
    from prophet import Prophet

__all__ = ["ENGINES", "Engine", "fit_prophet", "fold_cache", "get_engine", "preload", "quiet",
           "remove_stale_output_dirs", "resolve_engine", "stan_output_dir"]

#: Values of the ``engine`` parameter.
ENGINES = ("auto", "stan", "batch")


def get_engine(name: str) -> Engine:
    """The engine called ``name`` (``"stan"`` or ``"batch"``, as :func:`resolve_engine` gives)."""
    if name == "stan":
        return StanEngine()
    if name == "batch":
        return BatchEngine()
    raise ValueError(f"Invalid engine: {name!r}, expected one of ['stan', 'batch'].")


def batch_available() -> bool:
    """Whether prophet-batch can be imported."""
    try:
        with quiet():  # importing Prophet logs a missing plotly
            import prophet_batch  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_engine(engine: str) -> str:
    """The engine that will run: ``"auto"`` becomes ``"batch"`` when prophet-batch is installed.

    ``"auto"`` and ``"batch"`` become ``"stan"``, with a warning, when the installed
    prophet-batch lacks a function the batch engine calls or solves differently
    (:func:`~.batch.check_prophet_batch`).
    """
    if engine not in ENGINES:
        raise ValueError(f"Unknown engine {engine!r}; expected one of {list(ENGINES)}.")
    if engine == "stan":
        return engine
    if not batch_available():
        if engine == "batch":
            raise ImportError(
                "engine='batch' needs prophet-batch. Install it with: pip install 'prophet_grouped[fast]', "
                "or use engine='stan'."
            )
        return "stan"

    problem = check_prophet_batch()
    if problem is not None:
        warnings.warn(
            f"engine={engine!r}: the installed prophet-batch does not work as this version of "
            f"prophet_grouped expects ({problem}); fitting with Stan instead. Install the pinned "
            f"version (pip install 'prophet_grouped[fast]') or set engine='stan' to silence this.",
            UserWarning, stacklevel=3,
        )
        return "stan"
    return "batch"


_PRELOADED: set[str] = set()


def preload(engine: str) -> None:
    """Import what fitting with ``engine`` needs, so that no import runs inside a trial (once
    per process and engine)."""
    if engine not in _PRELOADED:
        get_engine(engine).preload()
        _PRELOADED.add(engine)


def fit_prophet(
    make_model: Callable[[], Prophet], df: pd.DataFrame, engine: str, output_dir: str,
    timeout: float | None = None, fast_data: bool | None = None,
) -> Prophet:
    """Fit a fresh model from ``make_model()`` on ``df`` (columns ds, y) with ``engine``.

    ``engine`` is ``"stan"`` or ``"batch"`` (already resolved). Stan writes its files under
    ``output_dir``. prophet-batch fits models it does not support (logistic growth, MCMC) with
    Stan itself. ``timeout`` (seconds) stops a Stan fit that runs longer (cmdstan is killed and
    ``TimeoutError`` raised). ``fast_data`` (default: when orjson is installed) writes Stan's
    data file with orjson.
    """
    model = get_engine(engine).fit(make_model, df, output_dir, timeout=timeout, fast_data=fast_data)
    # The folder is deleted after the group; don't keep a dangling path in the model.
    model.fit_kwargs = {}
    return model


def fold_cache(engine: str, train: pd.DataFrame, valid: pd.DataFrame,
               max_orders: Mapping[str, int] | None = None) -> Any:
    """``engine``'s feature cache for one validation fold (None: trials are fitted)."""
    return get_engine(engine).fold_cache(train, valid, max_orders)
