"""Accuracy on real data: the tuner at its defaults against the alternatives a planner weighs.

Reads the real data sets in ``../shared/data`` beside the repository root (or ``--data``) at run
time; nothing is copied into the project. For each data set and each of ``--origins`` rolling
origins (the last ``horizon`` steps held out, then the ``horizon`` steps before them, ...), every
method sees only the history up to the origin and forecasts the next ``horizon`` steps of every
series that has held-out rows there:

- ``prophet``: untuned ``Prophet()`` per series, with the same regressors and events as the tuner
  gets on that data set, clipped at 0 where the history has no negative value (as the tuner's
  default does, so that clipping is not what wins);
- ``seasonal_naive``: the value one season earlier (season length from the frequency);
- ``auto_ets``, ``auto_theta``: statsforecast's AutoETS and AutoTheta (missing steps filled as
  the data set says: 0 for sales, interpolated elsewhere), 80% intervals from their own levels;
- ``tuned``: ``GroupedProphetTuner`` at the library's defaults: only the group column, the
  horizon, the seed and the data set's regressors and events are given (``--set name=value``
  changes one parameter, to measure a candidate default);
- ``tuned_ets``: the same with ``candidates=("prophet", "ets")`` (where the library has it).

Prints per data set the mean and median MAE over series x origins, RMSSE where the set asks for
it (M5), wins against untuned Prophet, the total forecast over the total sold (bias), the
coverage of the 80% interval and seconds; then, pooled over the retail sets, the geometric mean
of the per-series MAE ratios to untuned Prophet with a 95% bootstrap interval (resampling
series). ``make accuracy`` runs it; ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
LEVEL = 80  # the interval whose coverage is measured


# ------------------------------------------------------------------ data sets
@dataclass
class Panel:
    """A data set as the methods get it: long rows (``unique_id``, ``ds``, ``y`` and the
    regressor columns), an optional events table in Prophet's format, and how to forecast it."""

    frame: pd.DataFrame
    horizon: int
    freq: str
    season: int
    fill: str  # "zero" or "interpolate": missing steps for the statsforecast models
    regressors: list[str] = field(default_factory=list)
    events: pd.DataFrame | None = None
    retail: bool = False
    rmsse: bool = False  # report the M5 competition's RMSSE too


def _online_retail(folder: Path) -> Panel:
    df = pd.read_csv(folder / "example_online_retail_multivariate.csv")
    return Panel(df.rename(columns={"item": "unique_id"})[["unique_id", "ds", "y"]], 28, "D", 7, "zero",
                 retail=True)


def _single(name: str, horizon: int, freq: str, season: int) -> Callable[[Path], Panel]:
    def load(folder: Path) -> Panel:
        df = pd.read_csv(folder / name)
        df.insert(0, "unique_id", name.removeprefix("example_").removesuffix(".csv"))
        return Panel(df[["unique_id", "ds", "y"]], horizon, freq, season, "interpolate")

    return load


def _pedestrians(folder: Path) -> Panel:
    df = pd.read_csv(folder / "example_pedestrians_multivariate.csv")
    long = df.melt(id_vars="ds", var_name="unique_id", value_name="y")[["unique_id", "ds", "y"]]
    return Panel(long, 48, "h", 24, "interpolate")


def _trim_leading_zeros(long: pd.DataFrame) -> pd.DataFrame:
    """Drop each series' days before its first sale (an item not yet on the shelf)."""
    sold = long["y"].gt(0).groupby(long["unique_id"]).cummax()
    return long[sold].reset_index(drop=True)


def _m5_events(calendar: pd.DataFrame) -> pd.DataFrame:
    parts = [calendar[["date", f"event_name_{i}"]].dropna().set_axis(["ds", "holiday"], axis=1) for i in (1, 2)]
    events = pd.concat(parts, ignore_index=True)
    return events.assign(ds=pd.to_datetime(events["ds"]))[["holiday", "ds"]]


