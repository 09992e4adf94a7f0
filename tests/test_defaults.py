"""The data-aware defaults: the "auto" space, Prophet's defaults scored first, rolling folds,
the inferred frequency, dates read right, non-negative forecasts. Real Prophet and Optuna."""

import warnings

import numpy as np
import pandas as pd
import pytest

from prophet_grouped import GroupedProphetTuner, make_retail_sales
from prophet_grouped.engines import quiet
from prophet_grouped.metrics import mae
from prophet_grouped.search_space import GroupProfile, auto_space, resolve_search_space


def _series(periods, freq, seed=0, level=50.0, negative=False):
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2018-01-01", periods=periods, freq=freq)
    t = np.arange(periods)
    y = level + 10 * np.sin(2 * np.pi * t / 7) + 0.05 * t + rng.normal(0, 2, periods)
    if negative:
        y = y - level - 5
    return pd.DataFrame({"ds": ds, "y": y})


def _prophet_seasonalities(frame):
    from prophet import Prophet

    with quiet():
        return set(Prophet().fit(frame).seasonalities)


@pytest.mark.parametrize("periods, freq", [(300, "D"), (800, "D"), (24 * 20, "h"), (60, "MS"), (104, "W-SUN"), (10, "D")])
def test_auto_seasonalities_are_prophets_own(periods, freq):
    frame = _series(periods, freq)
    space = auto_space(GroupProfile.of(frame, has_holidays=False))
    chosen = {name.removesuffix("_seasonality") for name, on in space.fixed.items() if on}
    assert chosen == _prophet_seasonalities(frame)
    # A year or more of daily data also tunes a monthly seasonality (Prophet has none): its
    # switch and prior scale. Prophet's default configuration (the switch off) lies in the
    # space, so it can be the first trial.
    monthly = freq == "D" and periods > 365
    assert ("monthly_seasonality" in space.distributions) == monthly
    assert ("monthly_seasonality_prior_scale" in space.distributions) == monthly
    assert space.default_trial() == {k: v for k, v in {
        "changepoint_prior_scale": 0.05, "seasonality_prior_scale": 10.0, "seasonality_mode": "additive",
        "monthly_seasonality": False, "monthly_seasonality_prior_scale": 10.0,
    }.items() if k in space.distributions}


def test_auto_space_tunes_holidays_and_leaves_multiplicative_out_for_negative_series():
    frame = _series(300, "D", negative=True)  # under a year: no monthly seasonality tuned
    space = auto_space(GroupProfile.of(frame, has_holidays=True))
    assert set(space.distributions) == {"changepoint_prior_scale", "seasonality_prior_scale", "holidays_prior_scale"}
    assert space.default_trial() == {"changepoint_prior_scale": 0.05, "seasonality_prior_scale": 10.0,
                                     "holidays_prior_scale": 10.0}
    # The paper space fixes Fourier orders Prophet doesn't use: its default is an extra candidate.
    assert resolve_search_space("paper").default_trial() is None
    assert resolve_search_space("prophet-docs").default_trial() == {
        "changepoint_prior_scale": 0.05, "seasonality_prior_scale": 10.0, "holidays_prior_scale": 10.0,
        "seasonality_mode": "additive"}


def test_what_prophet_params_fixes_is_not_tuned_by_the_auto_space():
    """The user's fixed values stand: the "auto" space neither tunes nor switches what
    prophet_params sets (before, the space's seasonality switches and tuned values replaced it)."""
    frame = _series(800, "D")
    fixed = {"seasonality_mode": "multiplicative", "weekly_seasonality": False, "changepoint_prior_scale": 0.2}
    space = auto_space(GroupProfile.of(frame, has_holidays=True), fixed)
    assert set(space.distributions) == {"seasonality_prior_scale", "holidays_prior_scale"}  # no monthly either
    assert space.fixed == {"yearly_seasonality": True, "daily_seasonality": False}
    # Every seasonality switched off there: no seasonality prior scale to tune either.
    off = auto_space(GroupProfile.of(frame, has_holidays=False), {"weekly_seasonality": False, "yearly_seasonality": False})
    assert set(off.distributions) == {"changepoint_prior_scale"}
    df = make_retail_sales(n_stores=1, n_items=2, periods=400, seed=3)
    tuner = GroupedProphetTuner(group_cols=["store", "item"], n_trials=3, cv_folds=1, horizon=28, n_jobs=1,
                                prophet_params=fixed, random_state=0).fit(df)
    assert not set(fixed) & set(tuner.best_params_.columns)
    for model in tuner.models_.values():
        assert (model.seasonality_mode, model.weekly_seasonality, model.changepoint_prior_scale) == (
            "multiplicative", False, 0.2)
        assert "weekly" not in model.seasonalities


