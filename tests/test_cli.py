"""The prophet-grouped command, run as a user runs it: the installed console script."""

import contextlib
import os
import pty
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from prophet_grouped import GroupedProphetTuner

CLI = os.path.join(os.path.dirname(sys.executable), "prophet-grouped")


def run(*args, cwd):
    return subprocess.run([CLI, *args], capture_output=True, text=True, cwd=cwd)


def run_in_terminal(*args, cwd):
    """Run with stderr on a pseudo-terminal, as in an interactive shell; returns (code, stderr)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([CLI, *args], stdout=subprocess.DEVNULL, stderr=slave, cwd=cwd)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(), b"".join(chunks).decode(errors="replace")


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """The README's shell journey: demo data, then tune in a terminal."""
    cwd = tmp_path_factory.mktemp("cli")
    made = run("demo-data", "sales.csv", "--stores", "2", "--items", "2", "--days", "400", cwd=cwd)
    assert made.returncode == 0, made.stderr
    code, err = run_in_terminal("tune", "sales.csv", "--group", "store,item", "--trials", "3",
                                "--horizon", "30", "--out", "out", cwd=cwd)
    assert code == 0, err
    return cwd, err


def test_tune_writes_results_params_and_tuner(tuned):
    cwd, err = tuned
    assert sorted(os.listdir(cwd / "out")) == ["best_params.csv", "results.csv", "tuner"]
    results = pd.read_csv(cwd / "out" / "results.csv")
    assert len(results) == 4 and (results["status"] == "ok").all()
    assert "tuned 4 groups (4 ok)" in err
    # What tuning earned, in the metric's name, against Prophet's defaults and the seasonal naive forecast.
    ok = results[results["status"] == "ok"]
    gain = (1 - ok["best_score"] / ok["default_score"]).median()
    worse = int((ok["value_added"] <= 0).sum())
    assert (f"On the validation folds (mae) the tuned models are a median {gain:.1%} below Prophet's defaults "
            f"and {ok['value_added'].median():.1%} below the seasonal naive forecast (value added; {worse} "
            f"group{'' if worse == 1 else 's'} not better than it).") in err


def test_progress_is_shown_in_a_terminal(tuned):
    _, err = tuned
    assert "\rtuning 4/4 groups (100%) | 12 trials" in err
    assert "ETA" in err  # drawn while groups were still running


def test_no_progress_when_quiet_or_not_a_terminal(tuned, tmp_path):
    cwd, _ = tuned
    piped = run("tune", "sales.csv", "--group", "store,item", "--trials", "2", "--horizon", "30",
                "--folds", "1", "--freq", "D", "--out", str(tmp_path / "a"), cwd=cwd)
    assert piped.returncode == 0 and "tuning " not in piped.stderr
    assert (pd.read_csv(tmp_path / "a" / "results.csv")["n_folds"] == 1).all()
    code, err = run_in_terminal("tune", "sales.csv", "--group", "store,item", "--trials", "2", "--horizon", "30",
                                "--out", str(tmp_path / "b"), "--quiet", cwd=cwd)
    assert code == 0 and "tuning " not in err


def test_predict_to_csv_and_parquet_and_stdout(tuned):
    cwd, _ = tuned
    out = run("predict", "out", "--periods", "14", "--out", "fc.csv", cwd=cwd)
    assert out.returncode == 0, out.stderr
    fc = pd.read_csv(cwd / "fc.csv", parse_dates=["ds"])
    assert list(fc.columns) == ["store", "item", "ds", "yhat", "yhat_lower", "yhat_upper", "origin", "run_id"]
    assert len(fc) == 56
    # The same forecast as the saved tuner loaded in Python.
    tuner = GroupedProphetTuner.load(str(cwd / "out" / "tuner"))
    expected = tuner.predict(tuner.make_future_dataframe(periods=14))
    pd.testing.assert_series_equal(fc["yhat"], expected["yhat"], rtol=1e-9)
    assert run("predict", "out", "--periods", "3", "--out", "fc.parquet", cwd=cwd).returncode == 0
    assert len(pd.read_parquet(cwd / "fc.parquet")) == 12
    one = run("predict", "out", "--periods", "5", "--group", "2,1", cwd=cwd)
    assert one.returncode == 0 and len(one.stdout.strip().splitlines()) == 6 and one.stdout.splitlines()[1].startswith("2,1,")
    # One window for every group, from a date.
    dated = run("predict", "out", "--periods", "3", "--start", "2030-01-07", cwd=cwd)
    assert dated.returncode == 0, dated.stderr
    window = pd.read_csv(pd.io.common.StringIO(dated.stdout))
    assert len(window) == 12 and sorted(set(window["ds"])) == ["2030-01-07", "2030-01-08", "2030-01-09"]
    both = run("predict", "out", "--start", "common", "--future", "sales.csv", cwd=cwd)
    assert both.returncode == 1 and "--start common applies to --periods" in both.stderr


