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


class _FastDataModel:
    """Stands in for a CmdStanModel: ``optimize`` gets its data as a JSON file written by
    orjson (milliseconds) instead of a dict that cmdstanpy writes in pure Python (about 0.09 s
    of a 0.2 s fit on 2,330 points). Same numbers: both write floats in shortest round-trip form."""

    def __init__(self, model: object, folder: str) -> None:
        self._model = model
        self._folder = folder

    def optimize(self, data: object = None, **kwargs: object) -> object:
        import orjson

        if isinstance(data, dict):
            fd, path = tempfile.mkstemp(prefix="data-", suffix=".json", dir=self._folder)
            with os.fdopen(fd, "wb") as fh:
                fh.write(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY))
            data = path
        return self._model.optimize(data=data, **kwargs)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._model, name)


def _orjson_available() -> bool:
    try:
        import orjson  # noqa: F401
    except ImportError:
        return False
    return True


def _fit_stan(model: Prophet, df: pd.DataFrame, fit_kwargs: dict[str, object], fast_data: bool) -> Prophet:
    """Prophet.fit, with cmdstan's data file written by orjson when ``fast_data``."""
    backend = model.stan_backend
    original = getattr(backend, "model", None)
    if fast_data and original is not None and hasattr(original, "optimize"):
        backend.model = _FastDataModel(original, str(fit_kwargs["output_dir"]))
    try:
        return model.fit(df, **fit_kwargs)
    finally:
        if original is not None:
            backend.model = original


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
        model = _fit_stan(make_model(), df, fit_kwargs, _orjson_available() if fast_data is None else fast_data)
    # The folder is deleted after the group; don't keep a dangling path in the model.
    model.fit_kwargs = {}
    return model
