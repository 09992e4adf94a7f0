"""Accuracy on real data: the tuner against untuned Prophet, on held-out periods.

Reads Prophet's example data sets from ``../shared/data`` beside the repository root (or
``--data``) at run time; nothing is copied into the project. For each data set, the last
``horizon`` steps of every series are held out, everything before them is the history, and each
method forecasts the held-out dates from the history alone:

- ``prophet``: untuned ``Prophet()`` per series (clipped at 0 where the history has no
  negative value, like the tuner's default, so that clipping is not what wins);
- ``seasonal_naive``: the value one season earlier (season length from the frequency);
- ``tuned``: ``GroupedProphetTuner`` with nothing set but ``group_cols``, ``horizon``,
  ``metric``, ``random_state`` (and ``n_trials``);
- ``tuned_paper``: the same with ``search_space="paper"``;
- ``auto_ets``: statsforecast's AutoETS, when statsforecast is installed.

Prints per data set the mean and median MAE over series, and on how many series the tuner
beats untuned Prophet. ``make accuracy`` runs it; ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"


# ------------------------------------------------------------------ data sets
def _online_retail(folder: Path) -> pd.DataFrame:
    df = pd.read_csv(folder / "example_online_retail_multivariate.csv")
    return df.rename(columns={"item": "unique_id"})[["unique_id", "ds", "y"]]


def _single(name: str) -> Callable[[Path], pd.DataFrame]:
    def load(folder: Path) -> pd.DataFrame:
        df = pd.read_csv(folder / name)
        df.insert(0, "unique_id", name.removeprefix("example_").removesuffix(".csv"))
        return df[["unique_id", "ds", "y"]]

    return load


def _pedestrians(folder: Path) -> pd.DataFrame:
    df = pd.read_csv(folder / "example_pedestrians_multivariate.csv")
    return df.melt(id_vars="ds", var_name="unique_id", value_name="y")[["unique_id", "ds", "y"]]


def _m5(folder: Path) -> pd.DataFrame:
    sales = pd.read_csv(folder / "m5_subset" / "sales_train_validation.csv")
    calendar = pd.read_csv(folder / "m5_subset" / "calendar.csv", usecols=["date", "d"])
    days = [c for c in sales.columns if c.startswith("d_")]
    long = sales.melt(id_vars="id", value_vars=days, var_name="d", value_name="y")
    long = long.merge(calendar, on="d").rename(columns={"id": "unique_id", "date": "ds"})
    return long[["unique_id", "ds", "y"]]


#: name -> (loader, horizon in steps, pandas frequency, season length, how to fill gaps for ETS)
DATASETS: dict[str, tuple[Callable[[Path], pd.DataFrame], int, str, int, str]] = {
    "online_retail": (_online_retail, 28, "D", 7, "zero"),
    "m5_subset": (_m5, 28, "D", 7, "zero"),
    "peyton_manning": (_single("example_wp_log_peyton_manning.csv"), 90, "D", 7, "interpolate"),
    "retail_sales": (_single("example_retail_sales.csv"), 12, "MS", 12, "interpolate"),
    "air_passengers": (_single("example_air_passengers.csv"), 12, "MS", 12, "interpolate"),
    "pedestrians": (_pedestrians, 48, "h", 24, "interpolate"),
}


def split(df: pd.DataFrame, horizon: int, freq: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """History and held-out rows: the last ``horizon`` steps of the data set are held out."""
    df = df.assign(ds=pd.to_datetime(df["ds"])).sort_values(["unique_id", "ds"]).reset_index(drop=True)
    cutoff = df["ds"].max() - pd.tseries.frequencies.to_offset(freq) * horizon
    train, test = df[df["ds"] <= cutoff], df[df["ds"] > cutoff]
    keep = set(test["unique_id"]) & set(train["unique_id"])
    return (train[train["unique_id"].isin(keep)].reset_index(drop=True),
            test[test["unique_id"].isin(keep)].reset_index(drop=True))


def clip_where_nonnegative(train: pd.DataFrame, fc: pd.DataFrame) -> pd.DataFrame:
    """Clip ``yhat`` at 0 for the series whose history has no negative value."""
    nonneg = train.groupby("unique_id")["y"].min() >= 0
    mask = fc["unique_id"].map(nonneg).fillna(False).to_numpy(bool)
    fc = fc.copy()
    fc.loc[mask, "yhat"] = fc.loc[mask, "yhat"].clip(lower=0)
    return fc


# ------------------------------------------------------------------ methods
def untuned_prophet(train: pd.DataFrame, test: pd.DataFrame, freq: str, season: int, fill: str,
                    **_: Any) -> pd.DataFrame:
    from prophet import Prophet

    parts = []
    for uid, hist in train.groupby("unique_id"):
        model = Prophet().fit(hist[["ds", "y"]])
        dates = test.loc[test["unique_id"] == uid, ["ds"]].reset_index(drop=True)
        parts.append(dates.assign(unique_id=uid, yhat=model.predict(dates)["yhat"].to_numpy()))
    return clip_where_nonnegative(train, pd.concat(parts, ignore_index=True))


def seasonal_naive(train: pd.DataFrame, test: pd.DataFrame, freq: str, season: int, fill: str,
                   **_: Any) -> pd.DataFrame:
    offset = pd.tseries.frequencies.to_offset(freq)
    parts = []
    for uid, hist in train.groupby("unique_id"):
        values = dict(zip(hist["ds"], hist["y"]))
        last = hist["ds"].max()
        dates = test.loc[test["unique_id"] == uid, "ds"]
        yhat = []
        for d in dates:
            k, value = 1, None
            while value is None and d - offset * (season * k) >= hist["ds"].min():
                back = d - offset * (season * k)
                value = values.get(back) if back <= last else None
                k += 1
            yhat.append(hist["y"].iloc[-1] if value is None else value)
        parts.append(pd.DataFrame({"unique_id": uid, "ds": dates.to_numpy(), "yhat": yhat}))
    return pd.concat(parts, ignore_index=True)


def tuner(train: pd.DataFrame, test: pd.DataFrame, freq: str, season: int, fill: str, horizon: int,
          n_trials: int, **params: Any) -> pd.DataFrame:
    from prophet_grouped import GroupedProphetTuner

    model = GroupedProphetTuner(group_cols="unique_id", horizon=horizon, metric="mae", random_state=0,
                                n_trials=n_trials, verbose=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(train)
    fc = model.predict(test[["unique_id", "ds"]])
    return fc[["unique_id", "ds", "yhat"]]


def auto_ets(train: pd.DataFrame, test: pd.DataFrame, freq: str, season: int, fill: str,
             horizon: int, **_: Any) -> pd.DataFrame:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    offset = pd.tseries.frequencies.to_offset(freq)
    grids = []
    for uid, hist in train.groupby("unique_id"):
        grid = pd.date_range(hist["ds"].min(), train["ds"].max(), freq=offset)
        series = hist.set_index("ds")["y"].reindex(grid)
        series = series.fillna(0.0) if fill == "zero" else series.interpolate().bfill()
        grids.append(pd.DataFrame({"unique_id": uid, "ds": grid, "y": series.to_numpy()}))
    sf = StatsForecast(models=[AutoETS(season_length=season)], freq=offset, n_jobs=1)
    steps = int(len(pd.date_range(train["ds"].max(), test["ds"].max(), freq=offset)) - 1)
    fc = sf.forecast(df=pd.concat(grids, ignore_index=True), h=max(steps, 1))
    fc = fc.reset_index() if "unique_id" not in fc.columns else fc
    fc = test[["unique_id", "ds"]].merge(fc.rename(columns={"AutoETS": "yhat"}), on=["unique_id", "ds"], how="left")
    return clip_where_nonnegative(train, fc[["unique_id", "ds", "yhat"]])


def per_series_mae(test: pd.DataFrame, fc: pd.DataFrame) -> pd.Series:
    merged = test.merge(fc, on=["unique_id", "ds"], how="left")
    if merged["yhat"].isna().any():
        raise RuntimeError(f"{int(merged['yhat'].isna().sum())} held-out rows have no forecast")
    return merged.assign(err=(merged["y"] - merged["yhat"]).abs()).groupby("unique_id")["err"].mean()


def statsforecast_available() -> bool:
    try:
        import statsforecast  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the data sets (default: %(default)s)")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated names (default: all)")
    parser.add_argument("--trials", type=int, default=20, help="trials per series for the tuners (default: %(default)s)")
    parser.add_argument("--methods", default="prophet,seasonal_naive,tuned,tuned_paper,auto_ets")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    logging.getLogger("cmdstanpy").disabled = True
    logging.getLogger("prophet").setLevel(logging.ERROR)
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)
    if not args.data.is_dir():
        print(f"accuracy: skipped, the data folder {args.data} is missing (give --data FOLDER).")
        return 0
    methods: dict[str, Callable[..., pd.DataFrame]] = {
        "prophet": untuned_prophet,
        "seasonal_naive": seasonal_naive,
        "tuned": tuner,
        "tuned_paper": lambda *a, **k: tuner(*a, **k, search_space="paper"),
        "auto_ets": auto_ets,
    }
    wanted = [m for m in args.methods.split(",") if m]
    if "auto_ets" in wanted and not statsforecast_available():
        print("accuracy: statsforecast is not installed, so AutoETS is left out (pip install statsforecast).")
        wanted.remove("auto_ets")
    report: dict[str, Any] = {}
    for name in args.datasets.split(","):
        load, horizon, freq, season, fill = DATASETS[name]
        train, test = split(load(args.data), horizon, freq)
        errors: dict[str, pd.Series] = {}
        seconds: dict[str, float] = {}
        for method in wanted:
            start = time.perf_counter()
            fc = methods[method](train, test, freq=freq, season=season, fill=fill, horizon=horizon,
                                 n_trials=args.trials)
            seconds[method] = time.perf_counter() - start
            errors[method] = per_series_mae(test, fc)
        n = train["unique_id"].nunique()
        print(f"\n{name}: {n} series, last {horizon} steps ({freq}) held out, MAE")
        print(f"  {'method':<16}{'mean':>12}{'median':>12}{'beats prophet':>16}{'seconds':>10}")
        rows = {}
        for method, err in errors.items():
            wins = int((err < errors["prophet"]).sum()) if "prophet" in errors and method != "prophet" else None
            rows[method] = {"mean": float(err.mean()), "median": float(err.median()), "wins": wins,
                            "n": int(len(err)), "seconds": seconds[method]}
            shown = "" if wins is None else f"{wins}/{len(err)}"
            print(f"  {method:<16}{err.mean():>12.4g}{err.median():>12.4g}{shown:>16}{seconds[method]:>10.1f}")
        report[name] = rows
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
