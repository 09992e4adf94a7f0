"""CPU utilization of a process tree: CPU seconds of every process involved / (wall x cores)."""

from __future__ import annotations

import os
import threading
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
    """Measures the CPU seconds of this process tree over a ``with`` block, and the peak
    resident memory of this (the driver) process.

    Each live process counts its own CPU time plus that of the children it has waited for
    (short Stan runs, finished pool workers, forked Spark Python workers); a process that ended
    is counted by the parent that waited for it, so only processes alive at the end are summed.
    Processes that exist at the start count only what they use after it.
    """

    def __enter__(self) -> CpuMeter:
        me = psutil.Process()
        self.driver_start_mb = me.memory_info().rss / 2**20
        self.driver_peak_mb = self.driver_start_mb
        self._stop = threading.Event()

        def sample() -> None:  # the driver's resident memory, every 0.2 s
            while not self._stop.wait(0.2):
                self.driver_peak_mb = max(self.driver_peak_mb, me.memory_info().rss / 2**20)

        self._sampler = threading.Thread(target=sample, daemon=True)
        self._sampler.start()
        self._base = _tree_cpu()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._start
        self._stop.set()
        self._sampler.join()
        final = _tree_cpu()
        self.cpu_seconds = sum(v - self._base.get(k, 0.0) for k, v in final.items())
        self.cores = len(os.sched_getaffinity(0))
        self.utilization = self.cpu_seconds / (self.wall * self.cores)
