"""How one Prophet model is fitted: stock Stan (cmdstanpy) or prophet-batch's direct MAP solve.

``fit_prophet(make_model, df, engine)`` is the only place a model is fitted, for trials and for
the final refit alike.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from prophet import Prophet

ENGINES = ("auto", "stan", "batch")

_QUIET_LOGGERS = ("cmdstanpy", "prophet", "prophet.plot", "prophet_batch", "optuna")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence cmdstanpy, Prophet and Optuna loggers for the duration, then restore them."""
    saved = {}
    for name in _QUIET_LOGGERS:
        logger = logging.getLogger(name)
        saved[name] = (logger.level, logger.disabled)
        logger.setLevel(logging.ERROR if name != "prophet.plot" else logging.CRITICAL)
        if name == "cmdstanpy":
            # cmdstanpy's get_logger() resets the level to DEBUG the first time it runs.
            logger.disabled = True
    try:
        yield
    finally:
        for name, (level, disabled) in saved.items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            logger.disabled = disabled


_OUTPUT_PREFIX = "prophet_grouped_"
_OUTPUT_RE = re.compile(rf"^{_OUTPUT_PREFIX}(\d+)_")
_swept = False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_output_dirs() -> list[str]:
    """Delete the cmdstan output folders of processes that died without removing them (a
    worker killed mid-fit); returns the folders removed."""
    root = tempfile.gettempdir()
    removed = []
    try:
        names = os.listdir(root)
    except OSError:
        return removed
    for name in names:
        match = _OUTPUT_RE.match(name)
        if match and not _pid_alive(int(match.group(1))):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
            removed.append(name)
    return removed


@contextlib.contextmanager
def stan_output_dir() -> Iterator[str]:
    """A private folder for cmdstan's output files, removed on exit (cmdstanpy keeps its own
    until the process ends, which for a long-lived worker is never).

    The folder name holds the process id; the first folder a process makes also removes the
    folders left by dead processes.
    """
    global _swept
    if not _swept:
        _swept = True
        remove_stale_output_dirs()
    path = tempfile.mkdtemp(prefix=f"{_OUTPUT_PREFIX}{os.getpid()}_")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def preload(engine: str) -> None:
    """Import what fitting with ``engine`` needs, so that no import runs inside a trial (a
    trial_timeout interrupting an import would leave the module half-initialized)."""
    with quiet():  # importing Prophet logs a missing plotly
        import prophet  # noqa: F401
        import prophet.serialize  # noqa: F401

        if engine == "batch":
            import prophet_batch  # noqa: F401


def batch_available() -> bool:
    """Whether prophet-batch can be imported."""
    try:
        with quiet():  # importing Prophet logs a missing plotly
            import prophet_batch  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_engine(engine: str) -> str:
    """The engine that will run: ``"auto"`` becomes ``"batch"`` when prophet-batch is installed."""
    if engine not in ENGINES:
        raise ValueError(f"Unknown engine {engine!r}; expected one of {list(ENGINES)}.")
    if engine == "auto":
        return "batch" if batch_available() else "stan"
    if engine == "batch" and not batch_available():
        raise ImportError(
            "engine='batch' needs prophet-batch. Install it with: pip install 'prophet_grouped[fast]', "
            "or use engine='stan'."
        )
    return engine


def fit_prophet(
    make_model: Callable[[], Prophet], df: pd.DataFrame, engine: str, output_dir: str,
    timeout: float | None = None,
) -> Prophet:
    """Fit a fresh model from ``make_model()`` on ``df`` (columns ds, y) with ``engine``.

    ``engine`` is ``"stan"`` or ``"batch"`` (already resolved). Stan writes its files under
    ``output_dir``. prophet-batch fits models it does not support (logistic growth, MCMC) with
    Stan itself. ``timeout`` (seconds) stops a Stan fit that runs longer (cmdstan is killed and
    ``TimeoutError`` raised).
    """
    fit_kwargs: dict[str, object] = {"output_dir": output_dir}
    if timeout is not None:
        fit_kwargs["timeout"] = timeout
    if engine == "batch":
        from prophet_batch import fit_many

        frame = df.assign(_series=0)
        model = fit_many(
            frame,
            id_col="_series",
            make_model=lambda _: make_model(),
            fit_kwargs=fit_kwargs,
            on_error="raise",
            # One series: an explicit batch size skips prophet-batch's memory estimate, which
            # builds the feature matrices once more (about a quarter of a trial's time).
            batch_size=1,
        )[0]
    else:
        model = make_model().fit(df, **fit_kwargs)
    # The folder is deleted after the group; don't keep a dangling path in the model.
    model.fit_kwargs = {}
    return model
