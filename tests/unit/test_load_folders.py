"""The loader reads a table from a folder of files (parts of one export) and from hive-partitioned
folders (`orders/month=2026-10/*.parquet`): rows stream from every file into DuckDB, and every
problem still names the file and the line (or row) it is on."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from userops.load import ContractError, check_dir, find_files, fingerprint, load_dir
from userops.testing import order_row, write_tables

USERS = [
    dict(user_id=1, registered_at="2026-10-01 09:00:00", channel="app"),
    dict(user_id=2, registered_at="2026-10-02 09:00:00", channel="paid_ads"),
]
COLUMNS = ["order_id", "user_id", "ordered_at", "store_id", "order_channel", "gmv", "discount", "coupon_id"]


def csv_part(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(path, index=False)


def parquet_part(path, rows, columns=COLUMNS):
    """Typed Parquet as an export writes it: ids BIGINT, times TIMESTAMP, money DOUBLE."""
    path.parent.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame([{c: r[c] for c in columns} for r in rows], columns=columns)
    if "ordered_at" in df:
        df["ordered_at"] = pd.to_datetime(df["ordered_at"])
    con = duckdb.connect()
    con.register("df", df)
    con.execute(f"copy df to '{path}' (format parquet)")
    con.close()


def rows(con, sql):
    return con.execute(sql).fetchall()


def test_folder_of_csv_parts_loads_every_part(tmp_path):
    d = write_tables(tmp_path / "in", {"users": USERS})
    csv_part(d / "orders" / "part-0.csv", [order_row(10, 1, "2026-10-01 10:00:00", gmv=20)])
    csv_part(d / "orders" / "part-1.csv", [order_row(11, 2, "2026-10-03 10:00:00", gmv=8.5),
                                           order_row(12, 1, "2026-10-04 10:00:00", gmv=3)])  # fmt: skip
    (d / "orders" / ".part-2.csv.crc").write_text("not data")  # hidden files are not read
    files, problems = find_files(d)
    assert problems == [] and files["orders"] == d / "orders"
    report = load_dir(d, tmp_path / "wh.duckdb")
    assert report.rows["orders"] == 3  # 1 row in part-0, 2 in part-1
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    assert rows(con, "select order_id, user_id, gmv::double from orders order by order_id") == [
        (10, 1, 20.0),
        (11, 2, 8.5),
        (12, 1, 3.0),
    ]
    assert rows(con, "select source_file from _load_meta where table_name = 'orders'") == [
        (str(d / "orders"),)
    ]


def test_problem_in_a_part_names_the_part_and_its_line(tmp_path):
    d = write_tables(tmp_path / "in", {"users": USERS})
    csv_part(d / "orders" / "part-0.csv", [order_row(10, 1, "2026-10-01 10:00:00"),
                                           order_row(11, 1, "2026-10-02 10:00:00")])  # fmt: skip
    # part-1.csv: line 2 fine, line 3 gmv is not a number
    csv_part(d / "orders" / "part-1.csv", [order_row(12, 2, "2026-10-03 10:00:00"),
                                           order_row(13, 2, "2026-10-04 10:00:00", gmv="abc")])  # fmt: skip
    (p,) = check_dir(d)
    assert (p.file, p.column, p.rule, p.n_rows) == (str(d / "orders"), "gmv", "type DECIMAL(12,2)", 1)
    assert p.examples == ("part-1.csv line 3 (order_id=13, gmv=abc)",)


def test_quarantined_rows_of_two_parts_keep_their_file_and_line(tmp_path):
    d = write_tables(tmp_path / "in", {"users": USERS})
    csv_part(d / "orders" / "part-0.csv", [order_row(10, 1, "2026-10-01 10:00:00")])
    items = d / "order_items"
    items.mkdir()
    # line 2 of each part: an order line for an unknown order (row-level: set aside)
    pd.DataFrame([dict(order_id=99, product_id="P1", quantity=1, amount=5),
                  dict(order_id=10, product_id="P1", quantity=2, amount=10)]).to_csv(items / "a.csv", index=False)  # fmt: skip
    pd.DataFrame([dict(order_id=98, product_id="P1", quantity=1, amount=5)]).to_csv(
        items / "b.csv", index=False
    )
    with pytest.raises(ContractError) as err:
        load_dir(d, tmp_path / "wh.duckdb")
    (p,) = err.value.problems
    assert (p.column, p.n_rows) == ("order_id", 2)
    assert p.examples == (
        "a.csv line 2 (order_id=99, product_id=P1)",
        "b.csv line 2 (order_id=98, product_id=P1)",
    )
    report = load_dir(d, tmp_path / "wh.duckdb", opts=_quarantine())
    assert report.rejected == {"order_items": 2}  # the same line number in two files: two rows
    assert report.rows["order_items"] == 1
    rejects = pd.read_csv(report.rejects_file)
    assert rejects[["source_file", "source_line"]].values.tolist() == [
        [str(items / "a.csv"), 2],
        [str(items / "b.csv"), 2],
    ]


def _quarantine():
    from userops.load import LoadOptions

    return LoadOptions(quarantine=True)


def test_hive_partitioned_parquet_loads_and_a_partition_key_fills_its_column(tmp_path):
    d = write_tables(tmp_path / "in", {"users": USERS})
    o = d / "orders"
    # month=... is not a contract column: read, then not loaded
    parquet_part(o / "month=2026-10" / "data_0.parquet", [order_row(10, 1, "2026-10-01 10:00:00", gmv=20)])
    parquet_part(o / "month=2026-11" / "data_0.parquet", [order_row(11, 2, "2026-11-03 10:00:00", gmv=8.5)])
    report = load_dir(d, tmp_path / "wh.duckdb")
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    assert report.rows["orders"] == 2
    assert rows(con, "select order_id, ordered_at::varchar, gmv::double from orders order by 1") == [
        (10, "2026-10-01 10:00:00", 20.0),
        (11, "2026-11-03 10:00:00", 8.5),
    ]
    assert "month" not in [r[0] for r in rows(con, "describe orders")]
    con.close()
    # a part without a required column (the other parts have it): the part and its row are named
    no_channel = [c for c in COLUMNS if c != "order_channel"]
    parquet_part(
        o / "month=2026-12" / "data_0.parquet", [order_row(12, 2, "2026-12-01 10:00:00")], no_channel
    )
    assert [(p.column, p.n_rows, p.examples) for p in check_dir(d)] == [
        ("order_channel", 1, ("month=2026-12/data_0.parquet row 1 (order_id=12, order_channel=(null))",))
    ]
    # order_channel as the partition key of every part: the folder gives the column its values
    for part in o.rglob("*.parquet"):
        part.unlink()
    parquet_part(
        o / "order_channel=app" / "data_0.parquet", [order_row(10, 1, "2026-10-01 10:00:00")], no_channel
    )
    parquet_part(o / "order_channel=store" / "data_0.parquet", [order_row(11, 2, "2026-11-03 10:00:00"),
                                                                order_row(12, 2, "2026-12-01 10:00:00")], no_channel)  # fmt: skip
    load_dir(d, tmp_path / "wh.duckdb")
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    assert rows(con, "select order_id, order_channel from orders order by 1") == [
        (10, "app"),
        (11, "store"),
        (12, "store"),
    ]


def test_folder_rules_mixed_formats_empty_part_and_fingerprint(tmp_path):
    d = write_tables(tmp_path / "in", {"users": USERS})
    csv_part(d / "orders" / "a.csv", [order_row(10, 1, "2026-10-01 10:00:00")])
    parquet_part(d / "orders" / "b.parquet", [order_row(11, 1, "2026-10-02 10:00:00")])
    (p,) = check_dir(d)
    assert (p.file, p.rule, p.examples) == (str(d / "orders"), "one format per folder (.csv or .parquet files)",
                                            (".csv", ".parquet"))  # fmt: skip
    (d / "orders" / "b.parquet").unlink()
    files, _ = find_files(d)
    before = fingerprint(files)
    csv_part(d / "orders" / "b.csv", [order_row(11, 1, "2026-10-02 10:00:00")])
    assert fingerprint(files) != before  # a new part is new data
    (d / "orders" / "c.csv").write_text("")
    (p,) = check_dir(d)
    assert (p.file, p.rule) == (
        str(d / "orders" / "c.csv"),
        "file has a header row (the file is empty: 0 bytes)",
    )
    write_tables(d, {"orders": [order_row(12, 1, "2026-10-03 10:00:00")]})  # orders.csv beside orders/
    (p,) = check_dir(d)
    assert p.rule == "one input per table (found a folder and a file)"