def test_forecast_in_one_command_equals_tune_then_predict(tuned):
    cwd, _ = tuned
    out = run("forecast", "sales.csv", "--group", "store,item", "--trials", "3", "--horizon", "30",
              "--periods", "14", "--results", "fc_results.csv", "--save", "fc_run", "--model-dir", "models",
              "--quiet", cwd=cwd)
    assert out.returncode == 0, out.stderr
    assert "tuned and forecast 4 groups (4 ok): 56 forecast rows" in out.stderr
    got = pd.read_csv(pd.io.common.StringIO(out.stdout))
    expected = pd.read_csv(pd.io.common.StringIO(run("predict", "out", "--periods", "14", cwd=cwd).stdout))
    # Each row says where its forecast starts and which fit made it (for a table written back).
    assert list(got.columns) == ["store", "item", "ds", "yhat", "yhat_lower", "yhat_upper", "origin", "run_id"]
    history = pd.read_csv(cwd / "sales.csv", parse_dates=["ds"])
    last = history.groupby(["store", "item"])["ds"].max().rename("last").reset_index()
    merged = got.merge(last, on=["store", "item"])
    assert (pd.to_datetime(merged["origin"]) == merged["last"]).all()
    assert (pd.to_datetime(got["ds"]) > pd.to_datetime(got["origin"])).all()
    assert got["run_id"].nunique() == 1 and len(got["run_id"][0]) == 32
    assert expected["run_id"].nunique() == 1 and expected["run_id"][0] != got["run_id"][0], "another fit"
    pd.testing.assert_frame_equal(got.drop(columns="run_id"), expected.drop(columns="run_id"), rtol=1e-9)
    assert (pd.read_csv(cwd / "fc_results.csv")["status"] == "ok").all()
    # The workers wrote the models (--model-dir); the saved tuner predicts the same forecast,
    # with the id of the fit that made the models.
    assert len(os.listdir(cwd / "models")) == 4
    again = run("predict", "fc_run", "--periods", "14", cwd=cwd)
    pd.testing.assert_frame_equal(got, pd.read_csv(pd.io.common.StringIO(again.stdout)), rtol=1e-9)


def test_retrain_with_warm_start_and_champion_from_the_shell(tuned):
    cwd, _ = tuned
    out = run("tune", "sales.csv", "--group", "store,item", "--trials", "5", "--horizon", "30", "--out", "run2",
              "--warm-start", "out", "--champion", "out", "--min-improvement", "0.01", "--quiet", cwd=cwd)
    assert out.returncode == 0, out.stderr
    results = pd.read_csv(cwd / "run2" / "results.csv")
    # (the previous trials reach the groups whose previous search beat Prophet's defaults)
    guided = int((results["prior_trials"] == 3).sum())
    assert results["prior_trials"].isin([0, 3]).all() and guided > 0 and results["promoted"].notna().all()
    kept = results[~results["promoted"].astype(bool)]
    previous = pd.read_csv(cwd / "out" / "best_params.csv").set_index(["store", "item"])
    now = pd.read_csv(cwd / "run2" / "best_params.csv").set_index(["store", "item"])
    keys = list(kept.set_index(["store", "item"]).index)
    pd.testing.assert_frame_equal(now.loc[keys], previous.loc[keys])
    # The summary line says what the weekly loop did.
    assert (f"tuned 4 groups (4 ok); warm start: the previous trials guided {guided} of them; champion: kept by "
            f"{len(kept)}, {4 - len(kept)} promoted; wrote run2/results.csv") in out.stderr, out.stderr


