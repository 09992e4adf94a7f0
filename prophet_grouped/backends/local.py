"""Local backend: joblib worker processes (loky), one single-threaded task per group."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from .base import Backend, Task

if TYPE_CHECKING:
    from ..results import GroupResult
    from ..tuning import TuningConfig


class LocalBackend(Backend):
    """Run groups in joblib's loky processes on this machine.

    Parameters
    ----------
    joblib_backend : str
        joblib backend name; ``"loky"`` (processes) by default.
    """

    name = "local"

    def __init__(self, joblib_backend: str = "loky") -> None:
        self.joblib_backend = joblib_backend

    def run(self, tasks: Sequence[Task], config: TuningConfig, n_jobs: int | None) -> Iterator[GroupResult]:
        from joblib import Parallel, delayed, effective_n_jobs, parallel_config

        from ..tuning import tune_group

        n_workers = min(effective_n_jobs(n_jobs), max(len(tasks), 1))
        if n_workers == 1:
            for key, frame in tasks:
                yield tune_group(key, frame, config)
            return
        with parallel_config(backend=self.joblib_backend, inner_max_num_threads=1):
            yield from Parallel(n_jobs=n_workers, batch_size=1, return_as="generator_unordered")(
                delayed(tune_group)(key, frame, config) for key, frame in tasks
            )
