"""What a group's models get besides its ds and y: extra regressors, event tables, country
holidays, and the cap and floor of logistic growth.

:class:`Drivers` holds a fit's settings for them (built once by the estimator, shipped with the
:class:`~prophet_grouped.config.TuningConfig`); :meth:`Drivers.for_group` resolves them for one
group inside the worker (its own events, its country, its non-constant regressors) as a
:class:`GroupDrivers`, which :func:`~prophet_grouped.objective.build_prophet` turns into Prophet
calls. Nothing here imports Spark or Ray.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import InputTypeError
from .search_space import valid_param_names

#: Search-space names that set every regressor's prior scale / mode at once.
#: Columns an event table may have besides group columns (Prophet's holidays format).
HOLIDAY_COLUMNS = ("holiday", "ds", "lower_window", "upper_window", "prior_scale")
#: Prophet's names a regressor can't take.
_RESERVED = ("trend", "additive_terms", "daily", "weekly", "yearly", "holidays", "zeros",
             "extra_regressors_additive", "yhat", "extra_regressors_multiplicative", "multiplicative_terms",
             "ds", "y", "cap", "floor", "y_scaled", "cap_scaled", "t", "regressor")


@dataclass(frozen=True)
class GroupDrivers:
    """One group's fixed model settings from the data: what every trial's model and the refit get.

    Parameters
    ----------
    prophet_params : dict
        Fixed Prophet constructor arguments (without ``holidays``).
    country : str or None
        Country whose holidays the models get.
    holidays : pandas.DataFrame or None
        The group's events, in Prophet's format (no group columns).
    regressors : tuple of str
        Extra regressor columns the models use.
    dropped : tuple of str
        Regressor columns left out for this group because they are constant in its history.
    """

    prophet_params: Mapping[str, Any] = field(default_factory=dict)
    country: str | None = None
    holidays: pd.DataFrame | None = field(default=None, compare=False)
    regressors: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()

    @property
    def has_holidays(self) -> bool:
        return bool(self.country) or (self.holidays is not None and len(self.holidays) > 0)

    def regressor_settings(self, params: Mapping[str, Any]) -> dict[str, tuple[float | None, str | None]]:
        """Regressor -> (prior scale, mode) from trial ``params``: ``"<column>_prior_scale"`` /
        ``"<column>_mode"``, else the shared ``regressor_prior_scale`` / ``regressor_mode``, else
        Prophet's defaults (None: the holidays prior scale and the seasonality mode)."""
        out = {}
        for col in self.regressors:
            prior = params.get(f"{col}_prior_scale", params.get("regressor_prior_scale"))
            mode = params.get(f"{col}_mode", params.get("regressor_mode"))
            out[col] = (None if prior is None else float(prior), mode)
        return out


@dataclass(frozen=True)
class Drivers:
    """A fit's drivers: settings, not data; shipped to every worker with the tuning config.

    Parameters
    ----------
    prophet_params : dict
        Fixed Prophet constructor arguments for every model (``holidays`` moved to ``holidays``).
    regressors : tuple of str
        Columns of the history used as extra regressors.
    holidays : pandas.DataFrame or None
        Event table: Prophet's columns and optionally some group columns (NaN there: every group).
    holidays_by : tuple of (str, int)
        The group columns of ``holidays`` and their positions in a group key.
    country : str or None
        One country code for every group.
    country_col : str or None
        Column holding each group's country code (instead of ``country``).
    cap, floor : bool
        Logistic growth's ``cap`` column (required with growth="logistic"), and ``floor``.
    """

    prophet_params: Mapping[str, Any] = field(default_factory=dict)
    regressors: tuple[str, ...] = ()
    holidays: pd.DataFrame | None = field(default=None, compare=False)
    holidays_by: tuple[tuple[str, int], ...] = ()
    country: str | None = None
    country_col: str | None = None
    cap: bool = False
    floor: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns a group's frame carries besides ds and y."""
        cols = list(self.regressors)
        cols += [c for c, on in (("cap", self.cap), ("floor", self.floor)) if on]
        if self.country_col is not None:
            cols.append(self.country_col)
        return tuple(cols)

    @property
    def future_columns(self) -> tuple[str, ...]:
        """Columns a frame to predict needs besides the group columns and the dates."""
        return tuple(c for c in self.columns if c != self.country_col)

    def for_group(self, key: Sequence[Any], frame: pd.DataFrame) -> GroupDrivers:
        """Resolve the drivers of one group from its key and usable rows (y observed), or raise
        ValueError saying what is wrong with its columns."""
        for col in self.regressors:
            missing = frame[col].isna()
            if missing.any():
                first = frame.loc[missing, "ds"].iloc[0]
                first = first.date() if first == first.normalize() else first
                raise ValueError(
                    f"regressor {col!r} is missing (NaN) on {int(missing.sum())} of {len(frame)} rows with an "
                    f"observed y (first {first}); regressors must be known on every date: fill them or drop "
                    f"those rows"
                )
        kept = tuple(c for c in self.regressors if frame[c].nunique() > 1)
        dropped = tuple(c for c in self.regressors if c not in kept)
        for col in [c for c, on in (("cap", self.cap), ("floor", self.floor)) if on]:
            bad = frame[col].isna() | ~np.isfinite(frame[col].to_numpy(dtype=float))
            if bad.any():
                raise ValueError(
                    f"{col!r} is missing or infinite on {int(bad.sum())} rows; logistic growth needs it on every date"
                )
        country = self.country
        if self.country_col is not None:
            codes = frame[self.country_col].dropna().unique()
            if len(codes) > 1:
                raise ValueError(
                    f"column {self.country_col!r} holds several countries for this group: {sorted(map(str, codes))}; "
                    f"a group needs one country code"
                )
            country = str(codes[0]) if len(codes) else None
            if country is not None:
                check_country(country, f"column {self.country_col!r} holds ")
        holidays = None
        if self.holidays is not None:
            table = self.holidays
            if self.holidays_by:
                keep = np.ones(len(table), dtype=bool)
                for col, pos in self.holidays_by:
                    keep &= (table[col].isna() | (table[col] == key[pos])).to_numpy()
                table = table.loc[keep, [c for c in HOLIDAY_COLUMNS if c in table.columns]]
            holidays = table.reset_index(drop=True) if len(table) else None
        return GroupDrivers(prophet_params=dict(self.prophet_params), country=country, holidays=holidays,
                            regressors=kept, dropped=dropped)


