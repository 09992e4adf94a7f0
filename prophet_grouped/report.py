"""A backtest as one HTML page a planner opens: no network, no files beside it (inline CSS, SVG
and script). What it shows: the settings, a summary per method, the distribution of the gain
over untuned Prophet and over the seasonal naive forecast, a sortable table of groups, and the
history, forecast, interval and held-out actuals of the worst, best and largest groups at the
last origin. Pages stay light at 10,000 groups: the table is one row per group, the charts a
fixed number of small SVGs."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .keys import group_key, key_text
from .transforms import history_y as transform_history

__all__ = ["backtest_report", "run_report"]

#: Groups drawn in each of the worst / best / largest rows of charts.
DRAWN = 4
_W, _H = 300, 150  # a small chart's size in pixels


def backtest_report(table: pd.DataFrame, forecasts: pd.DataFrame, history: pd.DataFrame,
                    group_cols: Sequence[str], settings: Mapping[str, Any], summary: pd.DataFrame,
                    title: str = "Backtest") -> str:
    """The page for a backtest: ``table``, ``forecasts`` and ``history`` as
    :func:`prophet_grouped.backtest.run` gives them, ``summary`` as
    :func:`prophet_grouped.backtest.summary` does, ``settings`` the tuner's parameters."""
    group_cols = list(group_cols)
    mae = table.pivot_table(index=group_cols, columns="method", values="mae", aggfunc="mean")
    groups = pd.DataFrame(index=mae.index)
    for base, name in (("prophet", "gain_vs_prophet"), ("seasonal_naive", "gain_vs_naive")):
        if "tuned" in mae and base in mae:
            groups[name] = 1 - mae["tuned"] / mae[base]
    for method in mae.columns:
        groups[f"mae_{method}"] = mae[method]
    volume = history.groupby(group_cols)["y"].sum()
    groups["total_y"] = volume.reindex(groups.index)
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        _settings(settings, table),
        "<h2>Summary per method</h2>", _frame_table(summary, "summary"),
        "<h2>Gain of the tuned forecast</h2>",
        "<p>Per group, 1 - MAE(tuned) / MAE(other), averaged over the origins: right of 0 the tuner wins.</p>",
        "<div class='charts'>",
        *[_histogram(groups[c].dropna().to_numpy(), label) for c, label in
          (("gain_vs_prophet", "over untuned Prophet"), ("gain_vs_naive", "over seasonal naive")) if c in groups],
        "</div>",
        _multiples(groups, forecasts, history, group_cols),
        f"<h2>Groups ({len(groups)})</h2><p>Click a column header to sort.</p>",
        _frame_table(groups.reset_index().assign(**{
            "group": lambda d: [", ".join(key_text(v) for v in k) for k in d[group_cols].itertuples(index=False)]}
        )[["group", *groups.columns]], "groups", sortable=True),
    ]
    return _PAGE.format(title=html.escape(title), body="\n".join(parts))


def run_report(tuner: Any, periods: int | None = None, title: str = "Tuning run") -> str:
    """The page for a fitted tuner (a ``tune`` or ``forecast`` run): its settings, status and
    gains on the validation folds (over Prophet's defaults and the seasonal naive forecast), a
    sortable table of groups, failed groups with their reasons, and the history and forecast of
    the worst, best and largest groups (when the run kept its models)."""
    group_cols = list(tuner.group_cols_)
    results = tuner.results_.copy()
    results["group"] = [", ".join(key_text(v) for v in k) for k in results[group_cols].itertuples(index=False)]
    results["gain_vs_defaults"] = 1 - results["best_score"] / results["default_score"]
    columns = ["group", "status", "value_added", "gain_vs_defaults", "best_score", "default_score", "naive_score",
               "model", "transform", "n_folds", "n_trials", "error"]
    table = results[[c for c in columns if c in results.columns]].assign(
        error=lambda d: d["error"].where(d["error"].notna(), ""))
    status = results["status"].value_counts()
    ok = results[results["status"] == "ok"]
    lines = pd.DataFrame({
        "groups": [len(results)], **{f"status {k}": [int(v)] for k, v in status.items()},
        "median gain over defaults": [ok["gain_vs_defaults"].median()],
        "median value added (over naive)": [ok["value_added"].median()],
    })
    failed = results[results["status"] != "ok"][["group", "status", "error"]]
    parts = [
        f"<h1>{html.escape(title)}</h1>", _settings(tuner.get_params(deep=False), None),
        "<h2>Summary (validation folds)</h2>", _frame_table(lines, "summary"),
        "<p>Gains are measured on the validation folds the search chose on: optimistic. "
        "<code>prophet-grouped backtest</code> measures on held-out windows.</p>",
        "<div class='charts'>",
        _histogram(ok["gain_vs_defaults"].dropna().to_numpy(), "over Prophet's defaults (validation)"),
        _histogram(ok["value_added"].dropna().to_numpy(), "over seasonal naive (validation)"),
        "</div>",
        _run_multiples(tuner, ok, group_cols, periods),
        f"<h2>Groups ({len(results)})</h2><p>Click a column header to sort.</p>",
        _frame_table(table, "groups", sortable=True),
    ]
    if len(failed):
        parts += [f"<h2>Groups without a tuned model ({len(failed)})</h2>", _frame_table(failed, "failed")]
    return _PAGE.format(title=html.escape(title), body="\n".join(parts))