def _m5_subset(folder: Path) -> Panel:
    sales = pd.read_csv(folder / "m5_subset" / "sales_train_validation.csv")
    calendar = pd.read_csv(folder / "m5_subset" / "calendar.csv")
    prices = pd.read_csv(folder / "m5_subset" / "sell_prices.csv")
    days = [c for c in sales.columns if c.startswith("d_")]
    long = sales.melt(id_vars=["id", "item_id", "store_id", "state_id"], value_vars=days, var_name="d", value_name="y")
    long = long.merge(calendar[["d", "date", "wm_yr_wk", "snap_CA", "snap_TX", "snap_WI"]], on="d")
    long["snap"] = [row[f"snap_{s}"] for s, row in zip(long["state_id"], long[["snap_CA", "snap_TX", "snap_WI"]]
                                                        .to_dict("records"))]
    long = long.merge(prices, on=["store_id", "item_id", "wm_yr_wk"], how="left")
    long = long.rename(columns={"id": "unique_id", "date": "ds"}).sort_values(["unique_id", "ds"])
    long["sell_price"] = long.groupby("unique_id")["sell_price"].transform(lambda p: p.ffill().bfill())
    long = _trim_leading_zeros(long)
    return Panel(long[["unique_id", "ds", "y", "sell_price", "snap"]], 28, "D", 7, "zero",
                 regressors=["sell_price", "snap"], events=_m5_events(calendar), retail=True, rmsse=True)


#: Items of the FOODS_3 sample: a fixed draw of this many, seed 0.
FOODS3_ITEMS = 100


def _m5_foods3(folder: Path) -> Panel:
    base = folder / "m5_foods3_tx3"
    wide = pd.read_csv(base / "sales_train_validation_afcs2025.csv")
    for name in ("sales_test_validation_afcs2025.csv", "sales_test_evaluation_afcs_2025.csv"):
        wide = wide.merge(pd.read_csv(base / name), on="id")
    ids = np.sort(np.random.default_rng(0).choice(wide["id"].to_numpy(), FOODS3_ITEMS, replace=False))
    wide = wide[wide["id"].isin(ids)]
    calendar = pd.read_csv(base / "calendar_afcs2025.csv")
    calendar["date"] = pd.to_datetime(calendar["date"], format="%m/%d/%Y").dt.strftime("%Y-%m-%d")
    calendar["d"] = [f"d_{k}" for k in range(1, len(calendar) + 1)]
    days = [c for c in wide.columns if c.startswith("d_")]
    long = wide.melt(id_vars="id", value_vars=days, var_name="d", value_name="y")
    long = long.merge(calendar[["d", "date", "snap_TX"]], on="d")
    long = long.rename(columns={"id": "unique_id", "date": "ds", "snap_TX": "snap"}).sort_values(["unique_id", "ds"])
    long = _trim_leading_zeros(long)
    return Panel(long[["unique_id", "ds", "y", "snap"]], 28, "D", 7, "zero", regressors=["snap"],
                 events=_m5_events(calendar), retail=True, rmsse=True)


def _rossmann(folder: Path) -> Panel:
    df = pd.read_csv(folder / "rossmann" / "train_stores_1-60.csv", dtype={"StateHoliday": str})
    df = df[(df["Store"] <= 30) & (df["Open"] == 1)]  # closed days are missing, not zero sales
    long = pd.DataFrame({
        "unique_id": df["Store"].astype(str), "ds": df["Date"], "y": df["Sales"].astype(float),
        "promo": df["Promo"].astype(float), "school_holiday": df["SchoolHoliday"].astype(float),
        "state_holiday": (df["StateHoliday"] != "0").astype(float),
    }).sort_values(["unique_id", "ds"]).reset_index(drop=True)
    return Panel(long, 42, "D", 7, "zero", regressors=["promo", "school_holiday", "state_holiday"], retail=True)


#: The Walmart series: the largest this many store x department series with every week.
WALMART_SERIES = 50


def _walmart(folder: Path) -> Panel:
    df = pd.read_csv(folder / "walmart" / "train.csv.xz")
    features = pd.read_csv(folder / "walmart" / "features.csv")
    features["markdown"] = features[[f"MarkDown{i}" for i in range(1, 6)]].fillna(0).sum(axis=1)
    df = df.merge(features[["Store", "Date", "markdown"]], on=["Store", "Date"], how="left")
    df["unique_id"] = df["Store"].astype(str) + "_" + df["Dept"].astype(str)
    weeks = df.groupby("unique_id")["Date"].transform("size")
    full = df[weeks == df["Date"].nunique()]
    largest = full.groupby("unique_id")["Weekly_Sales"].sum().nlargest(WALMART_SERIES).index
    df = full[full["unique_id"].isin(largest)]
    long = pd.DataFrame({"unique_id": df["unique_id"], "ds": df["Date"], "y": df["Weekly_Sales"],
                         "is_holiday": df["IsHoliday"].astype(float), "markdown": df["markdown"].fillna(0) / 1e4})
    return Panel(long.sort_values(["unique_id", "ds"]).reset_index(drop=True), 13, "W-FRI", 52, "interpolate",
                 regressors=["is_holiday", "markdown"], retail=True)


