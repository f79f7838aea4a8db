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
import math
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
# Local mode only: one shuffle partition and no adaptive re-planning (on one machine with small data
# they cost more than they save: -35% time per metric measured on the test slice), no web UI, no
# console progress bar.
LOCAL_CONF = {
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "2",
    "spark.sql.adaptive.enabled": "false",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}


# DuckDB functions sqlglot 30 passes through unchanged to Spark, with the Spark function of the same
# meaning: (spark name, arguments placed before the DuckDB argument).
_SAME_MEANING = {
    "to_days": ("MAKE_DT_INTERVAL", []),  # an interval of n days
    "to_hours": ("MAKE_DT_INTERVAL", [0]),  # (days, hours)
    "to_minutes": ("MAKE_DT_INTERVAL", [0, 0]),
    "to_seconds": ("MAKE_DT_INTERVAL", [0, 0, 0]),
    "to_months": ("MAKE_YM_INTERVAL", [0]),  # (years, months)
}


def _series_table(node):
    """DuckDB's table functions range(a, b, step) (b excluded) and generate_series(a, b, step) (b
    included) as a Spark generator with the same rows and the same column name.

    sqlglot 30 writes range() as sequence(a, b - step, step): wrong when b - a is not a multiple of
    step (range(Jan 1, Mar 1 + 1 day, 1 month) would lose Mar 1) and a countdown when b <= a. Here:
    explode(filter(sequence(a, b, step), v -> v < b)), which is exact for the increasing series the
    metrics use.
    """
    from sqlglot import exp

    series = node.this
    column = "range" if series.args.get("is_end_exclusive") else "generate_series"
    start, end, step = (series.args.get(k) for k in ("start", "end", "step"))
    seq = exp.Anonymous(this="SEQUENCE", expressions=[start, end] + ([step] if step else []))
    if column == "range":
        below_end = exp.LT(this=exp.column("_v"), expression=end.copy())
        seq = exp.Anonymous(
            this="FILTER",
            expressions=[seq, exp.Lambda(this=below_end, expressions=[exp.to_identifier("_v")])],
        )
    alias = exp.TableAlias(
        this=exp.to_identifier(node.alias or f"_{column}"), columns=[exp.to_identifier(column)]
    )
    return exp.Table(this=exp.Anonymous(this="EXPLODE", expressions=[seq]), alias=alias)


def _series_tables(node):
    """Second pass (after _spark_functions, so the series' bounds are already Spark text)."""
    from sqlglot import exp

    if isinstance(node, exp.Table) and isinstance(node.this, exp.GenerateSeries):
        return _series_table(node)
    return node


def _spark_functions(node):
    """Rename the DuckDB functions of _SAME_MEANING (a syntax difference, not a semantic one) and
    rewrite the series table functions (_series_table)."""
    from sqlglot import exp

    if isinstance(node, exp.Format):
        return _format_concat(node)
    if (
        isinstance(node, exp.Bracket)
        and len(node.expressions) == 1
        and not isinstance(node.expressions[0], exp.Literal)
    ):  # list[i] with a computed i: DuckDB counts from 1, Spark's [] from 0 (sqlglot shifts literals only)
        return exp.Anonymous(this="ELEMENT_AT", expressions=[node.this, node.expressions[0]])
    if isinstance(node, exp.DateTrunc):  # sqlglot writes trunc(date, unit): NULL for 'day' on Spark
        unit = node.args.get("unit")
        unit = exp.Literal.string(unit.name) if isinstance(unit, exp.Var) else unit
        return exp.Anonymous(this="DATE_TRUNC", expressions=[unit, node.this])
    if isinstance(node, exp.DayOfWeekIso):  # sqlglot writes (dayofweek % 7) + 1: Monday would be 3
        return exp.Paren(
            this=exp.Add(
                this=exp.Anonymous(this="WEEKDAY", expressions=[node.this]), expression=exp.Literal.number(1)
            )
        )
    if isinstance(node, exp.DayOfWeek):  # DuckDB: Sunday = 0; Spark's dayofweek: Sunday = 1
        return exp.Paren(
            this=exp.Sub(
                this=exp.Anonymous(this="DAYOFWEEK", expressions=[node.this]),
                expression=exp.Literal.number(1),
            )
        )
    if isinstance(node, (exp.Div, exp.Avg)) and not _is_double(node.this):
        # DuckDB's `/` and avg() on numbers are DOUBLE; Spark keeps DECIMAL (rounded to 6 places)
        node.set("this", exp.Cast(this=node.this, to=exp.DataType.build("DOUBLE")))
        return node
    hex_digits = _hex_literal(node)
    if hex_digits is not None:  # cast('0x' || h as bigint): Spark reads hex digits with conv()
        return exp.Cast(
            this=exp.Anonymous(
                this="CONV", expressions=[hex_digits, exp.Literal.number(16), exp.Literal.number(10)]
            ),
            to=exp.DataType.build("BIGINT"),
        )
    if isinstance(node, exp.ToDays):
        name, args = "to_days", [node.this]
    elif isinstance(node, exp.Anonymous) and str(node.this).lower() in _SAME_MEANING:
        name, args = str(node.this).lower(), list(node.expressions)
    else:
        return node
    spark_name, before = _SAME_MEANING[name]
    return exp.Anonymous(this=spark_name, expressions=[exp.Literal.number(v) for v in before] + args)


