"""The loader: every contract rule gives its own message; a failed load changes nothing."""

from __future__ import annotations

import hashlib

import duckdb
import pandas as pd
import pytest

from userops.cli import main
from userops.load import ContractError, check_dir, load_dir
from userops.testing import write_tables

USERS = [
    dict(user_id=1, registered_at="2026-10-01 09:00:00", channel="app"),
    dict(user_id=2, registered_at="2026-10-02 09:00:00", channel="paid_ads"),
]
ORDERS = [
    dict(
        order_id=10,
        user_id=1,
        ordered_at="2026-10-01 10:00:00",
        store_id="S1",
        order_channel="app",
        gmv=20,
        discount=0,
    ),
    dict(
        order_id=11,
        user_id=2,
        ordered_at="2026-10-03 10:00:00",
        store_id="S1",
        order_channel="store",
        gmv=8.5,
        discount=1,
    ),
]


def problems_of(tmp_path, tables):
    return check_dir(write_tables(tmp_path / "in", tables))


def only(problems, column, rule_part):
    hits = [p for p in problems if p.column == column and rule_part in p.rule]
    assert len(hits) == 1, [str(p) for p in problems]
    return hits[0]


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_valid_minimal_data_loads_with_derived_facts(tmp_path):
    report = load_dir(
        write_tables(tmp_path / "in", {"users": USERS, "orders": ORDERS}), tmp_path / "wh.duckdb"
    )
    assert report.rows["users"] == 2 and report.rows["orders"] == 2
    assert "coupons" in report.absent and "users" not in report.absent
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    assert con.execute("select count(*) from coupons").fetchone() == (0,)  # absent -> empty table
    assert con.execute("select n_orders from dim_users order by user_id").fetchall() == [(1,), (1,)]
    present = {r[0] for r in con.execute("select table_name from _load_meta where present").fetchall()}
    assert present == {"users", "orders"}


def test_staged_inputs_are_tables_of_a_scratch_database_not_temp_tables(tmp_path, monkeypatch):
    # Temp tables live in memory and spill uncompressed (41 GB at 10M users); the staged inputs
    # (typed_<table>, src_<table> of CSV files) go to the database STAGE, a file beside the new
    # warehouse that the warehouse never sees. Seen while ids are harmonised (every input staged).
    import userops.load as load

    seen, real = {}, load._harmonize_ids

    def spy(con):
        seen["staged"] = con.execute(
            "select database_name, table_name, temporary from duckdb_tables() "
            "where table_name like 'typed_%' or table_name like 'src_%' order by table_name"
        ).fetchall()
        seen["stage_files"] = sorted(p.name for p in (tmp_path / "wh").glob("*.stage"))
        real(con)

    monkeypatch.setattr(load, "_harmonize_ids", spy)
    load_dir(write_tables(tmp_path / "in", {"users": USERS, "orders": ORDERS}), tmp_path / "wh" / "wh.duckdb")
    # beside the new warehouse (the disk meant for the data), named like its temp file, then removed
    assert len(seen["stage_files"]) == 1 and seen["stage_files"][0].startswith("wh.duckdb.")
    assert sorted(p.name for p in (tmp_path / "wh").iterdir() if p.is_file()) == ["wh.duckdb"]
    assert {db for db, _, _ in seen["staged"]} == {load.STAGE}
    assert not any(temp for _, _, temp in seen["staged"])
    assert {t for _, t, _ in seen["staged"]} == {f"typed_{name}" for name in load.LOAD_ORDER}
    con = duckdb.connect(str(tmp_path / "wh" / "wh.duckdb"), read_only=True)
    left = con.execute("select table_name from duckdb_tables() where table_name like 'typed_%'").fetchall()
    assert left == []


