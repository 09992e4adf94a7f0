"""Reliability on the local backend: unusable groups, trial timeouts, checkpoint and resume."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import psutil
import pytest

from prophet_grouped import GroupedProphetTuner, GroupFitWarning, make_retail_sales
from prophet_grouped.engines import remove_stale_output_dirs

from .conftest import (
    CROSS_BACKEND,
    SleepOnce,
    assert_same_results,
    assert_unusable_results,
    check_checkpoint_resume,
    unusable_sales,
)

SMALL = dict(group_cols=["store", "item"], n_trials=3, horizon=30, random_state=0, cv_folds=1)


# ---------------------------------------------------------------- unusable groups
def test_unusable_groups_become_failed_rows_with_reasons():
    with pytest.warns(GroupFitWarning, match=r"3 of 5 group\(s\) failed and have no model"):
        tuner = GroupedProphetTuner(n_jobs=2, **SMALL).fit(unusable_sales())
    assert_unusable_results(tuner)
    fc = tuner.predict(tuner.make_future_dataframe(periods=5))
    assert len(fc) == 10 and fc["yhat"].notna().all()


def test_fallback_covers_unusable_groups_where_a_default_model_can_fit():
    with pytest.warns(GroupFitWarning):
        tuner = GroupedProphetTuner(n_jobs=1, fallback="default", **SMALL).fit(unusable_sales())
    res = tuner.results_.set_index("item")
    # Constant and short series get a default Prophet; an all-missing one can't.
    assert list(res.loc[[1, 2, 3, 4, 5], "status"]) == ["ok", "ok", "failed", "fallback", "fallback"]
    assert res.loc[3, "error"].endswith("the default fallback failed too: 0 observed y value(s), a model needs at least 2")
    assert set(tuner.models_) == {(1, 1), (1, 2), (1, 4), (1, 5)}


def test_negative_values_under_fixed_multiplicative_seasonality_fail_the_group():
    df = make_retail_sales(n_stores=1, n_items=2, periods=300, seed=0)
    df.loc[df["item"] == 2, "y"] -= 1000.0
    with pytest.warns(GroupFitWarning):
        tuner = GroupedProphetTuner(
            n_jobs=1, prophet_params={"seasonality_mode": "multiplicative"},
            search_space={"changepoint_prior_scale": (0.01, 0.5)}, **SMALL,
        ).fit(df)
    res = tuner.results_.set_index("item")
    assert res.loc[1, "status"] == "ok"
    assert res.loc[2, "status"] == "failed"
    assert res.loc[2, "error"] == (
        "ValueError: y has 300 negative values, which multiplicative seasonality (fixed in "
        "prophet_params) can't model; use seasonality_mode='additive'"
    )


def test_negative_values_fail_only_the_multiplicative_trials_when_the_mode_is_tuned():
    df = make_retail_sales(n_stores=1, n_items=1, periods=300, seed=0)
    df["y"] -= 1000.0
    tuner = GroupedProphetTuner(
        n_jobs=1, n_trials=8, search_space={"seasonality_mode": ["additive", "multiplicative"]},
        **{k: v for k, v in SMALL.items() if k != "n_trials"},
    ).fit(df)
    assert tuner.results_.loc[0, "status"] == "ok"
    assert tuner.best_params_.loc[0, "seasonality_mode"] == "additive"
    failed = tuner.results_.loc[0, "n_failed_trials"]
    assert 0 < failed < 8 and sum(t is None for t in tuner.trials_[(1, 1)]) == failed


# ---------------------------------------------------------------- trial timeout
def test_hanging_trial_is_stopped_by_trial_timeout_and_the_study_goes_on(tmp_path):
    df = make_retail_sales(n_stores=1, n_items=2, periods=300, seed=0)
    metric = SleepOnce(str(tmp_path / "slept"), seconds=120)
    started = time.monotonic()
    tuner = GroupedProphetTuner(n_jobs=2, metric=metric, trial_timeout=3, **SMALL).fit(df)
    elapsed = time.monotonic() - started
    assert os.path.exists(tmp_path / "slept")
    assert elapsed < 60, f"the hanging trial was not cut ({elapsed:.0f} s)"
    assert (tuner.results_["status"] == "ok").all()
    assert tuner.results_["n_failed_trials"].sum() == 1
    assert sum(t is None for trials in tuner.trials_.values() for t in trials) == 1


def _cmdstan_children(pid):
    """Processes whose parent is ``pid`` and that run Prophet's cmdstan model."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            try:
                with open(f"/proc/{entry}/cmdline") as fh:
                    cmdline = fh.read()
            except OSError:
                continue
            if int(fields[1]) == pid and "prophet_model" in cmdline:
                kids.append(int(entry))
    return kids


