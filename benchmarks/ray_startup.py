"""A first fit with ``backend="ray"`` that starts its own Ray: how busy the machine is while it runs.

Each run is a fresh Python process that imports the library, generates ``--series`` groups of
``--days`` days (``bench.py``'s data) and fits ``GroupedProphetTuner(backend="ray")`` at the
library's defaults (the fit starts a local Ray and shuts it down). This process samples the CPU
time of the child's whole process tree (the driver, Ray's GCS, raylet, agents and workers) every 0.1 s and reports, per run: the fit's wall time and the
machine's utilization over the whole fit and over its middle 80% (CPU seconds / (seconds x
cores)), and the child's own marks (when Ray was up, the first and last result).

    python benchmarks/ray_startup.py                      # 64 groups x 730 days, 3 runs
    python benchmarks/ray_startup.py --runs 5 --pythonpath /tmp/old,/tmp/new   # two versions, alternating

``--pythonpath`` alternates runs between library checkouts (each a folder holding
``prophet_grouped``), so that versions are compared side by side on a noisy machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time

import psutil

_HERE = os.path.dirname(os.path.abspath(__file__))


def child(series: int, days: int, out: str) -> None:
    """One fit, in this fresh process; writes its marks to ``out`` as JSON."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    sys.path.insert(0, _HERE)
    from bench import make_data

    import prophet_grouped
    from prophet_grouped import GroupedProphetTuner

    df = make_data(series, days)
    tuner = GroupedProphetTuner(group_cols=["store", "item"], backend="ray", random_state=0, verbose=0)
    marks = {"library": os.path.dirname(prophet_grouped.__file__)}
    marks["start"] = time.time()
    tuner.fit(df)
    marks["end"] = time.time()
    marks["ok"] = int((tuner.results_["status"] == "ok").sum())
    marks["engine"] = tuner.engine_
    with open(out, "w") as fh:
        json.dump(marks, fh)


def _tree_cpu(root: psutil.Process, seen: dict[tuple[int, float], float]) -> float:
    """CPU seconds used so far by ``root``'s process tree: each process's own time as last seen
    (kept after it ends). A process that lived less than a sample (0.1 s) is missed: the
    utilization is, if anything, understated. (Waited-for children's time is not added: Ray's
    processes are killed at shutdown and reaped by a parent that has already been counted.)"""
    try:
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        procs = []
    for proc in procs:
        try:
            with proc.oneshot():
                t = proc.cpu_times()
                seen[(proc.pid, proc.create_time())] = t.user + t.system
        except psutil.Error:
            continue
    return sum(seen.values())


def measure(series: int, days: int, pythonpath: str | None) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "marks.json")
        proc = subprocess.Popen([sys.executable, __file__, "--child", "--series", str(series), "--days", str(days),
                                 "--marks", out], env=env)
        root = psutil.Process(proc.pid)
        seen: dict[tuple[int, float], float] = {}
        samples: list[tuple[float, float]] = []
        while proc.poll() is None:
            samples.append((time.time(), _tree_cpu(root, seen)))
            time.sleep(0.1)
        if proc.returncode != 0 or not os.path.exists(out):
            raise RuntimeError(f"the fit failed (exit code {proc.returncode})")
        with open(out) as fh:
            marks = json.load(fh)
    start, end = marks["start"], marks["end"]
    cores = len(os.sched_getaffinity(0))

    def cpu_at(t: float) -> float:  # linear between samples
        for (t0, c0), (t1, c1) in itertools.pairwise(samples):
            if t0 <= t <= t1:
                return c0 + (c1 - c0) * (t - t0) / (t1 - t0)
        raise ValueError(f"no sample around {t}")

    wall = end - start
    lo, hi = start + 0.1 * wall, end - 0.1 * wall
    return {
        "library": marks["library"], "wall": wall, "ok": marks["ok"], "engine": marks["engine"],
        "cpu_whole": (cpu_at(end) - cpu_at(start)) / (wall * cores),
        "cpu_middle80": (cpu_at(hi) - cpu_at(lo)) / ((hi - lo) * cores),
        "profile": [round((c1 - c0) / ((t1 - t0) * cores), 2) for (t0, c0), (t1, c1)
                    in zip(samples[::5], samples[5::5]) if start <= t0 <= end],
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--series", type=int, default=64)
    p.add_argument("--days", type=int, default=730)
    p.add_argument("--runs", type=int, default=3, help="runs per library version")
    p.add_argument("--pythonpath", default="", help="comma-separated library folders to alternate")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--marks", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.series, args.days, args.marks)
        return
    paths = args.pythonpath.split(",") if args.pythonpath else [None]
    print(f"{args.series} groups x {args.days} days, backend='ray' starting its own Ray, "
          f"{len(os.sched_getaffinity(0))} cores; CPU = the process tree's CPU seconds / (seconds x cores)")
    for run in range(args.runs):
        for path in paths:
            row = measure(args.series, args.days, path)
            print(f"run {run + 1} {row['library']}: wall {row['wall']:.1f} s, CPU whole {row['cpu_whole']:.0%}, "
                  f"middle 80% {row['cpu_middle80']:.0%}, {row['ok']} ok, per 0.5 s: {row['profile']}", flush=True)


if __name__ == "__main__":
    main()
