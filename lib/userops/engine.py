"""The query engine a run uses: DuckDB (the warehouse file) or Spark (the same SQL on a SparkSession).

    con = open_engine(warehouse, params)      # params.engine: duckdb | spark
    query("retention/dk_retention", con, ...) # userops.db.query: the same call for both engines

With ``engine: spark`` the connection is a :class:`SparkConnection`: one SparkSession per process
(the notebook's kernel), the input tables read from the Parquet folder ``userops load
--parquet-out`` wrote (or existing catalog tables named in params ``spark.tables``), the derived
tables (sql/warehouse/*.sql) built from them by the same SQL, transpiled (userops.spark_sql), as
cached temporary views. It answers what the library asks of a DuckDB connection (``execute`` with
bound parameters, then ``df`` / ``fetchone`` / ``fetchall``; ``register`` of a pandas frame), so the
plays' Python is the same on both engines. A metric file runs through ``spark_sql.query`` (its
``.spark.sql`` override when it has one); an inline statement of the library is transpiled.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from userops import parquet_tables
from userops.params import DATABASE_NAME, Params, SparkParams
from userops.sql_files import sql_names, sql_params

_TEMP_TABLE = re.compile(r"^\s*create\s+or\s+replace\s+temp(?:orary)?\s+table\s+([A-Za-z_]\w*)\s+as\s", re.I)
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")


def engine_of(con) -> str:
    """'spark' for a :class:`SparkConnection`, else 'duckdb'."""
    return "spark" if isinstance(con, SparkConnection) else "duckdb"


def open_engine(warehouse: str | Path, params: Params):
    """A connection to the run's data on the engine params name (read-only DuckDB by default)."""
    if params.engine == "spark":
        return SparkConnection.open(warehouse, params)
    from userops.db import connect

    return connect(warehouse, settings=params.duckdb.model_dump())


def parquet_folder(warehouse: str | Path, params: Params) -> Path:
    """Where the Spark engine reads the input tables: params spark.parquet, else <warehouse>.parquet."""
    return Path(params.spark.parquet) if params.spark.parquet else parquet_tables.default_folder(warehouse)


def check_parquet(con, warehouse: str | Path, params: Params) -> None:
    """ValueError unless the Parquet folder holds the same load as the warehouse (its fingerprint).
    With params spark.database the load is a catalog's (published from the folder), not checked here:
    that needs a Spark session, which the notebooks' kernels open."""
    import pyarrow.parquet as pq

    if params.spark.database:
        return
    folder = parquet_folder(warehouse, params)
    info = folder / parquet_tables.file_name("_load_info")
    if not info.is_file():
        raise ValueError(
            f"engine spark reads the input tables as Parquet from {folder}, which has none: write them with "
            f"`userops load DIR --warehouse {warehouse} --parquet-out {folder}` (or set params spark.parquet)"
        )
    theirs = pq.read_table(info).column("fingerprint")[0].as_py()
    ours = con.execute("select fingerprint from _load_info").fetchone()[0]
    if theirs != ours:
        raise ValueError(
            f"the Parquet tables in {folder} are of another load than {warehouse} (fingerprint {theirs}, "
            f"warehouse {ours}): load again with --parquet-out {folder}"
        )


# --------------------------------------------------------------------------- derived tables

DERIVED_DIR = "derived"  # <parquet folder>/derived/<key>/<table>/ (Spark's Parquet folders)
DERIVED_DONE = "tables.txt"  # written last: the folder is complete
RUN_ID_ENV = "USEROPS_RUN_ID"  # set by the runner for its notebooks' kernels


def derived_args(params: Params) -> dict:
    """The parameters of the warehouse build files (sql/warehouse/*.sql)."""
    return {"new_user_kinds": list(params.data.new_user_coupon_kinds)}


def derived_names() -> list[str]:
    """The derived tables' names, in build order."""
    from userops import spark_sql

    return [spark_sql.table_sql(name)[0] for name in sql_names("warehouse")]


