"""The loader on the shapes real exports have: text ids, absent columns, the chain's own vocabulary,
old history, several coupons per order, row-level problems set aside, a column mapping."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from userops.cli import main
from userops.load import ContractError, LoadOptions, check_data, check_dir, load_dir
from userops.mapping import MappingError, load_mapping
from userops.outputs import Report
from userops.params import Params
from userops.testing import order_row, write_tables


def csv(d, name, rows):
    """Write rows as <name>.csv with exactly the given columns (absent columns stay absent)."""
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(d / f"{name}.csv", index=False)
    return d


def params(**data):
    return Params.model_validate({"data": data})


def rows(con, sql):
    return con.execute(sql).fetchall()


# Text ids: users u_b, u_a, u_c; orders o-x (u_b), o-y (u_a), o-z (u_a); coupons cp1 (u_a).
TEXT_USERS = [
    dict(user_id="u_b", registered_at="2026-10-01 09:00:00", channel="app"),
    dict(user_id="u_a", registered_at="2026-10-01 09:30:00", channel="app"),
    dict(user_id="u_c", registered_at="2026-10-02 09:00:00", channel="app"),
]
TEXT_ORDERS = [
    order_row("o-x", "u_b", "2026-10-01 10:00:00"),
    order_row("o-y", "u_a", "2026-10-02 10:00:00", coupon_id="cp1", discount=3),
    order_row("o-z", "u_a", "2026-10-05 10:00:00"),
]
TEXT_COUPONS = [
    dict(
        coupon_id="cp1",
        user_id="u_a",
        kind="new_user_small",
        issued_at="2026-10-01 09:30:00",
        expires_at="2026-10-08 00:00:00",
        face_value=3,
        min_spend=15,
    )
]


def test_text_ids_end_to_end_target_list_has_original_ids(tmp_path):
    d = write_tables(tmp_path / "in", {"users": TEXT_USERS, "orders": TEXT_ORDERS, "coupons": TEXT_COUPONS})
    wh = tmp_path / "wh.duckdb"
    load_dir(d, wh)
    con = duckdb.connect(str(wh), read_only=True)
    # Surrogates are the dense rank of the text: u_a 1, u_b 2, u_c 3; o-x 1, o-y 2, o-z 3.
    assert rows(con, "select user_id, source_id from map_user_id") == [(1, "u_a"), (2, "u_b"), (3, "u_c")]
    assert rows(con, "select id_name, mode from _id_maps order by 1") == [
        ("campaign_id", "integer"),  # no campaign ids at all: nothing to map
        ("coupon_id", "text"),
        ("order_id", "text"),
        ("user_id", "text"),
    ]
    assert rows(con, "select order_id, user_id, coupon_id from orders") == [
        (1, 2, None),
        (2, 1, 1),
        (3, 1, None),
    ]
    # u_a: o-y and o-z -> 2 orders; u_b: o-x -> 1; u_c: none.
    df = con.execute("select user_id, n_orders, first_order_id from dim_users where n_orders > 0").df()
    assert rows(con, "select redeemed_order_id from fct_coupons") == [(2,)]  # o-y
    rep = Report("t", "2026-10", output_dir=tmp_path / "out", con=con)
    rep.write_target("buyers", df.rename(columns={"first_order_id": "order_id"}), ["user_id"])
    out = pd.read_csv(tmp_path / "out" / "targets" / "buyers.csv")
    assert out.to_dict("records") == [
        {"user_id": "u_a", "n_orders": 2, "order_id": "o-y"},
        {"user_id": "u_b", "n_orders": 1, "order_id": "o-x"},
    ]


def test_foreign_keys_are_checked_and_shown_on_the_original_ids(tmp_path):
    orders = TEXT_ORDERS + [order_row("o-w", "u_zz", "2026-10-05 11:00:00")]
    ps = check_dir(write_tables(tmp_path / "in", {"users": TEXT_USERS, "orders": orders}))
    assert [str(p).split(": ", 1)[1] for p in ps] == [
        "column 'user_id': references users.user_id: 1 row; first: line 5 (order_id=o-w, user_id=u_zz)"
    ]


def test_integer_ids_keep_their_values_and_target_lists_are_unchanged(tmp_path):
    users = [dict(user_id=u, registered_at="2026-10-01 09:00:00", channel="app") for u in (7, 30)]
    # coupon_id holds NULLs, so pandas writes 5.0: still the integer id 5.
    orders = [
        order_row(100, 30, "2026-10-01 10:00:00", coupon_id=5.0),
        order_row(101, 7, "2026-10-02 10:00:00"),
    ]
    coupons = [dict(TEXT_COUPONS[0], coupon_id=5, user_id=30)]
    wh = tmp_path / "wh.duckdb"
    load_dir(write_tables(tmp_path / "in", {"users": users, "orders": orders, "coupons": coupons}), wh)
    con = duckdb.connect(str(wh), read_only=True)
    assert rows(con, "select order_id, user_id, coupon_id from orders") == [(100, 30, 5), (101, 7, None)]
    assert rows(con, "select mode from _id_maps where id_name = 'user_id'") == [("integer",)]
    rep = Report("t", "2026-10", output_dir=tmp_path / "out", con=con)
    rep.write_target("u", pd.DataFrame({"user_id": [30, 7]}), ["user_id"])
    assert (tmp_path / "out" / "targets" / "u.csv").read_text() == "user_id\n7\n30\n"


def test_unparseable_key_is_one_type_error_not_duplicate_null_keys(tmp_path):
    users = TEXT_USERS + [
        dict(user_id=1.7, registered_at="2026-10-01 09:00:00", channel="app"),  # line 5
        dict(user_id=2.5, registered_at="2026-10-01 09:00:00", channel="app"),  # line 6
    ]
    ps = check_dir(write_tables(tmp_path / "in", {"users": users, "orders": TEXT_ORDERS}))
    assert [(p.column, p.rule, p.n_rows) for p in ps] == [
        ("user_id", "type id: whole (integer or text, not a fraction)", 2)
    ]
    assert ps[0].examples == ("line 5 (user_id=1.7)", "line 6 (user_id=2.5)")


def test_absent_optional_columns_take_their_defaults(tmp_path):
    d = tmp_path / "in"
    write_tables(d, {"users": TEXT_USERS})
    csv(
        d,
        "orders",
        [{k: v for k, v in o.items() if k not in ("discount", "store_id", "coupon_id")} for o in TEXT_ORDERS],
    )
    csv(d, "campaigns", [dict(campaign_id="spring", kind="recall", channel="email", started_at="2026-10-01 08:00:00",
                              ended_at="2026-10-03 00:00:00", cost_per_touch=0.1)])  # fmt: skip
    csv(d, "campaign_members", [dict(campaign_id="spring", user_id="u_a", arm="holdout")])
    # Products without name, price, is_hero. Units: P1 10 (paid 1.00 each), P2 3 (3.00), P3 20 (50.00).
    csv(d, "products", [dict(product_id=p, category="grocery") for p in ("P1", "P2", "P3")])
    csv(d, "order_items", [
        dict(order_id="o-x", product_id="P1", quantity=10, amount=10),
        dict(order_id="o-x", product_id="P3", quantity=20, amount=1000),
        dict(order_id="o-y", product_id="P2", quantity=3, amount=9),
    ])  # fmt: skip
    wh = tmp_path / "wh.duckdb"
    # Hero: price <= 5 (P1 1.00, P2 3.00; P3 50.00 too dear), top 1 by units -> P1 (10 > 3).
    load_dir(d, wh, LoadOptions(params=params(hero_price_max=5, hero_top_n=1)))
    con = duckdb.connect(str(wh), read_only=True)
    assert rows(con, "select distinct discount from orders") == [(0,)]
    assert rows(con, "select name from campaigns") == [("spring",)]
    assert rows(con, "select assigned_at::varchar from campaign_members") == [("2026-10-01 08:00:00",)]
    assert rows(con, "select product_id, name, price, is_hero from products") == [
        ("P1", "P1", None, True),
        ("P2", "P2", None, False),
        ("P3", "P3", None, False),
    ]


def test_history_before_2000_loads_when_params_allow_it(tmp_path):
    users = [dict(user_id=1, registered_at="1998-03-01 09:00:00", channel="mail_order")]
    orders = [order_row(1, 1, "1998-03-02 10:00:00"), order_row(2, 1, "2001-01-05 10:00:00")]
    d = write_tables(tmp_path / "in", {"users": users, "orders": orders})
    ps = check_dir(d)
    assert [(p.column, p.n_rows) for p in ps] == [("registered_at", 1), ("ordered_at", 1)]
    assert ps[0].rule == "timestamp between 2000-01-01 and 2100-01-01 (params data.timestamp_min)"
    report = load_dir(d, tmp_path / "wh.duckdb", LoadOptions(params=params(timestamp_min="1990-01-01")))
    assert report.rows["orders"] == 2


def test_own_vocabularies_are_notices_not_errors(tmp_path, capsys):
    users = [dict(user_id=1, registered_at="2026-10-01 09:00:00", channel="newsletter")]
    orders = [
        order_row(1, 1, "2026-10-01 10:00:00", order_channel="web", store_id=None),
        order_row(2, 1, "2026-10-02 10:00:00", order_channel="ios", store_id=None),
    ]
    coupons = [dict(TEXT_COUPONS[0], coupon_id=1, user_id=1, kind="welcome10")]
    d = write_tables(tmp_path / "in", {"users": users, "orders": orders, "coupons": coupons})
    v = check_data(d)
    assert v.errors == []
    assert [str(n) for n in v.notices] == [
        "orders.order_channel: values ios, web are counted as online (not in data.offline_order_channels: store)",
        "orders.order_channel: no order is in an offline channel (data.offline_order_channels: store): "
        "every order counts as online",
        "coupons.kind: no kind is a new-user pack kind "
        "(data.new_user_coupon_kinds: new_user_small, new_user_aov, new_user_large, new_user_mid)",
        "coupons.kind: no kind is a repurchase coupon kind (data.repurchase_coupon_kinds: repurchase)",
        "coupons.kind: no kind is a recall coupon kind (data.recall_coupon_kinds: recall)",
    ]
    assert main(["check", str(d), "--params", str(tmp_path / "none.yaml")]) == 2  # a named file must exist
    assert main(["check", str(d)]) == 0
    out = capsys.readouterr().out
    assert "5 notice(s)" in out and "values ios, web are counted as online" in out
    wh = tmp_path / "wh.duckdb"
    load_dir(d, wh)
    con = duckdb.connect(str(wh), read_only=True)
    assert rows(con, "select count(*) from _load_notices where table_name = 'coupons'") == [(3,)]


def test_order_coupons_redeem_several_coupons_per_order(tmp_path):
    users = [dict(user_id=1, registered_at="2026-10-01 09:00:00", channel="app")]
    orders = [
        order_row(10, 1, "2026-10-02 10:00:00"),  # redeems coupons 1 and 2 (order_coupons)
        order_row(11, 1, "2026-10-03 10:00:00", coupon_id=3),  # coupon 3, listed in both places
        order_row(12, 1, "2026-10-04 10:00:00", coupon_id=1),  # coupon 1 again: later, not its redemption
    ]
    coupon = dict(TEXT_COUPONS[0], user_id=1, expires_at="2027-06-30 00:00:00")  # expiry may be in the future
    coupons = [dict(coupon, coupon_id=c) for c in (1, 2, 3, 4)]
    links = [dict(order_id=10, coupon_id=1), dict(order_id=10, coupon_id=2), dict(order_id=11, coupon_id=3)]
    wh = tmp_path / "wh.duckdb"
    tables = {"users": users, "orders": orders, "coupons": coupons, "order_coupons": links}
    load_dir(write_tables(tmp_path / "in", tables), wh)
    con = duckdb.connect(str(wh), read_only=True)
    assert rows(con, "select coupon_id, redeemed_order_id, is_redeemed from fct_coupons") == [
        (1, 10, True),
        (2, 10, True),
        (3, 11, True),
        (4, None, False),
    ]


def quarantine_input(tmp_path):
    users = [dict(user_id=1, registered_at="2026-10-01 09:00:00", channel="app")]
    orders = [order_row(10, 1, "2026-10-02 10:00:00"), order_row(11, 1, "2026-10-05 10:00:00")]
    products = [dict(product_id="P1", name="milk", category="fresh", price=5, is_hero=True)]
    items = [
        dict(order_id=10, product_id="P1", quantity=2, amount=10),  # line 2: fine
        dict(order_id=10, product_id="P9", quantity=1, amount=4),  # line 3: unknown product
        dict(order_id=11, product_id="P1", quantity=0, amount=0),  # line 4: zero quantity
    ]
    events = [
        dict(user_id=1, ts="2026-10-02 09:00:00", event="visit"),  # line 2: fine
        dict(user_id=2, ts="2026-10-02 09:00:00", event="visit"),  # line 3: unknown user
        dict(user_id=1, ts="2026-10-06 00:00:01", event="visit"),  # line 4: after the last order day
    ]
    tables = {"users": users, "orders": orders, "products": products, "order_items": items, "events": events}
    return write_tables(tmp_path / "in", tables)


def test_quarantine_sets_row_level_problems_aside_and_loads_the_rest(tmp_path, capsys):
    d, wh = quarantine_input(tmp_path), tmp_path / "wh.duckdb"
    with pytest.raises(ContractError) as err:
        load_dir(d, wh)
    assert sorted((p.table, p.column, p.n_rows) for p in err.value.problems) == [
        ("events", "ts", 1),
        ("events", "user_id", 1),
        ("order_items", "product_id", 1),
        ("order_items", "quantity", 1),
    ]
    assert all(p.quarantinable for p in err.value.problems) and not wh.exists()
    assert main(["load", str(d), "--warehouse", str(wh), "--quarantine"]) == 0
    assert "set aside (--quarantine): order_items 2, events 2 rows" in capsys.readouterr().out
    con = duckdb.connect(str(wh), read_only=True)
    assert rows(con, "select order_id, product_id, quantity from order_items") == [(10, "P1", 2)]
    assert rows(con, "select ts::varchar from events") == [("2026-10-02 09:00:00",)]
    assert rows(con, "select table_name, n_rows, n_rejected from _load_meta where n_rejected > 0") == [
        ("order_items", 1, 2),
        ("events", 1, 2),
    ]
    assert rows(con, "select * from _load_rejects") == [
        ("events", "ts: not after the export's last day (2026-10-05, the last orders.ordered_at)", 1),
        ("events", "user_id: references users.user_id", 1),
        ("order_items", "product_id: references products.product_id", 1),
        ("order_items", "quantity: >= 1", 1),
    ]
    rejects = pd.read_csv(tmp_path / "wh.rejects.csv")
    assert rejects[["table_name", "source_line"]].values.tolist() == [
        ["events", 3],
        ["events", 4],
        ["order_items", 3],
        ["order_items", 4],
    ]
    assert json.loads(rejects.row_json[2]) == {
        "order_id": "10",
        "product_id": "P9",
        "quantity": 1,
        "amount": 4.0,
    }
    assert rejects.source_file[0].endswith("events.csv")


MAPPING = """
users:
  file: customers.csv
  columns: {CustomerID: user_id, SignupDate: registered_at, Source: channel}
