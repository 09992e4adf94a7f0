"""``python -m prophet_grouped.demo``: tune a few synthetic groups locally and print the results."""

from __future__ import annotations

import time

import pandas as pd

from . import GroupedProphetTuner, make_retail_sales


def main() -> None:
    """Generate 2 stores x 3 items of daily sales, tune each group, print results and forecasts."""
    df = make_retail_sales(n_stores=2, n_items=3, periods=730, seed=0)
    print(f"Data: {len(df):,} rows, {df.groupby(['store', 'item']).ngroups} groups (store x item)\n")
    tuner = GroupedProphetTuner(
        group_cols=["store", "item"], n_trials=10, early_stopping_rounds=5, horizon=60, random_state=0
    )
    start = time.perf_counter()
    tuner.fit(df)
    print(f"Tuned on backend={tuner.backend!r}, engine={tuner.engine_!r} in {time.perf_counter() - start:.1f} s\n")
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.precision", 3):
        print("Per-group results:")
        print(tuner.results_.to_string(index=False))
        print("\nBest parameters:")
        print(tuner.best_params_.to_string(index=False))
        forecast = tuner.predict(tuner.make_future_dataframe(periods=14))
        print("\nForecast, first 3 days of each group:")
        print(forecast.groupby(["store", "item"]).head(3).to_string(index=False))


if __name__ == "__main__":
    main()
