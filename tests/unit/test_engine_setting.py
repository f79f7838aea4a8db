"""The engine setting (params engine / spark, environment overrides) and `userops load --parquet-out`:
cheap checks without a SparkSession (tests/spark runs the engine itself)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from userops.cli import main
from userops.engine import check_parquet, parquet_folder
from userops.load import ContractError, LoadOptions, load_dir
from userops.params import Params, ParamsError, load_params
from userops.parquet_tables import file_name, table_of
from userops.testing import write_tables

USERS = [
    dict(user_id="u-b", registered_at="2026-10-01 09:00:00", channel="app"),
    dict(user_id="u-a", registered_at="2026-10-02 09:00:00", channel="paid_ads"),
]
ORDERS = [
    dict(order_id=10, user_id="u-b", ordered_at="2026-10-01 10:00:00", store_id="S1", order_channel="app",
         gmv=20, discount=0),
    dict(order_id=11, user_id="u-a", ordered_at="2026-10-03 10:00:00", store_id="S1", order_channel="store",
         gmv=8.5, discount=1),
]  # fmt: skip


def _params(tmp_path, text: str):
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    return load_params(path)


def test_engine_defaults_to_duckdb_and_the_environment_wins(tmp_path, monkeypatch):
    assert Params().engine == "duckdb" and Params().spark.master is None and Params().spark.tables == {}
    p = _params(tmp_path, "engine: spark\nspark: {master: 'local[4]', conf: {spark.driver.memory: 4g}}\n")
    assert (p.engine, p.spark.master, p.spark.conf) == ("spark", "local[4]", {"spark.driver.memory": "4g"})
    monkeypatch.setenv("USEROPS_ENGINE", "duckdb")
    monkeypatch.setenv("USEROPS_SPARK_REMOTE", "sc://spark-head:15002")
    p = _params(tmp_path, "engine: spark\nspark: {master: 'local[4]'}\n")
    # the environment's Spark Connect address replaces the file's master (one or the other)
    assert (p.engine, p.spark.master, p.spark.remote) == ("duckdb", None, "sc://spark-head:15002")


@pytest.mark.parametrize(
    "text, key",
    [
        ("engine: postgres\n", "engine"),
        ("spark: {master: 'local[2]', remote: 'sc://h:15002'}\n", "spark"),
        ("spark: {remote: 'http://h:15002'}\n", "spark.remote"),
        ("spark: {tables: {order: dw.orders}}\n", "spark.tables"),
        ("spark: {tables: {orders: 'dw.orders; drop table x'}}\n", "spark.tables.orders"),
        ("spark: {executors: 10}\n", "spark.executors"),
        ("spark: {database: 'dw; drop database dw'}\n", "spark.database"),
    ],
)
def test_bad_engine_settings_name_the_key(tmp_path, text, key):
    with pytest.raises(ParamsError) as err:
        _params(tmp_path, text)
    assert f"  - {key}" in str(err.value)


def test_parquet_names_keep_the_load_tables_visible_to_spark():
    # Spark skips files whose name starts with '_' as hidden: the load's tables get a prefix
    assert file_name("orders") == "orders.parquet" and file_name("_load_info") == "meta_load_info.parquet"
    assert table_of(Path("meta_load_info.parquet")) == "_load_info"
    assert table_of(Path("map_user_id.parquet")) == "map_user_id"


def test_load_parquet_out_writes_the_loaded_tables_of_the_same_load(tmp_path):
    wh, folder = tmp_path / "wh.duckdb", tmp_path / "wh.parquet"
    data = write_tables(tmp_path / "in", {"users": USERS, "orders": ORDERS})
    assert main(["load", str(data), "--warehouse", str(wh), "--parquet-out", str(folder)]) == 0
    con = duckdb.connect(str(wh), read_only=True)
    orders = pd.read_parquet(folder / "orders.parquet")
    # text user ids are surrogate keys in text order (u-a 1, u-b 2), as in the warehouse
    assert orders.sort_values("order_id")[["order_id", "user_id"]].values.tolist() == [[10, 2], [11, 1]]
    assert pd.read_parquet(folder / "map_user_id.parquet").sort_values("user_id").source_id.tolist() == [
        "u-a",
        "u-b",
    ]
    assert len(pd.read_parquet(folder / "coupons.parquet")) == 0  # absent table: empty, with its columns
    assert "kind" in pd.read_parquet(folder / "coupons.parquet").columns
    assert not (folder / "fct_orders.parquet").exists()  # derived tables are built by the engine
    meta = pd.read_parquet(folder / "meta_load_meta.parquet")
    assert set(meta[meta.present].table_name) == {"users", "orders"}
    p = Params(engine="spark")
    assert parquet_folder(wh, p) == folder  # the default place beside the warehouse
    check_parquet(con, wh, p)  # same fingerprint: no error
    con.close()


def test_parquet_folder_of_another_load_is_refused_and_a_failed_load_keeps_it(tmp_path):
    wh, folder = tmp_path / "wh.duckdb", tmp_path / "wh.parquet"
    load_dir(
        write_tables(tmp_path / "a", {"users": USERS, "orders": ORDERS}), wh, LoadOptions(parquet_out=folder)
    )
    before = (folder / "orders.parquet").read_bytes()
    bad = ORDERS + [dict(ORDERS[0], gmv=1)]  # order 10 twice: the load stops
    with pytest.raises(ContractError):
        load_dir(
            write_tables(tmp_path / "b", {"users": USERS, "orders": bad}), wh, LoadOptions(parquet_out=folder)
        )
    assert (folder / "orders.parquet").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("wh.parquet")) == ["wh.parquet"]
    load_dir(write_tables(tmp_path / "c", {"users": USERS, "orders": ORDERS[:1]}), wh)  # no --parquet-out
    with duckdb.connect(str(wh), read_only=True) as con, pytest.raises(ValueError, match="another load"):
        check_parquet(con, wh, Params(engine="spark"))
    with duckdb.connect(str(wh), read_only=True) as con, pytest.raises(ValueError, match="--parquet-out"):
        check_parquet(con, wh, Params(engine="spark", spark={"parquet": str(tmp_path / "none")}))


def test_triggers_respect_the_engine_and_refuse_spark_without_the_loads_parquet(tmp_path, capsys):
    wh = tmp_path / "wh.duckdb"
    load_dir(write_tables(tmp_path / "a", {"users": USERS, "orders": ORDERS}), wh)  # no --parquet-out
    args = ["triggers", "--date", "2026-10-03", "--warehouse", str(wh), "--out", str(tmp_path / "t")]
    assert main([*args, "--engine", "spark"]) == 2  # before any SparkSession starts
    err = capsys.readouterr().err
    assert "engine spark reads the input tables as Parquet" in err and "--parquet-out" in err
    assert not (tmp_path / "t").exists()
    assert main([*args, "--engine", "duckdb"]) == 0  # the same day's lists on DuckDB
    assert (tmp_path / "t" / "2026-10-03").is_dir()


def test_id_lists_reach_sql_as_a_joined_table_not_a_literal_array(tmp_path):
    from userops.db import connect, id_table, query
    from userops.outputs import original_ids
    from userops.sql_files import sql_params

    wh = tmp_path / "wh.duckdb"
    load_dir(write_tables(tmp_path / "a", {"users": USERS, "orders": ORDERS}), wh)
    assert sql_params("triggers/source_ids") == [] and sql_params("triggers/usual_hour") == ["day_end"]
    with connect(wh) as con:
        keys = dict(con.execute("select source_id, user_id from map_user_id").fetchall())
        # u-a twice, a key no user has, a missing value: one row per known user
        with id_table(con, "_trigger_users", [keys["u-a"], keys["u-a"], 999999, None]):
            ids = query("triggers/source_ids", con)
            hours = query("triggers/usual_hour", con, day_end=pd.Timestamp("2026-10-04"))
        assert ids.source_id.tolist() == ["u-a"]
        assert hours.usual_hour.tolist() == [10]  # u-a's one order at 10:00 on Oct 3
        assert con.execute(
            "select count(*) from duckdb_views() where view_name = '_trigger_users'"
        ).fetchone() == (0,)  # dropped after the block
        back = original_ids(con, pd.DataFrame({"user_id": [keys["u-b"], keys["u-a"]]}))
        assert back.user_id.tolist() == ["u-b", "u-a"]


def test_derived_tables_key_names_the_load_the_sql_its_parameters_and_a_catalog_run(monkeypatch):
    from userops.engine import RUN_ID_ENV, derived_key

    monkeypatch.setenv(RUN_ID_ENV, "run-1")
    base = Params(engine="spark")
    key = derived_key(base, "fp-1")
    assert key == derived_key(base, "fp-1")  # the next kernel of the run finds the first one's tables
    assert key != derived_key(base, "fp-2")  # another load
    kinds = Params(engine="spark", data={"new_user_coupon_kinds": ["welcome"]})
    assert key != derived_key(kinds, "fp-1")  # fct_coupons.is_new_user_pack depends on them
    monkeypatch.setenv(RUN_ID_ENV, "run-2")
    assert key == derived_key(base, "fp-1")  # Parquet inputs: the fingerprint names the data
    catalog = Params(engine="spark", spark={"tables": {"orders": "dw.orders"}})
    other_run = derived_key(catalog, "fp-1")
    monkeypatch.setenv(RUN_ID_ENV, "run-3")
    assert derived_key(catalog, "fp-1") != other_run  # catalog tables change unseen: once per run


def test_the_local_connect_server_listens_on_loopback_with_duckdbs_settings():
    """The command of userops.spark_server (no JVM started here): PySpark's Connect server class in
    local mode, bound to 127.0.0.1 on its port, with the settings that make Spark compute as DuckDB
    (UTC, ANSI) and the caller's; the classic client's Arrow settings are not the server's."""
    from userops.spark_server import SERVER_CLASS, LocalConnectServer

    server = LocalConnectServer(conf={"spark.sql.warehouse.dir": "/tmp/w"})
    server.port = 15999
    cmd = server.command()
    assert cmd[1:5] == ["--master", "local[2]", "--class", SERVER_CLASS] and cmd[-1] == "spark-internal"
    conf = dict(c.split("=", 1) for c in cmd[6:-1:2])
    assert conf["spark.connect.grpc.binding.address"] == "127.0.0.1"
    assert conf["spark.connect.grpc.binding.port"] == "15999" and server.url == "sc://127.0.0.1:15999"
    assert conf["spark.sql.session.timeZone"] == "UTC" and conf["spark.sql.ansi.enabled"] == "true"
    assert conf["spark.sql.warehouse.dir"] == "/tmp/w"
    assert not [k for k in conf if "arrow" in k]
    assert cmd[5:-1:2] == ["--conf"] * len(conf)