def _sometimes_additive(trial):
    """A conditional space: seasonality_mode only on some trials (not on the one the fit's
    check dry-runs, whose changepoint_prior_scale is 0.27)."""
    scale = trial.suggest_float("changepoint_prior_scale", 0.001, 0.5)
    return {"changepoint_prior_scale": scale, **({"seasonality_mode": "additive"} if scale < 0.2 else {})}


def test_a_callable_space_that_sometimes_returns_a_fixed_name_fails_those_trials_not_the_users_value():
    from prophet_grouped.search_space import probe

    assert "seasonality_mode" not in probe(_sometimes_additive), "the check sees it: the test proves nothing"
    df = make_retail_sales(n_stores=1, n_items=1, periods=300, seed=3)
    tuner = GroupedProphetTuner(group_cols=["store", "item"], n_trials=12, cv_folds=1, horizon=28, n_jobs=1,
                                prophet_params={"seasonality_mode": "multiplicative"},
                                search_space=_sometimes_additive, random_state=0).fit(df)
    row = tuner.results_.iloc[0]
    assert row["status"] == "ok" and 0 < row["n_failed_trials"] < 12
    assert "would replace what prophet_params fixes ({'seasonality_mode': 'multiplicative'})" in row["error"]
    failed = [t for t in tuner.trials_[(1, 1)] if t is None]
    assert len(failed) == row["n_failed_trials"]
    assert next(iter(tuner.models_.values())).seasonality_mode == "multiplicative"
    assert tuner.best_params_.iloc[0]["changepoint_prior_scale"] >= 0.2


def test_a_flat_trend_does_not_tune_changepoints_and_nothing_to_tune_takes_one_trial():
    frame = _series(800, "D")
    profile = GroupProfile.of(frame, has_holidays=False)
    for fixed in ({"growth": "flat"}, {"n_changepoints": 0}, {"changepoints": []}):
        assert set(auto_space(profile, fixed).distributions) == {"seasonality_prior_scale", "seasonality_mode",
                                                                  "monthly_seasonality", "monthly_seasonality_prior_scale"}
    assert "changepoint_prior_scale" in auto_space(profile, {"n_changepoints": 5}).distributions
    df = make_retail_sales(n_stores=1, n_items=2, periods=300, seed=3)
    fixed = {"growth": "flat", "weekly_seasonality": False, "seasonality_mode": "additive"}
    tuner = GroupedProphetTuner(group_cols=["store", "item"], n_trials=5, cv_folds=1, horizon=28, n_jobs=1,
                                prophet_params=fixed, random_state=0, transform=None).fit(df)
    assert (tuner.results_["status"] == "ok").all()
    assert (tuner.results_["n_trials"] == 1).all(), "five trials of the one model there is would be four wasted"
    assert all(model.growth == "flat" and not model.seasonalities for model in tuner.models_.values())
    # With the target transform to choose: two models, one trial each (the defaults raw, then on log1p).
    both = GroupedProphetTuner(**{**tuner.get_params(), "transform": "auto"}).fit(df)
    assert (both.results_["n_trials"] == 2).all()
    assert [p["transform"] for p, _ in both.studies_[(1, 1)]["trials"]] == ["none", "log1p"]


