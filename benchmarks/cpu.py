"""CPU utilization of a process tree: CPU seconds of every process involved / (wall x cores)."""

from __future__ import annotations

import os
import threading
import time

import psutil


class CpuMeter:
    """Samples the CPU times of this process and all its descendants while active.

    Processes that exist when the meter starts count only what they use after it starts.
    A process that ends between two samples loses at most one interval of CPU time.
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self._last: dict[tuple[int, float], float] = {}
        self._base: dict[tuple[int, float], float] = {}
        self._stop = threading.Event()

    def _sample(self) -> dict[tuple[int, float], float]:
        me = psutil.Process()
        found = {}
        for proc in [me] + me.children(recursive=True):
            try:
                with proc.oneshot():
                    t = proc.cpu_times()
                    found[(proc.pid, proc.create_time())] = t.user + t.system
            except psutil.Error:
                continue
        return found

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._last.update(self._sample())

    def __enter__(self) -> CpuMeter:
        self._base = self._sample()
        self._last = dict(self._base)
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._last.update(self._sample())
        self.wall = time.perf_counter() - self._start
        self._stop.set()
        self._thread.join()
        self.cpu_seconds = sum(v - self._base.get(k, 0.0) for k, v in self._last.items())
        self.cores = len(os.sched_getaffinity(0))
        self.utilization = self.cpu_seconds / (self.wall * self.cores)