def _run_multiples(tuner: Any, ok: pd.DataFrame, group_cols: list[str], periods: int | None) -> str:
    if not len(tuner.models_):
        return "<p>No charts: the run kept no models (forecast without --save).</p>"
    steps = periods or tuner.horizon_
    by_gain = ok.sort_values("value_added")
    picks = [("Least value added over naive", list(by_gain.index[:DRAWN])),
             ("Most value added over naive", list(by_gain.index[::-1][:DRAWN]))]
    keys = {i: group_key(tuple(ok.loc[i, group_cols])) for _, rows in picks for i in rows}
    keys = {i: key for i, key in keys.items() if key in tuner.models_}
    # One predict for the groups drawn (not one per chart, nor every group's dates).
    future = tuner.make_future_dataframe(periods=steps)
    wanted = set(keys.values())
    drawn = [group_key(k) in wanted for k in future[group_cols].itertuples(index=False, name=None)]
    forecast = tuner.predict(future[drawn].reset_index(drop=True)).assign(y=np.nan)
    by_key = {group_key(k if isinstance(k, tuple) else (k,)): part for k, part in forecast.groupby(group_cols)}
    out = ["<h2>History and forecast</h2>", "<p>Dots: history; line: forecast; band: its interval.</p>"]
    for heading, rows in picks:
        charts = []
        for i in (i for i in rows if i in keys):
            model = tuner.models_[keys[i]]
            seen = model.history[["ds"]].assign(y=transform_history(model)).tail(3 * steps)
            charts.append(_chart(", ".join(key_text(v) for v in keys[i]), seen, by_key[keys[i]], ok.loc[i]))
        if charts:
            out += [f"<h3>{html.escape(heading)}</h3><div class='charts'>", *charts, "</div>"]
    return "\n".join(out)


def _settings(settings: Mapping[str, Any], table: pd.DataFrame | None) -> str:
    shown = {k: v for k, v in settings.items() if not callable(v) and not isinstance(v, pd.DataFrame)}
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(repr(v))}</td></tr>"
                   for k, v in shown.items())
    head = ""
    if table is not None:
        origins = ", ".join(str(pd.Timestamp(o).date()) for o in sorted(table["origin"].unique()))
        head = f"<p>Origins: {html.escape(origins)}; methods: {html.escape(', '.join(table['method'].unique()))}.</p>"
    return f"{head}<details><summary>Settings</summary><table>{rows}</table></details>"