def test_stan_fit_over_its_timeout_is_killed():
    from prophet_grouped.engines import fit_prophet, stan_output_dir
    from prophet_grouped.objective import build_prophet

    df = make_retail_sales(n_stores=1, n_items=1, periods=2000, seed=0)[["ds", "y"]]
    with stan_output_dir() as out, pytest.raises(TimeoutError):
        # cmdstan can't even start in a millisecond: cmdstanpy's timer terminates it.
        fit_prophet(lambda: build_prophet({}, None, "US", 0), df, "stan", out, timeout=0.001)
    time.sleep(0.5)
    assert _cmdstan_children(os.getpid()) == []


def test_stan_trials_over_the_timeout_fail_with_the_reason():
    df = make_retail_sales(n_stores=1, n_items=1, periods=2000, seed=0)
    with pytest.warns(GroupFitWarning, match="trial_timeout=0.001"):
        tuner = GroupedProphetTuner(n_jobs=1, engine="stan", trial_timeout=0.001, **SMALL).fit(df)
    res = tuner.results_.iloc[0]
    assert res["status"] == "failed"
    assert res["error"].startswith(
        "RuntimeError: all 3 trials failed; first error: TrialTimeout: the trial took longer than trial_timeout=0.001 s")
    time.sleep(0.5)
    assert _cmdstan_children(os.getpid()) == []


# ---------------------------------------------------------------- checkpoint and resume
_KILLED_FIT = """
import sys
sys.path.insert(0, {root!r})
from prophet_grouped import GroupedProphetTuner, make_retail_sales
from tests.conftest import CROSS_BACKEND, SlowMetric
df = make_retail_sales(n_stores=2, n_items=3, periods=400, seed=1)
GroupedProphetTuner(n_jobs=2, checkpoint_dir={ckpt!r}, **{{**CROSS_BACKEND, "metric": SlowMetric(0.15)}}).fit(df)
print("finished")
"""


def _group_files(ckpt):
    folder = os.path.join(ckpt, "groups")
    return {n: os.stat(os.path.join(folder, n)).st_ino for n in os.listdir(folder) if n.endswith(".json")}


def test_sigkilled_fit_resumes_from_checkpoint_with_the_same_result(sales6, tmp_path):
    from .conftest import SlowMetric

    ckpt = str(tmp_path / "ckpt")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_FIT.format(root=root, ckpt=ckpt)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.isdir(os.path.join(ckpt, "groups")) and len(_group_files(ckpt)) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"the fit ended before it could be killed: {proc.communicate()}"
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert workers, "the fit runs its groups in worker processes"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # The workers die with their driver (before, they stayed blocked on a pipe for minutes).
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"worker processes outlived their killed driver: {alive}"
    before = _group_files(ckpt)
    assert 2 <= len(before) < 6, before

    resumed = GroupedProphetTuner(n_jobs=2, checkpoint_dir=ckpt, **{**CROSS_BACKEND, "metric": SlowMetric(0.15)}).fit(sales6)
    after = _group_files(ckpt)
    assert len(after) == 6
    assert all(after[name] == inode for name, inode in before.items()), "finished groups were tuned again"
    uninterrupted = GroupedProphetTuner(n_jobs=2, **{**CROSS_BACKEND, "metric": SlowMetric(0.15)}).fit(sales6)
    assert_same_results(resumed, uninterrupted)
    pd.testing.assert_frame_equal(resumed.results_.drop(columns="seconds"),
                                  uninterrupted.results_.drop(columns="seconds"))
    fc = resumed.make_future_dataframe(periods=7)
    pd.testing.assert_frame_equal(resumed.predict(fc)[["yhat"]], uninterrupted.predict(fc)[["yhat"]])


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory):
    df = make_retail_sales(n_stores=1, n_items=2, periods=300, seed=0)
    ckpt = str(tmp_path_factory.mktemp("ckpt"))
    tuner = GroupedProphetTuner(n_jobs=1, checkpoint_dir=ckpt, **SMALL).fit(df)
    return df, ckpt, tuner