def _spark_rewrite(node):
    """_spark_functions on node, then on everything inside its replacement: sqlglot's transform does
    not descend into a node a rule replaced, so a rewritten call's arguments (a format() inside a
    format(), found by the triggers run on Spark: 'usual gap {} days') would keep DuckDB's form.
    Every rule is idempotent (its output matches no rule), so this ends."""
    new = _spark_functions(node)
    return node if new is node else new.transform(_spark_rewrite)


def _format_concat(node):
    """DuckDB's format('a {} b', x) as concat('a ', cast(x as string), ' b'): NULL if an argument is
    NULL on both engines. Only bare {} placeholders have this meaning; others are refused."""
    from sqlglot import exp

    fmt = node.this
    if not (isinstance(fmt, exp.Literal) and fmt.is_string) or fmt.this.count("{") != fmt.this.count("{}"):
        raise ValueError(f"format() with a pattern other than bare {{}} placeholders: {node.sql()}")
    pieces = fmt.this.split("{}")
    if len(pieces) - 1 != len(node.expressions):
        raise ValueError(f"format() placeholders and arguments differ: {node.sql()}")
    parts = []
    for text, arg in zip(pieces, [*node.expressions, None], strict=True):
        if text:
            parts.append(exp.Literal.string(text))
        if arg is not None:
            parts.append(exp.Cast(this=arg, to=exp.DataType.build("STRING")))
    return exp.Anonymous(this="CONCAT", expressions=parts)


def _is_double(node) -> bool:
    from sqlglot import exp

    return isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.DOUBLE


def _hex_literal(node):
    """The hex-digit expression h of DuckDB's ``cast('0x' || h as bigint)``, else None."""
    from sqlglot import exp

    if not (isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.BIGINT):
        return None
    inner = node.this.unnest() if isinstance(node.this, exp.Paren) else node.this
    if isinstance(inner, exp.DPipe) and isinstance(inner.this, exp.Literal) and inner.this.this == "0x":
        return inner.expression
    return None


def _unique_ctes(tree):
    """Spark refuses a CTE name defined again in a nested WITH (DuckDB scopes it: an included file's
    `final` inside a metric's own `final`). Nested WITH names get a suffix, references follow."""
    from sqlglot import exp

    nested = [w for w in tree.find_all(exp.With) if w.parent is not tree]
    for i, with_ in enumerate(reversed(nested), start=1):
        scope = with_.parent
        body = [v for k, v in scope.args.items() if k not in ("with", "with_") and v is not None]
        for j, cte in enumerate(with_.expressions):
            old, new = cte.alias, f"{cte.alias}__{i}"
            # the name is seen by the later CTEs of the same WITH and by the query's body, not by its
            # own definition (there it names the table outside)
            for node in [c.this for c in with_.expressions[j + 1 :]] + body:
                for part in node if isinstance(node, list) else [node]:
                    if not isinstance(part, exp.Expression):
                        continue
                    for table in part.find_all(exp.Table):
                        if table.name == old and not table.args.get("db"):
                            table.set("this", exp.to_identifier(new))
            cte.set("alias", exp.TableAlias(this=exp.to_identifier(new)))
    return tree


def transpile(duckdb_sql: str) -> str:
    """DuckDB SQL -> Spark SQL (sqlglot); ``$name`` parameters become named markers ``:name``."""
    import sqlglot

    trees = sqlglot.parse(duckdb_sql, read="duckdb")
    if len(trees) != 1 or trees[0] is None:
        raise ValueError(f"expected one SQL statement, got {len(trees)}")
    tree = trees[0].transform(_spark_rewrite).transform(_series_tables)
    return _unique_ctes(tree).sql(dialect="spark", pretty=True)


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
    if remote:
        # Spark Connect's own builder: it also serves a process that already runs a local
        # SparkContext (pyspark's generic builder refuses a remote there: SESSION_ALREADY_EXIST).
        # The Arrow settings are the classic client's; a Connect client always transfers Arrow.
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        builder = ConnectSession.builder.remote(remote)
        settings = {k: v for k, v in SPARK_CONF.items() if not k.startswith("spark.sql.execution.arrow.")}
    else:
        builder = SparkSession.builder.master(master or "local[2]").appName("userops")
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


