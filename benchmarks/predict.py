"""Predict speed: the fast predictor against Prophet's predict, per group and for a tuner.

Fits ``--fitted`` groups of ``--days`` days (untuned configuration, US holidays), then
measures, side by side in this run:

1. per group: ``Prophet.predict`` (1,000 interval samples, ``--periods`` dates) against
   ``fastpredict.predict`` on the same models;
2. a tuner holding ``--groups`` groups (the fitted models repeated under new keys: predict's
   cost does not depend on which model a group has): ``predict`` of ``--periods`` days for
   every group with ``n_jobs=1`` and ``n_jobs=-1``, against the previous predict (serial
   ``Prophet.predict`` per group, timed on ``--baseline-groups`` groups and scaled to all).

With ``--end-to-end``: ``forecast(periods=90)`` of ``--groups`` generated groups of ``--days``
days with ``make bench``'s settings (the "paper" space, 20 trials, early stopping after 5, US
holidays, one validation window), tuned, refit and forecast in one pass: wall time and the
driver's peak memory (compare with ``python benchmarks/bench.py --full --runs local`` of an older
commit, which tunes only).

    python benchmarks/predict.py                      # 1,416 groups x 2,330 days, 90 days ahead
    python benchmarks/predict.py --groups 200 --baseline-groups 200
    python benchmarks/predict.py --end-to-end         # the full published size, tune + forecast
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import pandas as pd

from prophet_grouped import GroupedProphetTuner, fastpredict, make_retail_sales
from prophet_grouped.models import ModelStore, dump_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=1416, help="groups to predict (default: %(default)s)")
    parser.add_argument("--days", type=int, default=2330, help="history days per group (default: %(default)s)")
    parser.add_argument("--periods", type=int, default=90, help="days to forecast (default: %(default)s)")
    parser.add_argument("--fitted", type=int, default=8, help="distinct fitted models (default: %(default)s)")
    parser.add_argument("--baseline-groups", type=int, default=150,
                        help="groups the serial Prophet.predict baseline is timed on, scaled to --groups "
                             "(default: %(default)s)")
    parser.add_argument("--end-to-end", action="store_true", help="tune, refit and forecast in one pass")
    args = parser.parse_args(argv)
    logging.getLogger("cmdstanpy").disabled = True
    if args.end_to_end:
        end_to_end(args)
        return

    df = make_retail_sales(n_stores=2, n_items=-(-args.fitted // 2), periods=args.days, seed=0)
    tuner = GroupedProphetTuner(group_cols=["store", "item"], n_trials=1, cv_folds=1, holidays_country="US",
                                random_state=0).fit(df)
    fitted = list(tuner.models_.values())
    future = fitted[0].make_future_dataframe(periods=args.periods, include_history=False)

    # 1. Per group, the same models, one after the other.
    prophet_s, fast_s = [], []
    for _ in range(3):
        for model in fitted:
            start = time.perf_counter()
            model.predict(future)
            prophet_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            fastpredict.predict(model, future, np.random.default_rng(0))
            fast_s.append(time.perf_counter() - start)
    p_ms, f_ms = 1e3 * np.median(prophet_s), 1e3 * np.median(fast_s)
    print(f"per group ({args.days} days of history, {args.periods} dates, 1,000 samples), median of "
          f"{len(prophet_s)}: Prophet.predict {p_ms:.1f} ms, fast predictor {f_ms:.1f} ms: {p_ms / f_ms:.1f}x")

    # 2. A tuner with --groups groups.
    keys = [(g, 0) for g in range(args.groups)]
    trials = next(iter(tuner.trials_.values()))
    records = [dump_model(model) for model in fitted]
    tuner.models_ = ModelStore()
    for i, key in enumerate(keys):
        tuner.models_.add(key, records[i % len(records)])
    tuner.trials_ = {key: trials for key in keys}
    # Every model's history ends on the same day: each group's next --periods days.
    frame = pd.DataFrame({"store": np.repeat([k[0] for k in keys], len(future)), "item": 0,
                          "ds": np.tile(future["ds"].to_numpy(), len(keys))})
    base = keys[: args.baseline_groups]
    start = time.perf_counter()
    for key in base:
        tuner.models_[key].predict(frame.loc[(frame["store"] == key[0]), ["ds"]])
    baseline = (time.perf_counter() - start) / len(base) * len(keys)
    print(f"tuner predict of {len(keys)} groups x {args.periods} days:")
    print(f"  previous predict (serial Prophet.predict, timed on {len(base)} groups, scaled): {baseline:.1f} s")
    # n_jobs=-1 twice: first as after a fit (no predict worker started yet: the fit's workers
    # are another pool), then again with the workers up, if the first call started them.
    for n_jobs, label in ((1, "n_jobs=1"), (-1, "n_jobs=-1 (default), first call"), (-1, "n_jobs=-1, again")):
        tuner.set_params(n_jobs=n_jobs)
        start = time.perf_counter()
        out = tuner.predict(frame)
        wall = time.perf_counter() - start
        assert len(out) == len(frame) and out["yhat"].notna().all()
        print(f"  predict {label}: {wall:.2f} s: {baseline / wall:.1f}x")


def end_to_end(args: argparse.Namespace) -> None:
    import resource

    from bench import make_data

    df = make_data(args.groups, args.days)
    tuner = GroupedProphetTuner(group_cols=["store", "item"], n_trials=20, early_stopping_rounds=5, horizon=90,
                                holidays_country="US", random_state=0, metric="smape", search_space="paper",
                                cv_folds=1, verbose=0)
    start = time.perf_counter()
    fc = tuner.forecast(df, periods=args.periods)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n_trials = int(tuner.results_["n_trials"].sum())
    print(f"forecast(periods={args.periods}) of {args.groups} groups x {args.days} days: {wall:.1f} s "
          f"({n_trials} trials, {len(fc)} forecast rows, {int((tuner.results_['status'] == 'ok').sum())} ok), "
          f"driver peak {peak:.0f} MB")


if __name__ == "__main__":
    pd.set_option("display.width", 120)
    main()