def check_country(code: object, where: str = "holidays_country=") -> None:
    """Raise ValueError unless ``code`` is a country the holidays package knows (``where``
    starts the message: ``"holidays_country="`` or ``"column 'country' holds "``)."""
    import holidays

    try:
        holidays.country_holidays(code)
    except (NotImplementedError, KeyError, AttributeError, TypeError) as exc:
        hint = "'US', 'DE' or 'BR'"
        if isinstance(code, str) and code != code.upper():
            try:
                holidays.country_holidays(code.upper())
                hint = f"{code.upper()!r} (codes are upper case)"
            except (NotImplementedError, KeyError, AttributeError, TypeError):
                pass
        raise ValueError(
            f"{where}{code!r}, which is not a country the holidays package knows; use an ISO code such as "
            f"{hint}" if where.endswith(" ") else
            f"{where}{code!r} is not a country the holidays package knows; use an ISO code such as {hint}."
        ) from exc


def check_regressor_names(regressors: Sequence[str]) -> None:
    """Raise ValueError for a regressor name Prophet reserves or that would read as another
    search-space name (``changepoint`` -> ``changepoint_prior_scale``)."""
    valid = set(valid_param_names())
    for name in regressors:
        clash = [f"{name}_{kind}" for kind in ("prior_scale", "mode") if f"{name}_{kind}" in valid]
        if name in _RESERVED or "_delim_" in name or clash:
            why = f"its search-space names would read as {clash}" if clash else "Prophet reserves it"
            raise ValueError(
                f"regressor_cols: {name!r} can't be a regressor name ({why}). Rename the column, "
                f"e.g. df.rename(columns={{{name!r}: 'x_{name}'}})."
            )


def check_holidays_table(table: object, group_cols: Sequence[str]) -> pd.DataFrame:
    """Validate an event table and return it with datetime ``ds`` and int windows.

    Columns: ``holiday`` and ``ds`` (required), ``lower_window``, ``upper_window``,
    ``prior_scale`` (optional) and any of ``group_cols`` (the rows then apply to the groups with
    those values; NaN in a group column: every group).
    """
    if not isinstance(table, pd.DataFrame):
        raise InputTypeError(
            f"holidays must be a pandas DataFrame with columns 'holiday' and 'ds' (Prophet's format), "
            f"got {type(table).__name__}."
        )
    missing = [c for c in ("holiday", "ds") if c not in table.columns]
    if missing:
        raise ValueError(
            f"The following columns are missing from the holidays table: {missing}. Got columns: "
            f"{list(table.columns)}. It needs 'holiday' (event name) and 'ds' (date), optionally "
            f"'lower_window', 'upper_window', 'prior_scale' and group columns."
        )
    unknown = [c for c in table.columns if c not in HOLIDAY_COLUMNS and c not in group_cols]
    if unknown:
        raise ValueError(
            f"The holidays table has columns that are neither Prophet's ({list(HOLIDAY_COLUMNS)}) nor "
            f"group columns ({list(group_cols)}): {unknown}. A column that says where an event applies (a "
            f"state, a region) must be a group column too: add it to group_cols (every row of the history "
            f"then holds it), or rename it to the group column it stands for; dropping it would give every "
            f"group every row's event."
        )
    out = table.copy()
    if out["holiday"].isna().any():
        raise ValueError(f"The holidays table has {int(out['holiday'].isna().sum())} rows without a holiday name.")
    out["holiday"] = out["holiday"].astype(str)
    ds = pd.to_datetime(out["ds"], errors="coerce", format="ISO8601") if out["ds"].dtype == object else \
        pd.to_datetime(out["ds"], errors="coerce")
    if ds.isna().any():
        bad = out.loc[ds.isna(), "ds"].drop_duplicates().tolist()[:3]
        raise ValueError(f"The holidays table's 'ds' has values that are not dates: {bad}. Use ISO dates.")
    out["ds"] = ds.astype("datetime64[ns]")
    windows = [c for c in ("lower_window", "upper_window") if c in out.columns]
    if len(windows) == 1:  # Prophet wants both or neither: the other one is 0 days
        out["upper_window" if windows[0] == "lower_window" else "lower_window"] = 0
    for col in ("lower_window", "upper_window"):
        if col in out.columns:
            values = pd.to_numeric(out[col], errors="coerce")
            if values.isna().any() or (values != values.round()).any():
                raise ValueError(f"The holidays table's {col!r} must hold whole numbers of days, got {out[col].tolist()[:3]}.")
            if (values > 0).any() if col == "lower_window" else (values < 0).any():
                sign = "<= 0" if col == "lower_window" else ">= 0"
                raise ValueError(f"The holidays table's {col!r} must be {sign} (days before / after the event).")
            out[col] = values.astype(int)
    if "prior_scale" in out.columns:
        ps = pd.to_numeric(out["prior_scale"], errors="coerce")
        if (ps <= 0).any():
            raise ValueError("The holidays table's 'prior_scale' must be > 0 (or NaN for holidays_prior_scale).")
        out["prior_scale"] = ps.astype(float)
    return out.reset_index(drop=True)
