"""The command line's files: reading and writing CSV or Parquet tables, and checking, before
any work, that the columns the options name exist and that outputs can be written."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence

import pandas as pd

__all__ = ["FORMATS", "CommandError", "check_columns", "check_out", "check_writable", "read_table", "write_table"]

FORMATS = (".csv", ".parquet", ".pq")


class CommandError(Exception):
    """A problem the user can fix; printed as ``error: ...`` with exit code 1."""


def read_table(path: str, text_cols: Sequence[str] = (), sep: str = ",") -> pd.DataFrame:
    """A CSV or Parquet file. In a CSV, ``text_cols`` (the group columns) are integers when
    every value is written as one (``7``, not ``007``), else the text they are written as: store
    "001" stays "001", not 1."""
    if not os.path.exists(path):
        raise CommandError(f"{path}: no such file. Give a CSV or Parquet file of long-format history.")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        df = pd.read_csv(path, dtype={c: str for c in text_cols}, sep=sep)
        for col in text_cols:
            if col in df.columns and df[col].notna().all() and df[col].str.fullmatch(r"-?(0|[1-9][0-9]{0,17})").all():
                df[col] = df[col].astype("int64")
        return df
    if ext in (".parquet", ".pq"):
        return pd.read_parquet(path)
    raise CommandError(f"{path}: unknown file type {ext!r}; give a file ending in one of {list(FORMATS)}.")


def write_table(df: pd.DataFrame, path: str | None) -> None:
    if path is None:
        df.to_csv(sys.stdout, index=False)
        return
    check_out(path)
    ext = os.path.splitext(path)[1].lower()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    if ext == ".csv":
        df.to_csv(path, index=False)
    else:
        # Microsecond timestamps: Spark (and other Parquet readers) refuse pandas' nanoseconds.
        df.to_parquet(path, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)


def check_columns(df: pd.DataFrame, path: str, groups: Sequence[str], time_col: str, target_col: str) -> None:
    """The columns the tuning options name, checked in the file's own terms (the flag that names
    each, and what to do with a wide file: one column of values per series)."""
    columns = [str(c) for c in df.columns]
    problems = [f"no column {name!r} ({flag})" for flag, name in
                [("--time-col", time_col), ("--target-col", target_col)] + [("--group", g) for g in groups]
                if name not in df.columns]
    if not problems:
        return
    fix = "Name the file's columns with --time-col, --target-col and --group."
    for sep in (";", "\t", "|"):
        if len(columns) == 1 and sep in columns[0]:
            raise CommandError(f"{path} has a single column {columns[0]!r}: its values look separated by {sep!r}, "
                               f"not commas. Add --sep {sep!r}.")
    numeric = [str(c) for c in df.select_dtypes("number").columns if c not in (time_col, *groups)]
    if target_col not in df.columns and len(numeric) > 1:
        fix += (f" A file with one column of values per series ({', '.join(numeric)}) must be made long first: "
                f"one row per series and date, e.g. with pandas: "
                f"df.melt(id_vars=[{time_col!r}], var_name='series', value_name='y'), then --group series.")
    elif target_col not in df.columns and len(numeric) == 1:
        fix = f"The values look like column {numeric[0]!r}: add --target-col {numeric[0]}."
    raise CommandError(f"{path} has {', '.join(problems)} (its columns: {', '.join(columns)}). {fix}")


def check_out(path: str | None, flag: str = "--out") -> None:
    """A table file to write: a known type, in a place that can be written (before any work)."""
    if path is None:
        return
    if os.path.splitext(path)[1].lower() not in FORMATS:
        raise CommandError(f"{flag} {path}: unknown file type {os.path.splitext(path)[1]!r}; use one of {list(FORMATS)}.")
    check_writable(path, flag)


def check_writable(path: str, flag: str, folder: bool = False) -> None:
    """Raise CommandError unless ``path`` (a file, or a ``folder``) can be written: checked by
    writing a scratch file in the nearest folder that exists, so that a run does not tune for
    an hour and then fail on its output."""
    path = os.path.abspath(path)
    if folder and os.path.isfile(path):
        raise CommandError(f"{flag} {path}: that is a file; give a folder (it is created if missing).")
    if not folder and os.path.isdir(path):
        raise CommandError(f"{flag} {path}: that is a folder; give a file name.")
    parent = path if folder else os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise CommandError(f"{flag} {path}: {parent} is a file, not a folder, so nothing can be written below it; "
                           f"give another path.")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".prophet-grouped-check-"):
            pass
    except OSError as exc:
        raise CommandError(f"{flag} {path}: can't write in {parent} ({exc.strerror or exc}); give a path you can "
                           f"write to.") from None
