"""Long-format data: validation of user frames, and a synthetic retail sales generator."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .exceptions import InputTypeError
from .keys import group_key

#: Fewest training points a group must keep before its earliest validation cutoff.
MIN_TRAIN_POINTS = 30


#: The value of the group column a single series gets (``group_cols=None``).
ONE_SERIES = "all"


def one_series_column(columns: Sequence[str]) -> str:
    """The name of the group column a single series gets (``group_cols=None``): ``series``, or
    a variant the frame's own columns don't use."""
    return next(n for n in ("series", "_series", "__series", "___series") if n not in columns)


def as_group_cols(group_cols: str | Sequence[str] | None) -> list[str]:
    """Return ``group_cols`` as a non-empty list of column names (``[]`` for None: one series,
    whose group column :func:`one_series_column` names), or raise."""
    if group_cols is None:
        return []
    if isinstance(group_cols, str):
        return [group_cols]
    if isinstance(group_cols, Sequence) and group_cols and all(isinstance(c, str) for c in group_cols):
        if len(set(group_cols)) != len(group_cols):
            raise ValueError(f"group_cols has duplicate names: {list(group_cols)!r}.")
        return list(group_cols)
    raise InputTypeError(
        f"group_cols must be a column name, a non-empty list of column names, or None for a single series; "
        f"got {group_cols!r}."
    )


def _fmt_keys(keys: Sequence[object], limit: int = 5) -> str:
    keys = list(keys)
    shown = ", ".join(repr(k) for k in keys[:limit])
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return f"[{shown}{more}]"


_COLUMNS_FIX = "Rename them, or set group_cols, time_col and target_col to the names your data uses."


def check_columns(columns: Sequence[str], required: Sequence[str], role: str, fix: str = _COLUMNS_FIX) -> None:
    """Raise ValueError naming the ``required`` columns absent from ``columns``, with ``fix``."""
    missing = [c for c in required if c not in columns]
    if missing:
        raise ValueError(
            f"The following columns are missing from the {role}: {missing}. Got columns: {list(columns)}. {fix}"
        )


#: Key of ``frame.attrs`` where :func:`validate_history` records the format its text dates were
#: read with (None: dates, or ISO 8601 text).
DATE_FORMAT = "date_format"


def _parse_text_dates(ds: pd.Series, time_col: str, date_format: str | None,
                      prefer: str | None = None) -> pd.Series:
    """Text dates as timestamps: with ``date_format``, ISO 8601, or the one format that reads
    every value one way; never a guess between day-first and month-first, but when values read
    both ways and one of them is ``prefer`` (the format the history was read with), that one.
    The result's ``attrs[DATE_FORMAT]`` says which format read them."""
    fix = ("Give the format with date_format (a strptime format such as '%d.%m.%Y' or "
           "'%m/%d/%Y'), or convert the column with pd.to_datetime(..., format=...) before fitting.")
    present = ds.dropna()
    if date_format is not None:
        parsed = pd.to_datetime(ds, format=date_format, errors="coerce")
        bad = present[parsed[present.index].isna()]
        if len(bad):
            raise ValueError(
                f"Column {time_col!r} has values that don't match date_format={date_format!r}: "
                f"{_fmt_keys(bad.unique())}. Fix the format, or fix or drop those rows."
            )
        parsed.attrs[DATE_FORMAT] = date_format
        return parsed
    if not present.map(lambda v: isinstance(v, str)).all():
        # datetime/date objects (or a mix with text): pandas reads objects as they are.
        parsed = pd.to_datetime(ds, errors="coerce", format="mixed")
    else:
        parsed = pd.to_datetime(ds, errors="coerce", format="ISO8601")
    if parsed[present.index].notna().all():
        return parsed
    # Not ISO: the formats one value suggests, read month-first and day-first.
    from pandas.tseries.api import guess_datetime_format

    candidates: dict[str, pd.Series] = {}
    for sample in present.drop_duplicates().iloc[:20]:
        for dayfirst in (False, True):
            with warnings.catch_warnings():  # pandas warns when the guess contradicts dayfirst
                warnings.simplefilter("ignore")
                fmt = guess_datetime_format(str(sample), dayfirst=dayfirst)
            if fmt and fmt not in candidates:
                candidates[fmt] = pd.to_datetime(ds, format=fmt, errors="coerce")
    readings: list[tuple[str, pd.Series]] = []  # formats that read every value, one per distinct reading
    for fmt, p in candidates.items():
        if p[present.index].notna().all() and not any(p.equals(q) for _, q in readings):
            readings.append((fmt, p))
    chosen = [(fmt, p) for fmt, p in readings if fmt == prefer] if len(readings) > 1 else readings
    if len(chosen) == 1:
        fmt, parsed = chosen[0]
        parsed.attrs[DATE_FORMAT] = fmt
        return parsed
    if len(readings) > 1:
        (fmt_a, a), (fmt_b, b) = readings[:2]
        differ = present.index[(a[present.index] != b[present.index]).to_numpy()]
        example = present[differ[0]]
        raise ValueError(
            f"Column {time_col!r} holds text dates that read two ways: {example!r} is "
            f"{a[differ[0]].date()} as {fmt_a!r} and {b[differ[0]].date()} as {fmt_b!r} (day-first or "
            f"month-first), and every value fits both. {fix}"
        )
    mixed = pd.to_datetime(ds, errors="coerce", format="mixed")
    bad = present[mixed[present.index].isna()]
    if len(bad):
        raise ValueError(
            f"Column {time_col!r} has values that are not dates: {_fmt_keys(bad.unique())}. "
            f"Fix or drop those rows."
        )
    raise ValueError(
        f"Column {time_col!r} mixes several date formats (e.g. {_fmt_keys(present.drop_duplicates().iloc[[0, -1]])}), "
        f"so no single format reads every value. {fix}"
    )