def test_plot_forecast_and_tuning_history_to_png(tuned):
    cwd, _ = tuned
    for kind in ("forecast", "tuning"):
        out = run("plot", "out", "--group", "1,2", "--kind", kind, "--out", f"{kind}.png", cwd=cwd)
        assert out.returncode == 0, out.stderr
        data = (cwd / f"{kind}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    window = run("plot", "out", "--group", "1,2", "--periods", "28", "--history", "90", "--out", "w.png", cwd=cwd)
    assert window.returncode == 0 and (cwd / "w.png").read_bytes()[:4] == b"\x89PNG", window.stderr


@pytest.mark.parametrize("args, message", [
    (("tune", "nope.csv", "--group", "store"), "error: nope.csv: no such file. Give a CSV or Parquet file"),
    (("tune", "sales.csv", "--group", "shop,item", "--horizon", "30"),
     "error: sales.csv has no column 'shop' (--group) (its columns: store, item, ds, y). Name the file's columns"),
    (("tune", "sales.csv", "--group", "store,item", "--target-col", "sales"),
     ("error: sales.csv has no column 'sales' (--target-col) (its columns: store, item, ds, y). The values look like "
      "column 'y': add --target-col y.")),
    (("tune", "sales.csv", "--group", "store,item", "--trials", "0"), "error: n_trials must be an integer >= 1, got 0."),
    (("predict", "missing_dir", "--periods", "3"), "error: missing_dir: no fitted tuner here"),
    (("predict", "out", "--periods", "3", "--out", "fc.xlsx"), "error: --out fc.xlsx: unknown file type '.xlsx'"),
    (("plot", "out", "--group", "9,9", "--out", "x.png"), "error: --group 9,9: no such group."),
    (("predict", "out", "--periods", "3", "--future", "sales.csv"),
     "error: give --periods N or --future FILE, not both: --future sales.csv lists the dates to forecast, so "
     "--periods 3 would be ignored."),
    (("plot", "out", "--group", "1,1", "--periods", "3", "--future", "sales.csv", "--out", "x.png"),
     "error: give --periods N or --future FILE, not both"),
])
def test_errors_exit_1_with_the_fix(tuned, args, message):
    cwd, _ = tuned
    out = run(*args, cwd=cwd)
    assert out.returncode == 1
    assert out.stderr.startswith(message), out.stderr


def test_a_wide_file_is_told_how_to_become_long(tmp_path):
    """A file with one column of values per series (Prophet's pedestrians example) has no
    ``y``: the error names its value columns and the melt that makes it long, and that works."""
    ds = pd.date_range("2024-01-01", periods=24 * 20, freq="h")
    wide = pd.DataFrame({"ds": ds, "north": np.arange(len(ds)) % 24 + 1.0, "south": np.arange(len(ds)) % 12 + 2.0})
    wide.to_csv(tmp_path / "wide.csv", index=False)
    out = run("tune", "wide.csv", cwd=tmp_path)
    assert out.returncode == 1
    assert "no column 'y' (--target-col)" in out.stderr and "(north, south)" in out.stderr, out.stderr
    assert "df.melt(id_vars=['ds'], var_name='series', value_name='y'), then --group series" in out.stderr
    wide.melt(id_vars=["ds"], var_name="series", value_name="y").to_csv(tmp_path / "long.csv", index=False)
    out = run("tune", "long.csv", "--group", "series", "--trials", "2", "--quiet", "--out", "run", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert sorted(pd.read_csv(tmp_path / "run" / "results.csv")["series"]) == ["north", "south"]


def test_a_bug_shows_its_traceback_and_a_wrong_input_a_one_line_error(tmp_path, monkeypatch, capsys):
    """main() caught every TypeError: a programming error printed as "error: ..." without a
    traceback, as if the user had typed something wrong."""
    from prophet_grouped import cli
    from prophet_grouped.exceptions import InputTypeError

    def bug(args):
        return None + 1  # a TypeError no user can fix

    monkeypatch.setattr(cli, "cmd_demo_data", bug)
    with pytest.raises(TypeError, match="unsupported operand"):
        cli.main(["demo-data", str(tmp_path / "x.csv")])

    def wrong_input(args):
        raise InputTypeError("time_col must be a column name (str), got 3.")

    monkeypatch.setattr(cli, "cmd_demo_data", wrong_input)
    assert cli.main(["demo-data", str(tmp_path / "x.csv")]) == 1
    assert capsys.readouterr().err == "error: time_col must be a column name (str), got 3.\n"
    with pytest.raises(TypeError) as raised:  # what the estimator raises for a wrong type
        GroupedProphetTuner(time_col=3).fit(pd.DataFrame({"unique_id": [1], "ds": ["2024-01-01"], "y": [1.0]}))
    assert isinstance(raised.value, InputTypeError)


def test_usage_errors_exit_2_and_help_exits_0(tmp_path):
    assert run(cwd=tmp_path).returncode == 2
    assert run("tune", cwd=tmp_path).returncode == 2  # the data file is required
    assert run("tune", "x.csv", "--trials", "many", cwd=tmp_path).returncode == 2
    import re

    for command in ("tune", "forecast", "predict", "plot", "demo-data"):
        out = run(command, "--help", cwd=tmp_path)
        assert out.returncode == 0 and "usage: prophet-grouped" in out.stdout
        # Every option says what it does.
        options = re.findall(r"^  (--[a-z-]+)(?: [A-Z_{}a-z,-]+)?\n?\s*(.*)$", out.stdout, flags=re.M)
        assert options and all(h.strip() and not h.strip().startswith("-") for _, h in options), (command, options)
    bench = run("bench", "--help", cwd=tmp_path)
    assert bench.returncode == 0 and "--series" in bench.stdout
    # --periods 0 got three answers: "frame is empty" (predict), the Python parameter's range
    # (forecast), another wording (plot). Now one usage error, before any file is read.
    for command in (("predict", "run"), ("forecast", "x.csv"), ("plot", "run", "--out", "x.png")):
        out = run(*command, "--periods", "0", cwd=tmp_path)
        assert out.returncode == 2, out.stderr
        assert "argument --periods: must be a whole number of steps >= 1, got '0'" in out.stderr


def test_bench_runs_and_writes_json_and_utilization_chart(tmp_path):
    import json

    out = run("bench", "--series", "2", "--days", "300", "--trials", "2", "--horizon", "30",
              "--runs", "baseline,local", "--out", "res", "--fresh", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "res" / "bench.json") as fh:
        runs = json.load(fh)["runs"]
    # Each run in a new process, which runs no other thread: the local backend forks its workers.
    assert [r["run"] for r in runs] == ["baseline (stock Prophet, process pool)",
                                        "tuner local (fork workers) engine=batch"]
    for r in runs:
        assert r["trials"] == 4 and 0 < r["cpu_util"] <= 1.05 and r["wall_s"] > 0
    assert "| driver peak MB | speed-up vs baseline |" in out.stdout
    assert all(r["driver_peak_mb"] >= r["driver_start_mb"] > 0 for r in runs)
    assert (tmp_path / "res" / "bench.png").read_bytes()[:4] == b"\x89PNG"


def test_regressors_and_events_file_from_the_shell(tmp_path):
    made = run("demo-data", "sales.csv", "--stores", "1", "--items", "2", "--days", "330", "--covariates", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    sales = pd.read_csv(tmp_path / "sales.csv", parse_dates=["ds"])
    assert {"price", "promo"} <= set(sales.columns)
    history = sales[sales["ds"] <= sales["ds"].max() - pd.Timedelta(days=14)]
    history.to_csv(tmp_path / "history.csv", index=False)
    sales[sales["ds"] > history["ds"].max()].drop(columns="y").to_csv(tmp_path / "future.csv", index=False)
    pd.DataFrame({"holiday": ["sale"], "ds": ["2019-06-01"], "item": [2], "upper_window": [2]}).to_csv(
        tmp_path / "events.csv", index=False)
    tuned = run("tune", "history.csv", "--group", "store,item", "--trials", "2", "--folds", "1", "--horizon", "14",
                "--regressors", "price,promo", "--holidays-file", "events.csv", "--out", "out", "--quiet", cwd=tmp_path)
    assert tuned.returncode == 0, tuned.stderr
    params = pd.read_csv(tmp_path / "out" / "best_params.csv")
    assert "regressor_prior_scale" in params.columns
    no_values = run("predict", "out", "--periods", "14", cwd=tmp_path)
    assert no_values.returncode == 1
    assert "the models use ['price', 'promo'], whose values on the dates to forecast only you know" in no_values.stderr
    done = run("predict", "out", "--future", "future.csv", "--out", "fc.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    fc = pd.read_csv(tmp_path / "fc.csv")
    assert len(fc) == 28 and fc["yhat"].notna().all()
    loaded = GroupedProphetTuner.load(str(tmp_path / "out" / "tuner"))
    assert set(loaded.models_[(1, 2)].holidays["holiday"]) == {"sale"}
    assert loaded.models_[(1, 1)].holidays is None
    # plot says what the shell needs (--future), not the Python argument (future=).
    no_future = run("plot", "out", "--group", "1,2", "--out", "p.png", cwd=tmp_path)
    assert no_future.returncode == 1 and "give them with --future FILE" in no_future.stderr, no_future.stderr
    assert "future=" not in no_future.stderr
    plotted = run("plot", "out", "--group", "1,2", "--future", "future.csv", "--out", "p.png", cwd=tmp_path)
    assert plotted.returncode == 0, plotted.stderr


def test_predict_into_a_closed_pipe_ends_quietly(tuned):
    cwd, _ = tuned
    done = subprocess.run(f"{CLI} predict out --periods 30 | head -n 2", shell=True, capture_output=True,
                          text=True, cwd=cwd)
    assert done.stdout.splitlines()[0].startswith("store,item,ds,yhat")
    assert len(done.stdout.splitlines()) == 2
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_a_single_series_needs_no_group_column(tmp_path):
    ds = pd.date_range("2020-01-01", periods=200, freq="D")
    pd.DataFrame({"ds": ds, "y": 10 + (ds.dayofweek == 5) * 3.0 + range(200)}).to_csv(tmp_path / "one.csv", index=False)
    tuned = run("tune", "one.csv", "--trials", "2", "--folds", "1", "--horizon", "14", "--quiet", "--out", "out",
                cwd=tmp_path)
    assert tuned.returncode == 0, tuned.stderr
    done = run("predict", "out", "--periods", "7", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "series,ds,yhat,yhat_lower,yhat_upper,origin,run_id"
    assert len(done.stdout.splitlines()) == 8
    plot = run("plot", "out", "--out", "one.png", cwd=tmp_path)
    assert plot.returncode == 0, plot.stderr
    assert (tmp_path / "one.png").stat().st_size > 0


def test_bench_outside_a_checkout_says_where_the_benchmark_is(monkeypatch, capsys):
    """The benchmark is not installed with the package: without the repository's benchmarks/
    folder, `bench` says where it lives (exit 1)."""
    from prophet_grouped import cli

    assert cli._bench_script().endswith(os.path.join("benchmarks", "bench.py"))  # this checkout's
    monkeypatch.setattr(cli, "_bench_script", lambda: None)
    assert cli.main(["bench", "--series", "2"]) == 1
    assert "the benchmark is not part of the installed package" in capsys.readouterr().err


def test_transform_from_the_shell(tuned):
    """--transform none fits y itself; the default lets each group choose (results.csv says which)."""
    cwd, _ = tuned
    chosen = set(pd.read_csv(cwd / "out" / "results.csv")["transform"])
    assert chosen <= {"none", "log1p"} and chosen
    out = run("tune", "sales.csv", "--group", "store,item", "--trials", "3", "--horizon", "30", "--transform", "none",
              "--out", "raw", "--quiet", cwd=cwd)
    assert out.returncode == 0, out.stderr
    assert (pd.read_csv(cwd / "raw" / "results.csv")["transform"] == "none").all()
    assert "transform" not in pd.read_csv(cwd / "raw" / "best_params.csv").columns


@pytest.mark.parametrize("args, message", [
    (("tune", "sales.csv", "--group", "store,item", "--out", "sales.csv/run"),
     "error: --out {cwd}/sales.csv/run: {cwd}/sales.csv is a file, not a folder"),
    (("tune", "sales.csv", "--group", "store,item", "--out", "sales.csv"),
     "error: --out {cwd}/sales.csv: that is a file; give a folder"),
    (("forecast", "sales.csv", "--group", "store,item", "--periods", "3", "--out", "sales.csv/fc.csv"),
     "error: --out {cwd}/sales.csv/fc.csv: {cwd}/sales.csv is a file"),
    (("forecast", "sales.csv", "--group", "store,item", "--periods", "3", "--save", "sales.csv/x"),
     "error: --save {cwd}/sales.csv/x: {cwd}/sales.csv is a file"),
    (("predict", "out", "--periods", "3", "--out", "sales.csv/fc.csv"), "error: --out {cwd}/sales.csv/fc.csv:"),
    (("plot", "out", "--group", "1,1", "--out", "sales.csv/x.png"), "error: --out {cwd}/sales.csv/x.png:"),
])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(tuned, args, message):
    """Before: `tune --out /etc/passwd/run` tuned every group, then failed with a traceback."""
    cwd, _ = tuned
    out = run(*args, cwd=cwd)
    assert out.returncode == 1, out.stderr
    assert out.stderr.startswith(message.format(cwd=os.path.realpath(cwd))), out.stderr
    assert "tuning" not in out.stderr and "Traceback" not in out.stderr


def test_a_read_only_folder_is_refused_before_any_work(tuned, tmp_path):
    cwd, _ = tuned
    locked = tmp_path / "locked"
    locked.mkdir()
    # A folder that can't be written even by root: a read-only bind is not available here, so
    # a path below a file stands in for it above; here the scratch-file check on a real folder.
    os.chmod(locked, 0o500)
    try:
        out = run("tune", "sales.csv", "--group", "store,item", "--out", str(locked / "run"), cwd=cwd)
        if os.geteuid() == 0:  # root writes anyway: the check lets it, and the run works
            assert out.returncode == 0, out.stderr
        else:
            assert out.returncode == 1 and f"can't write in {locked}" in out.stderr
    finally:
        os.chmod(locked, 0o700)


def test_parquet_output_has_microsecond_dates(tuned):
    """pandas writes nanosecond timestamps, which Spark refuses (PARQUET_TYPE_ILLEGAL)."""
    import pyarrow.parquet as pq

    cwd, _ = tuned
    assert run("predict", "out", "--periods", "3", "--out", "fc.parquet", cwd=cwd).returncode == 0
    assert run("demo-data", "demo.parquet", "--stores", "1", "--items", "1", "--days", "40", cwd=cwd).returncode == 0
    for name in ("fc.parquet", "demo.parquet"):
        assert str(pq.read_schema(cwd / name).field("ds").type) == "timestamp[us]"
    assert str(pq.read_schema(cwd / "fc.parquet").field("origin").type) == "timestamp[us]"
    # tests/test_spark.py reads such a file with Spark.


def test_python_loads_a_cli_run_folder(tuned):
    """`predict out` took the run folder; GroupedProphetTuner.load("out") wanted out/tuner."""
    cwd, _ = tuned
    from_run = GroupedProphetTuner.load(str(cwd / "out"))
    from_tuner = GroupedProphetTuner.load(str(cwd / "out" / "tuner"))
    future = from_tuner.make_future_dataframe(periods=5)
    pd.testing.assert_frame_equal(from_run.predict(future), from_tuner.predict(future))


def test_a_forgotten_group_column_is_named_rather_than_summed(tmp_path):
    """Without --group, two items' rows clash on each date: the error named only the sum, which
    would merge 30 items into one series."""
    df = pd.DataFrame({"item": ["a"] * 40 + ["b"] * 40, "ds": list(pd.date_range("2024-01-01", periods=40)) * 2,
                       "y": np.arange(80.0), "note": "x"})
    df.to_csv(tmp_path / "two.csv", index=False)
    out = run("tune", "two.csv", "--trials", "1", "--out", "run", cwd=tmp_path)
    assert out.returncode == 1
    assert ("add the column that tells them apart to group_cols (--group on the command line): ['item']; "
            "if they are parts of one series' sales, aggregate them first") in out.stderr, out.stderr


def test_a_lower_case_country_code_works_from_the_shell_and_python_says_the_fix(tmp_path):
    df = pd.DataFrame({"ds": pd.date_range("2023-01-01", periods=120), "y": np.arange(120.0) % 7})
    df.to_csv(tmp_path / "one.csv", index=False)
    out = run("tune", "one.csv", "--trials", "1", "--horizon", "14", "--holidays", "us", "--out", "run", "--quiet",
              cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    with pytest.raises(ValueError, match=r"holidays_country='us' is not a country the holidays package knows; use an "
                                         r"ISO code such as 'US' \(codes are upper case\)"):
        GroupedProphetTuner(group_cols="item", holidays_country="us").fit(df.assign(item=1))


def test_the_summary_says_how_many_groups_had_fewer_folds(tmp_path):
    df = pd.concat([pd.DataFrame({"item": item, "ds": pd.date_range("2023-01-01", periods=n), "y": np.arange(n) % 7 + 1.0})
                    for item, n in ((1, 200), (2, 60))], ignore_index=True)
    df.to_csv(tmp_path / "two.csv", index=False)
    out = run("tune", "two.csv", "--group", "item", "--trials", "1", "--horizon", "14", "--out", "run", "--quiet",
              cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert results["n_folds"].tolist() == [3, 2]
    assert ("tuned 2 groups (2 ok); 1 of them had histories too short for 3 validation folds and were scored on "
            "fewer (results_['n_folds'])") in out.stderr


@pytest.mark.parametrize("checkpoint", [False, True])
def test_ctrl_c_says_how_to_keep_or_resume_the_work(tmp_path, checkpoint):
    """Ctrl-C printed a 30-line traceback without a word about --checkpoint-dir."""
    import signal
    import time

    made = run("demo-data", "sales.csv", "--stores", "2", "--items", "4", "--days", "400", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    # 8 groups x 200 trials ended within the 8 s on CI's faster machine: 5,000 trials take minutes anywhere
    args = ["tune", "sales.csv", "--group", "store,item", "--trials", "5000", "--patience", "0", "--out", "run"]
    if checkpoint:
        args += ["--checkpoint-dir", "ckpt"]
    # A session of its own, so that whatever is left on a timeout is found and killed; SIGINT's
    # default disposition, as in a terminal: a suite started in the background (`make test &`)
    # runs with SIGINT ignored, which its children inherit (the CLI then rightly ignored Ctrl-C).
    proc = subprocess.Popen([CLI, *args], cwd=tmp_path, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(8)  # well into the tuning
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        left = subprocess.run(["ps", "-o", "pid,ppid,stat,etime,args", "-s", str(proc.pid)],
                              capture_output=True, text=True, check=False).stdout
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        pytest.fail(f"still running 120 s after Ctrl-C (exit code {proc.poll()}); its processes:\n{left}\n{err}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # no worker outlives the test
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    if checkpoint:
        assert "interrupted: run the same command again to resume from ckpt: finished groups are read back." in err
    else:
        assert "interrupted: the groups tuned so far are lost; with --checkpoint-dir DIR" in err


def test_a_semicolon_separated_file_is_told_about_sep_and_reads_with_it(tmp_path):
    """A European CSV was told to "add --target-col item;ds;y"."""
    df = pd.DataFrame({"item": np.repeat([1, 2], 60), "ds": list(pd.date_range("2024-01-01", periods=60)) * 2,
                       "y": np.tile(np.arange(60.0) % 7, 2)})
    df.to_csv(tmp_path / "eu.csv", sep=";", index=False)
    out = run("tune", "eu.csv", "--group", "item", "--trials", "1", "--horizon", "7", "--out", "run", cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.startswith("error: eu.csv has a single column 'item;ds;y': its values look separated by ';', "
                                 "not commas. Add --sep ';'."), out.stderr
    ok = run("tune", "eu.csv", "--sep", ";", "--group", "item", "--trials", "1", "--horizon", "7", "--out", "run",
             "--quiet", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert len(pd.read_csv(tmp_path / "run" / "results.csv")) == 2


@pytest.mark.parametrize("uri, why", [
    ("http://127.0.0.1:9", "Max retries exceeded"),  # nothing listens: MLflow retried for minutes, after the tuning
    ("file:///{tmp}/mlruns", "filesystem tracking backend"),  # refused by MLflow 3, after the tuning, as a traceback
])
def test_an_mlflow_server_that_cannot_be_used_is_found_before_the_tuning(tuned, tmp_path, uri, why):
    import time

    cwd, _ = tuned
    uri = uri.format(tmp=tmp_path)
    start = time.monotonic()
    out = run("tune", "sales.csv", "--group", "store,item", "--trials", "3", "--out", str(tmp_path / "run"),
              "--mlflow-uri", uri, "--mlflow-experiment", "x", cwd=cwd)
    assert out.returncode == 1, out.stderr
    assert out.stderr.startswith(f"error: MLflow can't log to {uri!r}: MlflowException"), out.stderr
    assert why in out.stderr and "--mlflow-uri sqlite:///mlflow.db" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "run").exists()
    assert time.monotonic() - start < 60


def test_predict_reads_future_dates_in_the_format_given(tmp_path):
    """predict had no --date-format: a --future file with day-first dates could not be read."""
    df = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=90), "y": np.arange(90.0) % 7 + 1})
    df.to_csv(tmp_path / "h.csv", index=False)
    assert run("tune", "h.csv", "--trials", "1", "--horizon", "7", "--out", "run", "--quiet", cwd=tmp_path).returncode == 0
    future = pd.DataFrame({"series": "all", "ds": pd.date_range("2024-04-01", periods=3).strftime("%d.%m.%Y")})
    future.to_csv(tmp_path / "f.csv", index=False)
    out = run("predict", "run", "--future", "f.csv", "--date-format", "%d.%m.%Y", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    got = pd.read_csv(pd.io.common.StringIO(out.stdout))
    assert got["ds"].tolist() == ["2024-04-01", "2024-04-02", "2024-04-03"]


def test_predict_reads_ambiguous_future_dates_the_way_the_history_was_read(tmp_path):
    """The history's day-first dates (31.01.2024: only day-first reads it) were read, then a
    --future file of 01.05.2024 to 03.05.2024 (both ways) was refused: the format learnt at tune
    was not remembered. It is taken where the dates read both ways, and kept by save/load."""
    df = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=120).strftime("%d.%m.%Y"),
                       "y": np.arange(120.0) % 7 + 1})
    df.to_csv(tmp_path / "h.csv", index=False)
    tuned = run("tune", "h.csv", "--trials", "1", "--horizon", "7", "--out", "run", "--quiet", cwd=tmp_path)
    assert tuned.returncode == 0, tuned.stderr
    assert GroupedProphetTuner.load(str(tmp_path / "run")).date_format_ == "%d.%m.%Y"
    future = pd.DataFrame({"series": "all", "ds": ["01.05.2024", "02.05.2024", "03.05.2024"]})
    future.to_csv(tmp_path / "f.csv", index=False)
    out = run("predict", "run", "--future", "f.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    got = pd.read_csv(pd.io.common.StringIO(out.stdout), parse_dates=["ds"])
    assert list(got["ds"].dt.strftime("%Y-%m-%d")) == ["2024-05-01", "2024-05-02", "2024-05-03"]
    # ISO dates in the future file still read as ISO.
    future.assign(ds=["2024-05-01", "2024-05-02", "2024-05-03"]).to_csv(tmp_path / "iso.csv", index=False)
    iso = run("predict", "run", "--future", "iso.csv", cwd=tmp_path)
    assert iso.returncode == 0, iso.stderr
    assert pd.read_csv(pd.io.common.StringIO(iso.stdout))["yhat"].tolist() == got["yhat"].tolist()


def test_backtest_from_the_shell(tmp_path):
    make = run("demo-data", "s.csv", "--stores", "1", "--items", "2", "--days", "300", cwd=tmp_path)
    assert make.returncode == 0, make.stderr
    out = run("backtest", "s.csv", "--group", "store,item", "--origins", "2", "--horizon", "14", "--trials", "2",
              "--folds", "1", "--out", "bt", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    table = pd.read_csv(tmp_path / "bt" / "backtest.csv")
    assert list(table.columns) == ["store", "item", "origin", "method", "mae", "rmse", "bias", "coverage", "n"]
    assert len(table) == 2 * 2 * 3
    assert ("backtest of 2 group(s) at 2 origin(s), up to 14 held-out dates each; wrote bt/backtest.csv and "
            "report.html") in out.stderr
    assert "  tuned: MAE mean " in out.stderr and "better than untuned Prophet in " in out.stderr
    assert "  seasonal_naive: MAE mean " in out.stderr
