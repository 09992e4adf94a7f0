"""The series' frequency: inferred from the dates, or checked against them, and what follows
from it (the default validation horizon, the season length of scaled metrics).

Every function here takes the distinct dates of a fit (all groups together), so the pandas and
the Spark paths read the frequency the same way.
"""

from __future__ import annotations

from functools import reduce
from math import gcd
from typing import Any

import numpy as np
import pandas as pd

from .keys import group_key

_DAY = pd.Timedelta(days=1).value
_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def _distinct(dates: object) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.unique(pd.DatetimeIndex(dates))).sort_values()


def infer_freq(dates: object) -> str:
    """The pandas frequency of ``dates`` (the distinct timestamps of every group).

    Gaps are allowed: the frequency is the coarsest calendar step on which every date lies.
    Month starts and month ends give ``"MS"``/``"ME"`` (``"QS-JAN"``, ``"YE-DEC"``... when every
    step is a whole number of quarters or years), dates a whole number of weeks apart give
    ``"W-<weekday>"``, weekdays only give ``"B"``, anything else the tick that divides every
    step (``"D"``, ``"h"``, ``"15min"``...).

    Examples
    --------
    >>> infer_freq(pd.date_range("2020-01-01", periods=24, freq="MS"))
    'MS'
    >>> infer_freq(pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-05"]))
    'D'
    >>> infer_freq(pd.date_range("2020-01-01", periods=48, freq="h"))
    'h'
    """
    index = _distinct(dates)
    if len(index) < 2:
        raise ValueError(
            f"Can't infer the frequency from {len(index)} distinct date(s); set freq (e.g. freq='D')."
        )
    midnight = bool((index == index.normalize()).all())
    if midnight:
        months = index.year * 12 + index.month
        step_months = reduce(gcd, np.diff(months.to_numpy()).tolist())
        for anchored, start in ((index.is_month_start.all(), True),
                                (index.is_month_end.all(), False)):
            if anchored and step_months >= 1:
                return _monthly_freq(step_months, int(index.month[0]), start)
    steps = np.diff(index.asi8)
    step = reduce(gcd, steps.tolist())
    if step % _DAY == 0:
        days = step // _DAY
        if days % 7 == 0:
            weekday = _WEEKDAYS[index[0].dayofweek]
            return f"W-{weekday}" if days == 7 else f"{days // 7}W-{weekday}"
        if days == 1 and len(index) >= 10 and not (index.dayofweek >= 5).any() and \
                (index[-1] - index[0]).days >= 14:
            return "B"
        return "D" if days == 1 else f"{days}D"
    return pd.tseries.frequencies.to_offset(pd.Timedelta(step)).freqstr


def _monthly_freq(step_months: int, first_month: int, start: bool) -> str:
    suffix = "S" if start else "E"
    if step_months % 12 == 0:
        base = f"Y{suffix}-{_MONTHS[(first_month - 1) % 12]}"
        return base if step_months == 12 else f"{step_months // 12}{base}"
    if step_months % 3 == 0:
        # pandas names quarters by an anchor month: QS-JAN starts them in Jan/Apr/Jul/Oct, QE-DEC
        # ends them in Mar/Jun/Sep/Dec.
        anchor = (first_month - 1) % 3 + (1 if start else 10)
        base = f"Q{suffix}-{_MONTHS[anchor - 1]}"
        return base if step_months == 3 else f"{step_months // 3}{base}"
    return f"M{suffix}" if step_months == 1 else f"{step_months}M{suffix}"


def check_freq(freq: str, dates: object, time_col: str = "ds") -> str:
    """Return ``freq`` if every date in ``dates`` lies on its calendar, or raise ValueError.

    The message names both ``freq`` and the frequency the dates have.
    """
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError):
        raise ValueError(
            f"freq must be a pandas frequency such as 'D', 'W-SUN', 'MS' or 'h', or None to infer it "
            f"from the data; got {freq!r}."
        ) from None
    index = _distinct(dates)
    if isinstance(offset, pd.offsets.Tick):
        off_grid = index[((index - index[0]).asi8 % offset.nanos) != 0]
    else:
        off_grid = index[[not offset.is_on_offset(d) for d in index]]
    if len(off_grid):
        try:
            seen = f"they look like freq={infer_freq(index)!r}"
        except ValueError:
            seen = "they are too few to say which frequency they have"
        raise ValueError(
            f"freq={freq!r} does not match the dates in column {time_col!r}: {len(off_grid)} of "
            f"{len(index)} distinct dates are not on its calendar, e.g. {off_grid[0]}; {seen}. "
            f"Set freq to the data's frequency, or freq=None to infer it."
        )
    return freq