def _check_time(df: pd.DataFrame, time_col: str, date_format: str | None = None, prefer: str | None = None) -> pd.Series:
    ds = df[time_col]
    if isinstance(ds.dtype, pd.DatetimeTZDtype):
        raise ValueError(
            f"Column {time_col!r} is timezone-aware ({ds.dtype}); Prophet needs naive timestamps. "
            f"Convert it with df[{time_col!r}] = df[{time_col!r}].dt.tz_localize(None)."
        )
    if not pd.api.types.is_datetime64_any_dtype(ds):
        if pd.api.types.is_numeric_dtype(ds) or pd.api.types.is_bool_dtype(ds):
            raise ValueError(
                f"Column {time_col!r} must hold dates, got dtype {ds.dtype}. "
                f"Convert it with pd.to_datetime before fitting."
            )
        if ds.map(lambda v: getattr(v, "tzinfo", None) is not None).any():
            raise ValueError(
                f"Column {time_col!r} holds timezone-aware timestamps; Prophet needs naive ones. "
                f"Convert them to one timezone and drop it (tz_convert(...).tz_localize(None))."
            )
        parsed = _parse_text_dates(ds, time_col, date_format, prefer)
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            raise ValueError(
                f"Column {time_col!r} holds timezone-aware timestamps; Prophet needs naive ones. "
                f"Convert them with .dt.tz_localize(None)."
            )
        ds = parsed
    if ds.isna().any():
        raise ValueError(
            f"Column {time_col!r} has {int(ds.isna().sum())} missing timestamps. Drop those rows."
        )
    return ds.astype("datetime64[ns]")


def _check_target(df: pd.DataFrame, target_col: str) -> pd.Series:
    y = df[target_col]
    if pd.api.types.is_bool_dtype(y) or not pd.api.types.is_numeric_dtype(y):
        hint = ""
        if not pd.api.types.is_bool_dtype(y) and pd.to_numeric(y, errors="coerce").notna().any():
            hint = f" It looks like numbers stored as text: convert with pd.to_numeric(df[{target_col!r}])."
        raise ValueError(
            f"Column {target_col!r} must be numeric, got dtype {y.dtype}.{hint}"
        )
    y = y.astype("float64")
    if np.isinf(y.to_numpy()).any():
        raise ValueError(
            f"Column {target_col!r} has {int(np.isinf(y.to_numpy()).sum())} infinite values. "
            f"Drop or replace them before fitting."
        )
    return y


def missing_key_message(col: str, count: int) -> str:
    """What is wrong with a history whose group column ``col`` is missing on ``count`` rows
    (pandas NaN or Spark NULL alike)."""
    return (f"Group column {col!r} has {count} missing values; every row needs a complete group key. "
            f"Drop those rows or fill the key.")


