"""CPU utilization of a process tree: CPU seconds of every process involved / (wall x cores)."""

from __future__ import annotations

import os
import time

import psutil


def _tree_cpu() -> dict[tuple[int, float], float]:
    """CPU seconds of this process and each live descendant, each with its waited-for children."""
    me = psutil.Process()
    found = {}
    for proc in [me] + me.children(recursive=True):
        try:
            with proc.oneshot():
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                t = proc.cpu_times()
                found[(proc.pid, proc.create_time())] = t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            continue
    return found


class CpuMeter:
    """Measures the CPU seconds of this process tree over a ``with`` block.

    Each live process counts its own CPU time plus that of the children it has waited for
    (short Stan runs, finished pool workers, forked Spark Python workers); a process that ended
    is counted by the parent that waited for it, so only processes alive at the end are summed.
    Processes that exist at the start count only what they use after it.
    """

    def __enter__(self) -> CpuMeter:
        self._base = _tree_cpu()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._start
        final = _tree_cpu()
        self.cpu_seconds = sum(v - self._base.get(k, 0.0) for k, v in final.items())
        self.cores = len(os.sched_getaffinity(0))
        self.utilization = self.cpu_seconds / (self.wall * self.cores)
