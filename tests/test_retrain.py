"""The weekly loop: warm-started studies and champion-challenger promotion."""

import os
import shutil

import numpy as np
import pandas as pd
import pytest

from prophet_grouped import GroupedProphetTuner, make_retail_sales
from prophet_grouped.retrain import WARM_TOP, is_prior, lead_holds

GROUPS = ["store", "item"]
# The raw target: these scenarios count first trials (Prophet's defaults, then the previous best
# sets), and the transform choice would add the defaults on log1p(y) to them (test_transforms.py).
SETTINGS = dict(group_cols=GROUPS, horizon=28, cv_folds=1, n_jobs=2, verbose=0, transform=None)


@pytest.fixture(scope="module")
def weeks():
    """Eight groups of 600 days; "then" ends four weeks earlier and lacks group (2, 4)."""
    df = make_retail_sales(n_stores=2, n_items=4, periods=600, seed=3)
    then = df[(df["ds"] <= df["ds"].max() - pd.Timedelta(days=28)) & ~((df["store"] == 2) & (df["item"] == 4))]
    return then, df


@pytest.fixture(scope="module")
def first(weeks, tmp_path_factory):
    """The first run, 8 trials, saved."""
    tuner = GroupedProphetTuner(n_trials=8, random_state=0, **SETTINGS).fit(weeks[0])
    folder = str(tmp_path_factory.mktemp("run") / "run1")
    tuner.save(folder)
    return tuner, folder


def test_studies_are_kept_and_saved(first):
    tuner, folder = first
    assert set(tuner.studies_) == set(tuner.trials_)
    for key, study in tuner.studies_.items():
        complete = [loss for loss in tuner.trials_[key] if loss is not None]
        assert [loss for _, loss in study["trials"]] == complete
        assert set(study["distributions"]) == set(study["trials"][0][0])
    assert GroupedProphetTuner.load(folder).studies_ == tuner.studies_


def test_warm_start_adds_the_previous_trials_and_runs_the_previous_best_first(first, weeks):
    tuner, folder = first
    warm = GroupedProphetTuner(n_trials=4, random_state=1, warm_start=folder, **SETTINGS).fit(weeks[1])
    results = warm.results_.set_index(GROUPS)
    joined = []
    for key, study in tuner.studies_.items():
        own = warm.studies_[key]["trials"]
        # The previous trials join when the previous best sets' lead over Prophet's defaults
        # (the first trial of both studies) held on the new folds.
        ranked = []
        for params, loss in sorted(study["trials"], key=lambda pv: pv[1]):
            if params not in [p for p, _ in ranked]:
                ranked.append((params, loss))
        new_loss = {str(sorted(params.items())): loss for params, loss in own}
        pairs = [(loss, new_loss[str(sorted(params.items()))]) for params, loss in ranked[:WARM_TOP]]
        default = (study["trials"][0][1], own[0][1])
        assert study["trials"][0][0] == own[0][0]
        held = lead_holds(pairs, default)
        assert results.loc[key, "prior_trials"] == (len(study["trials"]) if held else 0)
        joined.append(held)
        assert len(own) == 4 == results.loc[key, "n_trials"]  # the previous trials are not counted as its own
        best = min(study["trials"], key=lambda pv: pv[1])[0]
        first_trials = [params for params, _ in own[:2]]
        # Prophet's defaults first, then the previous best (unless it was the defaults).
        assert best in first_trials
    assert any(joined) and not all(joined), f"both cases should occur in this data: {joined}"
    assert results.loc[(2, 4), "prior_trials"] == 0, "a new group starts cold"
    # The same from the fitted object as from its saved folder, whose models are not read.
    again = GroupedProphetTuner(n_trials=4, random_state=1, warm_start=tuner, **SETTINGS).fit(weeks[1])
    pd.testing.assert_frame_equal(again.results_.drop(columns="seconds"), warm.results_.drop(columns="seconds"))
    light = os.path.join(os.path.dirname(folder), "without_models")
    shutil.copytree(folder, light)
    os.remove(os.path.join(light, "models.jsonl"))
    third = GroupedProphetTuner(n_trials=4, random_state=1, warm_start=light, **SETTINGS).fit(weeks[1])
    pd.testing.assert_frame_equal(third.results_.drop(columns="seconds"), warm.results_.drop(columns="seconds"))