def _check_keys(df: pd.DataFrame, group_cols: list[str]) -> None:
    for col in group_cols:
        if df[col].isna().any():
            raise ValueError(missing_key_message(col, int(df[col].isna().sum())))


def _check_numeric(df: pd.DataFrame, col: str, role: str) -> pd.Series:
    values = df[col]
    if pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    if not pd.api.types.is_numeric_dtype(values):
        raise ValueError(
            f"Column {col!r} ({role}) must be numeric, got dtype {values.dtype}. Convert it with "
            f"pd.to_numeric(df[{col!r}]) (flags as 0/1)."
        )
    values = values.astype("float64")
    if np.isinf(values.to_numpy()).any():
        raise ValueError(f"Column {col!r} ({role}) has {int(np.isinf(values.to_numpy()).sum())} infinite values.")
    return values


def validate_history(
    df: object, group_cols: list[str], time_col: str, target_col: str, date_format: str | None = None,
    extra: Sequence[str] = (), numeric: Sequence[str] = (), prefer: str | None = None,
) -> pd.DataFrame:
    """Check a long-format history frame and return it as ``group_cols + [ds, y] + extra``.

    The returned frame has naive ``datetime64[ns]`` ``ds`` and float ``y`` and is sorted by
    group and date. Missing ``y`` values are kept: tuning ignores those rows, as Prophet does.
    ``extra`` columns (regressors, cap, floor, a country column) are carried along; those in
    ``numeric`` must be numbers (booleans become 0/1). Every problem raises ``TypeError`` or
    ``ValueError`` naming the column or group at fault and the fix. Text dates are read as
    :func:`_parse_text_dates` says (``prefer``: the format to take when they read two ways); the
    format used is in the result's ``attrs[DATE_FORMAT]``.
    """
    if not isinstance(df, pd.DataFrame):
        raise InputTypeError(
            f"Expected a pandas DataFrame (or a Spark DataFrame with backend='spark'), "
            f"got {type(df).__name__}."
        )
    if df.empty:
        raise ValueError("The input frame is empty: there is nothing to fit.")
    check_columns(list(df.columns), group_cols + [time_col, target_col, *extra], "input frame")
    _check_keys(df, group_cols)
    out = df[group_cols].copy()
    ds = _check_time(df, time_col, date_format, prefer)
    out["ds"] = ds.to_numpy()
    out["y"] = _check_target(df, target_col).to_numpy()
    for col in extra:
        out[col] = (_check_numeric(df, col, "a regressor, cap or floor") if col in numeric else df[col]).to_numpy()
    dup = out.duplicated(group_cols + ["ds"], keep=False)
    if dup.any():
        first = out.loc[dup].iloc[0]

        key = group_key(tuple(first[c] for c in group_cols))
        # Columns that tell the clashing rows apart: more series than group_cols name (a
        # forgotten item column), which summing would merge into one.
        clashing = df.loc[dup.to_numpy()]
        apart = [str(c) for c in df.columns if c not in (*group_cols, time_col, target_col, *extra)
                 and not clashing.duplicated([*group_cols, c, time_col]).any()]
        hint = (f"If they are different series, add the column that tells them apart to group_cols "
                f"(--group on the command line): {apart[:5]}; if they are parts of one series' sales, "
                if apart else "Each group needs one row per date: ")
        raise ValueError(
            f"{int(dup.sum())} rows share a group and a date, e.g. group {key!r} on "
            f"{first['ds'].date()}. {hint}aggregate them first "
            f"(e.g. df.groupby(group_cols + [{time_col!r}], as_index=False)[{target_col!r}].sum())."
        )
    out = out.sort_values(group_cols + ["ds"], kind="stable").reset_index(drop=True)
    out.attrs[DATE_FORMAT] = ds.attrs.get(DATE_FORMAT)
    return out


def split_groups(
    history: pd.DataFrame, group_cols: list[str], extra: Sequence[str] = ()
) -> list[tuple[tuple, pd.DataFrame]]:
    """One (key, frame of ds, y and ``extra``) task per group of a validated history, longest
    groups first.

    Keys are canonical (:func:`~prophet_grouped.keys.group_key`), so they compare equal
    whichever backend made them.
    """
    tasks = []
    for key, part in history.groupby(group_cols, sort=True):
        tasks.append((group_key(key), part[["ds", "y", *extra]].reset_index(drop=True)))
    # Longest first, so that the last tasks to start are short ones.
    tasks.sort(key=lambda task: -len(task[1]))
    return tasks