@pytest.fixture(scope="module")
def two_groups():
    """A long group (600 days) and a short one (150 days), counts >= 0."""
    df = make_retail_sales(n_stores=1, n_items=2, periods=600, seed=3)
    short = df["item"] == 2
    return df[~short | (df["ds"] >= df["ds"].max() - pd.Timedelta(days=149))].reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted_defaults(two_groups):
    return GroupedProphetTuner(group_cols=["store", "item"], horizon=30, n_trials=6, random_state=0,
                               n_jobs=1, verbose=0).fit(two_groups)


def test_first_trial_is_untuned_prophet_scored_like_an_ordinary_fit(fitted_defaults, two_groups):
    """default_score is the first trial's loss, equal to Prophet() fitted (by the fit's engine,
    on the ordinary path) and predicted on each fold by hand, clipped at 0 as the group's
    forecasts are; and no worse than the best."""
    from prophet import Prophet

    from prophet_grouped.engines import fit_prophet, stan_output_dir

    tuner = fitted_defaults
    res = tuner.results_.set_index(["store", "item"])
    for key, part in two_groups.groupby(["store", "item"]):
        row = res.loc[key]
        assert tuner.trials_[key][0] == row["default_score"]
        assert row["best_score"] <= row["default_score"]
        part = part[["ds", "y"]].reset_index(drop=True)
        last = part["ds"].iloc[-1]
        losses = []
        for k in range(int(row["n_folds"]), 0, -1):
            cutoff = last - pd.Timedelta(days=30 * k)
            train = part[part["ds"] <= cutoff]
            valid = part[(part["ds"] > cutoff) & (part["ds"] <= cutoff + pd.Timedelta(days=30))]
            with quiet(), stan_output_dir() as out:
                model = fit_prophet(lambda: Prophet(uncertainty_samples=0), train, tuner.engine_, out)
                yhat = model.predict(valid[["ds"]])["yhat"].to_numpy()
            losses.append(mae(valid["y"].to_numpy(), np.maximum(yhat, 0)))  # the default metric
        assert row["default_score"] == pytest.approx(np.mean(losses), rel=1e-9)


def test_rolling_folds_three_or_fewer_for_short_groups(fitted_defaults):
    res = fitted_defaults.results_.set_index("item")
    assert res.loc[1, "n_folds"] == 3  # 600 days: 90 held out in folds, 510 to train on
    assert res.loc[2, "n_folds"] == 2  # 150 days: three folds would leave 60 < 75 to train on
    assert fitted_defaults.freq_ == "D" and fitted_defaults.horizon_ == 30


def test_paper_space_gets_prophets_default_as_an_extra_candidate(two_groups):
    tuner = GroupedProphetTuner(group_cols=["store", "item"], horizon=30, n_trials=3, cv_folds=1,
                                search_space="paper", random_state=0, n_jobs=1, verbose=0).fit(two_groups)
    res = tuner.results_
    assert (res["n_folds"] == 1).all() and res["default_score"].notna().all()
    assert (res["best_score"] <= res["default_score"]).all()
    for key, losses in tuner.trials_.items():  # not one of the trials: scored apart
        assert len(losses) == 3
    won = res[res["best_score"] == res["default_score"]]
    for _, row in won.iterrows():  # the default won: the model has Prophet's own seasonalities
        assert "monthly" not in tuner.models_[(row["store"], row["item"])].seasonalities


def test_monthly_data_forecasts_month_starts_without_freq():
    frame = _series(96, "MS").assign(unique_id="a")
    tuner = GroupedProphetTuner(n_trials=3, random_state=0, n_jobs=1, verbose=0).fit(frame)
    assert tuner.freq_ == "MS" and tuner.horizon_ == 12
    assert tuner.results_["status"].tolist() == ["ok"]
    future = tuner.make_future_dataframe(periods=6)
    assert list(future["ds"]) == list(pd.date_range("2026-01-01", periods=6, freq="MS"))
    assert not tuner.best_params_["weekly_seasonality"].any()


