"""The weekly loop: warm start and champion-challenger against cold refits, side by side.

Generated retail groups (``make_retail_sales``) are tuned once with ``--trials`` (30) trials on
their history up to four weeks ago ("run 1"), then again on the full history:

- cold, ``--trials`` trials (what a weekly job does today);
- cold and warm-started from run 1, with each budget of ``--warm-trials`` (10, 15, 20);
- warm-started from run 1 with run 1 as champion, the first budget.

Every fit uses the library's defaults (the "auto" space, its validation folds) without early
stopping, so that each runs exactly its trial budget. Prints the median validation loss over
groups, how many groups reach the cold fit's loss, wall time and trials, and how many groups
kept their champion.

The last ``--holdout`` days (28: the weeks until the next run) are kept from every fit: each
fit's forecast of them is scored with the same metric (sMAPE), the median over groups printed
beside the validation loss. The validation loss is the minimum over a study's trials on its
folds, so more trials lower it by selection alone; the held-out loss says whether the forecast
got better.

With ``--dataset online_retail`` (or ``m5_subset``) the groups are a real data set read from
``../shared/data`` beside the repository (skipped with a message when it is missing) instead of
generated ones.

    python benchmarks/retrain.py
    python benchmarks/retrain.py --stores 2 --items 5 --days 600
    python benchmarks/retrain.py --dataset online_retail
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from prophet_grouped import GroupedProphetTuner, make_retail_sales
from prophet_grouped.metrics import resolve_metric, score


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", type=int, default=4, help="stores (default: %(default)s)")
    parser.add_argument("--items", type=int, default=5, help="items per store (default: %(default)s)")
    parser.add_argument("--days", type=int, default=730, help="history days at run 1 (default: %(default)s)")
    parser.add_argument("--weeks", type=int, default=4, help="weeks between the runs (default: %(default)s)")
    parser.add_argument("--trials", type=int, default=30, help="trials of run 1 and of the cold refit (default: %(default)s)")
    parser.add_argument("--warm-trials", default="10,15,20",
                        help="comma-separated trial budgets of the warm refits; the first is also run cold and "
                             "with a champion (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="data seed (default: %(default)s)")
    parser.add_argument("--holdout", type=int, default=28,
                        help="days after the refit's history kept from every fit and forecast by each; 0: none "
                             "(default: %(default)s)")
    parser.add_argument("--dataset", default=None, help="a real data set of benchmarks/accuracy.py instead of "
                                                        "generated data: online_retail or m5_subset")
    args = parser.parse_args(argv)
    logging.getLogger("cmdstanpy").disabled = True

    gap = 7 * args.weeks
    if args.dataset:
        sys.path.insert(0, str(Path(__file__).parent))
        from accuracy import DATASETS, DEFAULT_DATA

        if not DEFAULT_DATA.is_dir():
            print(f"skipped: no data folder at {DEFAULT_DATA}")
            return
        df = DATASETS[args.dataset][0](DEFAULT_DATA)
        df["ds"] = pd.to_datetime(df["ds"])
        group_cols = ["unique_id"]
    else:
        df = make_retail_sales(n_stores=args.stores, n_items=args.items, periods=args.days + gap + args.holdout,
                               seed=args.seed)
        group_cols = ["store", "item"]
    end = df["ds"].max() - pd.Timedelta(days=args.holdout)
    df, held_out = df[df["ds"] <= end], df[df["ds"] > end]
    then = df[df["ds"] <= df["ds"].max() - pd.Timedelta(days=gap)]
    settings = dict(group_cols=group_cols, early_stopping_rounds=None, verbose=0)
    groups = df.groupby(group_cols).ngroups
    print(f"{groups} groups of {args.dataset or 'generated data'}, run 1 on the history up to {then['ds'].max().date()}, "
          f"refit {args.weeks} weeks later" + (f", the {args.holdout} days after it held out" if args.holdout else ""))

    start = time.perf_counter()
    first = GroupedProphetTuner(n_trials=args.trials, random_state=0, **settings).fit(then)
    print(f"run 1: {args.trials} trials, {time.perf_counter() - start:.1f} s")

    budgets = [int(b) for b in args.warm_trials.split(",")]
    runs = {
        f"cold, {args.trials} trials": dict(n_trials=args.trials),
        **{f"{kind}, {b} trials": dict(n_trials=b, **extra) for b in budgets
           for kind, extra in (("cold", {}), ("warm start", {"warm_start": first}))},
        f"warm start + champion, {budgets[0]} trials": dict(n_trials=budgets[0], warm_start=first, champion=first),
    }
    fitted, walls = {}, {}
    for name, extra in runs.items():
        start = time.perf_counter()
        fitted[name] = GroupedProphetTuner(random_state=1, **settings, **extra).fit(df)
        walls[name] = time.perf_counter() - start
    cold = next(iter(fitted.values())).results_.set_index(group_cols)["best_score"]
    print(f"\n| run | median validation loss | groups at or below the cold {args.trials}-trial loss | "
          f"median held-out loss | trials | groups given the previous trials | wall s |")
    print("|---|---|---|---|---|---|---|")
    for name, tuner in fitted.items():
        results = tuner.results_.set_index(group_cols)
        score = results["best_score"]
        given = f"{int((results['prior_trials'] > 0).sum())} of {len(score)}" if "warm" in name else "-"
        print(f"| {name} | {np.median(score):.4f} | {int((score <= cold + 1e-12).sum())} of {len(score)} | "
              f"{held_out_loss(tuner, held_out, group_cols)} | {int(results['n_trials'].sum())} | {given} | "
              f"{walls[name]:.1f} |")
    last = fitted[list(runs)[-1]].results_
    kept = int((last["promoted"] == False).sum())
    print(f"\nchampion-challenger: {kept} of {len(last)} groups kept their champion's parameters "
          f"({int(last['promoted'].sum())} promoted)")
    for b in budgets:
        warm = fitted[f"warm start, {b} trials"].results_["best_score"]
        verdict = "reaches" if np.median(warm) <= np.median(cold) else "does NOT reach"
        print(f"warm start with {b} trials {verdict} the median loss of the cold {args.trials}-trial fit "
              f"({np.median(warm):.6g} vs {np.median(cold):.6g})")


def held_out_loss(tuner: GroupedProphetTuner, held_out: pd.DataFrame, group_cols: list[str]) -> str:
    """The median over groups of the tuner's metric on its forecast of ``held_out`` ("-" when
    nothing is held out)."""
    if held_out.empty:
        return "-"
    forecast = tuner.predict(held_out[[*group_cols, "ds"]]).merge(held_out, on=[*group_cols, "ds"])
    losses = [score(resolve_metric(tuner.metric), rows["y"].to_numpy(), rows["yhat"].to_numpy())
              for _, rows in forecast.groupby(group_cols)]
    return f"{np.median(losses):.4f}"


if __name__ == "__main__":
    main()
