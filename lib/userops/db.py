"""Connect to the warehouse and run SQL metrics with bound parameters.

    con = connect("data/warehouse.duckdb")            # read-only by default
    df = query("retention/dk_retention", con=con, cohort_start=..., max_day=7)

Parameters reach DuckDB as bound `$name` parameters, never formatted into SQL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import time
import weakref
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from userops.sql_files import read_sql, sql_params

DEFAULT_WAREHOUSE = Path("data/warehouse.duckdb")


def warehouse_path(path: str | Path | None = None) -> Path:
    if path:
        return Path(path)
    return Path(os.environ.get("USEROPS_WAREHOUSE", DEFAULT_WAREHOUSE))


# DuckDB resource settings: params `duckdb` section, overridden by these environment variables.
RESOURCE_ENV = {
    "memory_limit": "USEROPS_DUCKDB_MEMORY_LIMIT",  # e.g. 8GB
    "threads": "USEROPS_DUCKDB_THREADS",  # e.g. 2
    "temp_directory": "USEROPS_DUCKDB_TEMP_DIRECTORY",  # where queries spill
    # at most this much spilled (e.g. 20GB): a query past it fails instead of filling the disk; DuckDB's
    # own default is 90% of the free space, which leaves nothing for anything else on a shared disk
    "max_temp_directory_size": "USEROPS_DUCKDB_MAX_TEMP_SIZE",
}


def duckdb_config(settings: dict | None = None) -> dict[str, str]:
    """DuckDB config from params (``memory_limit``, ``threads``, ``temp_directory``,
    ``max_temp_directory_size``) and the environment.

    Environment variables win; unset values are left to DuckDB's defaults.
    """
    unknown = set(settings or {}) - set(RESOURCE_ENV)
    if unknown:
        raise ValueError(f"unknown DuckDB resource settings {sorted(unknown)}; known: {sorted(RESOURCE_ENV)}")
    cfg = {k: str(v) for k, v in (settings or {}).items() if v not in (None, "")}
    for key, env in RESOURCE_ENV.items():
        if os.environ.get(env):
            cfg[key] = os.environ[env]
    return cfg


def connect(
    path: str | Path | None = None, read_only: bool = True, settings: dict | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (read-only unless asked) with the resource settings; clear error if never built."""
    p = warehouse_path(path)
    if read_only and not p.is_file():
        raise FileNotFoundError(f"warehouse {p} not found: build it with `userops load DIR` (or `make demo`)")
    con = duckdb.connect(str(p), read_only=read_only)
    cfg = duckdb_config(settings)
    try:
        for key, value in cfg.items():  # keys come from RESOURCE_ENV only; values are bound
            con.execute(f"set {key} = $v", {"v": value})
    except duckdb.Error as e:
        con.close()
        raise ValueError(f"DuckDB resource settings {cfg} are invalid: {e}") from None
    return con


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
    with logged(name, params) as log:
        # on Spark (userops.engine) the same file runs there, its override when it has one
        df = con.query(name, params) if _on_spark(con) else con.execute(read_sql(name), params).df()
        log["rows"] = len(df)
    return df


def _on_spark(con) -> bool:
    from userops.engine import SparkConnection

    return isinstance(con, SparkConnection)


def create_temp_table(con, table: str, name: str, params: dict) -> None:
    """sql/<name>.sql's result as the temporary table `table` other metric files of this
    connection read (a cached view on Spark)."""
    if _on_spark(con):
        con.create_temp_table(table, name, params)
    else:  # table is a fixed name of the library, never data
        con.execute(f"create or replace temp table {table} as\n{read_sql(name)}", params)


def has_temp_table(con, table: str) -> bool:
    """Whether this connection holds the temporary table `table` (see create_temp_table)."""
    if _on_spark(con):
        return con.has_table(table)
    return _has_table(con, table, temporary=True)


def has_warehouse_table(con, table: str) -> bool:
    """Whether the warehouse holds the (non-temporary) table `table`: a derived table added to
    sql/warehouse/ after the warehouse was loaded is missing until the next load. On Spark the
    derived tables are built from the current SQL, so always true there."""
    return _on_spark(con) or _has_table(con, table, temporary=False)


def _has_table(con, table: str, temporary: bool) -> bool:
    # fetchall: a fetchone leaves the result open, and DuckDB then refuses register() on the connection
    found = con.execute(
        "select count(*) from duckdb_tables() where table_name = $t and temporary = $tmp",
        {"t": table, "tmp": temporary},
    ).fetchall()[0][0]
    return bool(found)


def require_derived_tables(con) -> None:
    """ValueError naming the derived tables (sql/warehouse/NN_<table>.sql) this warehouse lacks: it was
    loaded before they existed, and every play reading them would stop on a catalog error."""
    from userops.sql_files import sql_names

    wanted = [name.split("/", 1)[1].split("_", 1)[1] for name in sql_names("warehouse")]
    missing = [t for t in wanted if not has_warehouse_table(con, t)]
    if missing:
        raise ValueError(
            f"the warehouse was loaded before {', '.join(missing)} existed (derived tables built at "
            "load): load it again with `userops load`"
        )


