"""A fit's results kept compact on the driver: the study store gives back every record it was
given, results collected in chunks and out of order give the attributes a list of results in key
order gave, and the driver keeps under 1 KB per group of a one-trial fit."""

from __future__ import annotations

import gc
import json
import math
import random
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from prophet_grouped import fitting
from prophet_grouped.keys import key_order, key_sorted
from prophet_grouped.models import ModelStore
from prophet_grouped.progress import Progress
from prophet_grouped.results import PUBLIC_RESULT_COLUMNS, GroupResult
from prophet_grouped.studies import StudyStore

AUTO = {"changepoint_prior_scale": '{"name": "FloatDistribution", "attributes": {"step": null, "low": 0.001, "high": 0.5, "log": true}}',
        "seasonality_mode": '{"name": "CategoricalDistribution", "attributes": {"choices": ["additive", "multiplicative"]}}',
        "monthly_seasonality": '{"name": "CategoricalDistribution", "attributes": {"choices": [false, true]}}',
        "monthly_seasonality_prior_scale": '{"name": "FloatDistribution", "attributes": {"step": null, "low": 0.01, "high": 10.0, "log": true}}',
        "holidays": '{"name": "CategoricalDistribution", "attributes": {"choices": [null, "US"]}}'}


def _study(rng: random.Random, n_trials: int, distributions: dict[str, str] = AUTO) -> dict:
    trials = []
    for _ in range(n_trials):
        params = {"changepoint_prior_scale": rng.uniform(0.001, 0.5), "seasonality_mode": rng.choice(["additive", "multiplicative"]),
                  "monthly_seasonality": rng.random() < 0.5, "holidays": rng.choice([None, "US"])}
        if params["monthly_seasonality"]:  # a conditional parameter: absent from some trials
            params["monthly_seasonality_prior_scale"] = rng.uniform(0.01, 10)
        trials.append([params, rng.random() * 100])
    return {"distributions": dict(distributions), "trials": trials}


def test_study_store_gives_back_every_record():
    rng = random.Random(0)
    other = {"changepoint_prior_scale": AUTO["changepoint_prior_scale"], "seasonality_mode": AUTO["seasonality_mode"],
             "monthly_seasonality": AUTO["monthly_seasonality"], "holidays": AUTO["holidays"],
             "monthly_seasonality_prior_scale": AUTO["monthly_seasonality_prior_scale"],
             "yearly_seasonality": '{"name": "IntDistribution", "attributes": {"log": false, "step": 1, "low": 0, "high": 20}}'}
    studies = {(i, "a"): _study(rng, i % 4, AUTO if i % 3 else other) for i in range(40)}
    studies[(99, "b")] = {"distributions": {}, "trials": []}
    store = StudyStore(studies)
    assert store == studies and len(store) == 41 and (3, "a") in store and (3, "z") not in store
    # Exact values: floats, booleans, None as a choice, absent parameters stay absent.
    assert json.dumps(store[(5, "a")]) == json.dumps(studies[(5, "a")])
    assert sorted(len(names) for names, _ in store._variants) == [0, 5, 6], "each distinct set of distributions kept once"
    # A copy each time: changing what it gives changes nothing stored.
    got = store[(5, "a")]
    got["trials"][0][0]["holidays"] = "changed"
    got["distributions"].clear()
    assert store[(5, "a")] == studies[(5, "a")]
    store.reorder([(99, "b"), (1, "a")])
    assert list(store) == [(99, "b"), (1, "a")]


def test_study_store_refuses_what_is_not_a_study():
    store = StudyStore()
    with pytest.raises(ValueError, match=r"A study record is a mapping with 'distributions' and 'trials', got list for group \(1,\)"):
        store.add((1,), [1, 2])
    with pytest.raises(ValueError, match=r"trial parameters \['x'\] have no distribution"):
        store.add((1,), {"distributions": {}, "trials": [[{"x": 1.0}, 2.0]]})


def _result(key: tuple, rng: random.Random) -> GroupResult:
    status = rng.choice(["ok"] * 8 + ["fallback", "failed"])
    study = _study(rng, 1)
    best = study["trials"][0][0] if status == "ok" else {}
    return GroupResult(key=key, status=status, error=None if status == "ok" else f"ValueError: group {key} broke",
                       best_score=rng.random(), default_score=rng.random(), naive_score=rng.random(), n_folds=1,
                       n_trials=1, seconds=rng.random(), best_params=dict(best), trials=[rng.random()], study=study,
                       history_end="2021-03-01", clipped=rng.random() < 0.9, model="prophet" if status != "failed" else None,
                       model_record=("pickle", b"m") if status != "failed" else None)