def _frame_table(frame: pd.DataFrame, name: str, sortable: bool = False) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for value in row:
            if isinstance(value, (float, np.floating)):
                text = "" if np.isnan(value) else f"{value:.4g}"
                cells.append(f"<td data-v='{'' if np.isnan(value) else repr(float(value))}'>{text}</td>")
            else:
                cells.append(f"<td>{html.escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cls = " class='sortable'" if sortable else ""
    return f"<table id='{name}'{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _histogram(values: np.ndarray, label: str) -> str:
    """An SVG histogram of gains, clipped to [-1, 1], with the zero line."""
    values = np.clip(values, -1, 1)
    counts, edges = np.histogram(values, bins=20, range=(-1, 1))
    top = max(int(counts.max()), 1) if len(counts) else 1
    bars = []
    for count, left in zip(counts, edges[:-1]):
        height = (_H - 30) * count / top
        x = 10 + (left + 1) / 2 * (_W - 20)
        colour = "#0072B2" if left >= 0 else "#D55E00"
        bars.append(f"<rect x='{x:.1f}' y='{_H - 20 - height:.1f}' width='{(_W - 20) / 20 - 1:.1f}' "
                    f"height='{height:.1f}' fill='{colour}'><title>{count} group(s)</title></rect>")
    zero = 10 + (_W - 20) / 2
    median = float(np.median(values)) if len(values) else float("nan")
    return (f"<figure><svg width='{_W}' height='{_H}' role='img'>{''.join(bars)}"
            f"<line x1='{zero}' x2='{zero}' y1='0' y2='{_H - 20}' stroke='#333'/>"
            f"<text x='10' y='{_H - 5}' font-size='10'>-100%</text><text x='{zero - 5}' y='{_H - 5}' font-size='10'>0"
            f"</text><text x='{_W - 40}' y='{_H - 5}' font-size='10'>+100%</text></svg>"
            f"<figcaption>Gain {html.escape(label)}: median {median:.1%} over {len(values)} group(s)</figcaption>"
            f"</figure>")


def _multiples(groups: pd.DataFrame, forecasts: pd.DataFrame, history: pd.DataFrame,
               group_cols: list[str]) -> str:
    """History, tuned forecast, interval and held-out actuals at the last origin, for the worst,
    best and largest groups."""
    if forecasts.empty or "tuned" not in set(forecasts["method"]):
        return ""
    last = forecasts["origin"].max()
    tuned = forecasts[(forecasts["origin"] == last) & (forecasts["method"] == "tuned")]
    gain = groups["gain_vs_prophet"].dropna() if "gain_vs_prophet" in groups else pd.Series(dtype=float)
    picks = [("Worst against untuned Prophet", list(gain.sort_values().index[:DRAWN])),
             ("Best against untuned Prophet", list(gain.sort_values(ascending=False).index[:DRAWN])),
             ("Largest", list(groups["total_y"].sort_values(ascending=False).index[:DRAWN]))]
    out = [f"<h2>Forecasts at the last origin ({pd.Timestamp(last).date()})</h2>",
           "<p>Dots: history and held-out actuals; line: tuned forecast; band: its interval.</p>"]
    by_key = {k if isinstance(k, tuple) else (k,): part for k, part in tuned.groupby(group_cols)}
    past = {k if isinstance(k, tuple) else (k,): part for k, part in history.groupby(group_cols)}
    for heading, keys in picks:
        charts = []
        for key in keys:
            key = key if isinstance(key, tuple) else (key,)
            if key in by_key:
                fc = by_key[key].sort_values("ds")
                seen = past[key]
                seen = seen[seen["ds"] <= last].tail(3 * len(fc))
                row = groups.loc[key if len(group_cols) > 1 else key[0]]
                charts.append(_chart(", ".join(key_text(v) for v in key), seen, fc, row))
        if charts:
            out += [f"<h3>{html.escape(heading)}</h3><div class='charts'>", *charts, "</div>"]
    return "\n".join(out)


def _chart(name: str, seen: pd.DataFrame, fc: pd.DataFrame, row: pd.Series) -> str:
    start, end = seen["ds"].min() if len(seen) else fc["ds"].min(), fc["ds"].max()
    low = np.nanmin([seen["y"].min(), fc["y"].min(), fc["yhat_lower"].min(), fc["yhat"].min()])
    high = np.nanmax([seen["y"].max(), fc["y"].max(), fc["yhat_upper"].max(), fc["yhat"].max()])
    span_t = max((end - start).total_seconds(), 1.0)
    span_y = max(high - low, 1e-9)

    def x(d: Any) -> float:
        return 5 + (pd.Timestamp(d) - start).total_seconds() / span_t * (_W - 10)

    def y(v: float) -> float:
        return _H - 15 - (v - low) / span_y * (_H - 30)

    band = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in zip(fc["ds"], fc["yhat_upper"]))
    band += " " + " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in zip(fc["ds"][::-1], fc["yhat_lower"][::-1]))
    line = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in zip(fc["ds"], fc["yhat"]))
    dots = "".join(f"<circle cx='{x(d):.1f}' cy='{y(v):.1f}' r='1.5' fill='#444'/>"
                   for d, v in zip(seen["ds"], seen["y"]) if pd.notna(v))
    held = "".join(f"<circle cx='{x(d):.1f}' cy='{y(v):.1f}' r='2' fill='#D55E00'/>"
                   for d, v in zip(fc["ds"], fc["y"]) if pd.notna(v))
    gain, added = row.get("gain_vs_prophet", np.nan), row.get("value_added", np.nan)
    caption = (f"{name}: gain over Prophet {gain:.0%}" if pd.notna(gain) else
               f"{name}: value added {added:.0%}" if pd.notna(added) else name)
    return (f"<figure><svg width='{_W}' height='{_H}' role='img'>"
            f"<polygon points='{band}' fill='#0072B2' fill-opacity='0.2'/>{dots}{held}"
            f"<polyline points='{line}' fill='none' stroke='#0072B2' stroke-width='1.5'/></svg>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var up = th.dataset.dir !== 'up';
    th.dataset.dir = up ? 'up' : 'down';
    rows.sort(function (a, b) {
      var x = a.cells[col], y = b.cells[col];
      var p = x.dataset.v, q = y.dataset.v;
      var r = (p !== undefined && q !== undefined)
        ? (p === '' ? 1 : q === '' ? -1 : parseFloat(p) - parseFloat(q))
        : x.textContent.localeCompare(y.textContent);
      return up ? r : -r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
document.body.dataset.ready = 'yes';
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; margin: 0.5em 0; }}
th, td {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; }}
th {{ background: #f3f3f3; cursor: pointer; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 12px; }}
figure {{ margin: 0; }} figcaption {{ font-size: 12px; }}
</style></head>
<body>
{body}
<script>""" + _SCRIPT.replace("{", "{{").replace("}", "}}") + """</script>
</body></html>
"""