#: The store_item series: a fixed draw of this many of the 500, seed 0.
STORE_ITEM_SERIES = 50


def _store_item(folder: Path) -> Panel:
    df = pd.read_csv(folder / "store_item" / "train.csv.xz")
    df["unique_id"] = df["store"].astype(str) + "_" + df["item"].astype(str)
    ids = np.random.default_rng(0).choice(np.sort(df["unique_id"].unique()), STORE_ITEM_SERIES, replace=False)
    df = df[df["unique_id"].isin(ids)]
    long = pd.DataFrame({"unique_id": df["unique_id"], "ds": df["date"], "y": df["sales"].astype(float)})
    return Panel(long.sort_values(["unique_id", "ds"]).reset_index(drop=True), 28, "D", 7, "zero", retail=True)


DATASETS: dict[str, Callable[[Path], Panel]] = {
    "online_retail": _online_retail,
    "m5_subset": _m5_subset,
    "m5_foods3": _m5_foods3,
    "rossmann": _rossmann,
    "walmart": _walmart,
    "store_item": _store_item,
    "peyton_manning": _single("example_wp_log_peyton_manning.csv", 90, "D", 7),
    "retail_sales": _single("example_retail_sales.csv", 12, "MS", 12),
    "air_passengers": _single("example_air_passengers.csv", 12, "MS", 12),
    "pedestrians": _pedestrians,
}


