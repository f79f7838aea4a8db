"""Run the metric SQL files on Apache Spark (local mode or a cluster through Spark Connect).

    spark = session()                                      # local[2]; sc://host:port with remote=
    df = query(spark, "retention/dk_retention", params)    # same frame as userops.db.query

The metric files are written in DuckDB's dialect (lib/userops/sql/<play>/<metric>.sql). On Spark each
file is transpiled once with sqlglot (DuckDB -> Spark SQL); ``$name`` parameters become Spark's named
markers ``:name`` and stay bound (``spark.sql(text, args=params)``), never formatted into the text.
Where a construct has no form both engines agree on, a dialect override ``<metric>.spark.sql`` sits next
to the metric; its first line says why (``-- spark override: <reason>``). tests/spark/test_differential.py
proves every metric returns the same rows on both engines.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import re
from functools import cache

import pandas as pd

from userops.sql_files import SQL_DIR, read_sql, sql_params

REMOTE_ENV = "USEROPS_SPARK_REMOTE"  # sc://host:port of a Spark Connect server
OVERRIDE_SUFFIX = ".spark.sql"
OVERRIDE_HEADER = re.compile(r"^--\s*spark override:\s*\S")
_INCLUDE = re.compile(r"^[ \t]*--[ \t]*include:[ \t]*([a-z0-9_]+/[a-z0-9_]+)[ \t]*$", re.MULTILINE)
_INCLUDE_ANY = re.compile(r"^[ \t]*--[ \t]*include:[ \t]*([a-z0-9_]+/[a-z0-9_]+)", re.MULTILINE)

# Session settings that make Spark compute what DuckDB computes:
# - timestamps are wall-clock values (DuckDB TIMESTAMP has no zone): the session zone is UTC, so a
#   date cast or an hour() never shifts with the machine's zone;
# - ANSI mode on: a bad cast or an overflow is an error on both engines instead of a silent NULL
#   (division by zero, NULL in DuckDB, is guarded with nullif() in the metric SQL);
# - Arrow transfers for toPandas().
SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "true",
}
# Local mode only: tiny shuffles, no web UI, no console progress bar.
LOCAL_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
}


def transpile(duckdb_sql: str) -> str:
    """DuckDB SQL -> Spark SQL (sqlglot); ``$name`` parameters become named markers ``:name``."""
    import sqlglot

    statements = sqlglot.transpile(duckdb_sql, read="duckdb", write="spark", pretty=True)
    if len(statements) != 1:
        raise ValueError(f"expected one SQL statement, got {len(statements)}")
    return statements[0]


def override_path(relpath: str):
    """lib/userops/sql/<play>/<metric>.spark.sql (may not exist)."""
    return SQL_DIR / f"{relpath}{OVERRIDE_SUFFIX}"


def _includes(relpath: str) -> list[str]:
    path = override_path(relpath)
    text = path.read_text(encoding="utf-8") if path.is_file() else (SQL_DIR / f"{relpath}.sql").read_text()
    return _INCLUDE_ANY.findall(text)


def _with_override(relpath: str) -> bool:
    """Whether the file or anything it includes (recursively) has a Spark override."""
    return override_path(relpath).is_file() or any(_with_override(inc) for inc in _includes(relpath))


@cache
def sql_for(relpath: str) -> str:
    """The Spark SQL text of a metric ('play/metric'): its override if present, else the transpiled file.

    An override is written in Spark SQL with named markers (``:name``) for the metric's parameters.
    An override's ``-- include: play/name`` lines take the Spark text of that file. A file without an
    override that includes one with an override is an error (it would run the DuckDB form on Spark).
    """
    path = override_path(relpath)
    if not path.is_file():
        bad = [inc for inc in _includes(relpath) if _with_override(inc)]
        if bad:
            raise ValueError(f"{relpath}.sql includes {bad}, which have Spark overrides: give it one too")
        return transpile(read_sql(relpath))
    text = path.read_text(encoding="utf-8")
    if not OVERRIDE_HEADER.match(text):
        raise ValueError(f"{path} must start with '-- spark override: <why the DuckDB form cannot run>'")
    return _INCLUDE.sub(lambda m: sql_for(m.group(1)), text)


def session(master: str | None = None, remote: str | None = None, conf: dict[str, str] | None = None):
    """A SparkSession: Spark Connect at `remote` (or $USEROPS_SPARK_REMOTE), else local mode (local[2]).

    `conf` adds or overrides settings (e.g. driver memory); SPARK_CONF always applies.
    """
    from pyspark.sql import SparkSession

    remote = remote or os.environ.get(REMOTE_ENV) or None
    builder = SparkSession.builder
    if remote:
        builder = builder.remote(remote)
        settings = dict(SPARK_CONF)
    else:
        builder = builder.master(master or "local[2]").appName("userops")
        settings = {**SPARK_CONF, **LOCAL_CONF}
    for key, value in {**settings, **(conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if not remote:
        spark.sparkContext.setLogLevel("ERROR")
    return spark


def _check_params(relpath: str, params: dict) -> None:
    wanted = sql_params(relpath)
    missing = [p for p in wanted if p not in params]
    extra = [p for p in params if p not in wanted]
    if missing or extra:
        raise TypeError(
            f"SQL {relpath!r} takes parameters {wanted}; missing {missing or 'none'}, unexpected {extra or 'none'}"
        )


def spark_args(params: dict) -> dict:
    """Parameter values as Spark literals take them (tuples as lists; numpy scalars as Python)."""
    out = {}
    for key, value in params.items():
        if isinstance(value, tuple):
            value = list(value)
        elif hasattr(value, "item") and not isinstance(value, (list, str)):
            value = value.item()
        out[key] = value
    return out


def dataframe(spark, relpath: str, params: dict):
    """The Spark DataFrame of a metric with its parameters bound (lazy)."""
    _check_params(relpath, params)
    return spark.sql(sql_for(relpath), args=spark_args(params))


def query(spark, relpath: str, params: dict) -> pd.DataFrame:
    """Run a metric on Spark; the pandas frame has the column types DuckDB's ``.df()`` gives."""
    return normalise(dataframe(spark, relpath, params).toPandas())


def create_view(spark, name: str, relpath: str, params: dict, cache_it: bool = True) -> None:
    """Materialise a metric as the temp view `name` (Spark's form of DuckDB's temp table)."""
    df = dataframe(spark, relpath, params)
    if cache_it:
        df = df.cache()
    df.createOrReplaceTempView(name)


def _convert(col: pd.Series) -> pd.Series:
    sample = col.dropna()
    if sample.empty or col.dtype != object:
        return col
    first = sample.iloc[0]
    if isinstance(first, decimal.Decimal):
        return col.map(lambda v: None if v is None or pd.isna(v) else float(v)).astype("float64")
    if isinstance(first, dt.datetime):
        return pd.to_datetime(col)
    if isinstance(first, dt.date):
        return pd.to_datetime(col)
    return col


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Spark's toPandas() types as DuckDB's: decimals as float64, dates as datetime64."""
    out = df.copy()
    for i in range(out.shape[1]):
        out.isetitem(i, _convert(out.iloc[:, i]))
    return out
