"""The playbook on local Spark (params engine: spark) gives DuckDB's numbers.

A small demo (400 users, 8 months) is loaded once with `--parquet-out`. Every test here starts a JVM,
so all run in `make test-spark` (USEROPS_SPARK_FULL=1; tests/spark/conftest.py), in this process's
SparkSession (shared with tests/spark/test_differential.py) or through the session's one local Spark
Connect server (`connect_url`):
- the derived warehouse tables Spark builds from the Parquet tables by the same SQL equal DuckDB's,
  row for row, and the run's facts (load, present tables, report month) are the same;
- the first connection keeps the derived tables as Parquet and the next one reads them (built once);
- what the plays ask of a connection (a metric through db.query / query_once, a temporary table
  other metric files read, a registered pandas frame, inline statements) gives DuckDB's result, on
  a local session and on Spark Connect (params spark.remote), where the heaviest metric files
  are compared too;
- the six notebooks with `userops run --engine spark` against a DuckDB run: every play's metrics
  compared (provenance aside), counts exactly, other numbers within 1e-9 (relative). Their kernels
  are Spark Connect clients of the one server (no JVM per kernel).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from userops import db, spark_sql
from userops.cli import main
from userops.demo import generate
from userops.engine import SparkConnection
from userops.load import LoadOptions, load_dir
from userops.params import Params

ROOT = Path(__file__).resolve().parents[2]
DERIVED_KEYS = {
    "fct_orders": ["order_id"],
    "dim_users": ["user_id"],
    "fct_coupons": ["coupon_id"],
    "fct_order_lines": ["order_id", "product_id"],
    "fct_points_allocation": None,  # no key: every column, sorted
    "fct_order_margin": ["order_id"],
    "fct_user_days": ["user_id", "activity_date"],
    "fct_user_months": ["user_id", "month_start"],
}

pytestmark = pytest.mark.xdist_group("spark")


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """A 400-user demo loaded into a DuckDB warehouse and its Parquet folder (warehouse.parquet)."""
    root = tmp_path_factory.mktemp("spark-demo")
    generate(root / "data", users=400, months=8, seed=5)
    load_dir(root / "data", root / "warehouse.duckdb", LoadOptions(parquet_out=root / "warehouse.parquet"))
    return root / "warehouse.duckdb"


@pytest.fixture(scope="module")
def spark_con(small):
    con = SparkConnection.open(small, Params(engine="spark"))
    yield con
    con.close()


def _same(left: pd.DataFrame, right: pd.DataFrame, keys: list[str] | None) -> None:
    """Equal frames after an explicit sort; dtypes may differ (int32 vs int64), values not."""
    keys = keys or list(left.columns)
    left = _plain(left).sort_values(keys).reset_index(drop=True)
    right = _plain(right[list(left.columns)]).sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False, rtol=1e-9, atol=1e-9)


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Timestamps in one resolution, nullable integers as floats (NaN for null): values compare."""
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].astype("datetime64[ns]")
        elif pd.api.types.is_extension_array_dtype(out[col]) and pd.api.types.is_integer_dtype(out[col]):
            out[col] = out[col].astype("float64")
    return out


def test_derived_tables_built_on_spark_equal_duckdb(small, spark_con):
    with db.connect(small) as duck:
        for table, keys in DERIVED_KEYS.items():
            ours = spark_con.execute(f"select * from {table}").df()
            theirs = duck.execute(f"select * from {table}").df()
            assert len(theirs) > 0, table  # the demo fills every derived table
            _same(ours, theirs, keys)
        assert db.load_info(spark_con) == db.load_info(duck)
        assert db.present_tables(spark_con) == db.present_tables(duck)
        assert db.resolve_month(spark_con, None) == db.resolve_month(duck, None) == "2026-06"
        assert db.data_range(spark_con) == db.data_range(duck)


def test_the_next_connection_reads_the_derived_tables_the_first_one_wrote(small, spark_con):
    """The run's first kernel builds the derived tables once and keeps them as Parquet beside the
    input tables; a later kernel (a new connection) reads them instead of building them again."""
    from userops.engine import DERIVED_DIR, DERIVED_DONE

    kept = list((small.with_suffix(".parquet") / DERIVED_DIR).glob(f"*/{DERIVED_DONE}"))
    assert len(kept) == 1  # written by spark_con (the first connection of this load)
    with SparkConnection.open(small, Params(engine="spark")) as later, db.connect(small) as duck:
        for table, keys in DERIVED_KEYS.items():
            assert later.tables[table] == str(kept[0].parent / table)  # read, not built
            _same(
                later.execute(f"select * from {table}").df(),
                duck.execute(f"select * from {table}").df(),
                keys,
            )


