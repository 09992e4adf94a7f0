"""Held-out accuracy with and without the retail drivers (price, promotion) as regressors.

Generated data whose sales respond to price cuts and promotions
(``make_retail_sales(covariates=True)``); each group's last ``--holdout`` days are held out
with their known prices and promotions, as a planner knows them. Prints the mean absolute
error over every held-out point for untuned Prophet, the tuner without regressors and the
tuner with ``regressor_cols=["price", "promo"]``, per engine and backend, side by side.

    python benchmarks/drivers.py                       # local backend, both engines
    python benchmarks/drivers.py --backends local,spark,ray --engines batch
    python benchmarks/drivers.py --days 730   # held-out weeks in the generated December peaks
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd

from prophet_grouped import GroupedProphetTuner, make_retail_sales


def untuned_prophet_mae(history: pd.DataFrame, future: pd.DataFrame, truth: pd.Series) -> float:
    """Plain Prophet() per group (no regressors), the planner's baseline."""
    from prophet import Prophet

    errors = []
    for key, part in history.groupby(["store", "item"]):
        model = Prophet().fit(part[["ds", "y"]])
        rows = (future["store"] == key[0]) & (future["item"] == key[1])
        yhat = model.predict(future.loc[rows, ["ds"]])["yhat"].to_numpy()
        errors.append(np.abs(yhat - truth[rows].to_numpy()))
    return float(np.mean(np.concatenate(errors)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", type=int, default=3)
    parser.add_argument("--items", type=int, default=4)
    parser.add_argument("--days", type=int, default=640,
                        help="days per group (default: %(default)s: the held-out weeks end before the generated "
                             "December peaks, which no model here is told about)")
    parser.add_argument("--holdout", type=int, default=56, help="held-out days per group (default: %(default)s)")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--backends", default="local", help="comma-separated: local, spark, ray")
    parser.add_argument("--engines", default="batch,stan", help="comma-separated: batch, stan")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    # Spark's Python workers and Ray's `ray` command must come from this environment.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

    df = make_retail_sales(n_stores=args.stores, n_items=args.items, periods=args.days, seed=args.seed,
                           covariates=True, intermittent_share=0.0)
    cut = df["ds"].max() - pd.Timedelta(days=args.holdout)
    history = df[df["ds"] <= cut].reset_index(drop=True)
    held = df[df["ds"] > cut].reset_index(drop=True)
    future, truth = held.drop(columns="y"), held["y"]
    n_groups = args.stores * args.items
    print(f"{n_groups} groups x {args.days} days, last {args.holdout} held out; MAE over {len(held)} points")
    base = untuned_prophet_mae(history, future, truth)
    print(f"{'untuned Prophet()':<40} {base:8.3f}")
    import warnings

    warnings.filterwarnings("ignore", message="Spark session is not provided")
    for backend in args.backends.split(","):
        for engine in args.engines.split(","):
            maes = {}
            for label, regressors in (("without", None), ("with", ["price", "promo"])):
                start = time.perf_counter()
                tuner = GroupedProphetTuner(group_cols=["store", "item"], n_trials=args.trials, random_state=0,
                                            regressor_cols=regressors, backend=backend, engine=engine,
                                            verbose=0).fit(history)
                seconds = time.perf_counter() - start
                yhat = tuner.predict(future)["yhat"].to_numpy()
                maes[label] = float(np.mean(np.abs(yhat - truth.to_numpy())))
                print(f"{f'tuned, {backend}, {engine}, {label} regressors':<40} {maes[label]:8.3f}   ({seconds:.0f} s)")
            print(f"{'':<40} with/without = {maes['with'] / maes['without']:.2f}, "
                  f"with/untuned Prophet = {maes['with'] / base:.2f}")


if __name__ == "__main__":
    main()