def validate_future(
    df: object, group_cols: list[str], time_col: str, date_format: str | None = None, extra: Sequence[str] = (),
    prefer: str | None = None,
) -> pd.DataFrame:
    """Check a frame of dates to forecast and return it as ``group_cols + [ds] + extra``
    (``extra``: the numeric regressor, cap and floor columns the models need; ``prefer``: the
    format the history's text dates were read with, taken where these read two ways)."""
    if not isinstance(df, pd.DataFrame):
        raise InputTypeError(f"Expected a pandas DataFrame of groups and dates, got {type(df).__name__}.")
    if df.empty:
        raise ValueError("The frame to predict is empty: it needs group columns and dates.")
    check_columns(list(df.columns), group_cols + [time_col], "frame to predict")
    check_columns(list(df.columns), extra, "frame to predict",
                  "The models use them (regressor_cols, or cap/floor for logistic growth): add their values on "
                  "the dates to forecast (make_future_dataframe gives the dates; merge your planned prices, "
                  "promotions or capacities).")
    _check_keys(df, group_cols)
    out = df[group_cols].copy()
    out["ds"] = _check_time(df, time_col, date_format, prefer).to_numpy()
    for col in extra:
        out[col] = _check_numeric(df, col, "a regressor, cap or floor").to_numpy()
        missing = out[col].isna()
        if missing.any():
            groups = out.loc[missing, group_cols].drop_duplicates()
            listing = [tuple(r) for r in groups.itertuples(index=False, name=None)][:5]
            raise ValueError(
                f"Column {col!r} of the frame to predict is missing or not a finite number on {int(missing.sum())} "
                f"rows, in {len(groups)} group(s) such as {listing}. Forecasts need its value on every date "
                f"to forecast: fill them (planned prices, promotions, capacities)."
            )
    return out