def derived_key(params: Params, fingerprint: str) -> str:
    """What the derived tables are a function of: the load (its fingerprint), the build SQL as
    Spark runs it, its parameters, and, when inputs are catalog tables (which a load does not
    fingerprint), the run (``USEROPS_RUN_ID``): a new key rebuilds them."""
    import hashlib
    import json

    from userops import spark_sql

    parts = {
        "load": fingerprint,
        "sql": [spark_sql.table_sql(name) for name in sql_names("warehouse")],
        "args": derived_args(params),
        "catalog": dict(params.spark.tables or {}),
        "run": os.environ.get(RUN_ID_ENV, "") if params.spark.tables else "",
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


DERIVED_MARK = "userops_derived"  # in a catalog database (params spark.database): the derived tables' key


def _is_load_table(name: str) -> bool:
    """An input, load or id-map table of a load (a Parquet folder's file stem)."""
    from userops.contract import LOAD_ORDER

    return name in LOAD_ORDER or name.startswith(("meta_", "map_"))


def publish_tables(spark, folder: Path, database: str) -> list[str]:
    """Save every table of a Parquet folder (`userops load --parquet-out`) in a catalog database
    under its file's name (orders, meta_load_info, ...; replacing), which params spark.database
    then reads instead of a folder. The database is created when absent. Returns the names saved."""
    if not re.fullmatch(DATABASE_NAME, database):
        raise ValueError(f"not a database name: {database!r}")
    con = SparkConnection(spark)
    con.spark.sql(f"create database if not exists {database}")  # a checked name, not a value
    names = []
    for path in sorted(folder.glob("*.parquet")):
        stem = path.name.removesuffix(".parquet")
        con._parquet(path).write.mode("overwrite").saveAsTable(f"{database}.{stem}")
        names.append(stem)
    return names


# --------------------------------------------------------------------------- session


def spark_session(sp: SparkParams):
    """The process's SparkSession (spark_sql.session: local[2] unless params give a master or a
    Spark Connect remote; params ``spark.conf`` added, e.g. spark.driver.memory)."""
    from userops import spark_sql

    if not sp.remote and (sp.master or "local").startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local mode listens on loopback only
    return spark_sql.session(master=sp.master, remote=sp.remote, conf=dict(sp.conf))


# --------------------------------------------------------------------------- results like DuckDB's


def _python(value):
    """A fetched Spark value as DuckDB's fetch gives it (Row -> tuple; numpy scalars -> Python)."""
    return value.item() if isinstance(value, np.generic) else value


class _Result:
    """The part of a DuckDB result the library uses: df(), fetchone(), fetchall()."""

    def __init__(self, sdf):
        self.sdf = sdf

    def df(self) -> pd.DataFrame:
        from userops import spark_sql  # the column types DuckDB's .df() gives, as for metric files

        return spark_sql.normalise(self.sdf.toPandas()) if self.sdf is not None else pd.DataFrame()

    def fetchall(self) -> list[tuple]:
        return [] if self.sdf is None else [tuple(_python(v) for v in row) for row in self.sdf.collect()]

    def fetchone(self) -> tuple | None:
        rows = [] if self.sdf is None else self.sdf.limit(1).collect()
        return tuple(_python(v) for v in rows[0]) if rows else None


# --------------------------------------------------------------------------- the connection


def bind(spark_sql_text: str, params: dict | None) -> dict:
    """The named arguments a Spark statement uses (``:name``), from the given parameters."""
    used = dict.fromkeys(_PARAM.findall(_strip_comments(spark_sql_text)))
    missing = [p for p in used if p not in (params or {})]
    if missing:
        raise TypeError(f"statement takes parameters {list(used)}; missing {missing}")
    from userops import spark_sql

    return spark_sql.spark_args({p: params[p] for p in used})


def _strip_comments(text: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in text.splitlines())


class SparkConnection:
    """A SparkSession with the run's tables as temporary views, used where a DuckDB connection is."""

    def __init__(self, spark):
        self.spark = spark
        self.tables: dict[str, str] = {}  # view -> where it comes from (Parquet file, catalog table, SQL)

    @classmethod
    def open(cls, warehouse: str | Path, params: Params) -> SparkConnection:
        spark = spark_session(params.spark)
        # A local or classic session: a new session of the process's SparkContext, so this
        # connection's views and settings are its own (the JVM and the table cache are shared).
        con = cls(spark if params.spark.remote else spark.newSession())
        if params.spark.database:  # a cluster's catalog: no Parquet folder
            con.read_database(params.spark.database, params.spark.tables)
            con.derived_in_database(params, params.spark.database)
            return con
        folder = parquet_folder(warehouse, params)
        con.read_tables(folder, params.spark.tables)
        con.derived_tables(params, folder)
        return con

    def read_database(self, database: str, catalog_tables: dict[str, str] | None = None) -> None:
        """The load's tables saved in a catalog database (:func:`publish_tables`: the Parquet
        folder's file names, e.g. orders, meta_load_info) as views of the names the SQL reads (a
        table params spark.tables names instead of an input table)."""
        saved = {t.name for t in self.spark.catalog.listTables(database) if not t.isTemporary}
        if "meta_load_info" not in saved:
            raise FileNotFoundError(
                f"no load in the catalog database {database}: publish one with "
                "userops.engine.publish_tables (from `userops load DIR --parquet-out FOLDER`)"
            )
        for stem in sorted(n for n in saved if _is_load_table(n)):
            name = parquet_tables.table_of(Path(f"{stem}.parquet"))
            self.spark.table(f"{database}.{stem}").createOrReplaceTempView(name)
            self.tables[name] = f"{database}.{stem}"
        for name, table in (catalog_tables or {}).items():
            self.spark.table(table).createOrReplaceTempView(name)
            self.tables[name] = table

    def derived_in_database(self, params: Params, database: str) -> None:
        """The derived tables, built once per load as tables of the database (saveAsTable), the
        key (:func:`derived_key`) written last in ``<database>.userops_derived``: a later
        connection whose key matches reads them; another load or build SQL rebuilds them."""
        fingerprint = self.execute("select fingerprint from _load_info").fetchone()[0]
        key = derived_key(params, fingerprint)
        mark = f"{database}.{DERIVED_MARK}"
        if self.spark.catalog.tableExists(mark) and self.spark.table(mark).collect()[0]["key"] == key:
            for table in derived_names():
                self.spark.table(f"{database}.{table}").createOrReplaceTempView(table)
                self.spark.catalog.cacheTable(table)
                self.tables[table] = f"{database}.{table}"
            return
        self.build_derived(params)
        for table in derived_names():
            self.spark.table(table).write.mode("overwrite").saveAsTable(f"{database}.{table}")
        self.spark.sql("select :key as key", args={"key": key}).write.mode("overwrite").saveAsTable(mark)

    def read_tables(self, folder: Path, catalog_tables: dict[str, str] | None = None) -> None:
        """Every `<table>.parquet` of folder as a view (a catalog table instead where params name one)."""
        if not (folder / parquet_tables.file_name("_load_info")).exists():
            raise FileNotFoundError(
                f"no Parquet tables in {folder}: write them with `userops load DIR --parquet-out {folder}` "
                "(or set params spark.parquet)"
            )
        for path in sorted(folder.glob("*.parquet")):
            name = parquet_tables.table_of(path)
            self._parquet(path).createOrReplaceTempView(name)
            self.tables[name] = str(path)
        for name, table in (catalog_tables or {}).items():
            self.spark.table(table).createOrReplaceTempView(name)
            self.tables[name] = table

    def _parquet(self, path: Path):
        """A Parquet file as a Spark DataFrame of the file's own schema (read from its footer here:
        no inference job per file, and an empty table without row groups, which Spark cannot infer
        a schema from, is an empty frame); timestamps without zone stay TIMESTAMP_NTZ."""
        import pyarrow.parquet as pq
        from pyspark.sql.pandas.types import from_arrow_schema

        schema = from_arrow_schema(pq.read_schema(path), prefer_timestamp_ntz=True)
        if pq.ParquetFile(path).metadata.num_row_groups == 0:  # built in the JVM: no Python worker
            # SQL text, not pyspark.sql.functions: the same on a local and a Spark Connect session
            nulls = [f"cast(null as {f.dataType.simpleString()}) as `{f.name}`" for f in schema]
            return self.spark.range(0).selectExpr(*nulls)
        return self.spark.read.schema(schema).parquet(str(path.resolve()))

    def build_derived(self, params: Params) -> None:
        """The derived tables (sql/warehouse/*.sql, in name order) as cached views, by the same SQL."""
        from userops import spark_sql
        from userops.db import logged

        values = derived_args(params)
        for name in sql_names("warehouse"):
            args = {p: values[p] for p in sql_params(name)}
            with logged(name, args):
                self.tables[spark_sql.build_table(self.spark, name, args)] = name

    def derived_tables(self, params: Params, folder: Path) -> None:
        """The derived tables, built once per load (and per run when inputs are catalog tables):
        read from ``<folder>/derived/<key>/`` (:func:`derived_key`) when an earlier connection
        (the run's first notebook kernel) wrote them there, else built (:meth:`build_derived`) and
        written there for the next ones. A folder this process cannot write to: built, not kept."""
        import pyarrow.parquet as pq

        fingerprint = pq.read_table(folder / parquet_tables.file_name("_load_info")).column("fingerprint")[0]
        target = folder / DERIVED_DIR / derived_key(params, fingerprint.as_py())
        if (target / DERIVED_DONE).is_file():
            for table in derived_names():
                self.spark.read.parquet(str((target / table).resolve())).createOrReplaceTempView(table)
                self.spark.catalog.cacheTable(table)
                self.tables[table] = str(target / table)
            return
        self.build_derived(params)
        self._keep_derived(target)

    def _keep_derived(self, target: Path) -> None:
        """Write the built derived views to target (a temp folder beside it, renamed whole)."""
        import shutil

        tmp = target.with_name(f".tmp-{target.name}-{os.getpid()}")
        try:
            tmp.mkdir(parents=True, exist_ok=True)
            for table in derived_names():
                self.spark.table(table).write.mode("overwrite").parquet(str((tmp / table).resolve()))
            (tmp / DERIVED_DONE).write_text("\n".join(derived_names()) + "\n", encoding="utf-8")
            os.rename(tmp, target)  # another kernel's copy already there: keep that one
        except Exception as exc:  # noqa: BLE001 - a cache: a folder Spark or the OS cannot write
            warnings.warn(
                f"derived tables not kept in {target} ({type(exc).__name__}): built per notebook",
                stacklevel=2,
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for old in target.parent.iterdir() if target.is_dir() else ():  # other loads' SQL or runs
            if old != target and not old.name.startswith(".tmp-"):
                shutil.rmtree(old, ignore_errors=True)

    def _cached_view(self, view: str, select: str, args: dict, source: str) -> None:
        from userops.db import logged

        with logged(source, args):
            sdf = self.spark.sql(select, args=args or None)
            sdf.createOrReplaceTempView(view)
            self.spark.catalog.cacheTable(view)
        self.tables[view] = source

    # ---- what the library asks of a DuckDB connection

    def query(self, name: str, params: dict) -> pd.DataFrame:
        """A metric file (its Spark override when it has one) with bound parameters."""
        from userops import spark_sql

        return spark_sql.query(self.spark, name, params)

    def execute(self, sql: str, params: dict | None = None) -> _Result:
        """An inline DuckDB statement of the library, transpiled; `create or replace temp table`
        becomes a cached view."""
        from userops import spark_sql

        m = _TEMP_TABLE.match(sql)
        if m:
            select = spark_sql.transpile(sql[m.end() :])
            self._cached_view(m.group(1), select, bind(select, params), m.group(1))
            return _Result(None)
        text = spark_sql.transpile(sql)
        return _Result(self.spark.sql(text, args=bind(text, params) or None))

    def create_temp_table(self, view: str, name: str, params: dict) -> None:
        """A metric file's result as a cached view other metric files read (recall/user_stages)."""
        from userops import spark_sql

        spark_sql.create_view(self.spark, view, name, params)
        self.tables[view] = name

    def has_table(self, name: str) -> bool:
        return self.spark.catalog.tableExists(name)

    def register(self, name: str, df: pd.DataFrame) -> None:
        """A pandas frame as the temporary view `name` (an empty frame keeps its columns' types)."""
        schema = None
        if df.empty:  # Spark cannot infer a schema from no rows: the frame's Arrow types give it
            import pyarrow as pa
            from pyspark.sql.pandas.types import from_arrow_schema

            schema = from_arrow_schema(pa.Schema.from_pandas(df, preserve_index=False))
        self.spark.createDataFrame(df, schema=schema).createOrReplaceTempView(name)

    def unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)

    def close(self) -> None:
        """Uncache and drop this connection's views (the process's SparkContext stays for the next one)."""
        for view in list(self.tables):
            if self.spark.catalog.tableExists(view) and self.spark.catalog.isCached(view):
                self.spark.catalog.uncacheTable(view)
            self.spark.catalog.dropTempView(view)
        self.tables.clear()

    def __enter__(self) -> SparkConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