orders:
  file: invoices.csv
  columns: {InvoiceNo: order_id, CustomerID: user_id, InvoiceDate: ordered_at, Channel: order_channel, Total: gmv}
  values:
    order_channel: {Web: web, Shop: store}
"""


def test_mapping_renames_columns_and_maps_values(tmp_path):
    d = tmp_path / "in"
    csv(d, "customers", [dict(CustomerID="C1", SignupDate="2026-10-01 09:00:00", Source="search")])
    csv(d, "invoices", [
        dict(InvoiceNo="536365", CustomerID="C1", InvoiceDate="2026-10-01 10:00:00", Channel="Web", Total=15.3),
        dict(InvoiceNo="536366", CustomerID="C1", InvoiceDate="2026-10-03 10:00:00", Channel="Shop", Total=4),
    ])  # fmt: skip
    (tmp_path / "m.yaml").write_text(MAPPING)
    mapping = load_mapping(tmp_path / "m.yaml")
    # Without the mapping there is no users.csv nor orders.csv.
    assert [(p.file.rsplit("/", 1)[1], p.rule) for p in check_dir(d)] == [
        ("users.csv", "required table present (.csv or .parquet)"),
        ("orders.csv", "required table present (.csv or .parquet)"),
    ]
    wh = tmp_path / "wh.duckdb"
    load_dir(d, wh, LoadOptions(mapping=mapping))
    con = duckdb.connect(str(wh), read_only=True)
    assert rows(
        con, "select order_id, user_id, order_channel, gmv::double, discount::double from orders"
    ) == [
        (536365, 1, "web", 15.3, 0.0),
        (536366, 1, "store", 4.0, 0.0),
    ]
    assert rows(con, "select source_id from map_user_id") == [("C1",)]


def test_mapping_errors_name_the_key(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text("orders:\n  columns: {OrderDate: order_date}\n")
    with pytest.raises(
        MappingError, match="orders.columns.OrderDate: 'order_date' is not a column of orders"
    ):
        load_mapping(bad)
    bad.write_text("sales: {}\n")
    with pytest.raises(MappingError, match="'sales' is not a contract table"):
        load_mapping(bad)
    d = csv(tmp_path / "in", "orders", [order_row(1, 1, "2026-10-01 10:00:00")])
    csv(d, "users", [dict(user_id=1, registered_at="2026-10-01 09:00:00", channel="app")])
    bad.write_text("orders:\n  columns: {OrderDate: ordered_at}\n")
    ps = check_dir(d, LoadOptions(mapping=load_mapping(bad)))
    assert [(p.column, p.rule) for p in ps] == [
        ("OrderDate", "column named by the mapping (-> ordered_at) present")
    ]


def test_readme_online_shop_example_loads_with_its_mapping(tmp_path, capsys):
    ex = Path(__file__).resolve().parents[2] / "examples" / "online_shop"
    wh = tmp_path / "wh.duckdb"
    argv = ["--mapping", str(ex / "mapping.yaml"), "--params", str(ex / "params.yaml")]
    assert main(["load", str(ex), "--warehouse", str(wh), *argv]) == 0
    assert "values app, web are counted as online" in capsys.readouterr().out
    con = duckdb.connect(str(wh), read_only=True)
    # C12346 ordered on invoices 536365, 536367, 536371; C12352 only on 536374.
    assert rows(con, "select source_id, n_orders from dim_users join map_user_id using (user_id)") == [
        ("C12346", 3),
        ("C12347", 3),
        ("C12348", 1),
        ("C12349", 1),
        ("C12350", 1),
        ("C12352", 1),
    ]
    assert rows(con, "select order_id, order_channel from orders where order_id in (536365, 536366)") == [
        (536365, "web"),
        (536366, "app"),
    ]
    # Hero: unit price paid <= 3: 85123A (39.00 / 15 units) and 84029G (28.05 / 11); top 1 by units.
    assert rows(con, "select product_id from products where is_hero") == [("85123A",)]
