"""Local backend: worker processes on this machine, one single-threaded task per group.

Two kinds of worker process:

- forked from this process (``start_method="fork"``): a worker starts in milliseconds with
  everything this process has imported and prepared (Prophet, the engine, the groups' data),
  which is most of a small fit's time otherwise. Linux only, and only from a process that runs
  no other thread (forking a threaded process can copy a lock another thread held).
- joblib's loky processes (``start_method="loky"``): fresh interpreters, reused across fits;
  each imports Prophet (1.5-2 s) before its first group.

``"auto"`` (the default) forks when that is safe, else uses loky.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from threadpoolctl import threadpool_limits

from ..forecast import forecast_batch
from ..tuning import tune_group, warm_up
from .base import Backend, Priors, Task

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    import numpy as np

    from ..config import TuningConfig
    from ..forecast import ForecastJob
    from ..progress import Progress
    from ..results import GroupResult

logger = logging.getLogger(__name__)

START_METHODS = ("auto", "fork", "loky")

#: What forked workers read their groups from: (tasks, config, priors), set while a fork pool
#: runs. A forked child inherits it; nothing is pickled on the way in.
_FORKED: tuple[Sequence[Task], TuningConfig, Priors] | None = None


#: What forked predict workers read their batches from: (batches, nonnegative, random_state),
#: set while a fork pool forecasts.
_FORECASTING: tuple[list[list[ForecastJob]], Any, int] | None = None

#: What a pool of forked predict workers costs, in seconds: the fork itself (about 0.05 s) and
#: each worker's first batch, 3-4x slower than its next ones while the pages it writes are
#: copied from this process (measured on 2 cores: 120-480 groups x 90 days forecast 0.05-0.2 s
#: slower than half the in-process time).
FORK_START_SECONDS = 0.15


def _start_predict_worker(parent: int) -> None:
    """A forked predict worker: it dies with its parent and uses one BLAS thread (one worker per
    core; set once here, not around every batch)."""
    _die_with(parent)
    threadpool_limits(1, user_api="blas")


def _forecast_part(index: int) -> list[tuple[tuple[Any, ...], np.ndarray]]:
    """A forked predict worker: the forecasts of batch ``index``."""
    assert _FORECASTING is not None
    parts, nonnegative, random_state = _FORECASTING
    return forecast_batch(parts[index], nonnegative, random_state)


class WorkerDiedError(RuntimeError):
    """A worker process died (killed, out of memory) more often than ``max_retries`` allows."""


def fork_is_safe() -> bool:
    """Whether ``"auto"`` forks: Linux, a process with no other thread, not itself a daemon
    worker (which may not have children)."""
    import multiprocessing

    return (sys.platform.startswith("linux") and threading.active_count() == 1
            and "fork" in multiprocessing.get_all_start_methods()
            and not multiprocessing.current_process().daemon)


class LocalBackend(Backend):
    """Run groups in worker processes on this machine.

    Parameters
    ----------
    start_method : {"auto", "fork", "loky"}, default="auto"
        ``"fork"``: workers forked from this process when the fit starts (no start-up cost;
        Linux; this process must run no other thread, e.g. no live SparkSession or Ray
        connection). ``"loky"``: joblib's reusable worker processes. ``"auto"``: fork when
        that is safe, else loky.
    joblib_backend : str
        joblib backend name used by ``start_method="loky"``; ``"loky"`` (processes) by default.
    max_retries : int
        When a worker process dies (killed, out of memory), its group is sent again, up to
        ``max_retries`` times per group with forked workers; with loky every unfinished group is
        sent again, up to ``max_retries`` times in all. Groups that finished are kept.
    """

    name = "local"

    def __init__(self, start_method: str = "auto", joblib_backend: str = "loky", max_retries: int = 3) -> None:
        self.start_method = start_method
        self.joblib_backend = joblib_backend
        self.max_retries = max_retries

    def resolved_start_method(self) -> str:
        """``"fork"`` or ``"loky"``: what :meth:`run` uses now (``"auto"`` resolved)."""
        import multiprocessing

        if self.start_method not in START_METHODS:
            raise ValueError(f"Invalid start_method: {self.start_method!r}, expected one of {list(START_METHODS)}.")
        if self.start_method == "fork" and "fork" not in multiprocessing.get_all_start_methods():
            raise ValueError(f"start_method='fork' is not available on this platform ({sys.platform}); "
                             f"use start_method='loky'.")
        if self.start_method == "auto":
            return "fork" if fork_is_safe() else "loky"
        return self.start_method

    # ------------------------------------------------------------------ predict
    def pool_start_seconds(self) -> float:
        # Forked workers start in milliseconds with Prophet already imported; loky's import it.
        return FORK_START_SECONDS if self.resolved_start_method() == "fork" else super().pool_start_seconds()

    def forecast_in_pool(self, parts: list[list[ForecastJob]], nonnegative: Any, random_state: int,
                         n_workers: int) -> Iterator[tuple[tuple[Any, ...], np.ndarray]]:
        """Forked workers when that is safe (they read the batches from this process's memory:
        nothing is pickled on the way in), else loky's. A batch whose forked worker died is
        forecast here."""
        if self.resolved_start_method() != "fork":
            yield from super().forecast_in_pool(parts, nonnegative, random_state, n_workers)
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        global _FORECASTING
        _FORECASTING = (parts, nonnegative, random_state)
        left = set(range(len(parts)))
        try:
            with ProcessPoolExecutor(
                    n_workers, mp_context=multiprocessing.get_context("fork"),
                    initializer=_start_predict_worker, initargs=(os.getpid(),)) as pool:
                futures = {pool.submit(_forecast_part, i): i for i in range(len(parts))}
                for future in as_completed(futures):
                    yield from future.result()
                    left.discard(futures[future])
        except BrokenProcessPool:
            logger.warning("A predict worker process died; forecasting its %d batch(es) in this process.", len(left))
            for i in sorted(left):
                yield from forecast_batch(parts[i], nonnegative, random_state)
        finally:
            _FORECASTING = None

    # ------------------------------------------------------------------ fit
    def run(self, tasks: Sequence[Task], config: TuningConfig, n_jobs: int | None,
            progress: Progress | None = None, priors: Priors | None = None) -> Iterator[GroupResult]:
        from joblib import effective_n_jobs

        method = self.resolved_start_method()
        priors = priors or {}
        n_workers = min(effective_n_jobs(n_jobs), max(len(tasks), 1))
        if n_workers == 1:
            for key, frame in tasks:
                yield tune_group(key, frame, config, priors.get(key))
            return
        if method == "fork":
            yield from self._run_forked(tasks, config, n_workers, priors)
        else:
            yield from self._run_loky(tasks, config, n_workers, priors)

    def _run_loky(self, tasks: Sequence[Task], config: TuningConfig, n_workers: int,
                  priors: Priors) -> Iterator[GroupResult]:
        from joblib import Parallel, delayed, parallel_config
        from joblib.externals.loky.process_executor import TerminatedWorkerError

        pending = dict(tasks)  # key -> frame, in dispatch order (longest first)
        for attempt in range(self.max_retries + 1):
            try:
                with parallel_config(backend=self.joblib_backend, inner_max_num_threads=1):
                    for result in Parallel(n_jobs=n_workers, batch_size=1, return_as="generator_unordered")(
                        delayed(tune_group)(key, frame, config, priors.get(key))
                        for key, frame in list(pending.items())
                    ):
                        pending.pop(result.key, None)
                        yield result
                return
            except TerminatedWorkerError as exc:
                if attempt == self.max_retries:
                    raise
                logger.warning("A worker process died (%s); retrying the %d unfinished group(s).",
                               exc, len(pending))

    def _run_forked(self, tasks: Sequence[Task], config: TuningConfig, n_workers: int,
                    priors: Priors) -> Iterator[GroupResult]:
        """Fork ``n_workers`` processes now and hand them group indices one at a time; a group
        whose worker died is sent to a new fork, up to ``max_retries`` times."""
        import multiprocessing
        from multiprocessing.connection import wait

        global _FORKED
        warm_up(config)  # once here, instead of once in every worker
        context = multiprocessing.get_context("fork")
        queue = deque(range(len(tasks)))
        deaths: dict[int, int] = {}
        busy: dict[Connection, tuple[BaseProcess, int]] = {}  # driver end -> (process, group index)
        _FORKED = (tasks, config, priors)

        def start(index: int) -> None:
            here, there = context.Pipe()
            process = context.Process(target=_forked_worker, args=(there, os.getpid()), daemon=True)
            process.start()
            there.close()
            here.send(index)
            busy[here] = (process, index)

        try:
            for _ in range(n_workers):
                if queue:
                    start(queue.popleft())
            while busy:
                sentinels = {process.sentinel: conn for conn, (process, _) in busy.items()}
                for ready in wait([*busy, *sentinels]):
                    conn = sentinels.get(ready, ready)
                    if conn not in busy:
                        continue  # both its pipe and its sentinel were ready: handled
                    process, index = busy[conn]
                    message = _receive(conn)
                    if message is None:  # the worker died before answering
                        del busy[conn]
                        conn.close()
                        process.join()
                        deaths[index] = deaths.get(index, 0) + 1
                        key = tasks[index][0]
                        if deaths[index] > self.max_retries:
                            raise WorkerDiedError(
                                f"The worker process tuning group {key!r} died {deaths[index]} times "
                                f"(last exit code {process.exitcode}); max_retries={self.max_retries}. "
                                f"A group that kills its worker every time usually runs out of memory: "
                                f"use fewer n_jobs or give the machine more memory.")
                        logger.warning("A worker process died (exit code %s) while tuning group %r; "
                                       "sending it to a new worker.", process.exitcode, key)
                        start(index)
                        continue
                    status, payload = message
                    if status == "error":
                        raise payload
                    yield payload
                    if queue:
                        next_index = queue.popleft()
                        busy[conn] = (process, next_index)
                        try:
                            conn.send(next_index)
                        except OSError:
                            pass  # it died after answering: its sentinel reports it, the group is resent
                    else:
                        del busy[conn]
                        try:
                            conn.send(None)
                        except OSError:
                            pass  # it died after answering: nothing was lost
                        conn.close()
                        process.join()
        finally:
            _FORKED = None
            for conn, (process, _) in busy.items():
                process.terminate()
                process.join()
                conn.close()


def _receive(conn: Connection) -> Any:
    """The worker's answer, or None when it died (its pipe closed without one)."""
    try:
        if conn.poll():
            return conn.recv()
    except (EOFError, OSError):
        return None
    return None


def _die_with(parent: int) -> None:
    """Make this forked worker die with the process that forked it: the kernel sends it SIGKILL
    when that process ends, killed or not (Linux ``PR_SET_PDEATHSIG``); before, workers of a
    driver killed with ``kill -9`` stayed blocked on their pipe, which their siblings hold open.
    Exits now when the parent is gone already."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the pipe's end is the only signal
        pass
    if os.getppid() != parent:
        os._exit(1)


#: prctl option: the signal this process gets when its parent ends.
_PR_SET_PDEATHSIG = 1


def _forked_worker(conn: Connection, parent: int) -> None:
    """A forked worker: tune the group of each index received until None (or the pipe closes)."""
    _die_with(parent)
    assert _FORKED is not None
    tasks, config, priors = _FORKED
    while True:
        try:
            index = conn.recv()
        except EOFError:
            return
        if index is None:
            return
        key, frame = tasks[index]
        try:
            result = tune_group(key, frame, config, priors.get(key))
            conn.send(("ok", result))
        except BaseException as exc:  # noqa: BLE001  (the driver raises it, as joblib would)
            try:
                conn.send(("error", exc))
            except Exception:  # noqa: BLE001  (an exception that does not pickle)
                conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
            if not isinstance(exc, Exception):
                return
