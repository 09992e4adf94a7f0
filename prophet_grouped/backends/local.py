"""Local backend: joblib worker processes (loky), one single-threaded task per group."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from .base import Backend, Priors, Task

if TYPE_CHECKING:
    from ..progress import Progress
    from ..results import GroupResult
    from ..config import TuningConfig

logger = logging.getLogger(__name__)


class LocalBackend(Backend):
    """Run groups in joblib's loky processes on this machine.

    Parameters
    ----------
    joblib_backend : str
        joblib backend name; ``"loky"`` (processes) by default.
    max_retries : int
        How many times the groups still unfinished are sent again when a worker process dies
        (killed, out of memory); groups that finished are kept.
    """

    name = "local"

    def __init__(self, joblib_backend: str = "loky", max_retries: int = 3) -> None:
        self.joblib_backend = joblib_backend
        self.max_retries = max_retries

    def run(self, tasks: Sequence[Task], config: TuningConfig, n_jobs: int | None,
            progress: Progress | None = None, priors: Priors | None = None) -> Iterator[GroupResult]:
        from joblib import Parallel, delayed, effective_n_jobs, parallel_config
        from joblib.externals.loky.process_executor import TerminatedWorkerError

        from ..tuning import tune_group

        priors = priors or {}
        n_workers = min(effective_n_jobs(n_jobs), max(len(tasks), 1))
        if n_workers == 1:
            for key, frame in tasks:
                yield tune_group(key, frame, config, priors.get(key))
            return
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