#: Daily dates that never fall on a weekday over at least this many weeks ...
CLOSED_MIN_WEEKS = 8
#: ... while they cover at least this share of the other days: that weekday is a closed day.
CLOSED_MIN_COVER = 0.8


def closed_weekdays(freq: str, dates: object) -> tuple[str, ...]:
    """The weekdays daily ``dates`` never fall on, when that is a calendar and not chance: a shop
    closed on Saturdays (Prophet's online-retail example). ``()`` unless ``freq`` is ``"D"``, the
    dates span at least :data:`CLOSED_MIN_WEEKS` weeks and cover at least
    :data:`CLOSED_MIN_COVER` of the days on the other weekdays (sparse dates miss weekdays by chance).

    Examples
    --------
    >>> days = pd.date_range("2024-01-01", periods=70, freq="D")
    >>> closed_weekdays("D", days[days.dayofweek != 5])
    ('SAT',)
    >>> closed_weekdays("D", days)
    ()
    """
    if freq != "D":
        return ()
    index = _distinct(dates)
    if len(index) < 2:
        return ()
    days = pd.date_range(index[0].normalize(), index[-1].normalize(), freq="D")
    seen = set(index.dayofweek.tolist())
    open_days = int(np.isin(days.dayofweek, sorted(seen)).sum())
    if len(days) < 7 * CLOSED_MIN_WEEKS or len(seen) == 7 or len(index) < CLOSED_MIN_COVER * open_days:
        return ()
    return tuple(name for day, name in enumerate(_WEEKDAYS) if day not in seen)


def group_closed_days(freq: str, dates: object, shared: tuple[str, ...] | list[str] = ()) -> tuple[str, ...]:
    """A group's closed weekdays: those every group shares (``shared``, read from all dates) and
    those its own daily ``dates`` never fall on (:func:`closed_weekdays`: a store closed on
    Sundays while others open), in weekday order."""
    mine = set(shared) | set(closed_weekdays(freq, dates))
    return tuple(day for day in _WEEKDAYS if day in mine)


def closed_text(closed: tuple[str, ...] | list[str]) -> str | None:
    """Closed weekdays as ``results_`` holds them: ``"SAT,SUN"``; None for none."""
    return ",".join(closed) or None


def closed_from_text(text: object) -> tuple[str, ...]:
    """Inverse of :func:`closed_text` (None, NaN or "" give none)."""
    return tuple(day for day in str(text).split(",") if day in _WEEKDAYS) if isinstance(text, str) else ()


def closed_by_group(results: pd.DataFrame, group_cols: list[str]) -> dict[tuple[Any, ...], tuple[str, ...]]:
    """Each group's closed weekdays from a ``results_`` frame's ``closed_days`` column (empty
    for frames from before it existed: the tuner's shared ``closed_days_`` apply)."""
    if "closed_days" not in results.columns:
        return {}
    keys = results[group_cols].itertuples(index=False, name=None)
    return {group_key(key): closed_from_text(text) for key, text in zip(keys, results["closed_days"])}


def future_freq(freq: str, closed: tuple[str, ...] | list[str] = ()) -> str | pd.offsets.CustomBusinessDay:
    """What ``pd.date_range`` and Prophet's ``make_future_dataframe`` step future dates by:
    ``freq``, or, with closed weekdays, the open days (``periods`` then counts open days).

    >>> pd.date_range("2024-01-05", periods=3, freq=future_freq("D", ("SAT",))).day_name().tolist()
    ['Friday', 'Sunday', 'Monday']
    """
    if not closed:
        return freq
    unknown = [day for day in closed if day not in _WEEKDAYS]
    if unknown or freq != "D":
        raise ValueError(f"closed days {list(closed)!r} with freq={freq!r}: closed days are weekday names "
                         f"{list(_WEEKDAYS)} of daily data (freq='D').")
    return pd.offsets.CustomBusinessDay(weekmask=" ".join(d.title() for d in _WEEKDAYS if d not in closed))