def test_checkpoint_files_are_plain_json_with_the_result(checkpointed):
    df, ckpt, tuner = checkpointed
    with open(os.path.join(ckpt, "manifest.json")) as fh:
        manifest = json.load(fh)
    assert manifest["group_cols"] == ["store", "item"]
    assert manifest["settings"]["n_trials"] == 3
    files = sorted(os.listdir(os.path.join(ckpt, "groups")))
    assert len(files) == 2 and all(f.endswith(".json") for f in files)
    records = []
    for name in files:
        with open(os.path.join(ckpt, "groups", name)) as fh:
            records.append(json.load(fh))
    by_key = {tuple(r["key"]): r["result"] for r in records}
    for key, trials in tuner.trials_.items():
        assert by_key[key]["trials"] == trials
        assert by_key[key]["status"] == "ok" and by_key[key]["model_json"]


def test_rerun_with_a_complete_checkpoint_tunes_nothing(checkpointed):
    df, ckpt, tuner = checkpointed
    before = _group_files(ckpt)
    again = GroupedProphetTuner(n_jobs=1, checkpoint_dir=ckpt, **SMALL)
    again.fit(df)
    assert _group_files(ckpt) == before
    pd.testing.assert_frame_equal(again.results_, tuner.results_)


def test_checkpoint_of_other_settings_is_refused(checkpointed):
    df, ckpt, _ = checkpointed
    with pytest.raises(ValueError, match=re.escape(
        f"checkpoint_dir={ckpt!r} holds a checkpoint of a fit with different settings (changed: ['n_trials'])"
    )):
        GroupedProphetTuner(n_jobs=1, checkpoint_dir=ckpt, **{**SMALL, "n_trials": 4}).fit(df)
    with pytest.raises(ValueError, match=r"changed: \['group_cols'\]"):
        GroupedProphetTuner(n_jobs=1, checkpoint_dir=ckpt, **{**SMALL, "group_cols": ["item", "store"]}).fit(df)


def test_checkpoint_of_other_data_is_refused(checkpointed):
    df, ckpt, _ = checkpointed
    changed = df.copy()
    changed.loc[changed.index[-1], "y"] += 1
    with pytest.raises(ValueError, match=re.escape(
        f"checkpoint_dir={ckpt!r} holds group (1, 2) tuned on different data (300 rows then, 300 now, or changed values)"
    )):
        GroupedProphetTuner(n_jobs=1, checkpoint_dir=ckpt, **SMALL).fit(changed)


def test_a_folder_that_is_not_a_checkpoint_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="is a non-empty folder that is not a prophet_grouped checkpoint"):
        GroupedProphetTuner(n_jobs=1, checkpoint_dir=str(tmp_path), **SMALL).fit(make_retail_sales(1, 1, 300))
    assert os.listdir(tmp_path) == ["notes.txt"]


