"""Play 4 metrics on a hand-computed fixture. Report month 2026-10 (as of 10-31), default params
unless stated: k = 2, K = 4, floors 14 / 30 days, global 30 / 60 days, personal rule from 2 gaps,
growth < 60 days and < 3 orders, prior 2 pseudo-gaps.

Users (registered 2026-06-01 unless stated) and orders (gmv; all in store unless stated):
    u1  09-10 19:00 (30, recall coupon 901), 09-17 19:00 (30), 09-24 08:00 (30)
        gaps 7, 7 -> personal, median 7; churned after min(max(4x7, 30), 60) = 30 days
    u2  08-01 (50), 10-05 (80)           one gap of 65 days -> global fallback
    u3  10-10 (40)
    u4  09-20 (25)
    u5  registered 10-15, never ordered
    u6  09-05 (20, app), 10-28 (60, app)  one gap of 53 days -> global fallback

Stages at the month ends (recency = month end - last order date):
          Aug end     Sep end                          Oct end
    u1    prospect    new                              churned   (recency 37 >= 30, personal)
    u2    new         churned (recency 60 >= 60)       mature    (recency 26 < 30, first order 91 d ago)
    u3    prospect    prospect                         new
    u4    prospect    new                              declining (recency 41 >= 30, fallback)
    u5    -           -                                prospect  (not registered before 10-15)
    u6    prospect    new                              growth    (recency 3, first order 56 d ago, 2 orders)

Recall campaign 1 (sms, 0.05 per touch), assigned 09-01 10:00, window 30 days -> (09-01 10:00, 10-01 10:00]:
    treatment u1 (3 orders, 90), u2 (none), u4 (1 order, 25); holdout u3 (none), u6 (1 order, 20)
    recall coupons 901 (u1, redeemed 09-10, face 10), 902 (u2), 903 (u4) unused
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

from userops import recall as rl
from userops.db import connect
from userops.params import DataParams, RecallParams
from userops.period import Period
from userops.testing import order_row

P = Period("2026-10")
RC = RecallParams()
DP = DataParams()

USERS = [
    dict(user_id=u, registered_at="2026-06-01 09:00:00", channel=ch, city=city, birth_year=by)
    for u, ch, city, by in [
        (1, "app", "上海", 1990),
        (2, "paid_ads", "上海", 1980),
        (3, "app", "杭州", 1995),
        (4, "paid_ads", "杭州", 1960),
        (6, "app", "上海", 1988),
    ]
] + [dict(user_id=5, registered_at="2026-10-15 09:00:00", channel="app")]


def _order(oid, uid, ts, gmv, channel="store", coupon=None):
    return order_row(oid, uid, ts, coupon_id=coupon, gmv=gmv, order_channel=channel)


ORDERS = [
    _order(1, 1, "2026-09-10 19:00:00", 30, coupon=901),
    _order(2, 1, "2026-09-17 19:00:00", 30),
    _order(3, 1, "2026-09-24 08:00:00", 30),
    _order(4, 2, "2026-08-01 12:00:00", 50),
    _order(5, 2, "2026-10-05 12:00:00", 80),
    _order(6, 3, "2026-10-10 12:00:00", 40),
    _order(7, 4, "2026-09-20 12:00:00", 25),
    _order(8, 6, "2026-09-05 12:00:00", 20, channel="app"),
    _order(9, 6, "2026-10-28 12:00:00", 60, channel="app"),
]
PRODUCTS = [
    dict(product_id="F1", name="青菜", category="fresh", price=30, is_hero=False),
    dict(product_id="S1", name="薯片", category="snacks", price=30, is_hero=False),
]
ITEMS = [
    # u1: fresh 30 + 30, snacks 30 -> need fresh
    dict(order_id=1, product_id="F1", quantity=1, amount=30),
    dict(order_id=2, product_id="S1", quantity=1, amount=30),
    dict(order_id=3, product_id="F1", quantity=1, amount=30),
]
CAMPAIGNS = [
    dict(
        campaign_id=1,
        name="2026-09 流失召回（短信）",
        kind="recall",
        channel="sms",
        started_at="2026-09-01 10:00:00",
        ended_at="2026-10-01 10:00:00",
        cost_per_touch=0.05,
    )
]
A = "2026-09-01 10:00:00"
MEMBERS = [
    dict(campaign_id=1, user_id=1, arm="treatment", assigned_at=A, touched_at=A),
    dict(campaign_id=1, user_id=2, arm="treatment", assigned_at=A, touched_at=A),
    dict(campaign_id=1, user_id=4, arm="treatment", assigned_at=A, touched_at=A),
    dict(campaign_id=1, user_id=3, arm="holdout", assigned_at=A, touched_at=None),
    dict(campaign_id=1, user_id=6, arm="holdout", assigned_at=A, touched_at=None),
]
COUPONS = [
    dict(
        coupon_id=c,
        user_id=u,
        kind="recall",
        issued_at=A,
        expires_at="2026-09-15 10:00:00",
        face_value=10,
        min_spend=39,
        campaign_id=1,
    )
    for c, u in [(901, 1), (902, 2), (903, 4)]
]


@pytest.fixture
def con(make_warehouse):
    wh = make_warehouse(
        {
            "users": USERS,
            "orders": ORDERS,
            "products": PRODUCTS,
            "order_items": ITEMS,
            "campaigns": CAMPAIGNS,
            "campaign_members": MEMBERS,
            "coupons": COUPONS,
        }
    )
    c = connect(wh)
    rl.build_stages(c, P, RC, months=2)
    yield c
    c.close()


def _stage(con, user, month):
    return con.execute(
        "select stage, stage_prev from recall_user_stages where user_id = ? and month_start = ?",
        [user, pd.Timestamp(month).date()],
    ).fetchone()


def test_stages_per_user_written_out(con):
    assert _stage(con, 1, "2026-10-01") == ("churned", "new")  # personal: 37 >= max(4 x 7, 30)
    assert _stage(con, 2, "2026-10-01") == ("mature", "churned")  # back after 60 silent days
    assert _stage(con, 3, "2026-10-01") == ("new", "prospect")
    assert _stage(con, 4, "2026-10-01") == ("declining", "new")  # fallback: 41 >= 30
    assert _stage(con, 5, "2026-10-01") == ("prospect", "prospect")  # registered in October
    assert _stage(con, 6, "2026-10-01") == ("growth", "new")
    assert _stage(con, 2, "2026-09-01") == ("churned", "new")  # 09-30 - 08-01 = 60 days
    assert _stage(con, 5, "2026-09-01") is None  # not registered yet: no row


def test_stage_sizes_zero_filled(con):
    s = rl.stage_sizes(con, rl.StagePanel(P.prev, P)).set_index(["month_start", "stage"])
    sep, oct_ = pd.Timestamp("2026-09-01"), pd.Timestamp("2026-10-01")
    # September: prospect u3; new u1, u4, u6; churned u2; growth / mature / declining 0 rows
    assert [s.loc[(sep, st), "n_users"] for st in rl.STAGES] == [1, 3, 0, 0, 0, 1]
    # October: one user in each stage (u5, u3, u6, u2, u4, u1)
    assert [s.loc[(oct_, st), "n_users"] for st in rl.STAGES] == [1, 1, 1, 1, 1, 1]
    assert s.loc[(oct_, "mature"), "gmv"] == 80  # u2's 10-05 order
    assert s.loc[(oct_, "churned"), "share_of_buyers"] == pytest.approx(1 / 5)  # u1 of 5 buyers
    assert len(s) == 12  # 2 months x 6 stages


def test_transitions_with_gmv(con):
    tr = rl.transitions(con, P)
    assert len(tr) == 36
    n = rl.matrix(tr, "n_users")
    assert n.loc["new", "churned"] == 1  # u1
    assert n.loc["churned", "mature"] == 1  # u2
    assert n.loc["prospect", "new"] == 1  # u3
    assert n.loc["new", "declining"] == 1  # u4
    assert n.loc["prospect", "prospect"] == 1  # u5 (registered in the month)
    assert n.loc["new", "growth"] == 1  # u6
    assert n.to_numpy().sum() == 6
    g = rl.matrix(tr, "gmv")
    # October GMV 180 = u2 80 (churned -> mature) + u3 40 (prospect -> new) + u6 60 (new -> growth)
    assert (
        g.loc["churned", "mature"] == 80 and g.loc["prospect", "new"] == 40 and g.loc["new", "growth"] == 60
    )
    gs = rl.matrix(tr, "gmv_share")
    assert gs.loc["churned", "mature"] == pytest.approx(80 / 180)
    rp = rl.matrix(tr, "row_pct")
    assert rp.loc["new"].sum() == pytest.approx(1.0)  # u1, u4, u6: a third each
    assert rp.loc["new", "growth"] == pytest.approx(1 / 3)
    assert np.isnan(rp.loc["mature", "mature"])  # nobody was mature in September


def test_personal_overdue_score(con):
    rc = RecallParams(at_risk_p=0.6)
    ar = rl.at_risk(con, P, rc).set_index("user_id")
    assert sorted(ar.index) == [2, 3, 4, 6]  # u1 churned, u5 never ordered
    # chain gaps up to 10-31: u1 7, 7; u2 65; u6 53 -> mean 33; prior a = 2, b = 66 days
    # P(gap >= r) = ((b + S) / (b + S + r))^(a + n)
    assert ar.loc[2, "p_gap_at_least"] == pytest.approx((131 / 157) ** 3)  # S 65, n 1, r 26 -> 0.581
    assert ar.loc[6, "p_gap_at_least"] == pytest.approx((119 / 122) ** 3)  # S 53, n 1, r 3 -> 0.928
    assert ar.loc[4, "p_gap_at_least"] == pytest.approx((66 / 107) ** 2)  # one order, r 41 -> 0.380
    assert ar.loc[3, "p_gap_at_least"] == pytest.approx((66 / 87) ** 2)  # one order, r 21 -> 0.576
    # u4: rate 2 / 66 per day x 30 days x avg order 25 x risk (1 - 0.380) = 14.08
    assert ar.loc[4, "value_at_stake"] == pytest.approx(2 / 66 * 30 * 25 * (1 - (66 / 107) ** 2))
    # ranked by value at stake: u2 3 / 131 x 30 x avg 65 x (1 - 0.581) = 18.71, u3 2 / 66 x 30 x 40 x
    # (1 - 0.576) = 15.44, u4 14.08, u6 3 / 119 x 30 x avg 40 x (1 - 0.928) = 2.18
    assert ar.loc[2, "value_at_stake"] == pytest.approx(3 / 131 * 30 * 65 * (1 - (131 / 157) ** 3))
    assert list(ar.index) == [2, 3, 4, 6]
    c = rl.compare_rules(ar.reset_index())
    # personal (p < 0.6): u2, u3, u4; global (recency >= 30): u4 only
    assert (c.personal, c.global_, c.both, c.personal_only, c.global_only) == (3, 1, 1, 2, 0)


def test_campaign_effect_against_statsmodels(con):
    out = rl.outcomes(con, P, RC, DP)
    assert len(out) == 5
    eff = rl.campaign_effects(out, RC)
    row = eff[eff.group == "all"].iloc[0]
    # treatment: u1, u4 reactivated of 3 (u2 ordered 10-05, after the window); holdout: u6 of 2
    assert (row.rate_treatment, row.rate_holdout) == (pytest.approx(2 / 3), pytest.approx(1 / 2))
    low, high = confint_proportions_2indep(2, 3, 1, 2, method="newcomb", compare="diff")
    assert (row.ci_low, row.ci_high) == (pytest.approx(low), pytest.approx(high))
    # incremental GMV = (mean T (90 + 0 + 25) / 3 - mean H (0 + 20) / 2) x 3 treated = 85
    assert row.inc_gmv == pytest.approx(85)
    assert row.inc_orders == pytest.approx((4 / 3 - 1 / 2) * 3)  # T 3 + 0 + 1 orders, H 0 + 1
    assert row.inc_gmv_low <= row.inc_gmv <= row.inc_gmv_high
    # cost = 3 touches x 0.05 + coupon 901 redeemed (face 10)
    assert row.cost == pytest.approx(10.15)
    assert row.roi == pytest.approx(85 / 10.15)
    again = rl.campaign_effects(out, RC)
    assert again.inc_gmv_low.equals(eff.inc_gmv_low)  # seeded bootstrap


def test_churn_profile(con):
    prof = rl.churn_profile(con, P, RC, DP)
    # active at the September end: u1, u4, u6 (new); churned at the October end: u1
    assert (prof.population, prof.churned) == (3, 1)
    lv = prof.levels.set_index(["attribute", "level"])
    assert tuple(lv.loc[("order_mix", "store only"), ["n_users", "n_churned"]]) == (2, 1)  # u1, u4
    assert tuple(lv.loc[("order_mix", "online only"), ["n_users", "n_churned"]]) == (1, 0)  # u6
    assert lv.loc[("last_category", "fresh"), "n_churned"] == 1  # u1's last order: fresh
    assert lv.loc[("last_coupon", "none"), "n_users"] == 3  # no coupon on the last orders
    assert lv.groupby(level="attribute").n_users.sum().eq(3).all()


def test_recall_list(con):
    lst = rl.recall_list(con, P, RC, DP)
    # default p < 0.1 flags nobody active; churned within 180 days: u1 (campaign 09-01 is > 45 days ago)
    assert lst.user_id.tolist() == [1]
    r = lst.iloc[0]
    assert (r.need, r.channel, r.send_hour, r.segment) == ("fresh", "sms", 19, "churned")
    assert r.face_value == RC.content["fresh"].face_value and r.scene in r.content
    assert list(lst.columns[:5]) == ["campaign_id", "user_id", "arm", "assigned_at", "touched_at"]
    # cooldown of 61 days reaches back to 09-01 00:00: every campaign member is skipped
    assert rl.recall_list(con, P, RecallParams(at_risk_p=0.6, list_cooldown_days=61), DP).empty
    # at_risk_p 0.6 adds u2, u3 and u4 (see test_personal_overdue_score); u6 has p 0.93
    wide = rl.recall_list(con, P, RecallParams(at_risk_p=0.6), DP)
    assert sorted(wide.user_id) == [1, 2, 3, 4]
    assert wide.set_index("user_id").loc[2, "channel"] == "offline_push"  # at risk, all orders in store
