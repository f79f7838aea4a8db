"""Values named in params against the data's vocabulary (issue 14 item 9): hand-made tables."""

from __future__ import annotations

import duckdb
import pytest

from userops import vocabulary
from userops.params import Params


def _params(**sections) -> Params:
    return Params.model_validate(sections)


@pytest.fixture
def con():
    c = duckdb.connect()
    c.execute("create table users (user_id bigint, channel varchar)")
    c.execute("insert into users values (1, 'wechat_group'), (2, 'store_promoter')")
    c.execute("create table orders (order_id bigint, order_channel varchar)")
    c.execute("insert into orders values (10, 'store'), (11, 'app')")
    c.execute("create table coupons (coupon_id bigint, kind varchar)")
    c.execute("insert into coupons values (100, 'new_user_small'), (101, 'recall')")
    c.execute("create table products (product_id bigint, category varchar)")
    c.execute("insert into products values (1000, 'daily'), (1001, 'mother_baby'), (1002, 'fresh')")
    c.execute("create table events (user_id bigint, event varchar)")
    c.execute("insert into events values (1, 'checkin'), (2, 'visit'), (2, 'store_visit')")
    yield c
    c.close()


def test_defaults_that_match_leave_nothing(con):
    p = _params(
        offline_channels=["store_promoter"],
        data={
            "new_user_coupon_kinds": ["new_user_small"],
            "repurchase_coupon_kinds": [],
            "recall_coupon_kinds": ["recall"],
        },
        activity={"incentive_events": ["checkin"], "reminder_categories": ["milk_powder", "daily"]},
    )
    assert vocabulary.check(con, p) == []
    assert vocabulary.require(con, p) == []


def test_misspelt_category_is_an_error_naming_it(con):
    # products has daily, fresh, mother_baby; 'mother_babyy' is one letter off; milk_powder is the
    # pattern scene (not a category) and never looked up
    p = _params(activity={"reminder_categories": ["milk_powder", "mother_babyy", "daily"]})
    (f,) = [f for f in vocabulary.check(con, p) if f.param == "activity.reminder_categories"]
    assert f.is_error and f.missing == ("mother_babyy",)
    assert f.known == ("daily", "fresh", "mother_baby")
    with pytest.raises(vocabulary.VocabularyError) as err:
        vocabulary.require(con, p)
    text = str(err.value)
    assert "activity.reminder_categories" in text and "'mother_babyy'" in text
    assert "products.category" in text and "daily, fresh, mother_baby" in text


def test_return_event_nobody_fired_is_an_error(con):
    # events hold checkin and visit; 'vist' would give a retention of 0 on every day
    p = _params(retention={"return_event": "vist"})
    with pytest.raises(vocabulary.VocabularyError, match=r"retention.return_event: none of its values"):
        vocabulary.require(con, p)
    assert not [f for f in vocabulary.check(con, _params(retention={"return_event": "any"}))
                if f.param == "retention.return_event"]  # fmt: skip


def test_time_dependent_vocabularies_give_notices(con):
    # coupons hold new_user_small and recall: 'repurchase' not issued yet (1 of 1 absent), and 2 of
    # the 3 new-user kinds absent; users' channels lack 'store_poster_qr'. The run goes on.
    p = _params(
        offline_channels=["store_poster_qr", "store_promoter"],
        data={
            "new_user_coupon_kinds": ["new_user_small", "new_user_mid", "new_user_large"],
            "repurchase_coupon_kinds": ["repurchase"],
        },  # fmt: skip
        activity={"reminder_categories": ["daily"], "incentive_events": ["checkin"]},
    )
    notices = vocabulary.require(con, p)
    assert [n.split(":")[0] for n in notices] == [
        "params data.new_user_coupon_kinds",
        "params data.repurchase_coupon_kinds",
        "params offline_channels",
    ]
    assert "2 of its 3 values in coupons.kind ('new_user_mid', 'new_user_large')" in notices[0]
    assert "none of its values in coupons.kind ('repurchase')" in notices[1]


def test_tables_the_warehouse_lacks_are_skipped(con):
    con.execute("drop table events")
    con.execute("delete from products")  # an empty catalog cannot say a name is wrong either
    p = _params(retention={"return_event": "vist"}, activity={"reminder_categories": ["nothing"]})
    looked_up = {f.table for f in vocabulary.check(con, p)}
    assert looked_up == {"coupons", "users"}  # the default kinds and channels, as notices only
    assert vocabulary.require(con, p)  # no error raised


def test_run_refuses_a_misspelt_category_before_any_notebook(tmp_path, capsys):
    from userops.cli import main
    from userops.load import load_dir
    from userops.testing import write_tables

    from .test_load import ORDERS, USERS

    products = [dict(product_id=1, name="洗衣液", category="daily", price=20.0, is_hero=False)]
    wh = tmp_path / "wh.duckdb"
    load_dir(write_tables(tmp_path / "in", {"users": USERS, "orders": ORDERS, "products": products}), wh)
    bad = tmp_path / "p.yaml"
    bad.write_text("activity:\n  reminder_categories: [milk_powder, dayly]\n")
    out = tmp_path / "o"
    assert main(["run", "--warehouse", str(wh), "--params", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "activity.reminder_categories: none of its values in products.category ('dayly')" in err
    assert "the data has: daily" in err
    assert not out.exists()  # nothing started