def _from_list(results: list[GroupResult], group_cols: list[str]) -> dict:
    """The attributes as they were made before results were collected compactly: one list of
    results, sorted by key, turned into frames at once."""
    results = sorted(results, key=lambda r: key_order(r.key))
    rows = [{**dict(zip(group_cols, r.key)), **{c: getattr(r, c) for c in PUBLIC_RESULT_COLUMNS}} for r in results]
    table = pd.DataFrame(rows, columns=group_cols + list(PUBLIC_RESULT_COLUMNS))
    table["history_end"] = pd.to_datetime(table["history_end"]).astype("datetime64[ns]")
    best = [{**dict(zip(group_cols, r.key)), **r.best_params} for r in results if r.status == "ok"]
    return {"results_": table, "best_params_": pd.DataFrame(best), "trials_": {r.key: list(r.trials) for r in results},
            "studies_": {r.key: r.study for r in results if r.study is not None}}


def test_chunks_out_of_order_give_what_one_sorted_list_gave(monkeypatch, sales6):
    rng = random.Random(3)
    keys = [(store, item) for store in (2, 1, 10) for item in ("b", "a", "c", "aa")]
    results = [_result(key, rng) for key in keys]
    rng.shuffle(results)
    expected = _from_list([GroupResult(**vars(r)) for r in results], ["store", "item"])
    monkeypatch.setattr(fitting.Collected, "CHUNK", 5)  # three chunks and a partial one
    collected = fitting._collect(iter(results), [], Progress(None, enabled=False), "warn", ["store", "item"])
    config = fitting.plan.make_config(fitting_params())[1]
    with pytest.warns(UserWarning) as caught:
        got = fitting.fitted_attributes(fitting.Fitted(collected, ["store", "item"], config), "auto")
    pd.testing.assert_frame_equal(got["results_"], expected["results_"])
    pd.testing.assert_frame_equal(got["best_params_"], expected["best_params_"])
    assert list(got["trials_"].items()) == list(expected["trials_"].items())
    assert list(got["studies_"]) == list(expected["studies_"]) and got["studies_"] == expected["studies_"]
    assert isinstance(got["models_"], ModelStore) and list(got["models_"]) == [
        k for k in sorted(keys, key=key_order) if k in got["models_"]]
    failed = sorted(r.key for r in results if r.status == "failed")
    text = " ".join(str(w.message) for w in caught)
    assert f"{len(failed)} of 12 group(s) failed and have no model" in text
    assert repr(min(failed, key=key_order)) in text


def test_keys_sort_in_key_order_without_a_sort_key_per_group():
    """The fast path (keys compared as they are, where each column holds one kind) gives the
    order key_order gives, and columns of mixed kinds still sort by key_order."""
    rng = random.Random(5)
    day = pd.Timestamp("2024-01-01")
    cases = {
        "numbers": [(rng.choice([1, 2, 10, 2.5, True, -3]), rng.randint(0, 50)) for _ in range(300)],
        "text and dates": [(rng.choice(["b", "a", "10", "1", "aa"]), day + pd.Timedelta(days=rng.randint(0, 9)))
                           for _ in range(300)],
        "mixed kinds": [(rng.choice([1, "1", 10, "b", day]), rng.random()) for _ in range(300)],
        "a NaN": [(rng.choice([1.0, float("nan"), 2.0]),) for _ in range(50)],
        "time zones": [(day,), (day.tz_localize("UTC"),), (day + pd.Timedelta(hours=1),)],
    }
    for name, keys in cases.items():
        expected = sorted(range(len(keys)), key=lambda i: key_order(keys[i]))
        assert [key_order(keys[i]) for i in key_sorted(keys)] == [key_order(keys[i]) for i in expected], name
    assert key_sorted([]) == []


def fitting_params():
    from prophet_grouped import GroupedProphetTuner

    return GroupedProphetTuner(group_cols=["store", "item"])


def test_driver_keeps_under_1_kb_per_group_of_a_one_trial_fit():
    """What the driver holds after collecting 8,000 one-trial results as Spark sends them (rows
    with JSON text): 0.59 KB per group held, 0.88 KB at the peak (putting the tables in key
    order), where the old list of results held 2.5 KB per group and took 5.3 KB at its peak."""
    rng = random.Random(1)
    template = _result((0,), rng)
    template.status, template.error, template.best_params = "ok", None, dict(template.study["trials"][0][0])
    template.model_record = None
    row = template.to_record(["item"])
    n = 8000

    def rows():
        for i in range(n):
            yield GroupResult.from_record({**row, "item": int(i * 7919 % n)}, ["item"])  # out of order

    config = fitting.plan.make_config(fitting_params())[1]
    gc.collect()
    tracemalloc.start()
    try:
        collected = fitting._collect(rows(), [], Progress(None, enabled=False), "warn", ["item"])
        got = fitting.fitted_attributes(fitting.Fitted(collected, ["item"], config), "auto")
        del collected
        gc.collect()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(got["results_"]) == n and list(got["results_"]["item"]) == list(range(n))
    assert got["studies_"][(3,)] == template.study and math.isclose(got["trials_"][(3,)][0], template.trials[0])
    assert np.isfinite(got["results_"]["best_score"]).all()
    assert held / n < 1024, f"{held / n:.0f} B per group held"
    assert peak / n < 1536, f"{peak / n:.0f} B per group at the peak"
