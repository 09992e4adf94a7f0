"""The ``prophet-grouped`` command line: demo-data, tune, forecast, predict, plot, bench.

Exit codes: 0 done (groups that could not be tuned are listed on stderr), 1 the input or
settings were refused (the message says what to fix), 2 the command line itself is wrong.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .data import ONE_SERIES, make_retail_sales, one_series_column
from .exceptions import GroupFitWarning, InputTypeError
from .keys import group_key, key_text
from .objective import AUTO_FOLDS
from .results import history_ends
from .tables import (
    CommandError,
    check_columns,
    check_out,
    check_writable,
    read_table,
    write_table,
)


def _group_key(text: str, tuner: Any) -> tuple[Any, ...]:
    """``"1,2"`` -> the fitted group key whose values are written 1 and 2 (dates as 2024-03-01)."""
    parts = [p.strip() for p in text.split(",")]
    for key in tuner.trials_:
        if [key_text(k) for k in key] == parts:
            return key
    known = ", ".join(",".join(key_text(k) for k in key) for key in list(tuner.trials_)[:5])
    raise CommandError(
        f"--group {text}: no such group. Groups are given as values of {tuner.group_cols_} joined by "
        f"commas, e.g. {known}."
    )


def _fitted_keys(frame: pd.DataFrame, tuner: Any) -> pd.DataFrame:
    """``frame`` with its group columns' values as the fitted tuner's key values they are
    written as (a CSV's text "1" as the integer key 1 of a tuner fitted in Python)."""
    frame = frame.copy()
    for i, col in enumerate(tuner.group_cols_):
        if col in frame.columns:
            fitted = {key_text(key[i]): key[i] for key in tuner.trials_}
            frame[col] = [fitted.get(key_text(v), v) for v in frame[col]]
    return frame


def _run_tuner(folder: str | None) -> str | None:
    """The saved tuner of a run folder (``tune --out`` / ``forecast --save`` keep it in
    ``tuner/``), or ``folder`` itself when it is a saved tuner."""
    if folder is None:
        return None
    inner = os.path.join(folder, "tuner")
    return inner if os.path.isdir(inner) else folder


def _load(directory: str) -> Any:
    from .estimator import GroupedProphetTuner

    path = _run_tuner(directory)  # a run folder (tune --out) or a folder tuner.save() wrote
    if not os.path.exists(os.path.join(path, "meta.json")):
        raise CommandError(f"{directory}: no fitted tuner here (expected {os.path.join(directory, 'tuner')} or a "
                           f"folder written by tuner.save()); run `prophet-grouped tune ... --out {directory}` first.")
    return GroupedProphetTuner.load(path)


# ------------------------------------------------------------------ commands
def cmd_demo_data(args: argparse.Namespace) -> None:
    check_out(args.file, "demo-data")
    df = make_retail_sales(n_stores=args.stores, n_items=args.items, periods=args.days, seed=args.seed,
                           covariates=args.covariates)
    write_table(df, args.file)
    print(f"wrote {len(df)} rows: {args.stores * args.items} groups (store, item) x {args.days} days to {args.file}",
          file=sys.stderr)


def _tuner_from_args(args: argparse.Namespace) -> tuple[Any, pd.DataFrame]:
    """The tuner the tuning options describe, and the history it reads."""
    from .estimator import GroupedProphetTuner

    groups = _names(args.group) if args.group else []
    df = read_table(args.data, text_cols=groups, sep=args.sep)
    check_columns(df, args.data, groups, args.time_col, args.target_col)
    if not groups:  # one series: a group column of its own, named so as not to clash with the file's
        name = one_series_column(list(df.columns))
        df = df.assign(**{name: ONE_SERIES})
        groups = [name]
    regressors = _names(args.regressors) if args.regressors else None
    if args.holidays and args.holidays not in df.columns:
        args.holidays = args.holidays.upper()  # a country code: --holidays us means US
    events = read_table(args.holidays_file, text_cols=groups, sep=args.sep) if args.holidays_file else None
    tuner = GroupedProphetTuner(
        group_cols=groups, time_col=args.time_col, target_col=args.target_col,
        search_space=args.search_space, n_trials=args.trials,
        early_stopping_rounds=None if args.patience == 0 else args.patience,
        metric=args.metric, horizon=args.horizon, freq=args.freq, holidays_country=args.holidays,
        date_format=args.date_format, cv_folds=args.folds, regressor_cols=regressors, holidays=events,
        nonnegative={"auto": "auto", "true": True, "false": False}[args.nonnegative],
        transform=None if args.transform == "none" else args.transform,
        missing_dates=args.missing_dates, candidates=tuple(_names(args.candidates)), intervals=args.intervals,
        backend=args.backend, n_jobs=args.n_jobs, random_state=args.seed,
        trial_timeout=args.trial_timeout, checkpoint_dir=args.checkpoint_dir, model_dir=args.model_dir,
        retry_failed=not args.keep_failed,
        warm_start=_run_tuner(args.warm_start), champion=_run_tuner(args.champion),
        min_improvement=args.min_improvement,
        defaults_margin=args.defaults_margin,
        fallback=args.fallback, verbose=0 if args.quiet else 1,
    )
    return tuner, df


def _warned(run: Any) -> Any:
    """``run()``'s value; the groups it warns about listed on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GroupFitWarning)
        value = run()
    for w in caught:
        if issubclass(w.category, GroupFitWarning):
            print(f"warning: {w.message}", file=sys.stderr)
    return value


def _tuned_counts(tuner: Any, results: str | None) -> str:
    counts = tuner.results_["status"].value_counts().to_dict()
    if counts.get("ok", 0) + counts.get("fallback", 0) == 0:
        where = f"see {results}" if results else "write them with --results FILE"
        raise CommandError(f"no group could be tuned; {where} for each group's error.")
    text = f"{len(tuner.results_)} groups ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))})"
    results = tuner.results_
    asked = tuner.cv_folds or (len(tuner.cutoffs) if tuner.cutoffs is not None else AUTO_FOLDS)
    fewer = int(((results["status"] == "ok") & (results["n_folds"] < asked)).sum())
    if fewer:
        text += (f"; {fewer} of them had histories too short for {asked} validation folds and were scored on "
                 f"fewer (results_['n_folds'])")
    if getattr(tuner, "warm_start", None) is not None:
        text += f"; warm start: the previous trials guided {int((results['prior_trials'] > 0).sum())} of them"
    if getattr(tuner, "champion", None) is not None:
        promoted = results["promoted"].dropna().astype(bool)
        text += f"; champion: kept by {int((~promoted).sum())}, {int(promoted.sum())} promoted"
    return text


def gains(tuner: Any) -> str:
    """What the tuned groups earn on validation, for the summary: the median gain over Prophet's
    defaults and the median value added over the seasonal naive forecast."""
    ok = tuner.results_[tuner.results_["status"] == "ok"]
    metric = tuner.metric if isinstance(tuner.metric, str) else getattr(tuner.metric, "__name__", "metric")
    gain = (1 - ok["best_score"] / ok["default_score"]).replace([np.inf, -np.inf], np.nan).dropna()
    added = ok["value_added"].dropna()
    parts = []
    if not gain.empty:
        parts.append(f"{gain.median():.1%} below Prophet's defaults")
    if not added.empty:
        worse = int((added <= 0).sum())
        parts.append(f"{added.median():.1%} below the seasonal naive forecast (value added; {worse} "
                     f"group{'' if worse == 1 else 's'} not better than it)")
    if not parts:
        return ""
    text = f"On the validation folds ({metric}) the tuned models are a median {' and '.join(parts)}."
    if "model" in ok.columns and (ok["model"] == "ets").any():
        text += f" AutoETS won in {int((ok['model'] == 'ets').sum())} of {len(ok)} groups."
    return text


def _check_mlflow(args: argparse.Namespace) -> None:
    """The MLflow tracking server, reached once before the tuning (its errors came after it)."""
    if getattr(args, "mlflow_experiment", None) or getattr(args, "mlflow_uri", None):
        from .tracking import check_tracking

        check_tracking(args.mlflow_uri, args.mlflow_experiment)


def cmd_tune(args: argparse.Namespace) -> None:
    check_writable(args.out, "--out", folder=True)
    _check_mlflow(args)
    tuner, df = _tuner_from_args(args)
    _warned(lambda: tuner.fit(df))
    _save_folder(tuner, args.out)
    if args.mlflow_experiment or args.mlflow_uri:
        from .tracking import log_to_mlflow

        run_id = log_to_mlflow(tuner, experiment_name=args.mlflow_experiment, tracking_uri=args.mlflow_uri)
        print(f"logged MLflow run {run_id}", file=sys.stderr)
    counts = _tuned_counts(tuner, os.path.join(args.out, "results.csv"))
    print(f"tuned {counts}; wrote {args.out}/results.csv, best_params.csv and tuner/", file=sys.stderr)
    _print_gains(tuner)


def cmd_backtest(args: argparse.Namespace) -> None:
    check_writable(args.out, "--out", folder=True)
    tuner, df = _tuner_from_args(args)
    from .backtest import run, summary
    from .report import backtest_report

    table, forecasts, history = _warned(lambda: run(tuner, df, origins=args.origins, methods=_names(args.methods)))
    os.makedirs(args.out, exist_ok=True)
    table.to_csv(os.path.join(args.out, "backtest.csv"), index=False)
    lines = summary(table, list(tuner.group_cols))
    page = backtest_report(table, forecasts, history, list(tuner.group_cols), tuner.get_params(deep=False), lines,
                           title=f"Backtest of {os.path.basename(args.data)}")
    with open(os.path.join(args.out, "report.html"), "w", encoding="utf-8") as fh:
        fh.write(page)
    groups = len(table[list(tuner.group_cols)].drop_duplicates())
    print(f"backtest of {groups} group(s) at {table['origin'].nunique()} origin(s), up to "
          f"{int(table['n'].max())} held-out dates each; wrote {args.out}/backtest.csv and report.html", file=sys.stderr)
    for row in lines.itertuples(index=False):
        wins = ("" if row.method == "prophet" else
                f", better than untuned Prophet in {int(row.wins_vs_prophet)} of {row.pairs}")
        cover = "" if pd.isna(row.coverage) else f", interval coverage {row.coverage:.2f}"
        print(f"  {row.method}: MAE mean {row.mean_mae:.4g}, median {row.median_mae:.4g}{wins}{cover}", file=sys.stderr)


def cmd_report(args: argparse.Namespace) -> None:
    from .report import run_report

    if not args.out.lower().endswith(".html"):
        raise CommandError(f"--out {args.out}: give a file ending in .html.")
    check_writable(args.out, "--out")
    tuner = _load(args.dir)
    if tuner.future_cols_:
        raise CommandError(f"the models use {list(tuner.future_cols_)}, whose future values the report can't know; "
                           f"backtest such a run instead (prophet-grouped backtest ...).")
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write(run_report(tuner, args.periods, title=f"Tuning run {os.path.basename(os.path.abspath(args.dir))}"))
    print(f"wrote {args.out}", file=sys.stderr)


def _save_folder(tuner: Any, folder: str) -> None:
    """What `tune` writes: results.csv, best_params.csv and the fitted tuner in tuner/."""
    os.makedirs(folder, exist_ok=True)
    tuner.results_.to_csv(os.path.join(folder, "results.csv"), index=False)
    tuner.best_params_.to_csv(os.path.join(folder, "best_params.csv"), index=False)
    tuner.save(os.path.join(folder, "tuner"))


def cmd_forecast(args: argparse.Namespace) -> None:
    check_out(args.out)
    check_out(args.results, "--results")
    if args.save:
        check_writable(args.save, "--save", folder=True)
    tuner, df = _tuner_from_args(args)
    forecast = _warned(lambda: tuner.forecast(df, periods=args.periods, keep_models=args.save is not None))
    if args.results:
        write_table(tuner.results_, args.results)
    if args.save:
        _save_folder(tuner, args.save)
    counts = _tuned_counts(tuner, args.results)
    forecast = _labelled(forecast, tuner)
    write_table(forecast, args.out)
    where = f" to {args.out}" if args.out else ""
    print(f"tuned and forecast {counts}: {len(forecast)} forecast rows{where}", file=sys.stderr)
    _print_gains(tuner)


def _labelled(forecast: pd.DataFrame, tuner: Any) -> pd.DataFrame:
    """``forecast`` with the columns a table of forecasts written back needs: ``origin`` (the
    last date of the group's history, where its forecast starts from) and ``run_id`` (the fit's
    id, ``tuner.run_id_``)."""
    ends = history_ends(tuner.results_, tuner.group_cols_)
    seen: dict[tuple[Any, ...], Any] = {}  # a key's lookup once, not once per row
    origin = [seen[k] if k in seen else seen.setdefault(k, ends.get(group_key(k)))
              for k in forecast[tuner.group_cols_].itertuples(index=False, name=None)]
    return forecast.assign(origin=pd.to_datetime(pd.Series(origin, index=forecast.index, dtype=object)),
                           run_id=getattr(tuner, "run_id_", None))


def _print_gains(tuner: Any) -> None:
    line = gains(tuner)
    if line:
        print(line, file=sys.stderr)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _future(args: argparse.Namespace, tuner: Any) -> pd.DataFrame:
    """The dates to forecast: the --future table, or --periods steps after each history."""
    if getattr(args, "start", None) is not None and args.future:
        raise CommandError(f"--start {args.start} applies to --periods; --future {args.future} lists the dates itself.")
    if args.future and args.periods is not None:
        raise CommandError(f"give --periods N or --future FILE, not both: --future {args.future} lists the dates "
                           f"to forecast, so --periods {args.periods} would be ignored.")
    if args.future:
        if args.date_format:
            tuner.set_params(date_format=args.date_format)
        return _fitted_keys(read_table(args.future, text_cols=tuner.group_cols_, sep=args.sep), tuner)
    needed = tuple(tuner.future_cols_)
    if needed:
        raise CommandError(
            f"the models use {list(needed)}, whose values on the dates to forecast only you know: give them "
            f"with --future FILE (group columns, {tuner.time_col} and {', '.join(needed)})."
        )
    if args.periods is None:
        raise CommandError("give --periods N (steps after each group's history) or --future FILE.")
    return tuner.make_future_dataframe(periods=args.periods, start=getattr(args, "start", None))


def cmd_predict(args: argparse.Namespace) -> None:
    check_out(args.out)
    tuner = _load(args.dir)
    future = _future(args, tuner)
    if args.group:
        key = _group_key(args.group, tuner)
        mask = pd.Series(True, index=future.index)
        for col, value in zip(tuner.group_cols_, key):
            mask &= future[col] == value
        future = future[mask]
    forecast = _labelled(tuner.predict(future), tuner)
    write_table(forecast, args.out)
    if args.out:
        print(f"wrote {len(forecast)} forecast rows to {args.out}", file=sys.stderr)


def cmd_plot(args: argparse.Namespace) -> None:
    if not args.out.lower().endswith((".png", ".svg", ".pdf")):
        raise CommandError(f"--out {args.out}: give a file ending in .png, .svg or .pdf.")
    check_writable(args.out, "--out")
    tuner = _load(args.dir)
    if args.group:
        key = _group_key(args.group, tuner)
    elif len(tuner.trials_) == 1:
        key = next(iter(tuner.trials_))
    else:
        raise CommandError(f"give --group: the tuner has {len(tuner.trials_)} groups, e.g. "
                           f"{','.join(key_text(k) for k in next(iter(tuner.trials_)))}.")
    if args.kind == "forecast":
        # Models with regressors need --future (_future says so in the flags' terms).
        future = _future(args, tuner) if args.future or tuner.future_cols_ else None
        fig = tuner.plot_forecast(key, periods=90 if args.periods is None else args.periods, future=future,
                                  history=args.history)
    else:
        fig = tuner.plot_tuning_history(key)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}", file=sys.stderr)


def _bench_script() -> str | None:
    """benchmarks/bench.py of the checkout this package runs from (an editable install), or of
    the current folder; None for an installed package without its repository."""
    for root in (os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.getcwd()):
        path = os.path.join(root, "benchmarks", "bench.py")
        if os.path.exists(path):
            return path
    return None


def cmd_bench(args: argparse.Namespace, rest: Sequence[str]) -> None:
    import importlib.util
    import runpy

    script = _bench_script()
    if script is None:
        raise CommandError("the benchmark is not part of the installed package; it lives in the repository's "
                           "benchmarks/ folder: in a checkout, run `python benchmarks/bench.py` (or `make bench`).")
    missing = [m for m in ("psutil", "matplotlib") if importlib.util.find_spec(m) is None]
    if missing:
        raise CommandError(f"the benchmark needs {missing}; install them with: pip install 'prophet_grouped[bench]'")
    sys.argv = [script, *rest]
    runpy.run_path(script, run_name="__main__")


def _tuning_options(p: argparse.ArgumentParser) -> None:
    """The options of `tune` and `forecast` that describe the data and the search."""
    p.add_argument("data", help="long-format history: a .csv or .parquet file")
    p.add_argument("--sep", default=",", help="the CSV files' separator, e.g. ';' (default: %(default)r)")
    p.add_argument("--group", default=None,
                   help="comma-separated group columns, e.g. store,item (default: the whole file is one series)")
    p.add_argument("--backend", choices=["local", "spark", "ray"], default="local",
                   help="where groups are tuned: local processes, Spark or Ray (default: %(default)s)")
    p.add_argument("--trials", type=int, default=30, help="trials per group (default: %(default)s)")
    p.add_argument("--patience", type=int, default=10,
                   help="stop a group after this many trials without improvement; 0 never (default: %(default)s)")
    p.add_argument("--metric", default="mae", choices=["mae", "rmse", "smape", "mape", "wape", "mase", "rmsse"],
                   help="validation loss, lower is better (default: %(default)s)")
    p.add_argument("--horizon", type=int, default=None,
                   help="validation horizon in steps of the frequency (default: 90 daily, 12 monthly, 24 hourly...)")
    p.add_argument("--freq", default=None, help="pandas frequency, e.g. D, W-SUN, MS, h (default: inferred from the dates)")
    p.add_argument("--date-format", default=None, help="strptime format of text dates, e.g. %%d.%%m.%%Y")
    p.add_argument("--folds", type=int, default=None,
                   help="rolling-origin validation folds (default: 3, fewer for short groups)")
    p.add_argument("--nonnegative", choices=["auto", "true", "false"], default="auto",
                   help="clip forecasts at 0: auto = for groups with no negative history (default: %(default)s)")
    p.add_argument("--missing-dates", choices=["gap", "zero"], default="gap",
                   help="a date a group has no row for: gap = unknown, zero = nothing sold (default: %(default)s)")
    p.add_argument("--candidates", default="prophet",
                   help="model kinds each group chooses from by validation loss: prophet, or prophet,ets for an "
                        "AutoETS challenger (needs the ets extra) (default: %(default)s)")
    p.add_argument("--intervals", choices=["wider", "prophet", "calibrated"], default="wider",
                   help="forecast intervals: the model's own, calibrated from validation errors, or the wider of the "
                        "two at each bound (default: %(default)s)")
    p.add_argument("--transform", choices=["auto", "log1p", "none"], default="auto",
                   help="fit log1p(y) or y: auto = each group with no negative value chooses by validation loss "
                        "(default: %(default)s)")
    p.add_argument("--search-space", default="auto", choices=["auto", "paper", "prophet-docs"],
                   help="auto: read from each group's history; paper: the published study's (default: %(default)s)")
    p.add_argument("--holidays", default=None,
                   help="country code whose holidays every model gets (e.g. US), or a column holding each group's")
    p.add_argument("--holidays-file", default=None,
                   help="events table (.csv/.parquet): holiday, ds, optional lower_window, upper_window, "
                        "prior_scale and group columns (rows for some groups only)")
    p.add_argument("--regressors", default=None,
                   help="comma-separated columns known in advance, e.g. price,promo (predict then needs --future)")
    p.add_argument("--time-col", default="ds", help="date column (default: %(default)s)")
    p.add_argument("--target-col", default="y", help="value column (default: %(default)s)")
    p.add_argument("--n-jobs", type=int, default=-1, help="local worker processes (default: all cores)")
    p.add_argument("--seed", type=int, default=0,
                   help="base seed of every group's search (default: %(default)s, so that the same command gives the "
                        "same result; GroupedProphetTuner's random_state defaults to None, a new seed per fit)")
    p.add_argument("--trial-timeout", type=float, default=None, help="seconds a trial may run")
    p.add_argument("--checkpoint-dir", default=None, help="folder to checkpoint finished groups in (resumable)")
    p.add_argument("--keep-failed", action="store_true",
                   help="on resume from --checkpoint-dir, keep the groups it holds as failed instead of tuning "
                        "them again")
    p.add_argument("--warm-start", default=None, metavar="FOLDER",
                   help="a saved tuner (a previous run's --out or --save folder) whose studies each group's "
                        "new study starts from")
    p.add_argument("--champion", default=None, metavar="FOLDER",
                   help="a saved tuner whose parameters each group keeps unless the new search beats them")
    p.add_argument("--min-improvement", type=float, default=0.0,
                   help="relative margin the new best must beat the champion by (default: %(default)s)")
    p.add_argument("--defaults-margin", type=float, default=0.05,
                   help="relative margin the best trial must beat Prophet's defaults by on validation to be "
                        "kept (default: %(default)s; 0 keeps any better trial)")
    p.add_argument("--model-dir", default=None,
                   help="folder every worker can write: workers write the fitted models there (one Prophet "
                        "JSON file per group) instead of sending them to this process")
    p.add_argument("--fallback", choices=["default"], default=None,
                   help="give groups that can't be tuned an untuned default Prophet")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


# ------------------------------------------------------------------ parser
def _steps(text: str) -> int:
    """``--periods``, ``--history``: a whole number of steps >= 1, refused the same way by every command."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of steps >= 1, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prophet-grouped",
        description="Tune and fit one Prophet model per group of a long sales table.",
        epilog="Run `prophet-grouped COMMAND --help` for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo-data", help="write generated daily store x item sales to a CSV or Parquet file")
    p.add_argument("file", help="output file (.csv or .parquet)")
    p.add_argument("--stores", type=int, default=2, help="stores (default: %(default)s)")
    p.add_argument("--items", type=int, default=3, help="items per store (default: %(default)s)")
    p.add_argument("--days", type=int, default=800,
                   help="days per series (default: %(default)s, past the two years a yearly season needs)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same file (default: %(default)s)")
    p.add_argument("--covariates", action="store_true",
                   help="add price and promo columns that move the sales (for --regressors price,promo)")
    p.set_defaults(func=cmd_demo_data)

    p = sub.add_parser("tune", help="tune and fit one model per group; write results and the fitted tuner")
    p.add_argument("--out", default="prophet_grouped_out", help="output folder (default: %(default)s)")
    _tuning_options(p)
    p.add_argument("--mlflow-experiment", default=None, help="log the fit to this MLflow experiment ([mlflow] extra)")
    p.add_argument("--mlflow-uri", default=None, help="MLflow tracking URI (default: MLFLOW_TRACKING_URI)")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("backtest", help="how the settings would have forecast the last windows of the history, "
                                        "against untuned Prophet and the seasonal naive forecast")
    p.add_argument("--out", default="prophet_grouped_backtest", help="output folder for backtest.csv and "
                                                                    "report.html (default: %(default)s)")
    p.add_argument("--origins", type=_steps, default=3, help="held-out windows, the last first (default: %(default)s)")
    p.add_argument("--methods", default="tuned,prophet,seasonal_naive",
                   help="what to compare: tuned, prophet, seasonal_naive, ets (AutoETS; needs the ets extra) "
                        "(default: %(default)s)")
    _tuning_options(p)
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser("report", help="an HTML page of a `tune` run: gains, groups, failures, forecasts")
    p.add_argument("dir", help="the --out folder of `tune` (or --save of `forecast`)")
    p.add_argument("--out", default="report.html", help="the page to write (default: %(default)s)")
    p.add_argument("--periods", type=_steps, default=None, help="steps to forecast in the charts (default: the horizon)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("forecast", help="tune, refit and forecast every group in one pass; write the forecasts")
    p.add_argument("--periods", type=_steps, default=None,
                   help="steps to forecast after each group's history (default: the validation horizon)")
    p.add_argument("--out", default=None, help=".csv or .parquet file (default: CSV on stdout)")
    p.add_argument("--results", default=None, help="also write each group's results row to this .csv/.parquet file")
    p.add_argument("--save", default=None,
                   help="also keep the models and write this folder as `tune --out` does (for predict and plot)")
    _tuning_options(p)
    p.set_defaults(func=cmd_forecast)

    p = sub.add_parser("predict", help="forecast every group of a tuner written by `tune`")
    p.add_argument("dir", help="the --out folder of `tune`")
    p.add_argument("--periods", type=_steps, default=None, help="steps to forecast after each group's history")
    p.add_argument("--future", default=None,
                   help="table of the dates to forecast (.csv/.parquet) with group columns and the regressors' values")
    p.add_argument("--start", default=None,
                   help="with --periods: 'common' gives every group the window after the latest date of any "
                        "history, a date (2024-06-03) the window from that date (default: after each group's own)")
    p.add_argument("--group", default=None, help="only this group, e.g. 1,2")
    p.add_argument("--out", default=None, help=".csv or .parquet file (default: CSV on stdout)")
    p.add_argument("--sep", default=",", help="the --future CSV's separator (default: %(default)r)")
    p.add_argument("--date-format", default=None,
                   help="strptime format of the --future file's dates, e.g. %%d.%%m.%%Y (default: the tuner's)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("plot", help="plot one group's forecast or tuning history to an image file")
    p.add_argument("dir", help="the --out folder of `tune`")
    p.add_argument("--group", default=None,
                   help="the group's values joined by commas, e.g. 1,2 (default: the only group)")
    p.add_argument("--kind", choices=["forecast", "tuning"], default="forecast",
                   help="forecast: history, forecast and interval; tuning: trial losses (default: %(default)s)")
    p.add_argument("--periods", type=_steps, default=None, help="steps to forecast (default: 90)")
    p.add_argument("--history", type=_steps, default=None,
                   help="the last N dates of the history to show (default: all of it)")
    p.add_argument("--future", default=None, help="dates to forecast with the regressors' values (models with regressors)")
    p.add_argument("--out", required=True, help="image file: .png, .svg or .pdf")
    p.add_argument("--sep", default=",", help="the --future CSV's separator (default: %(default)r)")
    p.add_argument("--date-format", default=None,
                   help="strptime format of the --future file's dates, e.g. %%d.%%m.%%Y (default: the tuner's)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("bench", help="run the benchmark (options: prophet-grouped bench --help)", add_help=False)
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``prophet-grouped`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # An application may set logging: Prophet's import warns about plotly, which no command uses.
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)
    parser = build_parser()
    if argv and argv[0] == "bench":  # the benchmark parses its own options
        args, rest = parser.parse_args(argv[:1]), argv[1:]
    else:
        args, rest = parser.parse_args(argv), []
    try:
        if args.command == "bench":
            args.func(args, rest)
        else:
            args.func(args)
    except BrokenPipeError:
        # The reader went away (`prophet-grouped predict run1 --periods 9 | head`): it had what it
        # wanted. Point stdout at /dev/null so that Python's own flush at exit stays quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (CommandError, ValueError, InputTypeError, ImportError) as exc:  # a bug's TypeError: its traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        resume = (f"run the same command again to resume from {args.checkpoint_dir}: finished groups are read back"
                  if getattr(args, "checkpoint_dir", None) else
                  "the groups tuned so far are lost; with --checkpoint-dir DIR each finished group is kept, and "
                  "the same command run again resumes")
        print(f"\ninterrupted: {resume}.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