def test_a_model_that_gained_a_seasonality_does_not_reuse_the_previous_trials():
    """Four weeks more history take the groups past two years: the "auto" space gains the yearly
    seasonality, so the previous trials (of models without it) are not handed to the sampler;
    the previous best is still scored again among the first trials."""
    df = make_retail_sales(n_stores=1, n_items=2, periods=745, seed=3)
    then = df[df["ds"] <= df["ds"].max() - pd.Timedelta(days=28)]
    previous = GroupedProphetTuner(n_trials=4, random_state=0, **SETTINGS).fit(then)
    assert not previous.best_params_["yearly_seasonality"].any()
    warm = GroupedProphetTuner(n_trials=5, random_state=1, warm_start=previous, **SETTINGS).fit(df)
    assert warm.best_params_["yearly_seasonality"].all()
    assert (warm.results_["prior_trials"] == 0).all()
    for key, study in previous.studies_.items():
        best = min(study["trials"], key=lambda pv: pv[1])[0]
        assert best in [params for params, _ in warm.studies_[key]["trials"][:2]]
    # The same histories without the change (the yearly seasonality fixed off in both runs):
    # the previous trials are reused (where the previous lead held: here in one of the groups).
    off = dict(SETTINGS, prophet_params={"yearly_seasonality": False})
    previous = GroupedProphetTuner(n_trials=4, random_state=0, **off).fit(then)
    warm = GroupedProphetTuner(n_trials=5, random_state=1, warm_start=previous, **off).fit(df)
    assert (warm.results_["prior_trials"] == 4).any()


@pytest.mark.parametrize("rescored, default, holds", [
    ([(0.20, 0.24), (0.22, 0.25)], (0.30, 0.30), True),    # lead 33% before, 20% now (>= half)
    ([(0.20, 0.29), (0.22, 0.25)], (0.30, 0.30), False),   # the previous best (0.20) leads by 3% now
    ([(0.35, 0.50)], (0.30, 0.30), False),                 # no lead before: the search found nothing
    ([(0.30, 0.28)], (0.30, 0.30), False),                 # the defaults were the previous best
    ([(0.20, 0.29)], None, True),                          # the defaults were not scored before
    ([], (0.30, 0.30), True),
    ([(0.20, float("nan"))], (0.30, 0.30), True),
])
def test_the_previous_lead_over_the_defaults_must_hold(rescored, default, holds):
    assert lead_holds(rescored, default) is holds


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 0, 1), (1, 2, 0)])
def test_the_warm_start_decides_once_every_first_trial_has_run_in_any_order(order):
    """With parallel trials (Ray's trials mode) a sampled trial and some of the rescored sets can
    finish before the previous best has been scored again: the previous trials are added (or
    not) only once the defaults and every rescored set have run, the same decision in any order."""
    import optuna

    from prophet_grouped.retrain import WarmStart

    dist = {"cps": optuna.distributions.FloatDistribution(0.001, 0.5, log=True)}
    default = {"cps": 0.05}
    previous = [(default, 0.30), ({"cps": 0.2}, 0.20), ({"cps": 0.01}, 0.22), ({"cps": 0.3}, 0.25)]
    rescored = previous[1:3]
    # On the new folds the previous best leads the defaults by 20% (it led by 33%: it holds);
    # the second-best set leads by 3% only (alone, it would not hold).
    new_loss = {0.05: 0.30, 0.2: 0.24, 0.01: 0.29}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for params in (default, *(p for p, _ in rescored)):
        study.enqueue_trial(params)
    warm = WarmStart(previous, dist, rescored, first=3, default=default)
    asked = [study.ask(dist) for _ in range(4)]  # the fourth is sampled, run alongside
    study.tell(asked[3], 0.5)
    warm(study, study.trials[3])
    for done, i in enumerate(order, start=1):
        study.tell(asked[i], new_loss[asked[i].params["cps"]])
        warm(study, study.trials[i])
        assert warm.decided is (done == 3)
    assert warm.added == len(previous)
    assert sum(is_prior(t) for t in study.trials) == len(previous)