def make_retail_sales(
    n_stores: int = 2,
    n_items: int = 4,
    periods: int = 730,
    start: str = "2019-01-01",
    seed: int | None = 0,
    intermittent_share: float = 0.1,
    covariates: bool = False,
) -> pd.DataFrame:
    """Generate realistic daily store x item sales.

    Each series has a level drawn per store and item, a piecewise linear trend, weekly,
    monthly and yearly seasonality, holiday effects (Christmas, New Year, Black Friday, Easter
    and summer peaks), multiplicative noise and Poisson counts. A share of items is
    intermittent: mostly zero with occasional sales.

    With ``covariates=True`` each series also has a ``price`` (a list price per item that is
    cut by 10-35% in about a quarter of the weeks, Monday to Sunday) and a ``promo`` flag (a
    three-day promotion, Thursday to Saturday, in about one week in six), known in advance as a
    planner's would be; sales respond to both (price elasticity 1.5-3, promotion uplift
    +35-100%). They are drawn from their own random stream: the other columns' randomness is that
    of ``covariates=False``.

    Parameters
    ----------
    n_stores, n_items : int
        Number of stores and items; there are ``n_stores * n_items`` series.
    periods : int
        Days per series.
    start : str
        First date.
    seed : int or None
        Seed; the same seed gives the same frame.
    intermittent_share : float
        Share of series, in [0, 1], that are intermittent.
    covariates : bool
        Add the ``price`` and ``promo`` columns, with their effect on sales.

    Returns
    -------
    pandas.DataFrame
        Columns ``store``, ``item`` (ints), ``ds`` (daily dates) and ``y`` (float counts >= 0),
        then ``price`` (float) and ``promo`` (0/1) with ``covariates=True``; sorted by store,
        item and date.

    Examples
    --------
    >>> df = make_retail_sales(n_stores=1, n_items=2, periods=60, seed=1)
    >>> df.shape
    (120, 4)
    """
    for name, value in (("n_stores", n_stores), ("n_items", n_items), ("periods", periods)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if not 0.0 <= intermittent_share <= 1.0:
        raise ValueError(f"intermittent_share must be in [0, 1], got {intermittent_share!r}.")
    rng = np.random.default_rng(seed)
    n = n_stores * n_items
    ds = pd.date_range(start, periods=periods, freq="D")
    t = np.arange(periods, dtype=float)

    doy = ds.day_of_year.to_numpy()
    dow = ds.day_of_week.to_numpy()
    dom = ds.day.to_numpy()
    # Holidays: Christmas run-up, New Year dip, Black Friday, Easter weekend, mid-summer.
    holiday = np.zeros(periods)
    month, day = ds.month.to_numpy(), ds.day.to_numpy()
    holiday += 0.6 * ((month == 12) & (day >= 15) & (day <= 24))
    holiday -= 0.7 * ((month == 12) & (day == 25)) + 0.5 * ((month == 1) & (day == 1))
    thanksgiving = (month == 11) & (dow == 3) & (day >= 22) & (day <= 28)
    holiday += 0.8 * np.roll(thanksgiving, 1)
    holiday += 0.3 * ((month == 7) & (day <= 7))

    level = rng.lognormal(mean=2.5, sigma=0.8, size=(n, 1))
    slope = rng.normal(0.0, 0.3, size=(n, 1)) / periods
    # One trend change point per series.
    cp = rng.integers(periods // 4, max(periods // 4 + 1, 3 * periods // 4), size=(n, 1))
    slope2 = slope + rng.normal(0.0, 0.3, size=(n, 1)) / periods
    trend = 1.0 + slope * t + (slope2 - slope) * np.clip(t - cp, 0.0, None)
    weekly_amp = rng.uniform(0.05, 0.35, size=(n, 1))
    weekly = weekly_amp * np.array([-0.3, -0.2, -0.1, 0.0, 0.3, 0.8, 0.5])[dow]
    monthly = rng.uniform(0.0, 0.1, size=(n, 1)) * np.cos(2 * np.pi * (dom - 1) / 30.5)
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    yearly = rng.uniform(0.05, 0.4, size=(n, 1)) * np.sin(2 * np.pi * doy / 365.25 + phase)
    hol = rng.uniform(0.5, 1.5, size=(n, 1)) * holiday
    noise = rng.normal(0.0, 0.08, size=(n, periods))
    rate = level * np.clip(trend, 0.05, None) * np.exp(weekly + monthly + yearly + hol + noise)

    intermittent = rng.random(n) < intermittent_share
    if intermittent.any():
        rate[intermittent] = rng.uniform(0.05, 0.4, size=(int(intermittent.sum()), 1)) * np.exp(
            weekly[intermittent]
        )
    if covariates:
        price, promo, effect = _price_and_promo(np.random.default_rng(None if seed is None else [seed, 7]), n, ds)
        rate = rate * effect
    y = rng.poisson(rate).astype(float)

    stores = np.repeat(np.arange(1, n_stores + 1), n_items)
    items = np.tile(np.arange(1, n_items + 1), n_stores)
    columns = {
        "store": np.repeat(stores, periods),
        "item": np.repeat(items, periods),
        "ds": np.tile(ds.to_numpy(), n),
        "y": y.ravel(),
    }
    if covariates:
        columns["price"] = price.ravel()
        columns["promo"] = promo.ravel()
    return pd.DataFrame(columns)


def _price_and_promo(rng: np.random.Generator, n: int, ds: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weekly price cuts and three-day promotions for ``n`` series, and their effect on the sales rate."""
    week = ((ds - ds[0]).days.to_numpy() + ds[0].day_of_week) // 7  # Monday-to-Sunday weeks
    n_weeks = int(week.max()) + 1
    list_price = np.round(rng.lognormal(np.log(8.0), 0.6, size=(n, 1)), 2)
    cut = np.where(rng.random((n, n_weeks)) < 0.25, rng.uniform(0.10, 0.35, size=(n, n_weeks)), 0.0)
    price = np.round(list_price * (1.0 - cut[:, week]), 2)
    promo_week = rng.random((n, n_weeks)) < 1 / 6
    promo = (promo_week[:, week] & np.isin(ds.day_of_week.to_numpy(), (3, 4, 5))).astype(int)
    elasticity = rng.uniform(1.5, 3.0, size=(n, 1))
    uplift = rng.uniform(np.log(1.35), np.log(2.0), size=(n, 1))
    effect = (price / list_price) ** -elasticity * np.exp(uplift * promo)
    return price, promo, effect
