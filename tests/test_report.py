"""The backtest report, opened in a real browser (headless Chromium, which `make test` installs)."""

import os
import shutil
import subprocess
import sys

import pytest

from prophet_grouped import make_retail_sales

CLI = os.path.join(os.path.dirname(sys.executable), "prophet-grouped")


def _chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    assert found, "no Chromium: `make test` installs it (apt-get install chromium)"
    return found


def test_the_backtest_report_renders_in_a_browser_without_console_errors(tmp_path):
    make_retail_sales(n_stores=1, n_items=3, periods=300, seed=2).to_csv(tmp_path / "s.csv", index=False)
    done = subprocess.run([CLI, "backtest", "s.csv", "--group", "store,item", "--origins", "2", "--horizon", "14",
                           "--trials", "2", "--folds", "1", "--out", "bt"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    page = tmp_path / "bt" / "report.html"
    text = page.read_text()
    assert "http://" not in text and "https://" not in text and "<link" not in text, "self-contained"
    _opens_cleanly(page, tmp_path, sortable="groups")


def test_the_report_of_a_tuning_run_renders_in_a_browser(tmp_path):
    make_retail_sales(n_stores=1, n_items=3, periods=300, seed=2).to_csv(tmp_path / "s.csv", index=False)
    tuned = subprocess.run([CLI, "tune", "s.csv", "--group", "store,item", "--trials", "2", "--folds", "1",
                            "--horizon", "14", "--quiet", "--out", "run"], cwd=tmp_path, capture_output=True, text=True)
    assert tuned.returncode == 0, tuned.stderr
    done = subprocess.run([CLI, "report", "run", "--out", "r.html"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "r.html").read_text()
    assert "Most value added over naive" in text and text.count("<figure>") == 2 + 2 * 3
    _opens_cleanly(tmp_path / "r.html", tmp_path, sortable="groups")
    wrong = subprocess.run([CLI, "report", "run", "--out", "r.png"], cwd=tmp_path, capture_output=True, text=True)
    assert wrong.returncode == 1 and "give a file ending in .html" in wrong.stderr


def _opens_cleanly(page, tmp_path, sortable):
    """Headless Chromium loads ``page``: its script runs to its end, nothing is logged to the
    console, the tables and charts are in the rendered page; a screenshot is taken."""
    browser = [_chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--enable-logging=stderr", "--v=0", "--window-size=1300,2400"]
    dom = subprocess.run([*browser, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-ready="yes"' in dom.stdout, "the page's script ran to its end"
    assert dom.stdout.count("<svg") >= 2 + 3 and f'<table id="{sortable}" class="sortable">' in dom.stdout
    assert dom.stdout.count("<tr>") >= 3 + 3 + 1
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
    shot = tmp_path / (page.stem + ".png")
    subprocess.run([*browser, f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.read_bytes()[:4] == b"\x89PNG"
    # Look at it: the screenshot is kept when REPORT_SCREENSHOT names a folder.
    if os.environ.get("REPORT_SCREENSHOT"):
        shutil.copy(shot, os.path.join(os.environ["REPORT_SCREENSHOT"], shot.name))


@pytest.mark.parametrize("n_groups", [10_000])
def test_the_report_stays_light_at_many_groups(n_groups):
    """One table row per group and a fixed number of charts: size grows by a row per group."""
    import numpy as np
    import pandas as pd

    from prophet_grouped.backtest import summary
    from prophet_grouped.report import backtest_report

    rng = np.random.default_rng(0)
    origin = pd.Timestamp("2024-01-01")
    table = pd.DataFrame({"g": np.repeat(np.arange(n_groups), 3), "origin": origin,
                          "method": np.tile(["tuned", "prophet", "seasonal_naive"], n_groups),
                          "mae": rng.uniform(1, 2, 3 * n_groups), "rmse": 1.0, "bias": 1.0, "coverage": 0.8, "n": 7})
    days = pd.date_range("2023-12-01", periods=31)
    history = pd.DataFrame({"g": np.repeat(np.arange(n_groups), 31), "ds": np.tile(days, n_groups),
                            "y": rng.uniform(0, 10, 31 * n_groups)})
    future = pd.date_range("2024-01-02", periods=7)
    forecasts = pd.DataFrame({"g": np.repeat(np.arange(n_groups), 7), "origin": origin, "method": "tuned",
                              "ds": np.tile(future, n_groups), "y": 1.0, "yhat": 1.0, "yhat_lower": 0.5,
                              "yhat_upper": 1.5})
    page = backtest_report(table, forecasts, history, ["g"], {"n_trials": 20}, summary(table, ["g"]))
    assert page.count("<svg") == 2 + 3 * 4
    assert len(page.encode()) < 300 * n_groups, "about a table row per group"