def split(panel: Panel, origin: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """History and held-out rows of rolling origin ``origin`` (0: the last ``horizon`` steps
    held out; 1: the ``horizon`` steps before them, with everything after them dropped; ...)."""
    df = panel.frame.assign(ds=pd.to_datetime(panel.frame["ds"])).sort_values(["unique_id", "ds"])
    step = pd.tseries.frequencies.to_offset(panel.freq) * panel.horizon
    end = df["ds"].max() - step * origin
    cutoff = end - step
    train, test = df[df["ds"] <= cutoff], df[(df["ds"] > cutoff) & (df["ds"] <= end)]
    keep = set(test["unique_id"]) & set(train["unique_id"])
    return (train[train["unique_id"].isin(keep)].reset_index(drop=True),
            test[test["unique_id"].isin(keep)].reset_index(drop=True))


def clip_where_nonnegative(train: pd.DataFrame, fc: pd.DataFrame) -> pd.DataFrame:
    """Clip the forecast columns at 0 for the series whose history has no negative value."""
    nonneg = train.groupby("unique_id")["y"].min() >= 0
    mask = fc["unique_id"].map(nonneg).fillna(False).to_numpy(bool)
    fc = fc.copy()
    for col in ("yhat", "yhat_lower", "yhat_upper"):
        if col in fc.columns:
            fc.loc[mask, col] = fc.loc[mask, col].clip(lower=0)
    return fc


# ------------------------------------------------------------------ methods
def _prophet_one(uid: Any, hist: pd.DataFrame, future: pd.DataFrame, regressors: list[str],
                 events: pd.DataFrame | None) -> pd.DataFrame:
    logging.getLogger("cmdstanpy").disabled = True
    logging.getLogger("prophet").setLevel(logging.ERROR)
    from prophet import Prophet

    model = Prophet(holidays=events)
    for col in regressors:
        if hist[col].nunique() > 1:
            model.add_regressor(col)
    model.fit(hist)
    np.random.seed(0)
    fc = model.predict(future)
    return pd.DataFrame({"unique_id": uid, "ds": future["ds"].to_numpy(), "yhat": fc["yhat"].to_numpy(),
                         "yhat_lower": fc["yhat_lower"].to_numpy(), "yhat_upper": fc["yhat_upper"].to_numpy()})


def untuned_prophet(train: pd.DataFrame, test: pd.DataFrame, panel: Panel, **_: Any) -> pd.DataFrame:
    from joblib import Parallel, delayed

    cols = ["ds", "y", *panel.regressors]
    futures = {uid: part[["ds", *panel.regressors]].reset_index(drop=True) for uid, part in test.groupby("unique_id")}
    parts = Parallel(n_jobs=-1)(
        delayed(_prophet_one)(uid, hist[cols], futures[uid], panel.regressors, panel.events)
        for uid, hist in train.groupby("unique_id")
    )
    return clip_where_nonnegative(train, pd.concat(parts, ignore_index=True))


def seasonal_naive(train: pd.DataFrame, test: pd.DataFrame, panel: Panel, **_: Any) -> pd.DataFrame:
    offset = pd.tseries.frequencies.to_offset(panel.freq)
    parts = []
    for uid, hist in train.groupby("unique_id"):
        values = dict(zip(hist["ds"], hist["y"]))
        first, last = hist["ds"].min(), hist["ds"].max()
        dates = test.loc[test["unique_id"] == uid, "ds"]
        yhat = []
        for d in dates:
            k, value = 1, None
            while value is None and d - offset * (panel.season * k) >= first:
                back = d - offset * (panel.season * k)
                value = values.get(back) if back <= last else None
                k += 1
            yhat.append(hist["y"].iloc[-1] if value is None else value)
        parts.append(pd.DataFrame({"unique_id": uid, "ds": dates.to_numpy(), "yhat": yhat}))
    return pd.concat(parts, ignore_index=True)


def tuner(train: pd.DataFrame, test: pd.DataFrame, panel: Panel, settings: dict[str, Any],
          **extra: Any) -> pd.DataFrame:
    from prophet_grouped import GroupedProphetTuner

    params: dict[str, Any] = {"group_cols": "unique_id", "horizon": panel.horizon, "random_state": 0, "verbose": 0}
    if panel.regressors:
        params["regressor_cols"] = panel.regressors
    if panel.events is not None:
        params["holidays"] = panel.events
    model = GroupedProphetTuner(**params, **settings, **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(train)
    fc = model.predict(test[["unique_id", "ds", *panel.regressors]])
    return fc[["unique_id", "ds", "yhat", "yhat_lower", "yhat_upper"]]


def _statsforecast(model_name: str) -> Callable[..., pd.DataFrame]:
    def run(train: pd.DataFrame, test: pd.DataFrame, panel: Panel, **_: Any) -> pd.DataFrame:
        import statsforecast.models
        from statsforecast import StatsForecast

        offset = pd.tseries.frequencies.to_offset(panel.freq)
        grids = []
        end = train["ds"].max()
        for uid, hist in train.groupby("unique_id"):
            grid = pd.date_range(hist["ds"].min(), end, freq=offset)
            series = hist.set_index("ds")["y"].reindex(grid)
            series = series.fillna(0.0) if panel.fill == "zero" else series.interpolate().ffill().bfill()
            grids.append(pd.DataFrame({"unique_id": uid, "ds": grid, "y": series.to_numpy()}))
        model = getattr(statsforecast.models, model_name)(season_length=panel.season)
        sf = StatsForecast(models=[model], freq=offset, n_jobs=1)
        steps = int(len(pd.date_range(end, test["ds"].max(), freq=offset)) - 1)
        fc = sf.forecast(df=pd.concat(grids, ignore_index=True), h=max(steps, 1), level=[LEVEL])
        fc = fc.reset_index() if "unique_id" not in fc.columns else fc
        fc = fc.rename(columns={model_name: "yhat", f"{model_name}-lo-{LEVEL}": "yhat_lower",
                                f"{model_name}-hi-{LEVEL}": "yhat_upper"})
        fc = test[["unique_id", "ds"]].merge(fc, on=["unique_id", "ds"], how="left")
        return clip_where_nonnegative(train, fc[["unique_id", "ds", "yhat", "yhat_lower", "yhat_upper"]])

    return run


def tuner_has(name: str) -> bool:
    from prophet_grouped import GroupedProphetTuner

    return name in inspect.signature(GroupedProphetTuner.__init__).parameters


METHODS: dict[str, Callable[..., pd.DataFrame]] = {
    "prophet": untuned_prophet,
    "seasonal_naive": seasonal_naive,
    "auto_ets": _statsforecast("AutoETS"),
    "auto_theta": _statsforecast("AutoTheta"),
    "tuned": tuner,
    "tuned_ets": lambda *a, **k: tuner(*a, **k, candidates=("prophet", "ets")),
}


# ------------------------------------------------------------------ scoring
def per_series(train: pd.DataFrame, test: pd.DataFrame, fc: pd.DataFrame, season: int) -> pd.DataFrame:
    """One row per series: MAE, RMSSE (M5's scale: the in-sample MSE of the one-step naive
    forecast), forecast and actual totals, interval hits and points."""
    merged = test[["unique_id", "ds", "y"]].merge(fc, on=["unique_id", "ds"], how="left")
    if merged["yhat"].isna().any():
        raise RuntimeError(f"{int(merged['yhat'].isna().sum())} held-out rows have no forecast")
    merged["abs"] = (merged["y"] - merged["yhat"]).abs()
    merged["sq"] = (merged["y"] - merged["yhat"]) ** 2
    has_interval = "yhat_lower" in merged.columns and merged["yhat_lower"].notna().all()
    merged["hit"] = ((merged["y"] >= merged["yhat_lower"]) & (merged["y"] <= merged["yhat_upper"])).astype(float) \
        if has_interval else np.nan
    out = merged.groupby("unique_id").agg(mae=("abs", "mean"), mse=("sq", "mean"), total_fc=("yhat", "sum"),
                                          total=("y", "sum"), hits=("hit", "sum"), n=("y", "size"))
    if not has_interval:
        out["hits"] = np.nan
    scale = train.groupby("unique_id")["y"].apply(lambda y: float(np.mean(np.diff(y.to_numpy()) ** 2)))
    out["rmsse"] = np.sqrt(out["mse"] / scale.reindex(out.index).replace(0, np.nan))
    return out.reset_index()


def geometric_ratio(rows: pd.DataFrame, method: str, rng: np.random.Generator, draws: int = 2000) -> tuple[float, float, float]:
    """Geometric mean over series of the ratio of ``method``'s MAE to untuned Prophet's (each
    series' MAE averaged over its origins; a series both forecast perfectly counts as 1, and 0.1%
    of its set's mean Prophet MAE is added to both sides so that an all-zero window can't
    dominate), with a 95% bootstrap interval over series."""
    both = rows.pivot_table(index=["set", "unique_id", "origin"], columns="method", values="mae")
    both = both[[method, "prophet"]].dropna().groupby(level=["set", "unique_id"]).mean()
    eps = 1e-3 * both["prophet"].groupby(level="set").transform("mean") + 1e-12
    logs = np.log((both[method] + eps) / (both["prophet"] + eps)).to_numpy()
    if len(logs) == 0:
        return float("nan"), float("nan"), float("nan")
    boot = rng.choice(logs, size=(draws, len(logs)), replace=True).mean(axis=1)
    return float(np.exp(logs.mean())), float(np.exp(np.quantile(boot, 0.025))), float(np.exp(np.quantile(boot, 0.975)))


def summary(rows: pd.DataFrame, seconds: dict[str, float], panel: Panel) -> pd.DataFrame:
    """Per method: mean and median MAE over series x origins, mean RMSSE, wins against untuned
    Prophet, total forecast / total sold, interval coverage, seconds."""
    out = {}
    prophet = rows[rows["method"] == "prophet"].set_index(["unique_id", "origin"])["mae"]
    for method, part in rows.groupby("method", sort=False):
        mae = part.set_index(["unique_id", "origin"])["mae"]
        wins = int((mae < prophet.reindex(mae.index)).sum()) if method != "prophet" and len(prophet) else -1
        hits = part["hits"].sum() / part["n"].sum() if part["hits"].notna().all() else float("nan")
        out[method] = {"mean": part["mae"].mean(), "median": part["mae"].median(),
                       "rmsse": part["rmsse"].mean() if panel.rmsse else float("nan"), "wins": wins,
                       "pairs": len(part), "bias": part["total_fc"].sum() / part["total"].sum(),
                       "coverage": hits, "seconds": seconds[method]}
    return pd.DataFrame(out).T


def statsforecast_available() -> bool:
    try:
        import statsforecast  # noqa: F401
    except ImportError:
        return False
    return True


def parse_settings(items: list[str]) -> dict[str, Any]:
    """``name=value`` pairs (values read as JSON where they parse, else as text)."""
    settings = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            settings[name] = json.loads(value)
        except json.JSONDecodeError:
            settings[name] = value
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the data sets (default: %(default)s)")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated names (default: all)")
    parser.add_argument("--origins", type=int, default=3, help="rolling origins per data set (default: %(default)s)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated (default: all there are)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a tuner parameter other than its default (JSON value), e.g. --set n_trials=20")
    parser.add_argument("--verbose", action="store_true", help="print each method's time as it finishes")
    parser.add_argument("--json", type=Path, default=None, help="also write every per-series row to this JSON file")
    args = parser.parse_args(argv)
    logging.getLogger("cmdstanpy").disabled = True
    logging.getLogger("prophet").setLevel(logging.ERROR)
    if not args.data.is_dir():
        print(f"accuracy: skipped, the data folder {args.data} is missing (give --data FOLDER).")
        return 0
    settings = parse_settings(args.set)
    wanted = [m for m in args.methods.split(",") if m]
    if not statsforecast_available():
        for name in ("auto_ets", "auto_theta"):
            if name in wanted:
                print(f"accuracy: statsforecast is not installed, so {name} is left out (pip install statsforecast).")
                wanted.remove(name)
    if "tuned_ets" in wanted and not tuner_has("candidates"):
        print("accuracy: this version of the library has no ETS challenger, so tuned_ets is left out.")
        wanted.remove("tuned_ets")
    print(f"tuner settings other than the defaults: {settings or 'none'}")
    all_rows = []
    report: dict[str, Any] = {}
    for name in args.datasets.split(","):
        try:
            panel = DATASETS[name](args.data)
        except FileNotFoundError as exc:
            print(f"\n{name}: skipped, {exc}")
            continue
        seconds = dict.fromkeys(wanted, 0.0)
        rows = []
        for origin in range(args.origins):
            train, test = split(panel, origin)
            for method in wanted:
                start = time.perf_counter()
                fc = METHODS[method](train, test, panel=panel, settings=settings)
                seconds[method] += time.perf_counter() - start
                if args.verbose:
                    print(f"  ({name}, origin {origin}, {method}: {time.perf_counter() - start:.1f} s)", flush=True)
                scored = per_series(train, test, fc, panel.season)
                rows.append(scored.assign(set=name, method=method, origin=origin))
        rows_df = pd.concat(rows, ignore_index=True)
        all_rows.append(rows_df.assign(retail=panel.retail))
        table = summary(rows_df, seconds, panel)
        n = rows_df["unique_id"].nunique()
        print(f"\n{name}: {n} series x {args.origins} origins, {panel.horizon} steps ({panel.freq}) ahead; "
              f"regressors: {', '.join(panel.regressors) or 'none'}; events: {'yes' if panel.events is not None else 'no'}")
        print(f"  {'method':<15}{'mean MAE':>11}{'median':>11}{'RMSSE':>8}{'wins':>9}{'bias':>7}{'cover':>7}{'seconds':>9}")
        for method, r in table.iterrows():
            wins = "" if r["wins"] < 0 else f"{int(r['wins'])}/{int(r['pairs'])}"
            print(f"  {method:<15}{r['mean']:>11.4g}{r['median']:>11.4g}{r['rmsse']:>8.3f}{wins:>9}"
                  f"{r['bias']:>7.3f}{r['coverage']:>7.3f}{r['seconds']:>9.1f}")
        report[name] = table.to_dict("index")
    if not all_rows:
        return 0
    rows = pd.concat(all_rows, ignore_index=True)
    rng = np.random.default_rng(0)
    print("\nGeometric mean of per-series MAE ratios to untuned Prophet [95% bootstrap interval]")
    for scope, part in (("retail sets", rows[rows["retail"]]), ("all sets", rows)):
        if "prophet" not in set(part["method"]):
            continue
        for method in [m for m in wanted if m != "prophet"]:
            gm, lo, hi = geometric_ratio(part, method, rng)
            print(f"  {scope:<12}{method:<15}{gm:.3f} [{lo:.3f}, {hi:.3f}]")
    if args.json:
        args.json.write_text(json.dumps({"settings": settings, "summary": report,
                                         "rows": rows.to_dict("records")}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