def test_the_warm_start_adds_the_previous_trials_once_when_trials_finish_together():
    """Two trials finishing at once called the callback from two threads: both saw it undecided
    and both added the previous trials (the decision was not under a lock)."""
    import pickle
    import threading
    import time

    import optuna

    from prophet_grouped.retrain import WarmStart

    dist = {"cps": optuna.distributions.FloatDistribution(0.001, 0.5, log=True)}
    previous = [({"cps": 0.05}, 0.30), ({"cps": 0.2}, 0.20)]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial({"cps": 0.05})
    study.enqueue_trial({"cps": 0.2})
    for loss in (0.30, 0.20):
        study.tell(study.ask(dist), loss)

    class SlowStudy:  # the real study, read slowly: both threads are inside the callback at once
        def get_trials(self, deepcopy=False):
            time.sleep(0.2)
            return study.get_trials(deepcopy=deepcopy)

        def add_trials(self, trials):
            study.add_trials(trials)

    # Ray ships the callback to its workers: it must pickle (the lock is made anew).
    warm = pickle.loads(pickle.dumps(WarmStart(previous, dist, previous[1:], first=2, default=previous[0][0])))
    threads = [threading.Thread(target=warm, args=(SlowStudy(), study.trials[i])) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert warm.added == len(previous)
    assert sum(is_prior(t) for t in study.trials) == len(previous)


def test_champion_kept_unless_beaten_with_exactly_its_parameters(first, weeks):
    tuner, folder = first
    challenger = GroupedProphetTuner(n_trials=1, random_state=1, champion=folder, **SETTINGS).fit(weeks[1])
    results = challenger.results_.set_index(GROUPS)
    params = challenger.best_params_.set_index(GROUPS)
    champion = tuner.best_params_.set_index(GROUPS)
    kept = results.index[results["promoted"] == False]
    assert len(kept) >= 4, "most groups keep an 8-trial champion against a 1-trial challenger"
    for key in kept:
        assert results.loc[key, "best_score"] == results.loc[key, "champion_score"]
        assert params.loc[key].dropna().to_dict() == champion.loc[key].dropna().to_dict()
        model = challenger.models_[key]
        assert model.changepoint_prior_scale == champion.loc[key, "changepoint_prior_scale"]
        assert model.history["ds"].max() == weeks[1]["ds"].max(), "refit on the new history"
    for key in results.index[results["promoted"] == True]:
        assert results.loc[key, "best_score"] < results.loc[key, "champion_score"] or key == (2, 4)
    assert results.loc[(2, 4), "promoted"] == True and np.isnan(results.loc[(2, 4), "champion_score"])


def test_a_champion_keeps_what_the_new_fit_fixes(first, weeks):
    """The champion tuned seasonality_mode; the new fit fixes it in prophet_params: the fixed value
    stands in the champion's score and in a kept champion's model, the rest is the champion's."""
    tuner, _ = first
    fixed = {"seasonality_mode": "multiplicative"}
    assert (tuner.best_params_["seasonality_mode"] == "additive").any(), "nothing for the fixed value to replace"
    challenger = GroupedProphetTuner(n_trials=1, random_state=1, champion=tuner, prophet_params=fixed,
                                     **SETTINGS).fit(weeks[1])
    results = challenger.results_.set_index(GROUPS)
    champion = tuner.best_params_.set_index(GROUPS)
    kept = results.index[results["promoted"] == False]
    assert len(kept) >= 1
    for key in kept:
        model = challenger.models_[key]
        assert model.seasonality_mode == "multiplicative"
        assert model.changepoint_prior_scale == champion.loc[key, "changepoint_prior_scale"]
        assert "seasonality_mode" not in challenger.best_params_.set_index(GROUPS).loc[key].dropna()


def test_min_improvement_keeps_champions_the_challenger_beats_by_less(first, weeks):
    challenger = GroupedProphetTuner(n_trials=1, random_state=1, champion=first[0], **SETTINGS).fit(weeks[1])
    returning = challenger.results_.set_index(GROUPS).drop(index=[(2, 4)])
    beaten = returning[returning["promoted"] == True]
    assert len(beaten) >= 1, "no champion was beaten: the margin below proves nothing"
    assert (beaten["best_score"] < beaten["champion_score"]).all()
    margin = float((1 - beaten["best_score"] / beaten["champion_score"]).max())
    strict = GroupedProphetTuner(n_trials=1, random_state=1, champion=first[0], min_improvement=margin + 0.001,
                                 **SETTINGS).fit(weeks[1])
    promoted = strict.results_.set_index(GROUPS)["promoted"]
    assert promoted.to_dict() == {**{key: False for key in returning.index}, (2, 4): True}
    kept = strict.best_params_.set_index(GROUPS).loc[beaten.index]
    champion = first[0].best_params_.set_index(GROUPS).loc[beaten.index]
    pd.testing.assert_frame_equal(kept, champion, check_dtype=False)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"warm_start": 3}, TypeError, "warm_start must be a fitted GroupedProphetTuner, the folder of a saved one"),
    ({"champion": GroupedProphetTuner()}, ValueError, "champion must be a fitted tuner; this one was never fitted"),
    ({"warm_start": "no/such/folder"}, ValueError, "warm_start='no/such/folder' is not a saved tuner"),
    ({"min_improvement": 1.5}, ValueError, r"min_improvement must be a relative margin in \[0, 1\)"),
])
def test_bad_previous_fits_are_refused(weeks, kwargs, error, message):
    with pytest.raises(error, match=message):
        GroupedProphetTuner(n_trials=1, **{**SETTINGS, **kwargs}).fit(weeks[0])