def test_what_the_plays_ask_of_a_connection_gives_duckdbs_result(small, spark_con):
    _plays_ask(small, spark_con)


def _plays_ask(small: Path, con) -> None:
    from userops import recall
    from userops.period import Period

    rc = Params().recall
    with db.connect(small) as duck:
        results = []
        for c in (con, duck):
            panel = recall.build_stages(c, Period("2026-06"), rc)  # db.create_temp_table
            assert db.has_temp_table(c, recall.STAGE_TABLE)
            stages = c.execute(
                f"select month_end, stage, count(*) as n from {recall.STAGE_TABLE} group by all"
            ).df()
            # a metric file, twice: the second call is served by query_once's memo (a copy)
            first = db.query_once("activity/order_frequency", c, **_frequency_params())
            again = db.query_once("activity/order_frequency", c, **_frequency_params())
            pd.testing.assert_frame_equal(first, again)
            c.register("_picked", pd.DataFrame({"user_id": [1, 2, 3, 999999]}))
            picked = c.execute("select count(*) from dim_users join _picked using (user_id)").fetchall()
            c.unregister("_picked")
            results.append((panel, stages, first, picked))
        (sp, ss, sf, spk), (dp, ds, df, dpk) = results
        assert sp == dp and spk == dpk == [(3,)]  # users 1-3 exist, 999999 does not
        assert len(ds) > 0 and ds.n.sum() > 0
        _same(ss, ds, ["month_end", "stage"])
        _same(sf, df, None)


# The heaviest metric files (bench/scale.md), with the small demo's dates (Nov 2025 - Jun 2026).
HEAVY = {
    "activity/active_users_trend": {"from_date": dt.date(2025, 11, 1), "to_date": dt.date(2026, 7, 1)},
    "activity/purchase_cycles": {
        "from_date": dt.date(2025, 11, 1),
        "as_of": dt.date(2026, 6, 30),
        "horizon": 120,
        "product_pattern": "%",
    },
    "acquisition/rfm_summary": {
        "from_date": dt.date(1900, 1, 1),
        "to_date": dt.date(2026, 4, 1),
        "cal_end": dt.date(2026, 4, 1),
        "holdout_end": dt.date(2026, 7, 1),
        "horizon_days": 91,
        "new_user_kinds": list(Params().data.new_user_coupon_kinds),
        "assumed_margin_rate": 0.25,
    },
    "retention/dk_retention": {
        "grain": "week",
        "from_date": dt.date(2026, 3, 2),
        "to_date": dt.date(2026, 7, 1),
        "max_day": 28,
        "as_of": dt.date(2026, 6, 30),
        "return_event": "order",
    },
}


@pytest.fixture(scope="module")
def connect_con(small, spark_con, connect_url):
    """The engine through Spark Connect (params spark.remote): after spark_con, so it reads the
    derived tables spark_con kept (the server reads the same files)."""
    con = SparkConnection.open(small, Params(engine="spark", spark={"remote": connect_url}))
    yield con
    con.close()


def test_spark_connect_gives_duckdbs_results(small, connect_con):
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    assert isinstance(connect_con.spark, ConnectSession)  # a client of the server, not this JVM
    assert set(connect_con.tables) >= set(DERIVED_KEYS)
    with db.connect(small) as duck:
        for name, params in HEAVY.items():
            ours, theirs = db.query(name, connect_con, **params), db.query(name, duck, **params)
            assert len(theirs) > 0, name  # the demo has rows for each
            assert spark_sql.differences(theirs, ours) == [], name
        assert db.load_info(connect_con) == db.load_info(duck)
        assert db.resolve_month(connect_con, None) == "2026-06"
    _plays_ask(small, connect_con)


