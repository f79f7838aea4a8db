"""The money basis (userops.money and fct_order_margin): hand-computed examples."""

from __future__ import annotations

import duckdb
import pytest

from userops import money
from userops.money import Cac, campaign_cost, gmv_per_yuan, ltv_cac, margin_label, roi
from userops.testing import order_row


def test_coupon_order_counted_once_in_roi():
    # A recall campaign: 100 touches at 0.05 = 5.00 cost. One extra order of list value 40
    # paid with a 10-off coupon: paid GMV 30 (the coupon is inside it), cost of goods 18,
    # incremental gross margin 30 - 18 = 12. ROI = (12 - 5) / 5 = 1.4. Counting the coupon's
    # face value again as a cost would give (12 - 15) / 15 = -0.2: wrong.
    cost = campaign_cost(100, 0.05)
    assert cost == pytest.approx(5.0)
    assert roi(30 - 18, cost) == pytest.approx(1.4)
    assert gmv_per_yuan(30, cost) == pytest.approx(6.0)


def test_roi_undefined_without_cost_or_margin():
    assert roi(12.0, 0.0) is None and roi(None, 5.0) is None and roi(float("nan"), 5.0) is None
    assert campaign_cost(10, None) is None
    with pytest.raises(ValueError):
        campaign_cost(10, -0.05)
    assert campaign_cost(10, 0.05, fixed_cost=200) == pytest.approx(200.5)


def test_one_verdict_rule_for_every_campaign():
    v = money.verdict
    # a clear lift, ROI 1.5 with interval 0.2 to 2.8: it pays back -> keep
    assert v(True, 1.5, (0.2, 2.8)) == money.KEEP
    # the same lift, interval -0.3 to 2.8: a loss is still possible -> keep it only against a holdout
    assert v(True, 1.5, (-0.3, 2.8)) == money.MEASURE
    # the interval lies wholly below 0 (-0.9 to -0.1): it loses money, clear lift or not -> rethink
    assert v(True, -0.5, (-0.9, -0.1)) == v(False, -0.5, (-0.9, -0.1)) == money.RETHINK
    # no clear lift and no sure loss -> test further
    assert v(False, 1.5, (0.2, 2.8)) == v(False, None, (None, None)) == money.TEST
    # a clear lift that cost nothing (no ROI): keep; whose cost per touch is unknown: measure
    assert v(True, None, (None, None)) == money.KEEP
    assert v(True, None, (None, None), cost_known=False) == money.MEASURE
    # an ROI without an interval (too few users to resample), or NaN ends: not shown to pay back
    assert v(True, 1.5, (None, None)) == v(True, 1.5, (float("nan"), 2.0)) == money.MEASURE
    assert v(True, float("nan"), (float("nan"), float("nan"))) == money.KEEP  # NaN ROI = no cost


def test_cac_parts_and_margin_ltv_over_cac():
    # spend 1,000 + commissions 5 x 10 + coupons redeemed 120 = 1,170 over 45 new customers = 26
    c = Cac(spend=1000, commissions=50, coupons_redeemed=120, new_customers=45)
    assert c.total_cost == 1170 and c.value == pytest.approx(26.0)
    assert ltv_cac(52.0, c) == pytest.approx(2.0)
    assert Cac(0, 0, 0, 0).value is None and ltv_cac(52.0, Cac(0, 0, 0, 0)) is None
    assert "assumed 25%" in margin_label(0.25) and margin_label(None).startswith("gross margin")


def test_fct_order_margin_with_and_without_unit_cost(make_warehouse):
    # order 1: paid 100 (discount 20) for 2 x A (cost 30) -> cogs 60, margin 40
    # order 2: paid 15 for 1 x A + 1 x B (B has no unit_cost) -> cost unknown, margin null
    # order 3: no lines -> cost unknown
    users = [dict(user_id=1, registered_at="2026-01-01 09:00:00", channel="app")]
    orders = [
        order_row(1, 1, "2026-10-03 10:00:00", gmv=100, discount=20),
        order_row(2, 1, "2026-10-04 10:00:00", gmv=15),
        order_row(3, 1, "2026-10-05 10:00:00", gmv=9),
    ]
    products = [
        dict(product_id="A", name="a", category="fresh", price=60, unit_cost=30, is_hero=False),
        dict(product_id="B", name="b", category="fresh", price=5, unit_cost=None, is_hero=False),
    ]
    items = [
        dict(order_id=1, product_id="A", quantity=2, amount=120),
        dict(order_id=2, product_id="A", quantity=1, amount=10),
        dict(order_id=2, product_id="B", quantity=1, amount=5),
    ]
    wh = make_warehouse({"users": users, "orders": orders, "products": products, "order_items": items})
    con = duckdb.connect(str(wh), read_only=True)
    rows = con.execute(
        "select order_id, paid_gmv, cost_known, cogs, gross_margin from fct_order_margin order by order_id"
    ).fetchall()
    con.close()
    assert [(r[0], float(r[1]), r[2]) for r in rows] == [(1, 100.0, True), (2, 15.0, False), (3, 9.0, False)]
    assert float(rows[0][3]) == 60.0 and float(rows[0][4]) == 40.0
    assert rows[1][3] is None and rows[1][4] is None and rows[2][4] is None
