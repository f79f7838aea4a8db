"""Each data shape has the property it claims (so the shape matrix tests what it says)."""

from __future__ import annotations

import duckdb
import pytest

from userops.shapes import build_shape


def _sql(data, text):
    con = duckdb.connect()
    for f in data.glob("*.parquet"):
        con.execute(f"create view {f.stem} as select * from read_parquet('{f}')")
    try:
        return con.execute(text).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def shape(shapes_demo, tmp_path_factory):
    root = tmp_path_factory.mktemp("shape-props")
    return lambda name: build_shape(name, shapes_demo, root / name)


def test_online_only_has_no_store_and_no_store_order(shape):
    d = shape("online_only")
    assert not (d / "stores.parquet").exists()
    assert _sql(d, "select count(*) from orders where order_channel = 'store' or store_id is not null") == [
        (0,)
    ]
    assert _sql(d, "select count(*) > 1000 from orders") == [(True,)]
    # no store logs visits: the demo's store footfall (store_visit) is gone, app sessions stay
    assert _sql(d, "select count(*) filter (where event_channel = 'store'), count(*) > 0 from events") == [
        (0, True)
    ]


def test_store_only_has_450_stores_no_events_store_orders_only(shape):
    d = shape("store_only")
    assert not (d / "events.parquet").exists()
    assert _sql(d, "select count(*) from stores") == [(450,)]
    assert _sql(d, "select count(distinct order_channel), min(order_channel) from orders") == [(1, "store")]
    assert _sql(
        d, "select count(*) from order_items where order_id not in (select order_id from orders)"
    ) == [(0,)]


def test_minimal_is_users_and_orders_only(shape):
    d = shape("minimal")
    assert sorted(p.stem for p in d.glob("*.parquet")) == ["orders", "users"]


def test_sparse_shapes(shape):
    d = shape("no_demographics")
    assert _sql(d, "select count(birth_year) + count(gender) + count(city) from users") == [(0,)]
    d = shape("single_channel")
    assert _sql(d, "select list(distinct channel) from users") == [(["unknown"],)]
    assert not (d / "channel_spend.parquet").exists()
    d = shape("sparse_users")
    assert _sql(d, "select count(gender), list(distinct channel) from users") == [(0, ["unknown"])]
    d = shape("odd_campaigns")
    assert _sql(d, "select list(distinct kind) from coupons") == [(["other"],)]
    assert _sql(d, "select count(*) from campaign_members where arm = 'holdout'") == [(0,)]
    # every campaign has a twin of the same kind, channel and start
    assert _sql(
        d,
        "select count(*) from (select kind, channel, started_at from campaigns group by all having count(*) < 2)",
    ) == [(0,)]
    assert "list_max_recency_days: 1" in (d / "params.yaml").read_text()
    assert "at_risk_p: 0.0001" in (d / "params.yaml").read_text()


def test_first_month_holds_one_calendar_month(shape):
    d = shape("first_month")
    assert _sql(d, "select count(distinct date_trunc('month', ordered_at)) from orders") == [(1,)]
    assert _sql(
        d, "select max(registered_at) < (select min(ordered_at) from orders) + interval 31 day from users"
    ) == [(True,)]


def test_panel_registration_is_first_purchase(shape):
    d = shape("panel")
    assert _sql(
        d,
        "select count(*) from users u join (select user_id, min(ordered_at) m from orders group by 1) o "
        "using (user_id) where u.registered_at <> o.m",
    ) == [(0,)]
    assert _sql(d, "select count(*) from users where user_id not in (select user_id from orders)") == [(0,)]


def test_tiny_has_50_users_and_their_rows_only(shape):
    d = shape("tiny")
    assert _sql(d, "select count(*) from users") == [(50,)]
    assert _sql(d, "select count(*) from orders where user_id not in (select user_id from users)") == [(0,)]


def test_text_ids_are_text(shape):
    d = shape("text_ids")
    row = _sql(d, "select min(user_id), typeof(min(order_id)) from orders")[0]
    assert row[0].startswith("u_") and row[1] == "VARCHAR"