def _frequency_params() -> dict:
    from userops.sql_files import sql_params

    given = {
        "from_date": pd.Timestamp("2026-06-01").date(),
        "to_date": pd.Timestamp("2026-07-01").date(),
        "offline_channels": ["store"],  # a list parameter: bound as an array on Spark
    }
    assert sorted(sql_params("activity/order_frequency")) == sorted(given)
    return given


def test_tables_in_a_catalog_database_need_no_parquet_folder(small, connect_con, connect_url, tmp_path):
    """params spark.database: the load published as tables of a catalog database (a cluster's data
    in tables), no Parquet folder (params spark.parquet names none); the first connection saves the
    derived tables there with saveAsTable, the next one reads them; both give DuckDB's rows."""
    from userops.engine import DERIVED_MARK, publish_tables

    published = publish_tables(connect_con.spark, small.with_suffix(".parquet"), "userops_e2e")
    assert {"orders", "users", "meta_load_info", "map_user_id"} <= set(published)
    params = Params(
        engine="spark",
        spark={"remote": connect_url, "database": "userops_e2e", "parquet": str(tmp_path / "absent")},
    )
    with SparkConnection.open(small, params) as first:
        assert first.tables["orders"] == "userops_e2e.orders"
        assert first.tables["fct_orders"] == "warehouse/10_fct_orders"  # built by its SQL file
    saved = {t.name for t in connect_con.spark.catalog.listTables("userops_e2e") if not t.isTemporary}
    assert set(DERIVED_KEYS) | {DERIVED_MARK} <= saved
    with SparkConnection.open(small, params) as later, db.connect(small) as duck:
        assert later.tables["fct_orders"] == "userops_e2e.fct_orders"  # read, not built again
        for table, keys in DERIVED_KEYS.items():
            _same(
                later.execute(f"select * from {table}").df(),
                duck.execute(f"select * from {table}").df(),
                keys,
            )
        name, given = "retention/dk_retention", HEAVY["retention/dk_retention"]
        assert spark_sql.differences(db.query(name, duck, **given), db.query(name, later, **given)) == []
    assert not (tmp_path / "absent").exists()


def test_all_notebooks_on_spark_give_duckdbs_metrics(small, tmp_path, connect_url, monkeypatch):
    """The six notebooks, `userops run --engine spark` (kernels: Spark Connect clients of the
    session's server) against `--engine duckdb`: the same metrics.json, provenance aside."""
    runs = {}
    for engine in ("duckdb", "spark"):
        if engine == "spark":
            monkeypatch.setenv("USEROPS_SPARK_REMOTE", connect_url)  # the kernels inherit it
        out = tmp_path / engine
        args = ["run", "--warehouse", str(small), "--out", str(out), "--no-pdf", "--engine", engine]
        args += ["--params", str(ROOT / "params" / "default.yaml"), "--notebooks", str(ROOT / "notebooks")]
        assert main(args) == 0
        runs[engine] = spark_sql.plays_metrics(
            json.loads((out / "2026-06" / "metrics.json").read_text(encoding="utf-8"))
        )
    assert sorted(runs["spark"]) == sorted(runs["duckdb"]) and len(runs["duckdb"]) == 6
    # the small demo computes each play's sections, not only reasons for absent ones
    assert min(len(_leaves(m)) for m in runs["duckdb"].values()) >= 20
    assert spark_sql.metrics_differences(runs["spark"], runs["duckdb"]) == []


def _leaves(tree) -> list:
    """Every number, string or flag of a metrics tree."""
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in _leaves(v)]
    if isinstance(tree, list):
        return [x for v in tree for x in _leaves(v)]
    return [tree]


def test_triggers_on_spark_write_duckdbs_lists(small, tmp_path):
    """`userops triggers --engine spark` (in this process's session) writes DuckDB's files byte for byte."""
    written = {}
    for engine in ("duckdb", "spark"):
        out = tmp_path / engine
        args = ["triggers", "--date", "2026-06-20", "--warehouse", str(small), "--out", str(out)]
        assert main([*args, "--monthly", str(tmp_path / "none"), "--engine", engine]) == 0
        written[engine] = {p.name: p.read_bytes() for p in sorted((out / "2026-06-20").glob("*.csv"))}
    assert "campaign_members.csv" in written["duckdb"]
    assert sum(body.count(b"\n") - 1 for body in written["duckdb"].values()) > 0  # some rows to compare
    assert written["spark"] == written["duckdb"]