def test_hourly_data_forecasts_hours_without_freq():
    frame = _series(24 * 21, "h").assign(unique_id="a")
    tuner = GroupedProphetTuner(n_trials=3, random_state=0, n_jobs=1, verbose=0).fit(frame)
    assert tuner.freq_ == "h" and tuner.horizon_ == 24
    future = tuner.make_future_dataframe(periods=3)
    last = frame["ds"].max()
    assert list(future["ds"]) == [last + pd.Timedelta(hours=i) for i in (1, 2, 3)]
    assert tuner.best_params_["daily_seasonality"].all()


def test_a_shop_closed_on_saturdays_gets_no_saturday_forecasts(tmp_path):
    """Daily data that never falls on Saturday (Prophet's online-retail example): the future
    skips Saturdays everywhere a forecast is made (make_future_dataframe, forecast in one pass,
    a saved tuner), ``periods`` counts open days, and freq="D" given asks for every day."""
    frame = pd.concat([_series(210, "D", seed=i).assign(unique_id=uid) for i, uid in enumerate("ab")],
                      ignore_index=True)
    shop = frame[frame["ds"].dt.dayofweek != 5].reset_index(drop=True)
    shop = shop.drop(index=range(40, 45))  # and a few other days missing
    params = dict(n_trials=2, horizon=14, cv_folds=1, random_state=0, n_jobs=1, verbose=0)
    tuner = GroupedProphetTuner(**params).fit(shop)
    assert tuner.freq_ == "D" and tuner.closed_days_ == ["SAT"]
    future = tuner.make_future_dataframe(periods=10)
    last = shop["ds"].max()
    open_days = [d for d in pd.date_range(last + pd.Timedelta(days=1), periods=12) if d.dayofweek != 5][:10]
    for uid in "ab":
        assert list(future.loc[future["unique_id"] == uid, "ds"]) == open_days
    fc = tuner.predict(future)
    one_pass = GroupedProphetTuner(**params).forecast(shop, periods=10)
    pd.testing.assert_frame_equal(one_pass.reset_index(drop=True), fc.reset_index(drop=True))
    fig = tuner.plot_forecast("a", periods=10)
    forecast_line = fig.axes[0].get_lines()[1]
    assert list(pd.to_datetime(forecast_line.get_xdata())[-10:]) == open_days
    assert fig.axes[0].get_title() == "unique_id a: 10 open days ahead (SAT closed) (ok)"
    tuner.save(tmp_path / "shop")
    loaded = GroupedProphetTuner.load(tmp_path / "shop")
    assert loaded.closed_days_ == ["SAT"]
    pd.testing.assert_frame_equal(loaded.make_future_dataframe(periods=10), future)
    every_day = GroupedProphetTuner(freq="D", **params).fit(shop)
    assert every_day.closed_days_ == []
    assert (every_day.make_future_dataframe(periods=14)["ds"].dt.dayofweek == 5).sum() == 2 * 2
    # Sparse dates miss a weekday by chance: not a closed day.
    sparse = frame.sample(frac=0.3, random_state=0).sort_values(["unique_id", "ds"])
    from prophet_grouped.frequency import closed_weekdays
    few = sparse[sparse["ds"].dt.dayofweek != 2]
    assert closed_weekdays("D", few["ds"]) == ()
    assert closed_weekdays("D", shop["ds"]) == ("SAT",)
    assert closed_weekdays("D", shop.loc[shop["ds"] < shop["ds"].min() + pd.Timedelta(days=40), "ds"]) == ()