def test_each_rule_names_file_column_rule_rows(tmp_path):
    users = USERS + [
        dict(user_id=2, registered_at="2026-10-02 09:00:00", channel="app"),  # line 4: duplicate key
        dict(user_id=3, registered_at="1999-12-31 23:00:00", channel="app", gender="X"),  # line 5
        dict(user_id=1.7, registered_at="2026-10-02 09:00:00", channel=None),  # line 6: not a whole id
    ]
    orders = ORDERS + [
        dict(
            order_id=12,
            user_id=9,
            ordered_at="2026-10-03 10:00:00",
            store_id="S1",
            order_channel="app",
            gmv=-3,
            discount=0,
        ),
    ]
    coupons = [
        dict(
            coupon_id=1,
            user_id=1,
            kind="new_user_small",
            issued_at="2026-10-05 00:00:00",
            expires_at="2026-10-01 00:00:00",
            face_value=3,
            min_spend=15,
        ),
    ]
    ps = problems_of(tmp_path, {"users": users, "orders": orders, "coupons": coupons})
    dup = only(ps, "user_id", "unique key")
    assert dup.file.endswith("users.csv") and dup.n_rows == 2 and "line 3" in dup.examples[0]
    assert "line 5" in only(ps, "gender", "one of F, M").examples[0]
    assert "1999-12-31" in only(ps, "registered_at", "timestamp between").examples[0]
    bad_type = only(ps, "user_id", "type id: whole")
    assert bad_type.n_rows == 1 and "line 6" in bad_type.examples[0] and "1.7" in bad_type.examples[0]
    assert only(ps, "channel", "not null").n_rows == 1
    neg = only(ps, "gmv", ">= 0")
    assert neg.file.endswith("orders.csv") and "order_id=12" in neg.examples[0]
    orphan = only(ps, "user_id", "references users.user_id")
    assert orphan.file.endswith("orders.csv") and "user_id=9" in orphan.examples[0]
    assert only(ps, "expires_at, issued_at", "expires_at >= issued_at").n_rows == 1
    assert "users.csv: column 'gender': one of F, M: 1 row; first: line 5" in str(
        only(ps, "gender", "one of")
    )


def test_missing_column_and_required_table(tmp_path):
    d = write_tables(tmp_path / "in", {"users": USERS})
    pd.DataFrame(ORDERS).drop(columns=["gmv"]).to_csv(d / "orders.csv", index=False)
    ps = check_dir(d)
    assert only(ps, "gmv", "column present").file.endswith("orders.csv")
    (d / "orders.csv").unlink()
    ps = check_dir(d)
    assert only(ps, "-", "required table present").file.endswith("orders.csv")


def test_csv_and_parquet_for_one_table_is_ambiguous(tmp_path):
    d = write_tables(tmp_path / "in", {"users": USERS, "orders": ORDERS})
    pd.read_csv(d / "users.csv").to_parquet(d / "users.parquet")
    assert "one file per table" in only(check_dir(d), "-", "one file per table").rule


def test_parquet_input_reports_row_numbers(tmp_path):
    d = tmp_path / "pq"
    d.mkdir()
    users = pd.DataFrame(USERS).assign(registered_at=lambda x: pd.to_datetime(x.registered_at))
    users.assign(gender=["F", "Q"]).to_parquet(d / "users.parquet")
    orders = pd.DataFrame(ORDERS).assign(ordered_at=lambda x: pd.to_datetime(x.ordered_at))
    orders.to_parquet(d / "orders.parquet")
    ps = check_dir(d)
    assert "row 2" in only(ps, "gender", "one of").examples[0]
    users.to_parquet(d / "users.parquet")
    assert load_dir(d, tmp_path / "wh.duckdb").rows["users"] == 2


def test_failed_load_leaves_existing_warehouse_untouched(tmp_path):
    wh = tmp_path / "wh.duckdb"
    load_dir(write_tables(tmp_path / "good", {"users": USERS, "orders": ORDERS}), wh)
    before = digest(wh)
    bad = ORDERS + [
        dict(
            order_id=10,
            user_id=1,
            ordered_at="2026-10-04 10:00:00",
            store_id="S1",
            order_channel="app",
            gmv=1,
            discount=0,
        )
    ]
    with pytest.raises(ContractError) as err:
        load_dir(write_tables(tmp_path / "bad", {"users": USERS, "orders": bad}), wh)
    assert "unique key" in str(err.value)
    assert digest(wh) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["wh.duckdb"]  # no temp files left


def test_cli_check_exit_code_and_message(tmp_path, capsys):
    d = write_tables(
        tmp_path / "in",
        {"users": USERS + [dict(user_id=3, registered_at="x", channel="app")], "orders": ORDERS},
    )
    assert main(["check", str(d)]) == 1
    err = capsys.readouterr().err
    assert "users.csv: column 'registered_at': type TIMESTAMP: 1 row; first: line 4" in err
    assert main(["load", str(d), "--warehouse", str(tmp_path / "w.duckdb")]) == 1
    assert not (tmp_path / "w.duckdb").exists()


