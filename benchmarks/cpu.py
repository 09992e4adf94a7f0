"""CPU utilization of a process tree: CPU seconds of every process involved / (wall x cores)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil

#: The memory sampler: a separate process, so that the measured process runs no extra thread
#: (the local backend forks its workers only from a process without other threads).
_SAMPLER = """
import sys, psutil
me = psutil.Process(int(sys.argv[1]))
peak = 0.0
import select
while not select.select([sys.stdin], [], [], 0.2)[0]:
    try:
        peak = max(peak, me.memory_info().rss / 2**20)
    except psutil.Error:
        break
print(peak, flush=True)
"""


def _tree_cpu(skip: int | None = None) -> dict[tuple[int, float], float]:
    """CPU seconds of this process and each live descendant (but ``skip``), each with its
    waited-for children."""
    me = psutil.Process()
    found = {}
    for proc in [me] + me.children(recursive=True):
        if proc.pid == skip:
            continue
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
        # The driver's resident memory, every 0.2 s, from another process.
        self._sampler = subprocess.Popen([sys.executable, "-c", _SAMPLER, str(os.getpid())],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._base = _tree_cpu(skip=self._sampler.pid)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._start
        final = _tree_cpu(skip=self._sampler.pid)
        out, _ = self._sampler.communicate("stop\n")
        try:
            self.driver_peak_mb = max(self.driver_peak_mb, float(out.strip()))
        except ValueError:
            pass
        self.cpu_seconds = sum(v - self._base.get(k, 0.0) for k, v in final.items())
        self.cores = len(os.sched_getaffinity(0))
        self.utilization = self.cpu_seconds / (self.wall * self.cores)