# ---------------------------------------------------------------- hygiene
def test_output_folders_of_dead_processes_are_removed(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    (tmp_path / f"prophet_grouped_{dead_pid}_abc").mkdir()
    (tmp_path / f"prophet_grouped_{os.getpid()}_live").mkdir()
    (tmp_path / "prophet_grouped_tune_xyz").mkdir()
    assert remove_stale_output_dirs() == [f"prophet_grouped_{dead_pid}_abc"]
    assert sorted(os.listdir(tmp_path)) == sorted([f"prophet_grouped_{os.getpid()}_live", "prophet_grouped_tune_xyz"])


def test_groups_with_some_missing_values_are_tuned_on_the_rest():
    df = make_retail_sales(n_stores=1, n_items=1, periods=300, seed=0)
    full = GroupedProphetTuner(n_jobs=1, **SMALL).fit(df)
    gappy = df.copy()
    gappy.loc[gappy.index[:100], "y"] = np.nan  # missing at the start: the folds keep their data
    tuned = GroupedProphetTuner(n_jobs=1, **SMALL).fit(gappy)
    assert tuned.results_.loc[0, "status"] == "ok"
    assert tuned.models_[(1, 1)].history["ds"].min() == df["ds"].iloc[100]
    assert tuned.results_.loc[0, "best_score"] != full.results_.loc[0, "best_score"]


def test_local_checkpoint_contract(tmp_path):
    check_checkpoint_resume(str(tmp_path / "ckpt"), lambda df: df, n_jobs=2)


# ---------------------------------------------------------------- checkpoint faults
def test_resume_with_the_default_random_state_reuses_the_stored_seed(tmp_path):
    df = make_retail_sales(n_stores=1, n_items=2, periods=300, seed=0)
    settings = {k: v for k, v in SMALL.items() if k != "random_state"}
    ckpt = str(tmp_path / "ckpt")
    first = GroupedProphetTuner(n_jobs=1, checkpoint_dir=ckpt, **settings).fit(df)
    # One group's file removed: the resumed fit tunes it again with the stored seed.
    os.unlink(os.path.join(ckpt, "groups", sorted(_group_files(ckpt))[0]))
    resumed = GroupedProphetTuner(n_jobs=1, checkpoint_dir=ckpt, **settings).fit(df)
    assert resumed.random_state_ == first.random_state_
    assert len(_group_files(ckpt)) == 2
    pd.testing.assert_frame_equal(resumed.results_.drop(columns="seconds"), first.results_.drop(columns="seconds"))


def test_two_different_lambdas_are_two_settings(tmp_path):
    df = make_retail_sales(n_stores=1, n_items=1, periods=300, seed=0)
    ckpt = str(tmp_path / "ckpt")
    GroupedProphetTuner(n_jobs=1, checkpoint_dir=ckpt, metric=lambda t, p: float(np.mean(np.abs(t - p))),
                        **SMALL).fit(df)
    with pytest.raises(ValueError, match=r"different settings \(changed: \['metric'\]\)"):
        GroupedProphetTuner(n_jobs=1, checkpoint_dir=ckpt, metric=lambda t, p: float(np.mean((t - p) ** 2)),
                            **SMALL).fit(df)


def test_corrupt_group_file_is_tuned_again_and_failed_groups_are_retried(tmp_path, caplog):
    from prophet_grouped.checkpoint import group_path

    df = make_retail_sales(n_stores=1, n_items=3, periods=300, seed=0)
    df.loc[df["item"] == 3, "y"] = np.nan  # a group that fails
    ckpt = str(tmp_path / "ckpt")
    with pytest.warns(GroupFitWarning):
        first = GroupedProphetTuner(n_jobs=1, checkpoint_dir=ckpt, **SMALL).fit(df)
    files = _group_files(ckpt)
    name = {key: os.path.basename(group_path(ckpt, key)) for key in [(1, 1), (1, 2), (1, 3)]}
    with open(group_path(ckpt, (1, 1)), "w") as fh:
        fh.write('{"key": [1, 1], "data": "30')  # a writer killed mid-file
    with pytest.warns(GroupFitWarning), caplog.at_level("WARNING", logger="prophet_grouped.checkpoint"):
        again = GroupedProphetTuner(n_jobs=1, checkpoint_dir=ckpt, **SMALL).fit(df)
    assert "can't be read" in caplog.text and "tuning the group again" in caplog.text
    after = _group_files(ckpt)
    assert after[name[(1, 1)]] != files[name[(1, 1)]]  # tuned again, rewritten
    assert after[name[(1, 3)]] != files[name[(1, 3)]]  # the failed group was retried
    assert after[name[(1, 2)]] == files[name[(1, 2)]]  # the good one was read back
    pd.testing.assert_frame_equal(again.results_.drop(columns="seconds"), first.results_.drop(columns="seconds"))


def test_a_checkpoint_folder_that_cannot_be_written_is_one_clear_error(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    bad = str(tmp_path / "file.txt" / "ckpt")
    with pytest.raises(ValueError, match=r"checkpoint_dir='.*file.txt/ckpt' can't be written \(.*\)\. Give a folder"):
        GroupedProphetTuner(n_jobs=1, checkpoint_dir=bad, **SMALL).fit(make_retail_sales(1, 1, 300))


def test_numpy_values_from_a_callable_space_are_checkpointed(tmp_path):
    def space(trial):
        return {"n_changepoints": np.int64(trial.suggest_int("n_changepoints", 5, 25)),
                "changepoint_prior_scale": np.float64(trial.suggest_float("changepoint_prior_scale", 0.01, 0.5))}

    ckpt = str(tmp_path / "ckpt")
    tuner = GroupedProphetTuner(n_jobs=1, checkpoint_dir=ckpt, search_space=space, **SMALL).fit(
        make_retail_sales(1, 1, 300))
    assert tuner.results_.loc[0, "status"] == "ok" and tuner.results_.loc[0, "error"] is None
    assert len(_group_files(ckpt)) == 1


def test_failed_groups_are_tuned_again_on_resume_unless_kept(tmp_path):
    df = unusable_sales()
    settings = dict(group_cols=["store", "item"], n_trials=2, horizon=14, cv_folds=1, n_jobs=1, random_state=0,
                    checkpoint_dir=str(tmp_path), verbose=0)
    with pytest.warns(GroupFitWarning):
        first = GroupedProphetTuner(**settings).fit(df)
    failed = first.results_["status"] == "failed"
    assert failed.sum() == 2  # all NaN, constant
    with pytest.warns(GroupFitWarning):
        kept = GroupedProphetTuner(retry_failed=False, **settings).fit(df)
    with pytest.warns(GroupFitWarning):
        retried = GroupedProphetTuner(**settings).fit(df)
    # Read back (the very same stored seconds) against tuned again (new timings), same reasons.
    pd.testing.assert_series_equal(kept.results_["seconds"], first.results_["seconds"])
    assert (retried.results_.loc[failed, "seconds"] != first.results_.loc[failed, "seconds"]).all()
    pd.testing.assert_series_equal(kept.results_["error"], retried.results_["error"])
    with pytest.raises(TypeError, match="retry_failed must be True or False, got 'no'"):
        GroupedProphetTuner(retry_failed="no").fit(df)


def test_a_callable_setting_whose_closure_holds_a_module_is_described():
    """A search space defined in a function that imported numpy locally holds the module in its
    closure: its checkpoint description names the module (it once recursed through it)."""
    from prophet_grouped.checkpoint import _describe

    def make_space():
        import numpy as npl

        def space(trial):
            return {"n_changepoints": npl.int64(trial.suggest_int("n_changepoints", 5, 25))}

        return space

    described = _describe(make_space())
    assert described.startswith("tests.test_reliability.test_a_callable_setting_whose_closure_holds_a_module_is_described."
                                "<locals>.make_space.<locals>.space#")
    assert described == _describe(make_space())  # stable: the same code and closure, the same text
    cyclic: list = []
    cyclic.append(cyclic)
    assert _describe(cyclic) == ["<cycle: list>"]


def test_short_histories_get_the_untuned_model_with_the_default_fallback():
    """13 monthly points: too short for any validation fold. Refused before any work without a
    fallback (saying how to get one); with fallback='default' each gets untuned Prophet, flagged."""
    df = pd.DataFrame({"item": np.repeat([1, 2], 13), "ds": list(pd.date_range("2023-01-01", periods=13, freq="MS")) * 2,
                       "y": np.r_[np.linspace(10, 20, 13), np.linspace(5, 9, 13)]})
    params = dict(group_cols="item", n_trials=2, n_jobs=1, verbose=0)
    with pytest.raises(ValueError, match=r"All 2 group\(s\) are too short .* or set fallback='default'"):
        GroupedProphetTuner(**params).fit(df)
    with pytest.warns(GroupFitWarning, match=r"2 of 2 group\(s\) could not be tuned and got an untuned default Prophet"):
        tuner = GroupedProphetTuner(fallback="default", **params).fit(df)
    assert (tuner.results_["status"] == "fallback").all()
    assert tuner.results_["error"].str.contains("too short for cutoff").all()
    fc = tuner.predict(tuner.make_future_dataframe(periods=3))
    assert len(fc) == 6 and fc["yhat"].notna().all()


def test_warnings_point_at_the_users_line():
    """GroupFitWarning pointed inside the library (a fixed stacklevel), not at the fit call."""
    import inspect

    df = make_retail_sales(n_stores=1, n_items=2, periods=200, seed=0)
    df.loc[df["item"] == 2, "y"] = 5.0  # constant: the group fails
    tuner = GroupedProphetTuner(group_cols=["store", "item"], n_trials=2, horizon=14, n_jobs=1, verbose=0)
    with pytest.warns(GroupFitWarning) as fit_warnings:
        line = inspect.currentframe().f_lineno + 1
        tuner.fit(df)
    with pytest.warns(GroupFitWarning) as forecast_warnings:
        forecast_line = inspect.currentframe().f_lineno + 1
        tuner.forecast(df, periods=3)
    for caught, expected in ((fit_warnings, line), (forecast_warnings, forecast_line)):
        assert [(w.filename, w.lineno) for w in caught if w.category is GroupFitWarning] == [(__file__, expected)]
