"""Benchmark: the published study's pattern against GroupedProphetTuner on each backend and engine.

Every run tunes the same generated groups with the same trial budget on the same cores, in one
process run, so the ratios are comparable even on a noisy machine. For each run it reports wall
time, CPU utilization (CPU seconds of every process involved / (wall x cores)), trials per
second, core-seconds per series and the median best holdout loss; it writes a JSON file and a
PNG chart.

    python benchmarks/bench.py                  # quick: a few minutes (also: make bench)
    python benchmarks/bench.py --series 16 --days 730 --trials 10 --runs baseline,local,spark-naive,spark
    python benchmarks/bench.py --full           # the published size: 1,416 series x 2,330 days

In a checkout, ``prophet-grouped bench ...`` runs this file too. It is not part of the installed
package: the benchmark lives with the repository.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

# One Ray auth mode for every Ray process of the run, set before any ray.init() (a local
# ray.init() turns token auth on for later `ray start`s; see docs/backends.md).
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

# This folder's modules (baseline, cpu) for this process and for the workers the runs start
# (Spark executors' Python and Ray workers inherit the environment).
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_HERE, os.environ.get("PYTHONPATH")) if p)

from baseline import baseline_series
from cpu import CpuMeter

from prophet_grouped import GroupedProphetTuner, make_retail_sales

GROUPS = ["store", "item"]
ALL_RUNS = ["baseline", "local", "local-again", "local-loky", "local-stan", "spark-naive", "spark", "ray", "ray-tasks", "ray-tune", "ray-on-spark"]


def make_data(series: int, days: int) -> pd.DataFrame:
    n_stores = max(1, int(np.sqrt(series)))
    n_items = int(np.ceil(series / n_stores))
    df = make_retail_sales(n_stores=n_stores, n_items=n_items, periods=days, seed=0)
    keys = df[GROUPS].drop_duplicates().head(series)
    return df.merge(keys, on=GROUPS)


def _baseline_frame(pdf: pd.DataFrame, **kw: Any) -> pd.DataFrame:
    key = (int(pdf["store"].iloc[0]), int(pdf["item"].iloc[0]))
    out = baseline_series(key, pdf, **kw)
    return pd.DataFrame({"store": [key[0]], "item": [key[1]], "best_score": [out["best_score"]],
                         "n_trials": [out["n_trials"]]})


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.df = make_data(args.series, args.days)
        self.cores = len(os.sched_getaffinity(0))
        self.rows: list[dict[str, Any]] = []
        self._spark = None

    def tuner(self, **kw: Any) -> GroupedProphetTuner:
        a = self.args
        params = dict(group_cols=GROUPS, n_trials=a.trials, early_stopping_rounds=a.patience, horizon=a.horizon,
                      holidays_country=a.holidays, random_state=0, metric="smape",
                      # The study's pattern: its space, one holdout window (--folds: others).
                      search_space="paper", cv_folds=None if a.folds == "auto" else int(a.folds))
        params.update(kw)
        return GroupedProphetTuner(**params)

    def spark(self):
        if self._spark is None:
            from pyspark.sql import SparkSession

            start = time.perf_counter()
            self._spark = (SparkSession.builder.master(self.args.spark_master).appName("bench")
                           .config("spark.ui.enabled", "false").config("spark.driver.memory", "4g").getOrCreate())
            self._spark.sparkContext.setLogLevel("ERROR")
            self.spark_startup = time.perf_counter() - start
        return self._spark

    def record(self, name: str, meter: CpuMeter, scores: pd.Series, trials: pd.Series, startup: float = 0.0) -> None:
        n = self.args.series
        row = {
            "run": name, "wall_s": round(meter.wall, 2), "startup_s": round(startup, 2),
            "cpu_util": round(meter.utilization, 3), "trials": int(trials.sum()),
            "trials_per_s": round(float(trials.sum()) / meter.wall, 2),
            "core_s_per_series": round(meter.wall * meter.cores / n, 3),
            "median_best_loss": round(float(scores.median()), 4),
            "driver_peak_mb": round(meter.driver_peak_mb), "driver_start_mb": round(meter.driver_start_mb),
        }
        self.rows.append(row)
        print(json.dumps(row), flush=True)

    # ------------------------------------------------------------------ runs
    def run_baseline(self) -> None:
        a = self.args
        fn = functools.partial(baseline_series, n_trials=a.trials, patience=a.patience or a.trials,
                               horizon=a.horizon, holidays_country=a.holidays, seed=0)
        groups = [(key, part) for key, part in self.df.groupby(GROUPS)]
        with CpuMeter() as meter, ProcessPoolExecutor(self.cores) as pool:
            out = list(pool.map(fn, [k for k, _ in groups], [p for _, p in groups]))
        res = pd.DataFrame(out)
        self.record("baseline (stock Prophet, process pool)", meter, res["best_score"], res["n_trials"])

    def run_local(self, engine: str = "auto", start_method: str = "auto") -> None:
        from prophet_grouped.backends.local import LocalBackend

        backend = LocalBackend(start_method=start_method)
        workers = backend.resolved_start_method()
        tuner = self.tuner(engine=engine, backend=backend)
        with CpuMeter() as meter:
            tuner.fit(self.df)
        self.record(f"tuner local ({workers} workers) engine={tuner.engine_}", meter, tuner.results_["best_score"],
                    tuner.results_["n_trials"])

    def run_spark_naive(self) -> None:
        a = self.args
        spark = self.spark()
        sdf = spark.createDataFrame(self.df).cache()
        sdf.count()
        fn = functools.partial(_baseline_frame, n_trials=a.trials, patience=a.patience or a.trials,
                               horizon=a.horizon, holidays_country=a.holidays, seed=0)
        with CpuMeter() as meter:
            res = sdf.groupBy(*GROUPS).applyInPandas(
                fn, "store long, item long, best_score double, n_trials long").toPandas()
        self.record("baseline spark naive groupBy().applyInPandas()", meter, res["best_score"], res["n_trials"])

    def run_spark(self) -> None:
        spark = self.spark()
        sdf = spark.createDataFrame(self.df).cache()
        sdf.count()
        tuner = self.tuner(backend="spark", backend_options={"spark": spark})
        with CpuMeter() as meter:
            tuner.fit(sdf)
        self.record(f"tuner spark engine={tuner.engine_}", meter, tuner.results_["best_score"],
                    tuner.results_["n_trials"], startup=getattr(self, "spark_startup", 0.0))

    def run_ray(self, mode: str = "auto") -> None:
        """A local Ray; ``mode``: the Ray backend's (``"tune"``: Ray Tune trials over batches of groups)."""
        import ray

        start = time.perf_counter()
        ray.init(address="local", num_cpus=self.cores, include_dashboard=False, logging_level="ERROR")
        startup = time.perf_counter() - start
        try:
            tuner = self.tuner(backend="ray", backend_options={"mode": mode})
            with CpuMeter() as meter:
                tuner.fit(self.df)
            label = "tuner ray" if mode == "auto" else f"tuner ray mode={mode}"
            self.record(f"{label} engine={tuner.engine_}", meter, tuner.results_["best_score"],
                        tuner.results_["n_trials"], startup=startup)
        finally:
            ray.shutdown()

    def run_ray_on_spark(self) -> None:
        """Ray started on a local-cluster Spark (separate executor JVMs) with setup_ray_cluster."""
        from pyspark.sql import SparkSession

        from prophet_grouped.backends.ray import RayBackend

        if self._spark is not None:
            self._spark.stop()
            self._spark = None
        start = time.perf_counter()
        spark = (SparkSession.builder.master(f"local-cluster[{self.cores},1,2048]").appName("bench-ray-on-spark")
                 .config("spark.ui.enabled", "false").config("spark.executor.memory", "2g").getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        spark.range(self.cores * 4).repartition(self.cores * 4).count()  # wait for the executors
        spark_up = time.perf_counter() - start
        backend = RayBackend(spark=spark, mode="groups")
        try:
            with backend.cluster():
                ray_up = time.perf_counter() - start - spark_up
                tuner = self.tuner(backend=backend)
                with CpuMeter() as meter:
                    tuner.fit(self.df)
        finally:
            spark.stop()
        print(f"ray-on-spark start-up: Spark local-cluster {spark_up:.1f} s, Ray on it {ray_up:.1f} s", flush=True)
        self.record(f"tuner ray-on-spark engine={tuner.engine_}", meter, tuner.results_["best_score"],
                    tuner.results_["n_trials"], startup=spark_up + ray_up)

    def run(self, name: str) -> None:
        {"baseline": self.run_baseline, "local": self.run_local,
         "local-stan": functools.partial(self.run_local, "stan"),
         "local-loky": functools.partial(self.run_local, start_method="loky"),
         "local-again": self.run_local, "spark-naive": self.run_spark_naive,
         "spark": self.run_spark, "ray": self.run_ray, "ray-tasks": functools.partial(self.run_ray, "groups"),
         "ray-tune": functools.partial(self.run_ray, "tune"), "ray-on-spark": self.run_ray_on_spark}[name]()


def chart(rows: list[dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["run"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 0.6 * len(rows) + 2))
    ax1.barh(names, [r["wall_s"] for r in rows], color="tab:blue")
    ax1.set_xlabel("wall time (s)")
    ax1.invert_yaxis()
    ax2.barh(names, [100 * r["cpu_util"] for r in rows], color="tab:green")
    ax2.set_xlabel("CPU utilization (% of all cores)")
    ax2.set_xlim(0, 100)
    ax2.invert_yaxis()
    ax2.set_yticklabels([])
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def run_fresh(args: argparse.Namespace, name: str) -> list[dict[str, Any]]:
    """The rows of run ``name`` measured by this script in a new Python process."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, __file__, "--series", str(args.series), "--days", str(args.days),
               "--trials", str(args.trials), "--horizon", str(args.horizon), "--holidays", args.holidays,
               "--spark-master", args.spark_master, "--runs", name, "--out", out]
        if args.patience is not None:
            cmd += ["--patience", str(args.patience)]
        cmd += ["--folds", str(args.folds)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(out, "bench.json")) as fh:
            rows = json.load(fh)["runs"]
    for row in rows:
        print(json.dumps(row), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)  # "Importing plotly failed": unused here
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--series", type=int, default=16)
    p.add_argument("--days", type=int, default=730)
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--patience", type=int, default=None, help="early stopping rounds (default: none)")
    p.add_argument("--horizon", type=int, default=90)
    p.add_argument("--holidays", default="US")
    p.add_argument("--runs", "--backends", dest="runs",
                   default="baseline,local,local-stan,spark-naive,spark,ray,ray-on-spark",
                   help=f"comma-separated, from {ALL_RUNS}")
    p.add_argument("--spark-master", default=None, help="default local[<cores>]")
    p.add_argument("--folds", default="1",
                   help="validation folds of the tuner's runs: a number, or 'auto' (the library's default); "
                        "default 1, the study's one holdout window (the baseline always uses one)")
    p.add_argument("--full", action="store_true", help="the published size: 1,416 x 2,330 days, 20 trials, patience 5")
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--fresh", action="store_true",
                   help="each run in its own new Python process, so that every run pays its imports and "
                        "worker start-up (what a user's first fit pays)")
    args = p.parse_args(argv)
    if args.full:
        args.series, args.days, args.trials, args.patience = 1416, 2330, 20, 5
    args.spark_master = args.spark_master or f"local[{len(os.sched_getaffinity(0))}]"
    if args.folds != "auto" and not (args.folds.isdigit() and int(args.folds) >= 1):
        p.error(f"--folds must be a whole number >= 1 or 'auto', got {args.folds!r}")
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = [r for r in runs if r not in ALL_RUNS]
    if unknown:
        p.error(f"unknown runs {unknown}; choose from {ALL_RUNS}")
    bench = Bench(args)
    print(f"{args.series} series x {args.days} days, {args.trials} trials, patience {args.patience}, folds {args.folds}, "
          f"holidays {args.holidays}, {bench.cores} cores{', each run in a fresh process' if args.fresh else ''}",
          flush=True)
    for name in runs:
        if args.fresh:
            bench.rows.extend(run_fresh(args, name))
        else:
            bench.run(name)
    os.makedirs(args.out, exist_ok=True)
    meta = {"machine": {"cores": bench.cores, "python": platform.python_version(), "platform": platform.platform()},
            "args": vars(args), "runs": bench.rows}
    with open(os.path.join(args.out, "bench.json"), "w") as fh:
        json.dump(meta, fh, indent=2)
    chart(bench.rows, os.path.join(args.out, "bench.png"))
    base = next((r for r in bench.rows if r["run"].startswith("baseline (")), None)
    print("\n| run | wall s | startup s | CPU util | trials/s | core-s/series | median best loss | driver peak MB "
          "| speed-up vs baseline |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in bench.rows:
        ratio = f"{base['wall_s'] / r['wall_s']:.1f}x" if base else "-"
        print(f"| {r['run']} | {r['wall_s']} | {r['startup_s']} | {r['cpu_util']:.0%} | {r['trials_per_s']} | "
              f"{r['core_s_per_series']} | {r['median_best_loss']} | {r['driver_peak_mb']} | {ratio} |")


if __name__ == "__main__":
    main()