def test_cli_run_rejects_bad_month_and_params(tmp_path, capsys):
    wh = tmp_path / "wh.duckdb"
    load_dir(write_tables(tmp_path / "in", {"users": USERS, "orders": ORDERS}), wh)
    assert main(["run", "--warehouse", str(wh), "--month", "2027-01", "--out", str(tmp_path / "o")]) == 2
    assert "month '2027-01' is outside the data" in capsys.readouterr().err
    bad = tmp_path / "p.yaml"
    bad.write_text("retention:\n  max_dayz: 3\n")
    assert main(["run", "--warehouse", str(wh), "--params", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "retention.max_dayz: unknown key" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing started


def test_cli_run_names_derived_tables_a_warehouse_loaded_earlier_lacks(tmp_path, capsys):
    # a warehouse loaded before sql/warehouse/70_fct_user_days.sql and 75_fct_user_months.sql existed
    wh = tmp_path / "wh.duckdb"
    load_dir(write_tables(tmp_path / "in", {"users": USERS, "orders": ORDERS}), wh)
    with duckdb.connect(str(wh)) as con:
        con.execute("drop table fct_user_days")
        con.execute("drop table fct_user_months")
    assert main(["run", "--warehouse", str(wh), "--month", "2026-10", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "loaded before fct_user_days, fct_user_months existed" in err and "load it again" in err
    assert not (tmp_path / "o").exists()  # nothing started


def test_typed_parquet_columns_are_taken_as_is_with_the_text_paths_values():
    import duckdb

    from userops.contract import TABLES
    from userops.load import _as_is, _clean, _typed_checks, _typed_expr

    orders = TABLES["orders"] if isinstance(TABLES, dict) else next(t for t in TABLES if t.name == "orders")
    cols = {c.name: c for c in orders.columns}
    con = duckdb.connect()
    con.execute("set variable null_tokens = ['NULL', 'NA']")
    con.execute("set variable timezone = 'Asia/Shanghai'")
    # a typed source as Parquet arrives: order 7 at 09:30 for 19.90; order 8 without a timestamp
    con.execute(
        "create table src as select * from (values "
        "(7::bigint, timestamp '2026-10-01 09:30:00', 19.90::decimal(12,2), 'app'), "
        "(8::bigint, null::timestamp, 5.00::decimal(12,2), 'store')) t(order_id, ordered_at, gmv, order_channel)"
    )
    types = dict(con.execute("select column_name, column_type from (describe src)").fetchall())
    # taken as is: timestamp and money of the contract type; ids and text still go through the text path
    assert {n for n in types if _as_is(cols[n], types[n])} == {"ordered_at", "gmv"}
    for n in ("ordered_at", "gmv"):
        text_path = _typed_expr(cols[n], _clean(n))
        assert (
            con.execute(f"select {n} from src order by order_id").fetchall()
            == con.execute(f"select {text_path} from src order by order_id").fetchall()
        )
    ((rule, bad),) = _typed_checks(cols["ordered_at"])
    assert rule == "not null" and con.execute(f"select count(*) from src where {bad}").fetchone()[0] == 1


def test_whole_number_parquet_ids_skip_the_text_path_with_its_values_and_rules():
    import duckdb

    from userops.contract import TABLES
    from userops.load import (
        _clean,
        _int_tokens,
        _source_checks,
        _typed_expr,
        _whole_id,
        _whole_id_checks,
        _whole_id_text,
    )

    cols = {c.name: c for c in TABLES["orders"].columns}
    con = duckdb.connect()
    con.execute("set variable timezone = 'Asia/Shanghai'")
    # ids as typed Parquet holds them: order 7 of user 12; order -1 (a null token below); no user for order 9
    con.execute(
        "create table src as select * from (values (7::bigint, 12::bigint), (-1::bigint, 5::bigint), "
        "(9::bigint, null::bigint)) t(order_id, user_id)"
    )
    assert _whole_id(cols["order_id"], "BIGINT") and not _whole_id(cols["order_id"], "VARCHAR")
    assert not _whole_id(cols["gmv"], "BIGINT")  # only ids: a whole-number amount is still checked as money

    def same_as_text_path(tokens: list[str]) -> list[tuple]:
        con.execute("set variable null_tokens = $t", {"t": tokens})
        fast = ", ".join(_whole_id_text(cols[n], _int_tokens(con)) for n in ("order_id", "user_id"))
        text = ", ".join(_typed_expr(cols[n], _clean(n)) for n in ("order_id", "user_id"))
        got = con.execute(f"select {fast} from src order by 1 nulls first").fetchall()
        assert got == con.execute(f"select {text} from src order by 1 nulls first").fetchall()
        return got

    assert same_as_text_path(["NULL", "NA"]) == [("-1", "5"), ("7", "12"), ("9", None)]
    # a token that is an integer's text makes that id missing, on both paths
    assert same_as_text_path(["NULL", "-1"]) == [(None, "5"), ("7", "12"), ("9", None)]

    def counts(checks) -> list[tuple[str, int]]:
        return [
            (rule, con.execute(f"select count(*) from src where {bad}").fetchone()[0]) for rule, bad in checks
        ]

    # user_id is required: the fast rules find what the text rules find (the row of order 9; order -1's token)
    con.execute("set variable null_tokens = ['NULL', '-1']")
    fast = counts(_whole_id_checks(cols["order_id"], _int_tokens(con)))
    assert fast == [("not null", 0), ("not a null token (params data.null_tokens)", 1)]
    assert [c for c in counts(_source_checks(cols["order_id"])) if c[1]] == [c for c in fast if c[1]]
    assert counts(_whole_id_checks(cols["user_id"], False)) == [("not null", 1)]


def test_fct_user_days_orders_money_events_and_neighbours(make_warehouse):
    """fct_user_days (sql/warehouse/70): one row per user x day with an order or an event."""
    from datetime import date

    from userops.testing import order_row

    users = [dict(user_id=u, registered_at="2026-09-01 09:00:00", channel="app") for u in (1, 2, 3)]
    orders = [
        order_row(1, 1, "2026-10-03 10:00:00", gmv=100, discount=20),  # 2 x A (cost 30): margin 40
        order_row(2, 1, "2026-10-03 18:00:00", gmv=15),  # A + B (B has no unit_cost): cost unknown
        order_row(3, 1, "2026-10-05 09:00:00", gmv=9),  # no lines: cost unknown
        order_row(4, 2, "2026-10-04 23:50:00", gmv=35, discount=5),  # 1 x A (cost 30): margin 5
        order_row(5, 2, "2026-10-05 00:10:00", gmv=12),  # 20 minutes later, the next day; no lines
    ]
    products = [
        dict(product_id="A", name="a", category="fresh", price=60, unit_cost=30, is_hero=False),
        dict(product_id="B", name="b", category="fresh", price=5, unit_cost=None, is_hero=False),
    ]
    items = [
        dict(order_id=1, product_id="A", quantity=2, amount=120),
        dict(order_id=2, product_id="A", quantity=1, amount=10),
        dict(order_id=2, product_id="B", quantity=1, amount=5),
        dict(order_id=4, product_id="A", quantity=1, amount=40),
    ]
    events = [
        dict(user_id=1, ts="2026-10-02 08:00:00", event="visit", event_channel="app"),
        dict(user_id=1, ts="2026-10-02 09:00:00", event="browse", event_channel="app"),  # same day
        dict(user_id=1, ts="2026-10-05 20:00:00", event="visit", event_channel="app"),  # an order day
        dict(user_id=3, ts="2026-10-04 12:00:00", event="visit", event_channel="app"),  # never ordered
    ]
    wh = make_warehouse(
        {"users": users, "orders": orders, "products": products, "order_items": items, "events": events}
    )
    con = duckdb.connect(str(wh), read_only=True)
    rows = con.execute(
        "select user_id, activity_date, n_orders, paid_gmv::double, known_margin::double, gmv_assumed::double, "
        "prev_order_date, next_order_date, has_event, prev_event_date, next_event_date "
        "from fct_user_days order by user_id, activity_date"
    ).fetchall()
    con.close()
    d = date
    assert rows == [
        # u1 10-02: the two events only (no order columns, 0 GMV); next event day 10-05
        (1, d(2026, 10, 2), 0, 0.0, None, 0.0, None, None, True, None, d(2026, 10, 5)),
        # u1 10-03: orders 1 + 2: paid 100 + 15 = 115; known margin 40 (order 1); without a cost 15
        (1, d(2026, 10, 3), 2, 115.0, 40.0, 15.0, None, d(2026, 10, 5), False, None, None),
        # u1 10-05: order 3 (9, no cost: margin null, 9 assumed) and an event; previous order day 10-03
        (1, d(2026, 10, 5), 1, 9.0, None, 9.0, d(2026, 10, 3), None, True, d(2026, 10, 2), None),
        # u2 10-04: order 4 at 23:50: paid 35, margin 35 - 30 = 5; next order day 10-05
        (2, d(2026, 10, 4), 1, 35.0, 5.0, 0.0, None, d(2026, 10, 5), False, None, None),
        # u2 10-05: order 5 at 00:10 is the next calendar day: 12 without a cost
        (2, d(2026, 10, 5), 1, 12.0, None, 12.0, d(2026, 10, 4), None, False, None, None),
        # u3 10-04: an event, never an order
        (3, d(2026, 10, 4), 0, 0.0, None, 0.0, None, None, True, None, None),
    ]