def test_a_previous_fit_of_other_groups_is_refused(first, weeks):
    df = weeks[0].assign(region="north")
    with pytest.raises(ValueError, match=r"warm_start was fitted with group_cols=\['store', 'item'\]"):
        GroupedProphetTuner(n_trials=1, warm_start=first[0], **{**SETTINGS, "group_cols": ["region", "store", "item"]}
                            ).fit(df)


def test_local_processes_match_one_process_and_checkpoints_resume(sales6, retrain_reference, tmp_path):
    """The shared scenario in worker processes (n_jobs=2) equals the one-process reference, and
    a checkpointed retrain resumes to the same result."""
    from sklearn.base import clone

    from .conftest import CROSS_BACKEND, RETRAIN, assert_same_retrain

    previous, expected = retrain_reference
    tuner = GroupedProphetTuner(n_jobs=2, warm_start=previous, champion=previous, checkpoint_dir=str(tmp_path),
                                **{**CROSS_BACKEND, **RETRAIN})
    assert_same_retrain(tuner.fit(sales6), expected)
    resumed = clone(tuner)
    resumed.set_params(warm_start=previous, champion=previous)  # clone leaves fitted tuners unfitted
    assert_same_retrain(resumed.fit(sales6), expected)
    with pytest.raises(ValueError, match=r"changed: \['champion'"):
        clone(tuner).set_params(warm_start=previous, champion=None).fit(sales6)


def test_a_champion_already_scored_as_a_trial_is_not_fitted_again(first, weeks, monkeypatch):
    """A warm start runs the previous best (the champion) among its first trials: its loss is
    the champion's, the same as a fit of its own would give."""
    import prophet_grouped.tuning as tuning

    settings = {**SETTINGS, "n_jobs": 1}
    reference = GroupedProphetTuner(n_trials=5, random_state=1, champion=first[0], **settings).fit(weeks[1])
    calls = []
    real = tuning.run_trial
    monkeypatch.setattr(tuning, "run_trial", lambda *a, **k: calls.append(1) or real(*a, **k))
    both = GroupedProphetTuner(n_trials=5, random_state=1, warm_start=first[0], champion=first[0],
                               **settings).fit(weeks[1])
    returning = both.results_["champion_score"].notna()
    assert len(calls) == 5 * len(both.results_), "the champion was fitted again beside its trial"
    pd.testing.assert_series_equal(both.results_.loc[returning, "champion_score"],
                                   reference.results_.loc[returning, "champion_score"])


def test_a_failure_outside_the_trials_is_not_counted_as_a_failed_trial():
    """A champion whose parameters failed read "1 of 30 trials failed" while n_failed_trials was 0."""
    from prophet_grouped.tuning import trial_failures

    assert trial_failures(["the champion's parameters: ValueError: y has 3 negative values"], 30, 0) == \
        "the champion's parameters: ValueError: y has 3 negative values"
    assert trial_failures(["ValueError: a", "ValueError: b", "the champion's parameters: ValueError: c"], 30, 2) == \
        "2 of 30 trials failed; first: ValueError: a; the champion's parameters: ValueError: c"
    assert trial_failures([], 30, 0) is None


def test_a_checkpoint_is_not_resumed_against_another_previous_fit(first, weeks, tmp_path):
    """The manifest recorded warm_start/champion as True or False: a resume with another previous
    fit silently kept the groups tuned against the first one."""
    tuner, folder = first
    other = GroupedProphetTuner(n_trials=2, random_state=5, **SETTINGS).fit(weeks[0])
    ckpt = str(tmp_path / "ckpt")
    GroupedProphetTuner(n_trials=1, random_state=1, champion=folder, checkpoint_dir=ckpt, **SETTINGS).fit(weeks[1])
    again = GroupedProphetTuner(n_trials=1, random_state=1, champion=tuner, checkpoint_dir=ckpt, **SETTINGS)
    again.fit(weeks[1])  # the same previous fit, read from memory instead of its folder: resumes
    assert set(again.results_["status"]) == {"ok"}
    with pytest.raises(ValueError, match=r"holds a checkpoint of a fit with different settings \(changed: \['the "
                                         r"previous fit \(warm_start or champion\) the groups were tuned against'\]\)"):
        GroupedProphetTuner(n_trials=1, random_state=1, champion=other, checkpoint_dir=ckpt, **SETTINGS).fit(weeks[1])