@cache
def table_sql(relpath: str) -> tuple[str, str]:
    """A warehouse build file ``create table <name> as <query>``: (name, the query's Spark text)."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(read_sql(relpath), read="duckdb")
    if not isinstance(tree, exp.Create) or tree.kind != "TABLE":
        raise ValueError(f"{relpath}.sql is not a 'create table ... as' statement")
    query = _unique_ctes(tree.expression.transform(_spark_rewrite).transform(_series_tables))
    return tree.this.name, query.sql(dialect="spark", pretty=True)


def build_table(spark, relpath: str, params: dict, as_view: bool = True) -> str:
    """Run a warehouse build file on Spark: a cached temp view (default) or a saved table; its name."""
    _check_params(relpath, params)
    name, text = table_sql(relpath)
    df = spark.sql(text, args=spark_args(params))
    if as_view:
        df.cache().createOrReplaceTempView(name)
    else:
        df.write.mode("overwrite").saveAsTable(name)
    return name


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


def _sortable(value):
    """A total-order key for one plain cell: None first, floats rounded (1e-9 noise cannot reorder rows)."""
    if value is None:
        return (0, "")
    if isinstance(value, tuple):
        return (1, tuple(_sortable(v) for v in value))
    if isinstance(value, bool):
        return (2, int(value))
    if isinstance(value, (int, float, decimal.Decimal)):
        return (2, round(float(value), 9))
    if isinstance(value, pd.Timestamp):
        return (3, value.value)
    return (4, str(value))


def _cells(df: pd.DataFrame) -> list[tuple]:
    """Rows as tuples of plain Python values, sorted by all columns (an explicit, engine-free order)."""
    rows = [tuple(_plain(v) for v in row) for row in df.itertuples(index=False, name=None)]
    return sorted(rows, key=lambda r: tuple(_sortable(v) for v in r))


def _plain(value):
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "tolist") and not isinstance(value, (str, pd.Timestamp)):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _plain(v)) for k, v in value.items()))
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return pd.Timestamp(value).tz_localize(None) if pd.Timestamp(value).tzinfo else pd.Timestamp(value)
    if isinstance(value, dt.date):
        return pd.Timestamp(value)
    return value


def _same(a, b, tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y, tol) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, int) and isinstance(b, int):
        return a == b  # counts: exact
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= tol * max(1.0, abs(a), abs(b))  # rates and money: within 1e-9
    return a == b


def differences(duck: pd.DataFrame, spark: pd.DataFrame, tol: float = 1e-9, limit: int = 5) -> list[str]:
    """How two results differ (empty when equal): same columns, same rows after sorting every column,
    integers exact, other numbers within `tol` (relative above 1), NULL only against NULL."""
    if list(duck.columns) != list(spark.columns):
        return [f"columns differ: duckdb {list(duck.columns)} vs spark {list(spark.columns)}"]
    if len(duck) != len(spark):
        return [f"row counts differ: duckdb {len(duck)} vs spark {len(spark)}"]
    out = []
    for i, (a, b) in enumerate(zip(_cells(duck), _cells(spark), strict=True)):
        bad = [c for c, x, y in zip(duck.columns, a, b, strict=True) if not _same(x, y, tol)]
        if bad:
            out.append(
                f"row {i}: {', '.join(f'{c}: duckdb {a[duck.columns.get_loc(c)]!r} vs spark {b[duck.columns.get_loc(c)]!r}' for c in bad)}"
            )
            if len(out) >= limit:
                break
    return out


def metrics_differences(spark: dict, duck: dict, path: str = "") -> list[str]:
    """Where two metrics trees (metrics.json) differ: counts (integers) exactly, other numbers
    beyond 1e-9 (relative), anything else exactly."""
    if isinstance(duck, dict) and isinstance(spark, dict):
        if set(spark) != set(duck):
            only_spark, only_duck = sorted(set(spark) - set(duck)), sorted(set(duck) - set(spark))
            return [f"{path}: only on spark {only_spark}, only on duckdb {only_duck}"]
        return [d for k in duck for d in metrics_differences(spark[k], duck[k], f"{path}.{k}")]
    if isinstance(duck, list) and isinstance(spark, list) and len(spark) == len(duck):
        return [
            d
            for i, (s, u) in enumerate(zip(spark, duck, strict=True))
            for d in metrics_differences(s, u, f"{path}[{i}]")
        ]
    numbers = (int, float)
    if isinstance(duck, int) and isinstance(spark, int) and not isinstance(duck, bool):
        return [] if spark == duck else [f"{path}: spark {spark!r} duckdb {duck!r}"]  # a count
    if isinstance(duck, numbers) and isinstance(spark, numbers) and not isinstance(duck, bool):
        same = math.isclose(spark, duck, rel_tol=1e-9, abs_tol=1e-12) or (
            math.isnan(spark) and math.isnan(duck)
        )
        return [] if same else [f"{path}: spark {spark!r} duckdb {duck!r}"]
    return [] if spark == duck else [f"{path}: spark {spark!r} duckdb {duck!r}"]


def plays_metrics(metrics: dict) -> dict:
    """Each play's metrics of a metrics.json (its provenance names the engine's run, not a number)."""
    return {play: body["metrics"] for play, body in metrics["plays"].items()}
