"""Play 3 metrics on hand-computed fixtures. Report month 2026-10 (31 days), as of 2026-10-31.

Main fixture (users; orders as user: time channel gmv):
    u1 app     上海   09-20 10:00 store 200 | 10-01 10:00 store 50 | 10-01 18:00 app 30 | 10-05 10:00 app 40
    u2 paid_ads 杭州  08-10 09:00 app 1500 | 10-03 09:00 app 600
    u3 app     (no city), registered 10-10: 10-20 12:00 store 20 | 10-28 12:00 store 20
    u4 app     registered 01-01, never ordered
    u5 app     07-15 10:00 app 2000 (nothing after)
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from userops import activity as a
from userops import i18n
from userops import narrative as nv
from userops.db import connect
from userops.params import ActivityParams, DataParams
from userops.period import Period
from userops.testing import one_row, order_row

P = Period("2026-10")
AP = ActivityParams()
DP = DataParams()


def _user(uid, channel="app", city="上海", reg="2026-01-01 09:00:00"):
    return dict(user_id=uid, registered_at=reg, channel=channel, city=city)


USERS = [
    _user(1),
    _user(2, "paid_ads", "杭州"),
    _user(3, city=None, reg="2026-10-10 09:00:00"),
    _user(4),
    _user(5),
]
ORDERS = [
    order_row(1, 1, "2026-09-20 10:00:00", gmv=200, order_channel="store"),
    order_row(2, 1, "2026-10-01 10:00:00", gmv=50, order_channel="store"),
    order_row(3, 1, "2026-10-01 18:00:00", gmv=30),
    order_row(4, 1, "2026-10-05 10:00:00", gmv=40),
    order_row(5, 2, "2026-08-10 09:00:00", gmv=1500),
    order_row(6, 2, "2026-10-03 09:00:00", gmv=600),
    order_row(7, 3, "2026-10-20 12:00:00", gmv=20, order_channel="store"),
    order_row(8, 3, "2026-10-28 12:00:00", gmv=20, order_channel="store"),
    order_row(9, 5, "2026-07-15 10:00:00", gmv=2000),
]


@pytest.fixture(autouse=True)
def _english():
    """The reasons below are pinned in English (the catalog test keeps zh in step; conftest restores zh)."""
    i18n.set_language("en")


@pytest.fixture
def con(make_warehouse):
    c = connect(make_warehouse({"users": USERS, "orders": ORDERS}))
    yield c
    c.close()


def test_dau_wau_mau_and_stickiness(con):
    tr = a.activity_trend(con, P, AP)
    assert len(tr) == 2 * AP.trend_months  # May..Oct x (orders, events), quiet months zero-filled
    o = one_row(tr, month=pd.Timestamp(2026, 10, 1), definition="orders")
    assert o.mau == 3  # u1 u2 u3
    # order days: u1 10-01, 10-05; u2 10-03; u3 10-20, 10-28 -> 5 user-days over 31 days
    assert o.avg_dau == pytest.approx(5 / 31)
    # 7-day windows ending in October that contain an order: u1 10-01..10-11 (11 days),
    # u2 10-03..10-09 (7), u3 10-20..10-26 + 10-28..10-31 (11); u1's 09-20 reaches only 09-26
    assert o.avg_wau == pytest.approx(29 / 31)
    assert o.dau_mau == pytest.approx(5 / 31 / 3)
    assert o.wau_mau == pytest.approx(29 / 31 / 3)
    assert one_row(tr, month=pd.Timestamp(2026, 8, 1), definition="orders").mau == 1  # u2 08-10
    assert one_row(tr, month=pd.Timestamp(2026, 10, 1), definition="events").mau == 0  # no events table


def test_active_days_distribution(con):
    d = a.active_days(con, P)
    o = d[d.definition == "orders"].set_index("active_days").users
    assert len(o) == 31  # zero-filled 1..31
    assert o[1] == 1  # u2
    assert o[2] == 2  # u1 (10-01 twice counts once, 10-05), u3
    assert o.sum() == 3
    b = a.bucket_days(d).query("definition == 'orders'").set_index("bucket").users
    assert b["2"] == 2 and b["3-4"] == 0


def test_activity_by_segment(con):
    s = a.activity_segments(con, P, DP)
    allr = one_row(s, dimension="all")
    assert allr.registered == 5 and allr.mau == 3
    app = one_row(s, dimension="acquisition_channel", segment="app")
    assert app.registered == 4  # u1 u3 u4 u5
    assert app.mau == 2  # u1 u3
    assert app.dau_mau == pytest.approx(4 / (31 * 2))  # 2 + 2 active days
    assert one_row(s, dimension="city", segment="unknown").mau == 1  # u3 has no city
    assert one_row(s, dimension="online_offline", segment="both").mau == 1  # u1: store and app
    assert one_row(s, dimension="online_offline", segment="offline").mau == 1  # u3: store only
    assert pd.isna(one_row(s, dimension="online_offline", segment="online").registered)


def test_repurchase_within_30_days(con):
    r = a.repurchase(con, P, AP, DP)
    sep = one_row(r, month=pd.Timestamp(2026, 9, 1), dimension="all")
    assert (sep.buyers, sep.eligible, sep.repurchased) == (1, 1, 1)  # u1 09-20 -> 10-01 (11 days)
    assert sep.is_mature
    octo = one_row(r, month=pd.Timestamp(2026, 10, 1), dimension="all")
    assert octo.buyers == 3
    assert octo.eligible == 1  # only u1 (10-01 10:00 + 30 d < 11-01); u2 10-03, u3 10-20 are not
    assert octo.repurchased == 1  # u1 again on 10-01 18:00 (same day counts)
    assert not octo.is_mature
    assert a.latest_mature_month(r) == pd.Timestamp("2026-09-01")
    assert (
        one_row(r, month=pd.Timestamp(2026, 10, 1), dimension="online_offline", segment="offline").buyers == 2
    )  # u1, u3 anchors
    assert (
        one_row(r, month=pd.Timestamp(2026, 7, 1), dimension="all").buyers == 1
    )  # u5; zero-filled months exist


def test_order_frequency_and_gaps(con):
    f = a.order_frequency(con, P, AP, DP)
    fa = f[f.dimension == "all"].set_index("orders")
    assert fa.users.to_dict() == {"1": 1, "2": 1, "3": 1}  # u2 1, u3 2, u1 3
    g = one_row(a.order_gaps(con, P, DP), dimension="all")
    # gaps of October orders with a previous order: u1 11 (09-20..10-01), 0 (same day), 4;
    # u2 54 (08-10..10-03); u3 8 (10-20..10-28)
    assert g.repeat_orders == 5
    assert g.mean_days == pytest.approx(77 / 5)
    assert g.median_days == 8


def test_tier_transitions_and_core_kept(con):
    tr = a.tier_transitions(con, P, AP)
    assert tr.users.sum() == 5
    moves = {(r.start_name, r.end_name): r.users for r in tr.itertuples() if r.users}
    # start = spend in [07-03, 10-01), end = spend in [08-03, 11-01); potential 100, important 500, core 1500
    assert moves == {
        ("potential", "potential"): 1,  # u1: 200 -> 320
        ("core", "core"): 1,  # u2: 1500 (threshold inclusive) -> 2100
        ("new", "ordinary"): 1,  # u3 registered 10-10: 40
        ("none", "none"): 1,  # u4
        ("core", "none"): 1,  # u5: 2000 on 07-15 drops out of the end window
    }
    k = a.tiers_kept(tr, AP)
    assert (k.start, k.kept, k.end) == (2, 1, 1)  # u2 u5 -> u2
    assert k.kept_share == pytest.approx(0.5)
    assert (k.upgraded, k.downgraded) == (0, 1)  # u5 down; u3 is new, not counted


# ------------------------------------------------------------------ repurchase coupons + reminder
# Repurchase coupons (14 days) and the October reminder campaign (members assigned 7 days after issue):
#   c1 u1 issued 10-01 10:00, member 10-08 treatment; redeemed by o1 10-10 -> converted
#   c2 u2 issued 10-01 10:00, member 10-08 treatment; redeemed by o2 10-03 (before the notice) -> not
#   c3 u3 issued 10-02 10:00, member 10-09 holdout; o3 10-17 uses it after its 10-16 expiry -> not
#   c4 u4 issued 10-02 10:00, member 10-09 holdout; o4 10-20 without coupon -> not


def _coupon(cid, uid, issued, expires):
    return dict(
        coupon_id=cid,
        user_id=uid,
        kind="repurchase",
        issued_at=issued,
        expires_at=expires,
        face_value=5,
        min_spend=39,
    )


def _member(uid, arm, assigned):
    return dict(
        campaign_id=1,
        user_id=uid,
        arm=arm,
        assigned_at=assigned,
        touched_at=assigned if arm == "treatment" else None,
    )


def _coupon_tables():
    return {
        "users": [_user(u) for u in (1, 2, 3, 4)],
        "orders": [
            order_row(1, 1, "2026-10-10 12:00:00", coupon_id=1, gmv=40),
            order_row(2, 2, "2026-10-03 12:00:00", coupon_id=2, gmv=40),
            order_row(3, 3, "2026-10-17 12:00:00", coupon_id=3, gmv=40),
            order_row(4, 4, "2026-10-20 12:00:00", gmv=40),
        ],
        "coupons": [
            _coupon(1, 1, "2026-10-01 10:00:00", "2026-10-15 10:00:00"),
            _coupon(2, 2, "2026-10-01 10:00:00", "2026-10-15 10:00:00"),
            _coupon(3, 3, "2026-10-02 10:00:00", "2026-10-16 10:00:00"),
            _coupon(4, 4, "2026-10-02 10:00:00", "2026-10-16 10:00:00"),
        ],
        "campaigns": [
            dict(
                campaign_id=1,
                name="2026-10 复购券未使用提醒",
                kind="repurchase_reminder",
                channel="wechat_notice",
                started_at="2026-10-01 00:00:00",
                ended_at="2026-10-31 00:00:00",
                cost_per_touch=0.01,
            )
        ],
        "campaign_members": [
            _member(1, "treatment", "2026-10-08 10:00:00"),
            _member(2, "treatment", "2026-10-08 10:00:00"),
            _member(3, "holdout", "2026-10-09 10:00:00"),
            _member(4, "holdout", "2026-10-09 10:00:00"),
        ],
    }


@pytest.fixture
def coupon_con(make_warehouse):
    c = connect(make_warehouse(_coupon_tables()))
    yield c
    c.close()


def test_reminder_effect_needs_a_campaign_with_both_arms(make_warehouse):
    # the same members, but the holdout (u3, u4) belongs to a second campaign: no campaign has both
    # arms, so treatment vs holdout would compare two campaigns, not a randomised split
    t = _coupon_tables()
    t["campaigns"].append(t["campaigns"][0] | dict(campaign_id=2, name="2026-10 复购券未使用提醒 B"))
    t["campaign_members"] = [
        m | dict(campaign_id=1 if m["arm"] == "treatment" else 2) for m in t["campaign_members"]
    ]
    con = connect(make_warehouse(t))
    assert a.reminder_effect(con, P.start, P.end, P, AP, DP) is None
    con.close()


def test_repurchase_coupons_redeemed_within_7_days(coupon_con):
    cp = a.repurchase_coupons(coupon_con, P, AP, DP).set_index("month").loc[pd.Timestamp(2026, 10, 1)]
    assert cp.issued == 4 and cp.eligible_days == 4  # all issued by 10-24
    assert cp.redeemed_within_days == 1  # c2 after 2 days; c1 after 9 days is too late
    assert cp.closed == 4  # all expired by 10-31
    assert cp.redeemed_in_validity == 2  # c1, c2; c3 was used after expiry
    assert cp.rate_within_days == pytest.approx(0.25)


def test_repurchase_reminder_effect(coupon_con):
    eff = a.reminder_effect(coupon_con, P.start, P.end, P, AP, DP)
    e = eff.effect
    assert (e.n_treatment, e.n_holdout) == (2, 2)
    assert e.rate_treatment == pytest.approx(0.5)  # u1 of u1 u2
    assert e.rate_holdout == 0.0  # u3 redeemed after expiry, u4 not at all
    assert e.diff == pytest.approx(0.5)
    assert e.ci_low < 0.5 < e.ci_high
    assert eff.incremental_redemptions == pytest.approx(1.0)  # 0.5 x 2 treated
    # window orders: u1 1 (10-10), u2 0 (10-03 before the notice) vs u3 0 (10-17 after 10-16), u4 0
    assert eff.incremental_orders == pytest.approx(1.0)
    assert eff.cost_yuan == pytest.approx(0.02)  # 2 treated x 0.01
    assert len(eff.campaigns) == 1


# ------------------------------------------------------------------ points (FIFO)
# u1: +100 checkin 01-10, +50 order 02-10, -120 redeem 03-01, +30 browse_40s 10-05
# u2: +200 task 02-01, -50 expire 09-01, -100 redeem 10-10
# FIFO: u1's redeem takes Jan 100 (lag 50 d) + Feb 20 (lag 19 d); u2's expiry takes Feb 50, the
# redeem Feb 100 (lag 251 d). Outstanding: u1 Feb 30 + Oct 30, u2 Feb 50 -> 110.
LEDGER = [
    dict(user_id=1, ts="2026-01-10 10:00:00", points=100, reason="checkin"),
    dict(user_id=1, ts="2026-02-10 10:00:00", points=50, reason="order"),
    dict(user_id=1, ts="2026-03-01 10:00:00", points=-120, reason="redeem"),
    dict(user_id=1, ts="2026-10-05 10:00:00", points=30, reason="browse_40s"),
    dict(user_id=2, ts="2026-02-01 10:00:00", points=200, reason="task"),
    dict(user_id=2, ts="2026-09-01 00:00:00", points=-50, reason="expire"),
    dict(user_id=2, ts="2026-10-10 10:00:00", points=-100, reason="redeem"),
]


@pytest.fixture
def points_con(make_warehouse):
    tables = {
        "users": [_user(1), _user(2)],
        # The export's last order day (10-31) bounds the ledger: later movements are refused.
        "orders": [order_row(1, 1, "2026-10-31 10:00:00")],
        "points_ledger": LEDGER,
    }
    c = connect(make_warehouse(tables))
    yield c
    c.close()


def test_points_monthly_balance(points_con):
    pm = a.points_monthly(points_con, P, AP).set_index("month")
    assert pm.loc[pd.Timestamp(2026, 5, 1)].closing_balance == 230  # 100 + 50 - 120 + 200 before May
    assert pm.loc[pd.Timestamp(2026, 9, 1)].expired == 50
    assert pm.loc[pd.Timestamp(2026, 9, 1)].closing_balance == 180
    octo = pm.loc[pd.Timestamp(2026, 10, 1)]
    assert (octo.issued, octo.redeemed, octo.closing_balance) == (30, 100, 110)
    assert octo.liability_yuan == pytest.approx(1.10)  # 110 x 0.01


def test_points_fifo_aging_and_lag(points_con):
    ps = a.points_summary(points_con, P, AP)
    by = ps.by_issue_month.set_index("issue_month")
    feb = by.loc[pd.Timestamp("2026-02-01")]
    assert (feb.issued, feb.redeemed, feb.expired, feb.outstanding) == (250, 120, 50, 80)
    assert by.loc[pd.Timestamp("2026-01-01")].outstanding == 0  # fully redeemed first
    assert ps.outstanding == 110  # equals the ledger balance
    assert ps.liability_yuan == pytest.approx(1.10)  # full liability: 110 x 0.01
    # redeemed points by lag: 19 d x 20, 50 d x 100, 251 d x 100 -> weighted median 50, p90 251
    assert ps.lag_median_days == 50
    assert ps.lag_p90_days == 251


# Redemption-delay curve (points-weighted Kaplan-Meier, as of 10-31), rows (days, points, outcome):
#   u1 Jan-10: 50 d x 100 redeem | u1 Feb-10: 19 d x 20 redeem, held 30 at 263 d | u1 Oct-05: held 30 at 26 d
#   u2 Feb-01: expire 50 at 212 d (censored), 251 d x 100 redeem, held 50 at 272 d.
# At risk 380: t=19 S = 360/380; t=26 30 censored (330 left); t=50 S x 230/330; t=212 50 censored (180);
# t=251 S x 80/180; then only censored (263, 272): the curve ends at 272 days.
S19 = 360 / 380
S50 = S19 * 230 / 330
S251 = S50 * 80 / 180


def test_points_expected_liability_from_the_censored_curve(points_con):
    ps = a.points_summary(points_con, P, AP)  # no expiry rule (params default)
    assert ps.curve.survival.loc[19] == pytest.approx(S19)
    assert ps.curve.survival.loc[251] == pytest.approx(S251)
    assert ps.horizon_days == 272
    # held: Oct-05 30 at 26 d -> (S(26) - S(272)) / S(26) = 1 - (230/330)(80/180); Feb-10 30 at 263 d and
    # Feb-01 50 at 272 d: the curve does not fall after 251 d -> 0
    share_oct = 1 - (230 / 330) * (80 / 180)
    assert ps.expected_points == pytest.approx(30 * share_oct)
    assert ps.expected_yuan == pytest.approx(30 * share_oct * 0.01)
    assert ps.expected_share == pytest.approx(30 * share_oct / 110)
    by = ps.by_issue_month.set_index("issue_month")
    assert by.loc[pd.Timestamp("2026-10-01")].expected == pytest.approx(30 * share_oct)
    assert by.loc[pd.Timestamp("2026-02-01")].expected == 0
    assert by.expires_on.isna().all()


def test_points_expiry_rule_cuts_the_expected_redemptions(points_con):
    ap = ActivityParams(points_expiry_months=6)
    ps = a.points_summary(points_con, P, ap)
    by = ps.by_issue_month.set_index("issue_month")
    # issued in Feb: expired from 09-01 (end of Feb + 6 months); Oct-05: from 2027-05-01, 208 days after issue
    assert by.loc[pd.Timestamp("2026-02-01")].expires_on == pd.Timestamp("2026-09-01")
    assert by.loc[pd.Timestamp("2026-10-01")].expires_on == pd.Timestamp("2027-05-01")
    # Oct-05 30 held at 26 d, redeemable through day 207: (S(26) - S(207)) / S(26) = 1 - 230/330;
    # Feb points are past their expiry day (held but no longer redeemable): 0
    assert ps.expected_points == pytest.approx(30 * 100 / 330)
    assert ps.liability_yuan == pytest.approx(1.10)  # the full liability does not change


# ------------------------------------------------------------------ category cycles (censored)
# Milk powder P1 (mother_baby), purchases at 12:00:
#   u1 09-01, 09-21, 10-11: gaps 20, 20 observed; 10-11 censored at 20 days (10-31)
#   u2 10-01, 10-16: gap 15 observed; 10-16 censored at 15
#   u3 10-25: censored at 6
MP_BUYS = [
    (1, "2026-09-01"),
    (1, "2026-09-21"),
    (1, "2026-10-11"),
    (2, "2026-10-01"),
    (2, "2026-10-16"),
    (3, "2026-10-25"),
]


@pytest.fixture
def mp_con(make_warehouse):
    tables = {
        "users": [_user(u) for u in (1, 2, 3)],
        "products": [
            dict(product_id="P1", name="婴儿奶粉 800g", category="mother_baby", price=198, is_hero=False),
            dict(product_id="P2", name="鲜牛奶", category="fresh", price=12, is_hero=False),
        ],
        "orders": [order_row(i, u, f"{d} 12:00:00", gmv=198) for i, (u, d) in enumerate(MP_BUYS, 1)],
        "order_items": [dict(order_id=i, product_id="P1", quantity=1, amount=198) for i in range(1, 7)],
    }
    c = connect(make_warehouse(tables))
    yield c
    c.close()


def test_censored_cycle_kaplan_meier(mp_con):
    summary, curves = a.cycles(mp_con, P, AP)
    km = curves[("product", "P1")]["survival"]
    # events 15 (1), 20 (2); censored 6, 15, 20. At 15: 1 of 5 at risk -> 0.8; at 20: 2 of 3 -> 0.8 / 3
    assert km.loc[6] == pytest.approx(1.0)
    assert km.loc[15] == pytest.approx(0.8)
    assert km.loc[20] == pytest.approx(0.8 / 3)
    p1 = one_row(summary, scene="P1")
    assert p1.median_days == 20
    assert (p1.purchases, p1.repeats) == (6, 3)
    assert one_row(summary, scene="milk_powder").median_days == 20  # the milk powder group = P1 here
    assert one_row(summary, scene="mother_baby").median_days == 20  # only P1 in the category


def test_due_for_reminder_with_holdout(mp_con):
    ap = ActivityParams(reminder_categories=["milk_powder"], reminder_holdout_share=0.5)
    summary, _ = a.cycles(mp_con, P, ap)
    due = a.due_reminders(mp_con, P, ap, summary)
    # expected = last purchase + 20 d (scene median; nobody has 3 gaps); due window [11-04, 11-18):
    #   u1 10-11 + 20 = 10-31 (too early), u2 10-16 + 20 = 11-05, u3 10-25 + 20 = 11-14
    assert list(due.user_id) == [2, 3]
    assert set(due.category) == {"milk_powder"}
    assert due.set_index("user_id").expected_at[2] == pd.Timestamp("2026-11-05 12:00:00")
    assert sorted(due.arm) == ["holdout", "treatment"]  # round(0.5 x 2) = 1 holdout
    again = a.due_reminders(mp_con, P, ap, summary)
    assert due.equals(again)  # seeded: same arms every run


def test_due_list_leaves_out_the_global_holdout(mp_con):
    from userops.params import ExperimentParams

    ap = ActivityParams(reminder_categories=["milk_powder"], reminder_holdout_share=0.5)
    summary, _ = a.cycles(mp_con, P, ap)
    # salt "t": global-holdout scores of users 2 and 3 (both due, as above) are 0.199 and 0.155;
    # at share 0.18 user 3 is in the global holdout, user 2 is not
    exp = ExperimentParams(global_holdout_salt="t", global_holdout_share=0.18)
    due = a.due_reminders(mp_con, P, ap, summary, exp)
    assert list(due.user_id) == [2] and due.attrs["global_holdout_left_out"] == 1
    assert a.due_global_note(due).startswith(
        "Users due but in the persistent global holdout, left out of the list: 1 "
    )
    assert a.due_global_note(a.due_reminders(mp_con, P, ap, summary)) == ""  # no exp: nobody left out


# ------------------------------------------------------------------ incentives (association)


def test_stratified_difference_weights_by_participants():
    # stratum (0, 0): participants orders 1, 2, 3 (mean 2), non-participants 1, 1 (mean 1) -> +1
    # stratum (1, 0): participant 0, non-participants 1, 1 -> -1; weights 3/4 and 1/4 -> +0.5
    g = pd.DataFrame(
        [
            dict(order_bin=0, tenure_bin=0, participated=True, users=3, orders=6, orders_sq=14),
            dict(order_bin=0, tenure_bin=0, participated=False, users=2, orders=2, orders_sq=2),
            dict(order_bin=1, tenure_bin=0, participated=True, users=1, orders=0, orders_sq=0),
            dict(order_bin=1, tenure_bin=0, participated=False, users=2, orders=2, orders_sq=2),
        ]
    )
    diff, low, high, m1, m0, matched = a._stratified(g, "orders", 1.959964)
    assert diff == pytest.approx(0.5)
    assert (m1, m0, matched) == (pytest.approx(1.5), pytest.approx(1.0), 4)
    # variance: stratum 1 participants sample var 1 (1,2,3) / 3 users, others 0 -> se = 0.75 x sqrt(1/3)
    assert high - diff == pytest.approx(1.959964 * 0.75 * np.sqrt(1 / 3))
    assert low < diff < high


@pytest.fixture
def incentive_con(make_warehouse):
    # index date 10-02 (31 days - 30). All four ordered once on 09-10 (first order: same strata).
    # u1, u2 checked in on 09-15 (participants). Orders from 10-02 to 10-31: u1 2, u2 1, u3 1, u4 1.
    orders = [order_row(u, u, "2026-09-10 10:00:00") for u in (1, 2, 3, 4)]
    orders += [order_row(5, 1, "2026-10-05 10:00:00"), order_row(6, 1, "2026-10-06 10:00:00")]
    orders += [order_row(7, 2, "2026-10-07 10:00:00"), order_row(8, 3, "2026-10-08 10:00:00")]
    orders += [order_row(9, 4, "2026-10-09 10:00:00")]
    events = [dict(user_id=u, ts="2026-09-15 10:00:00", event="checkin", event_channel="app") for u in (1, 2)]
    c = connect(
        make_warehouse({"users": [_user(u) for u in (1, 2, 3, 4)], "orders": orders, "events": events})
    )
    yield c
    c.close()


def test_incentive_association_participants_vs_lookalikes(incentive_con):
    ap = ActivityParams(incentive_events=["checkin"])
    res = a.incentive_association(incentive_con, P, ap).set_index("incentive")
    c = res.loc["checkin"]
    assert (c.participants, c.nonparticipants) == (2, 2)
    assert c.diff_orders == pytest.approx(0.5)  # (2 + 1) / 2 - (1 + 1) / 2
    assert c.raw_diff_orders == pytest.approx(0.5)  # one stratum: raw = adjusted
    # se = sqrt(var(2, 1) / 2 + var(1, 1) / 2) = sqrt(0.5 / 2) = 0.5
    assert c.ci_orders_high - c.diff_orders == pytest.approx(1.959964 * 0.5, rel=1e-4)
    assert c.diff_gmv == pytest.approx(10.0)  # 20 yuan per order
    p = a.participation(incentive_con, P, ap)
    sep = one_row(p, month=pd.Timestamp(2026, 9, 1), incentive="checkin")
    assert (sep.participants, sep.active_users) == (2, 4)


# ------------------------------------------------------------------ data roles and degenerate data


def test_offline_channels_come_from_params(con):
    # offline = 'app' instead of 'store': u2 (app only) becomes offline, u3 (store only) online,
    # u1 (store + app) stays both
    dp = DataParams(offline_order_channels=["app"])
    s = a.activity_segments(con, P, dp).query("dimension == 'online_offline'").set_index("segment").mau
    assert s.to_dict() == {"both": 1, "offline": 1, "online": 1}
    r = a.repurchase(con, P, AP, dp)
    # October anchors: u1 10-01 10:00 store -> online, u2 10-03 app -> offline, u3 10-20 store -> online
    assert (
        one_row(r, month=pd.Timestamp(2026, 10, 1), dimension="online_offline", segment="online").buyers == 2
    )
    g = a.order_gaps(con, P, dp).query("dimension == 'online_offline'").set_index("segment")
    # app orders with a previous order: u1 10-01 18:00 (0 d), 10-05 (4 d), u2 10-03 (54 d)
    assert g.loc["offline"].repeat_orders == 3 and g.loc["offline"].mean_days == pytest.approx(58 / 3)
    f = a.order_frequency(con, P, AP, dp).query("dimension == 'online_offline'")
    assert one_row(f, segment="offline").users == 1  # u2, 1 order


def test_months_with_orders_starts_at_the_first_order(con):
    o = a.months_with_orders(a.activity_trend(con, P, AP))
    # trend May..Oct; the first order is u5's on 07-15, so May and June are not drawn
    assert [m.month for m in pd.to_datetime(o.index)] == [7, 8, 9, 10]
    assert list(o.mau) == [1, 1, 1, 3]


def test_event_definition_reason(con):
    tr = a.activity_trend(con, P, AP)
    assert a.events_reason(tr, False, P) == (
        "The event definition needs the optional table “Events”, which is absent."
    )
    assert a.events_reason(tr, True, P) == (
        "The event definition needs events in October 2026; the table “Events” has none in that month."
    )


def test_channel_contrast_needs_two_channels_with_enough_buyers(con):
    seg = a.segment_summary(con, P, AP, DP)
    # October buyers: app 2 (u1 u3), paid_ads 1 (u2): none reaches the default 30
    assert a.channel_contrast(seg, AP).reason == (
        "Comparing acquisition channels needs at least two channels with 30 or more buyers in the month; "
        "none of the 2 channels has that many."
    )
    ap2 = ActivityParams(min_segment_users=2)
    seg2 = a.segment_summary(con, P, ap2, DP)
    assert a.channel_contrast(seg2, ap2).reason.endswith(
        "only App has that many."
    )  # the channel's business name
    ap1 = ActivityParams(min_segment_users=1)
    cc = a.channel_contrast(a.segment_summary(con, P, ap1, DP), ap1)
    # DAU/MAU app 4 / (31 x 2), paid_ads 1 / (31 x 1)
    assert cc.reason is None and (cc.high.segment, cc.low.segment) == ("app", "paid_ads")
    assert cc.high.dau_mau == pytest.approx(4 / 62)


def test_repurchase_headline_and_the_month_without_a_complete_window(con):
    hl = a.repurchase_headline(a.repurchase(con, P, AP, DP), P, AP)
    # September is the latest mature month (u1 again 11 days later); August (u2, next order 54 d) before it
    assert hl.reason is None and hl.month == pd.Timestamp("2026-09-01")
    assert hl.row.repurchase_rate == 1.0 and hl.prev.repurchase_rate == 0.0
    early = Period("2026-08")
    r = a.repurchase(con, early, AP, DP)
    # u2 08-10 + 30 d is after 08-31, u5 07-15 + 30 d = 08-14 is inside: July is mature
    assert a.repurchase_headline(r, early, AP).month == pd.Timestamp("2026-07-01")
    first = Period("2026-07")
    none = a.repurchase_headline(a.repurchase(con, first, AP, DP), first, AP)
    assert none.month is None  # u5 07-15 + 30 d is after 07-31
    assert none.reason == (
        "The 30-day repurchase rate needs a month whose buyers have all been observed for 30 days by "
        "2026-07-31; the data has no such month yet."
    )


def test_gap_summary_without_repeat_orders(con):
    first = Period("2026-07")  # u5's only order: no previous order
    gs = a.gap_summary(a.order_gaps(con, first, DP), first)
    assert gs.overall is None
    assert gs.reason == (
        "Days between orders need repeat orders; no order in July 2026 follows an earlier order of the same user."
    )
    assert a.gap_summary(a.order_gaps(con, P, DP), P).overall.repeat_orders == 5


def test_participation_without_incentive_events(con):
    ph = a.participation_headline(a.participation(con, P, AP), P, AP)
    assert ph.any_rate is None
    assert ph.reason == (
        "Incentive participation needs the incentive events the params name (check-in, shared card, lucky draw, "
        "task done, 40-second browse); the events of May 2026 to October 2026 have none."
    )


def test_tier_reason_when_nobody_starts_in_the_top_tier(coupon_con):
    # four users, one 40-yuan order each in October: nobody is core on 10-01
    kept = a.tiers_kept(a.tier_transitions(coupon_con, P, AP), AP)
    assert (kept.start, kept.kept, kept.end) == (0, 0, 0)
    assert a.tier_reason(kept, AP) == (
        "Keeping the Core tier needs users in it at the month's start (90-day spend of ¥1,500 or more); "
        "there were none."
    )
    mat = a.tier_matrix(a.tier_transitions(coupon_con, P, AP), AP)
    share = a.tier_share(mat)
    assert list(share.index) == ["none"]  # the only start tier holding users (4)
    assert share.loc["none", "ordinary"] == 1.0


def test_coupon_kinds_come_from_params(coupon_con):
    dp = DataParams(repurchase_coupon_kinds=["other"])
    cp = a.repurchase_coupons(coupon_con, P, AP, dp)
    assert cp.issued.sum() == 0  # the four coupons are of kind 'repurchase'
    h = a.coupon_headline(coupon_con, cp, P, AP, dp)
    assert h.reason == (
        "Repurchase coupons need coupons of the kinds the params name (other); the coupons of May 2026 to "
        "October 2026 have none of them (their kinds: Repurchase coupon)."
    )
    e = a.reminder_effect(coupon_con, P.start, P.end, P, AP, dp)
    # u1's redemption (c1, kind 'repurchase') no longer counts: nobody converts in either arm
    assert (e.effect.rate_treatment, e.effect.rate_holdout, e.incremental_redemptions) == (0, 0, 0)
    ok = a.coupon_headline(coupon_con, a.repurchase_coupons(coupon_con, P, AP, DP), P, AP, DP)
    assert (ok.reason, ok.rate_reason, ok.issued) == (None, None, 4)
    assert ok.rate_within_days == pytest.approx(0.25) and ok.rate_in_validity == pytest.approx(0.5)


def test_points_reasons_before_anything_is_redeemed(points_con):
    feb = Period("2026-02")
    pm, ps = a.points_monthly(points_con, feb, AP), a.points_summary(points_con, feb, AP)
    why = a.points_reasons(pm, ps, feb, AP)
    # by 02-28 points were issued (01-10, 02-01, 02-10) but the first redemption is 03-01
    assert set(why) == {"expected", "lag"}
    assert why["expected"].startswith("The expected liability needs redeemed points")
    assert np.isnan(ps.expected_yuan) and ps.outstanding == 350  # 100 + 200 + 50, all held
    assert (
        a.points_reasons(a.points_monthly(points_con, P, AP), a.points_summary(points_con, P, AP), P, AP)
        == {}
    )


def test_association_needs_non_participants(make_warehouse):
    # all four users ordered on 09-10 and checked in on 09-15: no non-participant to compare with
    # (u1's order on 10-20 ends the export after the events)
    orders = [order_row(u, u, "2026-09-10 10:00:00") for u in (1, 2, 3, 4)]
    orders += [order_row(5, 1, "2026-10-20 10:00:00")]
    events = [
        dict(user_id=u, ts="2026-09-15 10:00:00", event="checkin", event_channel="app") for u in (1, 2, 3, 4)
    ]
    con = connect(
        make_warehouse({"users": [_user(u) for u in (1, 2, 3, 4)], "orders": orders, "events": events})
    )
    ap = ActivityParams(incentive_events=["checkin"])
    assoc = a.incentive_association(con, P, ap)
    assert list(assoc.participants) == [4, 4] and list(assoc.nonparticipants) == [0, 0]
    view = a.association_shown(assoc, P, ap)
    assert view.rows.empty
    assert view.reason.endswith("ordered in the 60 days before 2026-10-02; the 4 such users hold too few.")
    con.close()


def test_cycle_table_top_n_others_and_not_reached():
    inf = float("inf")
    cyc = pd.DataFrame(
        [
            dict(
                level="category",
                scene="a",
                scene_name="a",
                purchases=50,
                repeats=30,
                median_days=7.0,
                median_low=5.0,
                median_high=inf,
                q25_days=3.0,
                q75_days=inf,
            ),
            dict(
                level="category",
                scene="b",
                scene_name="b",
                purchases=20,
                repeats=2,
                median_days=inf,
                median_low=inf,
                median_high=inf,
                q25_days=40.0,
                q75_days=inf,
            ),
            dict(
                level="category",
                scene="c",
                scene_name="c",
                purchases=5,
                repeats=1,
                median_days=9.0,
                median_low=9.0,
                median_high=9.0,
                q25_days=9.0,
                q75_days=9.0,
            ),
            dict(
                level="category",
                scene="d",
                scene_name="d",
                purchases=3,
                repeats=0,
                median_days=inf,
                median_low=inf,
                median_high=inf,
                q25_days=inf,
                q75_days=inf,
            ),
        ]
    )
    t = a.cycle_table(cyc, top_n=2)
    assert list(t.scene) == ["a", "b", "others (2 categories)"]
    assert list(t["median"]) == ["7 (5–not reached)", "not reached", "–"]
    assert (t.iloc[2].purchases, t.iloc[2].repeats) == (8, 1)  # c + d
    assert t.iloc[0].q75 == "not reached"
    rows, reason = a.cycle_chart_rows(cyc, top_n=2)
    assert list(rows.scene) == ["a", "c"] and reason is None  # finite medians only, fastest first
    none, reason = a.cycle_chart_rows(cyc[cyc.median_days == inf], top_n=2)
    assert none.empty and reason.startswith("Category cycles need users who buy in the same category again")


def test_reminder_categories_absent_from_the_data(mp_con):
    summary, _ = a.cycles(mp_con, P, AP)
    # default reminder categories milk_powder, mother_baby, daily: only P1 (mother_baby, milk powder) is bought
    assert a.reminder_scene_check(summary, AP) == (
        "Category reminders need a repurchase cycle in each reminder category the params name; "
        "Daily goods: no purchases in the data, so it is left out."
    )
    only_absent = ActivityParams(reminder_categories=["daily", "snacks"])
    assert a.reminder_scene_check(summary, only_absent).endswith(
        "Daily goods, Snacks: no purchases in the data, so no reminder list is made."
    )
    due = a.due_reminders(mp_con, P, only_absent, summary)
    assert due.empty
    assert a.due_reason(due, P, only_absent) == (
        "The category reminder list needs users whose next expected purchase in a reminder category falls "
        "3 to 17 days after 2026-10-31; nobody's does, so the list is empty."
    )
    assert a.reminder_scene_check(summary, ActivityParams(reminder_categories=["milk_powder"])) is None


def test_long_tables_top_n_and_others(make_warehouse, points_con):
    # channels: a (u1, u2 ordered in October), b (u3 ordered), c (u4 ordered, u5 did not)
    users = [_user(1, "a"), _user(2, "a"), _user(3, "b"), _user(4, "c"), _user(5, "c")]
    orders = [order_row(u, u, f"2026-10-0{u} 10:00:00") for u in (1, 2, 3, 4)]
    con = connect(make_warehouse({"users": users, "orders": orders}))
    t = a.segment_table(a.segment_summary(con, P, AP, DP), n=1)
    ch = t[t.dimension == "acquisition_channel"].set_index("segment")
    assert list(ch.index) == ["a", "others (2 channels)"]
    o = ch.loc["others (2 channels)"]
    assert (o.registered, o.mau) == (3, 2)  # b: 1 of 1, c: 1 of 2
    assert o.active_share == pytest.approx(2 / 3)
    assert o.dau_mau == pytest.approx(2 / (31 * 2))  # one order day each
    assert np.isnan(o.orders_per_buyer)  # averages are not summed
    # every order is an app order: one online_offline segment
    assert list(t.dimension) == ["acquisition_channel", "acquisition_channel", "all", "online_offline"]
    assert len(a.segment_table(a.segment_summary(con, P, AP, DP), n=2)) == len(t) + 1  # c alone is kept
    con.close()
    # points moved May..Oct: expire -50 (09-01), browse_40s +30 (10-05), redeem -100 (10-10)
    r = a.reason_table(a.points_by_reason(points_con, P, AP), n=2).set_index("reason")
    assert list(r.index) == ["expire", "redeem", "others (4 reasons)"]  # browse_40s, checkin, order, task
    assert r.loc["others (4 reasons)", "2026-10"] == 30
    assert r.loc["redeem", "2026-10"] == -100


def test_association_leaves_out_comparisons_without_spread(make_warehouse):
    # as incentive_con, plus a draw by u1 only: draw = u1 (2 orders) vs u2 u3 u4 (1 each), no spread
    # on either side, so its CI has zero width and it is left out; checkin and any stay
    orders = [order_row(u, u, "2026-09-10 10:00:00") for u in (1, 2, 3, 4)]
    orders += [order_row(5, 1, "2026-10-05 10:00:00"), order_row(6, 1, "2026-10-06 10:00:00")]
    orders += [order_row(7, 2, "2026-10-07 10:00:00"), order_row(8, 3, "2026-10-08 10:00:00")]
    orders += [order_row(9, 4, "2026-10-09 10:00:00")]
    events = [dict(user_id=u, ts="2026-09-15 10:00:00", event="checkin", event_channel="app") for u in (1, 2)]
    events += [dict(user_id=1, ts="2026-09-16 10:00:00", event="draw", event_channel="app")]
    con = connect(
        make_warehouse({"users": [_user(u) for u in (1, 2, 3, 4)], "orders": orders, "events": events})
    )
    ap = ActivityParams(incentive_events=["checkin", "draw"])
    assoc = a.incentive_association(con, P, ap)
    assert one_row(assoc, incentive="draw").diff_orders == pytest.approx(1.0)  # 2 - (1 + 1 + 1) / 3
    view = a.association_shown(assoc, P, ap)
    assert view.reason is None
    assert sorted(view.rows.incentive) == ["any", "checkin"]
    assert view.dropped.startswith(
        "Left out: lucky draw; the comparison needs participants and non-participants"
    )
    con.close()


def test_incentive_action_heads_write_the_names_in_the_sentence():
    # hand association rows: draw and checkin clearly below their look-alikes (CI under 0), share_card above
    from types import SimpleNamespace

    from userops import activity_report as ar

    assoc = pd.DataFrame(
        {
            "incentive": ["share_card", "draw", "checkin", "any"],
            "diff_orders": [0.5, -0.4, -0.25, 0.1],
            "ci_orders_low": [0.2, -0.7, -0.5, -0.1],
            "ci_orders_high": [0.8, -0.1, -0.05, 0.3],
        }
    )
    acts = ar._incentive_actions(SimpleNamespace(assoc=assoc, ap=ActivityParams(outcome_days=30)))
    assert acts[0].startswith("**Keep shared card**: participants order more than look-alikes")
    assert acts[0].endswith("put a randomised holdout on shared card next month to measure it.")
    assert acts[1].startswith("**Review lucky draw, check-in**: participants order less than look-alikes")
    assert "(-0.40, -0.25 orders in 30 days)" in acts[1]
    i18n.set_language("zh")
    try:
        assert ar._incentive_actions(SimpleNamespace(assoc=assoc, ap=ActivityParams(outcome_days=30)))[
            1
        ].startswith("**复查" + i18n.name("incentive", "draw"))
    finally:
        i18n.set_language("en")


def test_repurchase_reminder_action_on_the_margin_basis():
    # A significant +10 pp lift that added 20 orders and ¥50 of gross margin for ¥2.00 of notices:
    # ROI on margin = (50 - 2) / 2 = 24 -> keep (interval 10 to 40). The same lift with ¥1 of margin for ¥2: ROI -0.5,
    # interval entirely below 0 -> rethink. An insignificant lift -> keep testing.
    from types import SimpleNamespace

    lift = SimpleNamespace(diff=0.10, ci_low=0.04, ci_high=0.16, significant=True)
    keep = SimpleNamespace(
        effect=lift,
        roi=24.0,
        roi_ci=(10.0, 40.0),
        incremental_orders=20,
        incremental_margin=50.0,
        margin_basis="gross margin (paid GMV - cost of goods)",
        cost_yuan=2.0,
    )
    i18n.set_language("zh")  # this test pins the Chinese wording
    text = a.reminder_action(keep)
    assert text.startswith("**继续发送未用复购券提醒**。")
    assert "¥50 的毛利" in text and "ROI（毛利口径）24.0（95%置信区间 10.0–40.0）" in nv.plain(text)
    rethink = SimpleNamespace(
        **{**vars(keep), "roi": -0.5, "roi_ci": (-0.9, -0.1), "incremental_margin": 1.0}
    )
    assert a.reminder_action(rethink).startswith("**重新评估未用复购券提醒**。")
    # the same ROI 24.0 with an interval -2.0 to 40.0: a loss is still possible -> keep testing
    unsure = SimpleNamespace(**{**vars(keep), "roi_ci": (-2.0, 40.0)})
    text = nv.plain(a.reminder_action(unsure))
    assert text.startswith("**继续测试未用复购券提醒，并保留对照组衡量**。")
    assert "ROI（毛利口径）24.0（95%置信区间 -2.0–40.0）；但 ROI 区间仍包含亏损" in text
    flat = SimpleNamespace(
        **{**vars(keep), "effect": SimpleNamespace(diff=0.01, ci_low=-0.02, ci_high=0.04, significant=False)}
    )
    assert a.reminder_action(flat).startswith("**继续测试复购券提醒**")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_definitions_appendix_in_business_language(lang):
    # every field of the appendix filled from params (30-day repurchase, 7-day coupon window ...), and no
    # code on the page: no snake_case, no $parameter, no SQL
    from types import SimpleNamespace

    from userops import activity_report as ar
    from userops.export import chinese_outside, cjk_share, code_on_page

    i18n.set_language(lang)
    run = ar.ActivityRun(SimpleNamespace(params=SimpleNamespace(activity=AP)))
    sec = ar.definitions(run)
    html = re.sub(r"<style.*?</style>", " ", sec.items[0].data, flags=re.S)  # heading and table in one block
    text = re.sub(r"<[^>]+>", "\n", html)
    terms = [i18n.t(f"activity_report.def.{k}_term", repurchase_days=30) for k in ar.DEFINITIONS]
    assert all(t in text for t in terms) and "{" not in text
    assert code_on_page(text) == []
    assert ("30日复购率" if lang == "zh" else "30-day repurchase rate") in text  # AP.repurchase_days
    assert cjk_share(text) > 0.9 if lang == "zh" else chinese_outside(text) == []


def test_points_sources_read_in_the_sentence():
    # hand issued points: 40-second browse 60, order 30, check-in 10 (of 100); one point issued this month
    from types import SimpleNamespace

    from userops import activity_report as ar

    issued_r = pd.DataFrame({"reason": ["browse_40s", "order", "checkin"], "points": [60, 30, 10]})
    ps = SimpleNamespace(outstanding=500, liability_yuan=5.0)
    run = SimpleNamespace(P=P, found={})
    text = ar._points_text(
        run, SimpleNamespace(issued=1, redeemed=2), ps, {"expected": "E.", "lag": "L."}, issued_r
    )
    assert "**1 point was issued and 2 redeemed" in text
    assert "the largest sources were 40-second browse (60.0%), order (30.0%), check-in (10.0%)" in text