def test_day_first_dates_read_with_date_format_or_when_unambiguous():
    frame = _series(200, "D").assign(unique_id="a")
    text = frame.assign(ds=frame["ds"].dt.strftime("%d.%m.%Y"))
    params = dict(n_trials=2, horizon=14, cv_folds=1, random_state=0, n_jobs=1, verbose=0)
    # 200 days from 1 January include days past the 12th: only day-first reads every value.
    tuner = GroupedProphetTuner(**params).fit(text)
    assert tuner.models_[("a",)].history["ds"].max() == frame["ds"].max()
    first12 = text[frame["ds"].dt.day <= 12]
    with pytest.raises(ValueError, match="read two ways"):
        GroupedProphetTuner(**params).fit(first12)
    tuner = GroupedProphetTuner(date_format="%d.%m.%Y", **params).fit(first12)
    assert tuner.models_[("a",)].history["ds"].max() == frame.loc[frame["ds"].dt.day <= 12, "ds"].max()
    fc = tuner.predict(pd.DataFrame({"unique_id": ["a"], "ds": ["02.08.2018"]}))
    assert fc["ds"].iloc[0] == pd.Timestamp("2018-08-02")


def test_nonnegative_clips_groups_without_negative_history():
    counts = _series(200, "D", seed=1, level=3.0).assign(unique_id="counts")
    counts["y"] = np.maximum(counts["y"], 0)
    signed = _series(200, "D", seed=2, negative=True).assign(unique_id="signed")
    df = pd.concat([counts, signed], ignore_index=True)
    # The raw target: a model of log1p(y) never forecasts below -1, there would be little to clip.
    params = dict(n_trials=2, horizon=14, cv_folds=1, random_state=0, n_jobs=1, verbose=0, transform=None)
    raw = GroupedProphetTuner(nonnegative=False, **params).fit(df)
    future = raw.make_future_dataframe(periods=60)
    cols = ["yhat", "yhat_lower", "yhat_upper"]
    plain = raw.predict(future)
    assert (plain.loc[plain["unique_id"] == "counts", cols] < 0).any().any()  # something to clip
    for setting, clipped_groups in (("auto", {"counts"}), (True, {"counts", "signed"})):
        raw.set_params(nonnegative=setting)
        fc = raw.predict(future)
        for uid in ("counts", "signed"):
            got = fc.loc[fc["unique_id"] == uid, cols].to_numpy()
            want = plain.loc[plain["unique_id"] == uid, cols].to_numpy()
            if uid in clipped_groups:
                # Same draws (Prophet's intervals are seeded per model state), clipped at 0.
                assert (got >= 0).all()
                np.testing.assert_array_equal(got[:, 0], np.maximum(want[:, 0], 0))
            else:
                np.testing.assert_array_equal(got[:, 0], want[:, 0])


