"""What regressors cost the tuning: Rossmann's stores with and without their regressors.

Issue 32 measured tuning 30 Rossmann stores (20 trials, 3 folds, 42 days ahead) 3.89x slower
with Promo, SchoolHoliday and a state-holiday flag as regressors than without. This runs both
fits side by side in one process, alternating (``--runs`` times each), on the data set
``benchmarks/accuracy.py`` reads (open days only, the last 42 days held out), and prints per
fit: wall time, trials, fold fits the engine could not serve from cached features
(``n_uncached_fits``), and the ratio of the medians.

    python benchmarks/regressors.py                 # 30 stores, 20 trials, 2 runs each
    python benchmarks/regressors.py --stores 10 --runs 1

Needs ``../shared/data`` beside the repository root (``--data``); says so and stops without it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy import DEFAULT_DATA, _rossmann, split

from prophet_grouped import GroupedProphetTuner


def fit(train, regressors: list[str], trials: int) -> dict:
    params = {"group_cols": "unique_id", "horizon": 42, "n_trials": trials, "random_state": 0, "verbose": 0}
    if regressors:
        params["regressor_cols"] = regressors
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        tuner = GroupedProphetTuner(**params).fit(train)
        wall = time.perf_counter() - start
    res = tuner.results_
    return {"wall": wall, "trials": int(res["n_trials"].sum()), "uncached": int(res["n_uncached_fits"].sum())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--stores", type=int, default=30)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)
    if not (Path(args.data) / "rossmann").is_dir():
        print(f"no rossmann folder in {args.data}: nothing to measure (give --data)")
        return 0
    panel = _rossmann(Path(args.data))
    stores = sorted(panel.frame["unique_id"].unique(), key=int)[: args.stores]
    panel.frame = panel.frame[panel.frame["unique_id"].isin(stores)]
    train, _ = split(panel, 0)
    fit(train[train["unique_id"] == stores[0]], panel.regressors, 2)  # warm-up: imports, engine check
    walls: dict[str, list[float]] = {"with": [], "without": []}
    for run in range(args.runs):
        for label, regressors in (("without", []), ("with", panel.regressors)):
            out = fit(train, regressors, args.trials)
            walls[label].append(out["wall"])
            print(f"run {run + 1}, {label} regressors: {out['wall']:.1f} s, {out['trials']} trials, "
                  f"n_uncached_fits {out['uncached']}", flush=True)
    ratio = statistics.median(walls["with"]) / statistics.median(walls["without"])
    print(f"{len(stores)} stores, {args.trials} trials: with regressors {ratio:.2f}x the time without")
    return 0


if __name__ == "__main__":
    sys.exit(main())