def resolve_freq(freq: str | None, dates: object, time_col: str = "ds") -> str:
    """``freq`` checked against ``dates``, or inferred from them when ``freq`` is None."""
    return infer_freq(dates) if freq is None else check_freq(freq, dates, time_col)


def steps_per(freq: str, span: pd.Timedelta) -> int:
    """How many steps of ``freq`` fit in ``span`` (at least 1), for tick frequencies."""
    offset = pd.tseries.frequencies.to_offset(freq)
    if isinstance(offset, pd.offsets.Tick):
        return max(1, int(span.value // offset.nanos))
    return 1


def _kind(freq: str) -> str:
    """``"subdaily"``, ``"daily"``, ``"weekly"``, ``"monthly"``, ``"quarterly"`` or ``"yearly"``."""
    offset = pd.tseries.frequencies.to_offset(freq)
    if isinstance(offset, pd.offsets.Tick):
        if offset.nanos < _DAY:
            return "subdaily"
        return "weekly" if offset.nanos >= 7 * _DAY else "daily"
    if isinstance(offset, (pd.offsets.BusinessDay, pd.offsets.CustomBusinessDay)):
        return "daily"
    if isinstance(offset, pd.offsets.Week):
        return "weekly"
    name = type(offset).__name__
    if "Quarter" in name:
        return "quarterly"
    if "Year" in name:
        return "yearly"
    return "monthly"


def default_horizon(freq: str) -> int:
    """The validation horizon used when none is given: 90 days of daily data, 13 weeks, 12
    months, 4 quarters, 2 years, or one day of sub-daily steps.

    >>> default_horizon("D"), default_horizon("MS"), default_horizon("h")
    (90, 12, 24)
    """
    kind = _kind(freq)
    if kind == "subdaily":
        return steps_per(freq, pd.Timedelta(days=1))
    return {"daily": 90, "weekly": 13, "monthly": 12, "quarterly": 4, "yearly": 2}[kind]


def season_length(freq: str) -> int:
    """Steps in one season of the frequency: 7 for daily, 52 for weekly, 12 for monthly, 4 for
    quarterly, 1 for yearly, the steps in a day for sub-daily data.

    >>> season_length("D"), season_length("W-SUN"), season_length("15min")
    (7, 52, 96)
    """
    kind = _kind(freq)
    if kind == "subdaily":
        return steps_per(freq, pd.Timedelta(days=1))
    if kind == "daily":
        return 5 if freq.upper().startswith("B") else 7
    return {"weekly": 52, "monthly": 12, "quarterly": 4, "yearly": 1}[kind]


def step_words(n: int, freq: str, closed: tuple[str, ...] | list[str] = ()) -> str:
    """``n`` steps of ``freq`` in words: ``"60 days"``, ``"12 months"``, ``"1 week"``; a step
    that is not one unit (``"15min"``, ``"2W-SUN"``, business days) reads ``"n steps of <freq>"``;
    with ``closed`` weekdays (see :func:`future_freq`: steps of open days), ``"n open days"``.

    >>> step_words(60, "D"), step_words(1, "MS"), step_words(24, "h"), step_words(8, "15min")
    ('60 days', '1 month', '24 hours', '8 steps of 15min')
    >>> step_words(10, "D", ("SAT",))
    '10 open days'
    """
    if closed:
        return f"{n} open day{'' if n == 1 else 's'}"
    offset = pd.tseries.frequencies.to_offset(freq)
    unit = None
    if offset.n == 1:
        if isinstance(offset, pd.offsets.Tick):
            unit = {pd.Timedelta(days=1).value: "day", pd.Timedelta(hours=1).value: "hour",
                    pd.Timedelta(minutes=1).value: "minute", pd.Timedelta(weeks=1).value: "week"}.get(offset.nanos)
        elif not isinstance(offset, (pd.offsets.BusinessDay, pd.offsets.CustomBusinessDay)):
            unit = {"weekly": "week", "monthly": "month", "quarterly": "quarter", "yearly": "year"}.get(_kind(freq))
    if unit is None:
        return f"{n} step{'' if n == 1 else 's'} of {freq}"
    return f"{n} {unit}{'' if n == 1 else 's'}"