def distinct_ids(ids) -> np.ndarray:
    """The distinct non-null integer ids of a column, list or set, sorted (int64; vectorised: a
    target list can hold most users)."""
    s = pd.Series(list(ids) if isinstance(ids, (set, frozenset)) else ids)
    return np.unique(s.dropna().to_numpy().astype("int64"))


@contextlib.contextmanager
def id_table(con, table: str, ids, column: str = "user_id"):
    """The distinct integer ids as the one-column table `table` (`column` BIGINT) for the block: a
    registered frame on DuckDB, a temporary view on Spark. SQL joins it in instead of receiving the
    ids as a literal array parameter, so a list of any length stays out of the statement (on a
    cluster a literal array is part of the query plan every executor receives)."""
    con.register(table, pd.DataFrame({column: pd.Series(distinct_ids(ids), dtype="int64")}))
    try:
        yield table
    finally:
        con.unregister(table)


# Shared intermediates: results of `query_once` per open connection (dropped with it), never
# across runs or connections. Only for SQL that reads the loaded warehouse tables (no temp table
# a play may rebuild with other parameters in the same connection).
_ONCE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _param_key(params: dict) -> tuple:
    return tuple(sorted((k, repr(tuple(v) if isinstance(v, list) else v)) for k, v in params.items()))


def query_once(name: str, con: duckdb.DuckDBPyConnection, **params) -> pd.DataFrame:
    """`query`, computed once per connection for the same file and parameters (a copy each call).

    For an intermediate several sections of one notebook share (e.g. repurchase within N days):
    the notebook's connection is read-only, so the result cannot change while it is open.
    """
    memo = _ONCE.setdefault(con, {})
    key = (name, _param_key(params))
    if key not in memo:
        memo[key] = query(name, con, **params)
    else:
        with logged(name, params) as log:
            log["rows"], log["memo"] = len(memo[key]), True
    return memo[key].copy()


# Query log: with USEROPS_QUERY_LOG=<file>, every metric query appends one JSON line (name, a
# digest of its parameters, seconds, rows, memo hit) to find slow and repeated queries.
QUERY_LOG_ENV = "USEROPS_QUERY_LOG"


def _digest(params: dict) -> str:
    return hashlib.sha1(repr(_param_key(params)).encode()).hexdigest()[:10]


class logged:
    """Context manager timing one named query into the query log (a no-op when the log is off)."""

    def __init__(self, name: str, params: dict):
        self.path = os.environ.get(QUERY_LOG_ENV)
        self.entry = {"sql": name, "params": _digest(params)} if self.path else {}

    def __enter__(self) -> dict:
        self.t0 = time.perf_counter()
        return self.entry

    def __exit__(self, *exc) -> None:
        if self.path and exc[0] is None:
            self.entry["seconds"] = round(time.perf_counter() - self.t0, 4)
            self.entry["pid"] = os.getpid()
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(self.entry) + "\n")


def present_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Contract tables that were supplied (not created empty) at load time."""
    return {r[0] for r in con.execute("select table_name from _load_meta where present").fetchall()}


def load_info(con: duckdb.DuckDBPyConnection) -> dict:
    fp, loaded_at, data_dir = con.execute(
        "select fingerprint, loaded_at, data_dir from _load_info"
    ).fetchone()
    return {"fingerprint": fp, "loaded_at": loaded_at.isoformat(), "data_dir": data_dir}


# A handful of orders dated far after the rest (a clock or keying error) must not move the report
# month: orders after a gap of more than OUTLIER_GAP_DAYS without any order, fewer than
# OUTLIER_MAX_SHARE of all orders (and at most OUTLIER_MAX_ROWS), are set aside as outliers.
OUTLIER_GAP_DAYS = 31
OUTLIER_MAX_SHARE = 0.001
OUTLIER_MAX_ROWS = 100


def future_outliers(con: duckdb.DuckDBPyConnection) -> tuple[dt.date | None, int]:
    """(last regular order date, number of outlier orders after it); (None, 0) without outliers."""
    row = con.execute(
        """
        with days as (
            select order_date, count(*) as n from fct_orders group by order_date
        ),
        gaps as (
            select
                order_date,
                lag(order_date) over (order by order_date) as prev_date,
                sum(n) over (order by order_date desc rows unbounded preceding) as n_from_here,
                sum(n) over () as n_all
            from days
        )
        select prev_date, n_from_here
        from gaps
        where
            date_diff('day', prev_date, order_date) > $gap
            and n_from_here <= least($max_rows, $max_share * n_all)
        order by order_date
        limit 1
        """,
        {"gap": OUTLIER_GAP_DAYS, "max_rows": OUTLIER_MAX_ROWS, "max_share": OUTLIER_MAX_SHARE},
    ).fetchone()
    return (row[0], int(row[1])) if row else (None, 0)


def data_range(con: duckdb.DuckDBPyConnection) -> tuple[dt.date, dt.date]:
    """First and last regular order date in the warehouse (future outliers set aside)."""
    lo, hi = con.execute("select min(order_date), max(order_date) from fct_orders").fetchone()
    if lo is None:
        raise ValueError("the warehouse has no orders")
    last_regular, _ = future_outliers(con)
    return lo, last_regular or hi


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
