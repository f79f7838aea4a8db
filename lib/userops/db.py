"""Connect to the warehouse and run SQL metrics with bound parameters.

    con = connect("data/warehouse.duckdb")            # read-only by default
    df = query("retention/dk_retention", con=con, cohort_start=..., max_day=7)

Parameters reach DuckDB as bound `$name` parameters, never formatted into SQL.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
import pandas as pd

from userops.sql_files import read_sql, sql_params

DEFAULT_WAREHOUSE = Path("data/warehouse.duckdb")


def warehouse_path(path: str | Path | None = None) -> Path:
    if path:
        return Path(path)
    return Path(os.environ.get("USEROPS_WAREHOUSE", DEFAULT_WAREHOUSE))


def connect(path: str | Path | None = None, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (read-only unless asked); clear error if it was never built."""
    p = warehouse_path(path)
    if read_only and not p.is_file():
        raise FileNotFoundError(f"warehouse {p} not found: build it with `userops load DIR` (or `make demo`)")
    return duckdb.connect(str(p), read_only=read_only)


def query(name: str, con: duckdb.DuckDBPyConnection, **params) -> pd.DataFrame:
    """Run sql/<name>.sql with the given bound parameters and return a DataFrame.

    Every `$param` the file uses must be given; extra keyword arguments are an error
    (a typo would otherwise be silently ignored).
    """
    wanted = sql_params(name)
    missing = [p for p in wanted if p not in params]
    extra = [p for p in params if p not in wanted]
    if missing or extra:
        raise TypeError(
            f"SQL {name!r} takes parameters {wanted}; missing {missing or 'none'}, unexpected {extra or 'none'}"
        )
    return con.execute(read_sql(name), params).df()


def present_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Contract tables that were supplied (not created empty) at load time."""
    return {r[0] for r in con.execute("select table_name from _load_meta where present").fetchall()}


def load_info(con: duckdb.DuckDBPyConnection) -> dict:
    fp, loaded_at, data_dir = con.execute(
        "select fingerprint, loaded_at, data_dir from _load_info"
    ).fetchone()
    return {"fingerprint": fp, "loaded_at": loaded_at.isoformat(), "data_dir": data_dir}


def data_range(con: duckdb.DuckDBPyConnection) -> tuple[dt.date, dt.date]:
    """First and last order date in the warehouse."""
    lo, hi = con.execute("select min(order_date), max(order_date) from fct_orders").fetchone()
    if lo is None:
        raise ValueError("the warehouse has no orders")
    return lo, hi


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """'2026-10' -> (2026-10-01, 2026-11-01): the half-open month interval."""
    try:
        start = dt.date.fromisoformat(month + "-01")
    except ValueError:
        raise ValueError(f"month {month!r} is not YYYY-MM") from None
    end = dt.date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return start, end


def last_complete_month(con: duckdb.DuckDBPyConnection) -> str:
    """The latest calendar month whose last day is covered by the orders."""
    _, hi = data_range(con)
    next_day = hi + dt.timedelta(days=1)
    if next_day.day == 1:  # data runs to the month's last day
        return f"{hi.year:04d}-{hi.month:02d}"
    prev = hi.replace(day=1) - dt.timedelta(days=1)
    return f"{prev.year:04d}-{prev.month:02d}"


def resolve_month(con: duckdb.DuckDBPyConnection, month: str | None) -> str:
    """Validate a report month against the data; empty means the last complete month."""
    if not month:
        return last_complete_month(con)
    start, end = month_bounds(month)
    lo, hi = data_range(con)
    if start < lo.replace(day=1) or end - dt.timedelta(days=1) > hi:
        raise ValueError(
            f"month {month!r} is outside the data (orders run {lo} to {hi}; "
            f"last complete month {last_complete_month(con)})"
        )
    return month