def test_scaled_metric_tunes():
    df = make_retail_sales(n_stores=1, n_items=2, periods=300, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tuner = GroupedProphetTuner(group_cols=["store", "item"], metric="mase", horizon=28, n_trials=3,
                                    random_state=0, n_jobs=1, verbose=0).fit(df)
    scores = tuner.results_["best_score"]
    assert (tuner.results_["status"] == "ok").all() and scores.between(0.01, 10).all()
    assert tuner.score(df[df["ds"] > df["ds"].max() - pd.Timedelta(days=28)]) < 0


def test_frequency_docstring_examples_run():
    import doctest

    import prophet_grouped.frequency

    result = doctest.testmod(prophet_grouped.frequency)
    assert result.attempted >= 5 and result.failed == 0


@pytest.mark.parametrize("freq", ["D", "B", "W-SUN", "W-WED", "MS", "ME", "QS-JAN", "QE-DEC", "YS-JAN", "h", "15min"])
def test_frequency_inferred_with_gaps(freq):
    from prophet_grouped.frequency import check_freq, infer_freq

    dates = pd.date_range("2020-01-06", periods=40, freq=freq)
    gappy = dates.delete([3, 4, 17])  # missing dates don't change the frequency
    assert infer_freq(gappy) == freq
    assert check_freq(freq, gappy) == freq


def test_predict_keeps_row_order_with_a_repeated_index(fitted_defaults):
    future = fitted_defaults.make_future_dataframe(periods=5)
    doubled = pd.concat([future, future])  # index 0..9 twice
    fc = fitted_defaults.predict(doubled)
    assert len(fc) == 20
    pd.testing.assert_frame_equal(fc.iloc[:10].reset_index(drop=True), fc.iloc[10:].reset_index(drop=True))
    pd.testing.assert_frame_equal(fc[["store", "item", "ds"]], doubled.reset_index(drop=True))


def test_predict_puts_forecasts_back_in_the_frames_order(fitted_defaults):
    """Prophet's predict sorts by date: shuffled dates still get their own forecasts."""
    future = fitted_defaults.make_future_dataframe(periods=6)
    ordered = fitted_defaults.predict(future)
    shuffled = future.sample(frac=1.0, random_state=1)
    fc = fitted_defaults.predict(shuffled)
    merged = fc.merge(ordered, on=["store", "item", "ds"], suffixes=("", "_ordered"))
    assert len(merged) == len(future)
    np.testing.assert_allclose(merged["yhat"], merged["yhat_ordered"], rtol=1e-12)


def test_seasonal_naive_looks_one_season_back_and_further_over_gaps():
    from prophet_grouped.objective import seasonal_naive

    ds = pd.date_range("2024-01-01", periods=21, freq="D")
    train = pd.DataFrame({"ds": ds, "y": np.arange(21.0)}).drop(index=[15])  # 2024-01-16 missing
    dates = pd.Series(pd.to_datetime(["2024-01-22", "2024-01-23", "2024-02-19", "2024-01-01"]))
    # 01-22 <- 01-15 (14); 01-23 <- 01-16 missing <- 01-09 (8); 02-19 <- the last Monday held, 01-15;
    # 01-01 has no season before it in the history: the last value (20)
    assert seasonal_naive(train, dates, "D", 7).tolist() == [14.0, 8.0, 14.0, 20.0]


def test_naive_score_is_the_seasonal_naive_loss_on_the_same_folds_and_value_added_compares_with_it():
    """results_ says what the tuned model earns over the seasonal naive forecast, scored on the
    group's own folds like every trial (clipped at 0 as its forecasts are)."""
    frames = []
    for item, seed in ((1, 0), (2, 1)):
        part = _series(200, "D", seed=seed)
        part = part[part["ds"].dt.dayofweek != 6]  # closed on Sundays: gaps one season back
        frames.append(part.assign(item=item))
    df = pd.concat(frames, ignore_index=True)
    tuner = GroupedProphetTuner(group_cols="item", n_trials=3, horizon=14, cv_folds=2, metric="mae",
                                n_jobs=1, random_state=0, verbose=0).fit(df)
    for item, part in df.groupby("item"):
        last = part["ds"].max()
        losses = []
        for k in (2, 1):
            cutoff = last - pd.Timedelta(days=14 * k)
            train, valid = part[part["ds"] <= cutoff], part[(part["ds"] > cutoff) & (part["ds"] <= cutoff + pd.Timedelta(days=14))]
            history = dict(zip(train["ds"], train["y"]))
            naive = []
            for day in valid["ds"]:
                back = day - pd.Timedelta(days=7)
                while back not in history:
                    back -= pd.Timedelta(days=7)
                naive.append(history[back])
            losses.append(np.mean(np.abs(valid["y"].to_numpy() - np.maximum(naive, 0))))
        row = tuner.results_.set_index("item").loc[item]
        assert row["naive_score"] == pytest.approx(np.mean(losses), rel=1e-12)
        assert row["value_added"] == pytest.approx(1 - row["best_score"] / row["naive_score"], rel=1e-12)


def test_a_group_whose_history_has_a_negative_value_is_not_clipped_and_the_fit_says_so():
    """One return (a negative sale) turned clipping off for its item without a word."""
    from prophet_grouped import GroupFitWarning

    frames = [_series(200, "D", seed=s, level=3.0).assign(item=s) for s in (1, 2)]
    for frame in frames:
        frame["y"] = np.maximum(frame["y"], 0)
    frames[1].loc[50, "y"] = -2.0  # a return
    df = pd.concat(frames, ignore_index=True)
    params = dict(group_cols="item", n_trials=2, horizon=14, cv_folds=1, random_state=0, n_jobs=1, verbose=0)
    with pytest.warns(GroupFitWarning, match=r"1 of 2 group\(s\) have negative values in their history \(returns\?\), "
                                             r"so nonnegative='auto' does not clip their forecasts at 0: \[\(2,\)\]"):
        tuner = GroupedProphetTuner(**params).fit(df)
    assert tuner.results_["clipped"].tolist() == [True, False]
    with warnings.catch_warnings():
        warnings.simplefilter("error", GroupFitWarning)
        clipped = GroupedProphetTuner(nonnegative=True, **params).fit(df)
    assert clipped.results_["clipped"].tolist() == [True, True]


def test_a_store_closed_on_sundays_gets_no_sunday_forecasts_while_another_opens(tmp_path):
    """Closed weekdays were read across all groups: a store closed on Sundays got Sunday
    forecasts because another store opens on Sundays (its weekly total about 1/7 too high)."""
    closed = _series(140, "D", seed=1)
    closed = closed[closed["ds"].dt.dayofweek != 6].assign(store="closed_sundays")
    every_day = _series(140, "D", seed=2).assign(store="open_every_day")
    df = pd.concat([closed, every_day], ignore_index=True)
    params = dict(group_cols="store", n_trials=2, horizon=14, cv_folds=1, random_state=0, n_jobs=1, verbose=0)
    tuner = GroupedProphetTuner(**params).fit(df)
    assert tuner.closed_days_ == []  # no weekday is closed for every store
    assert tuner.results_.set_index("store")["closed_days"].to_dict() == {"closed_sundays": "SUN",
                                                                         "open_every_day": None}
    future = tuner.make_future_dataframe(periods=12)
    days = future.assign(day=future["ds"].dt.dayofweek).groupby("store")["day"].apply(set)
    assert days["closed_sundays"] == {0, 1, 2, 3, 4, 5} and days["open_every_day"] == set(range(7))
    assert (future.groupby("store").size() == 12).all()  # periods counts open days
    # The one-pass forecast (in the workers) skips them the same way, and save/load keeps them.
    one_pass = GroupedProphetTuner(**params).forecast(df, periods=12)
    pd.testing.assert_frame_equal(one_pass.reset_index(drop=True), tuner.predict(future).reset_index(drop=True))
    tuner.save(str(tmp_path / "t"))
    pd.testing.assert_frame_equal(GroupedProphetTuner.load(str(tmp_path / "t")).make_future_dataframe(periods=12), future)
    # An explicit freq="D" asks for every day of every group.
    every = GroupedProphetTuner(freq="D", **params).fit(df)
    assert every.results_["closed_days"].isna().all()
    assert len(every.make_future_dataframe(periods=7)) == 14


def test_missing_dates_are_gaps_by_default_or_days_without_sales():
    frame = _series(120, "D", seed=3, level=5.0)
    frame["y"] = np.maximum(frame["y"], 0)
    gappy = frame.drop(index=[30, 31, 60]).assign(item=1)  # three days without a row
    gappy.loc[gappy.index[10], "y"] = np.nan  # a row whose y is unknown
    params = dict(group_cols="item", n_trials=1, horizon=14, cv_folds=1, random_state=0, n_jobs=1, verbose=0)
    gap = GroupedProphetTuner(**params).fit(gappy)
    zero = GroupedProphetTuner(missing_dates="zero", **params).fit(gappy)
    history = {name: t.models_[(1,)].history.set_index("ds")["y"] for name, t in (("gap", gap), ("zero", zero))}
    assert len(history["gap"]) == 116 and len(history["zero"]) == 119
    added = frame["ds"].iloc[[30, 31, 60]]
    assert (history["zero"].loc[added] == 0).all() and not added.isin(history["gap"].index).any()
    assert frame["ds"].iloc[10] not in history["zero"].index  # an unknown y stays unknown
    with pytest.raises(ValueError, match=r"missing_dates must be 'gap' .* got 'zeros'"):
        GroupedProphetTuner(missing_dates="zeros", **params).fit(gappy)


def test_a_year_of_daily_sales_tunes_a_monthly_seasonality_switch_with_prophets_defaults_first():
    """Paydays and month ends move retail sales (docs/accuracy.md): the "auto" space tunes a
    monthly seasonality's switch and prior scale for a year or more of daily data. Prophet's
    defaults (the switch off) are the first trial; a model carries the monthly seasonality at
    its tuned prior scale exactly when its best trial switched it on; prophet_params can switch
    it off for good."""
    df = make_retail_sales(n_stores=1, n_items=3, periods=500, seed=3)
    params = dict(group_cols=["store", "item"], n_trials=8, cv_folds=1, horizon=28, n_jobs=1, random_state=0)
    tuner = GroupedProphetTuner(**params).fit(df)
    best = tuner.best_params_.set_index(["store", "item"])
    res = tuner.results_.set_index(["store", "item"])
    assert best["monthly_seasonality_prior_scale"].between(0.01, 10).all()
    for key, model in tuner.models_.items():
        assert tuner.trials_[key][0] == res.loc[key, "default_score"]
        assert res.loc[key, "best_score"] <= res.loc[key, "default_score"]
        if best.loc[key, "monthly_seasonality"]:
            assert model.seasonalities["monthly"]["period"] == 30.5
            assert model.seasonalities["monthly"]["prior_scale"] == best.loc[key, "monthly_seasonality_prior_scale"]
        else:
            assert "monthly" not in model.seasonalities
    assert best["monthly_seasonality"].any()  # the generated sales have a month effect
    short = GroupedProphetTuner(**params).fit(df[df["ds"] < df["ds"].min() + pd.Timedelta(days=300)])
    assert "monthly_seasonality" not in short.best_params_.columns
    off = GroupedProphetTuner(**params, prophet_params={"monthly_seasonality": False}).fit(df)
    assert "monthly_seasonality_prior_scale" not in off.best_params_.columns
    assert not any("monthly" in model.seasonalities for model in off.models_.values())
    with pytest.raises(ValueError, match="Unknown Prophet arguments in prophet_params: \\['monthly'\\]"):
        GroupedProphetTuner(**params, prophet_params={"monthly": False}).fit(df)


def test_prophets_defaults_stay_unless_the_search_beats_them_by_the_margin():
    """defaults_margin=0.05 (the default): a group keeps Prophet's default configuration unless
    its best trial's validation loss is at least 5% lower; 0 keeps the best trial. Refused
    before any work: a margin outside [0, 1)."""
    # seed 7: the best trials beat the defaults by 0.4-0.5% in two groups, by 8-18% in two
    df = make_retail_sales(n_stores=1, n_items=4, periods=300, seed=7)
    params = dict(group_cols=["store", "item"], n_trials=8, cv_folds=1, horizon=28, n_jobs=1, random_state=0)
    margin = GroupedProphetTuner(**params).fit(df)
    plain = GroupedProphetTuner(**params, defaults_margin=0).fit(df)
    kept = 0
    for tuner, m in ((margin, 0.05), (plain, 0.0)):
        res = tuner.results_.set_index(["store", "item"])
        best = tuner.best_params_.set_index(["store", "item"])
        for key in res.index:
            trials = [v for v in tuner.trials_[key] if v is not None]
            row = res.loc[key]
            if row["best_score"] == row["default_score"]:
                assert min(trials) >= row["default_score"] * (1 - m)  # no trial beat them by the margin
                assert best.loc[key, "changepoint_prior_scale"] == 0.05 and best.loc[key, "transform"] == "none"
                kept += m > 0 and min(trials) < row["default_score"]
            else:
                assert row["best_score"] == min(trials) < row["default_score"] * (1 - m)
    assert kept == 2, "the margin should keep the defaults of the two groups the search beat by under 5%"
    for bad in (-0.1, 1.0, True, "5%"):
        with pytest.raises(ValueError, match=r"defaults_margin must be a relative margin in \[0, 1\)"):
            GroupedProphetTuner(**params, defaults_margin=bad).fit(df)
