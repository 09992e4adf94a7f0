"""Plots render to PNG; progress is drawn while a fit runs and can be switched off."""

import pytest

from prophet_grouped import GroupedProphetTuner, make_retail_sales

from .conftest import unusable_sales


@pytest.fixture(scope="module")
def fitted():
    df = make_retail_sales(n_stores=1, n_items=2, periods=400, seed=0)
    return GroupedProphetTuner(group_cols=["store", "item"], n_trials=4, horizon=30, n_jobs=1,
                               random_state=0, verbose=0).fit(df)


def test_plot_forecast_renders_history_forecast_and_interval(fitted, tmp_path):
    fig = fitted.plot_forecast((1, 2), periods=60)
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:2] == ["history", "forecast (yhat)"]
    assert len(ax.get_lines()[0].get_xdata()) == 400  # every history point
    assert len(ax.get_lines()[1].get_xdata()) == 460  # history + 60 forecast steps
    assert len(ax.collections) == 1  # the interval band
    assert ax.get_title() == "store 1, item 2: 60 days ahead (ok)"
    fig.savefig(tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    # A window of the history, so that a short forecast is not a sliver after years of it.
    window = fitted.plot_forecast((1, 2), periods=28, history=56).axes[0]
    shown = window.get_lines()[0].get_xdata()
    assert len(shown) == 56 and len(window.get_lines()[1].get_xdata()) == 56 + 28
    with pytest.raises(ValueError, match=r"history must be an integer >= 1 or None, got 0"):
        fitted.plot_forecast((1, 2), periods=28, history=0)


def test_plot_tuning_history_has_each_trial_and_the_running_best(fitted, tmp_path):
    fig = fitted.plot_tuning_history((1, 1))
    ax = fig.axes[0]
    trials = fitted.trials_[(1, 1)]
    points, best = ax.get_lines()[:2]
    assert list(points.get_ydata()) == [t for t in trials if t is not None]
    assert best.get_ydata()[-1] == min(t for t in trials if t is not None)
    assert ax.get_title() == f"store 1, item 1: {len(trials)} trials"
    fig.savefig(tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 5_000


def test_plot_errors_name_the_group(fitted):
    with pytest.raises(ValueError, match=r"Unknown group \(3, 3\): give the values of \['store', 'item'\] as a tuple"):
        fitted.plot_forecast((3, 3))
    with pytest.warns(UserWarning):
        failed = GroupedProphetTuner(group_cols=["store", "item"], n_trials=2, horizon=30, n_jobs=1,
                                     verbose=0).fit(unusable_sales())
    with pytest.raises(ValueError, match=r"Group \(1, 3\) failed during fit and has no model to plot"):
        failed.plot_forecast((1, 3))
    failed.plot_tuning_history((1, 3))  # no trials: an empty chart, not an error


def test_progress_lines_on_stderr_with_verbose_2_and_none_with_0(capfd):
    df = make_retail_sales(n_stores=1, n_items=3, periods=300, seed=0)
    settings = dict(group_cols=["store", "item"], n_trials=2, horizon=30, n_jobs=2, random_state=0)
    GroupedProphetTuner(verbose=2, **settings).fit(df)
    err = capfd.readouterr().err
    assert "tuning 0/3 groups (0%) | 0 trials" in err
    assert "tuning 3/3 groups (100%) | 6 trials" in err
    assert err.count("tuning 3/3 groups") == 1  # the final line once
    GroupedProphetTuner(verbose=0, **settings).fit(df)
    assert "tuning" not in capfd.readouterr().err


def test_bad_verbose():
    with pytest.raises(ValueError, match="verbose must be an integer >= 0, got -1."):
        GroupedProphetTuner(verbose=-1).fit(make_retail_sales(1, 1, 200))


def test_progress_server_counts_only_reports_with_its_token():
    """Workers report finished groups to the driver over TCP; a sender without the token the
    driver handed out (another process on the network) is ignored."""
    import io
    import json
    import socket
    import time

    from prophet_grouped.progress import Progress, ProgressServer, notify

    progress = Progress(3, enabled=False, stream=io.StringIO())
    with ProgressServer(progress, "127.0.0.1") as server:
        host, port, token = server.address
        assert len(token) == 32
        for message in ({"key": [9], "trials": 5}, {"token": "0" * 32, "key": [8], "trials": 5}):
            with socket.create_connection((host, port), timeout=2) as sock:  # a stranger
                sock.sendall((json.dumps(message) + "\n").encode())
        notify(server.address, (1, "a"), 4)
        deadline = time.monotonic() + 5
        while progress.done < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # time for the strangers' lines too, were they counted
    assert progress.done == 1 and progress.trials == 4 and set(progress.sources) == {(1, "a")}