def test_parquet_command_writes_what_load_parquet_out_wrote_from_the_warehouse(tmp_path, capsys):
    """`userops parquet`: the folder of a warehouse loaded earlier (no --parquet-out then), the same
    files and rows as `load --parquet-out`, of the same load (its fingerprint)."""
    wh, by_load = tmp_path / "wh.duckdb", tmp_path / "by_load"
    data = write_tables(tmp_path / "in", {"users": USERS, "orders": ORDERS})
    assert main(["load", str(data), "--warehouse", str(wh), "--parquet-out", str(by_load)]) == 0
    assert main(["parquet", "--warehouse", str(wh)]) == 0
    folder = tmp_path / "wh.parquet"  # the default place, where engine spark looks
    assert f"tables as Parquet (for engine spark): {folder}" in capsys.readouterr().out
    names = sorted(p.name for p in by_load.glob("*.parquet"))
    assert sorted(p.name for p in folder.glob("*.parquet")) == names and "map_user_id.parquet" in names
    for name in names:
        pd.testing.assert_frame_equal(pd.read_parquet(folder / name), pd.read_parquet(by_load / name))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("wh.parquet")) == ["wh.parquet"]
    with duckdb.connect(str(wh), read_only=True) as con:
        check_parquet(con, wh, Params(engine="spark"))  # same load: no error


def test_publish_refuses_a_folder_without_a_load(tmp_path, capsys):
    # checked before a Spark session is opened (tests/spark publishes a real folder)
    assert main(["publish", str(tmp_path), "--database", "userops"]) == 2
    assert "holds no load's Parquet tables" in capsys.readouterr().err
