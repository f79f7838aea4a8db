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
    assert r.content == "今晚的新鲜蔬果：送您 ¥10 券（满 ¥39 可用），14 天内有效"  # fresh: 10 off 39
    usd = DataParams(currency_symbol="$", currency_code="USD")  # the template's {currency}
    assert (
        rl.recall_list(con, P, RC, usd).iloc[0].content
        == "今晚的新鲜蔬果：送您 $10 券（满 $39 可用），14 天内有效"
    )
    assert list(lst.columns[:5]) == ["campaign_id", "user_id", "arm", "assigned_at", "touched_at"]
    # cooldown of 61 days reaches back to 09-01 00:00: every campaign member is skipped
    assert rl.recall_list(con, P, RecallParams(at_risk_p=0.6, list_cooldown_days=61), DP).empty
    # at_risk_p 0.6 adds u2, u3 and u4 (see test_personal_overdue_score); u6 has p 0.93
    wide = rl.recall_list(con, P, RecallParams(at_risk_p=0.6), DP)
    assert sorted(wide.user_id) == [1, 2, 3, 4]
    assert wide.set_index("user_id").loc[2, "channel"] == "offline_push"  # at risk, all orders in store


# --------------------------------------------------------------------------- degenerate data


def test_stage_sections_before_anyone_ordered(con):
    """June 2026: everybody (u1..u4, u6) registered 06-01, nobody has ordered yet."""
    june = Period("2026-06")
    rl.build_stages(con, june, RC, months=2)
    snap = rl.stage_snapshot(rl.stage_sizes(con, rl.StagePanel(june.prev, june)), june)
    assert (snap.buyers, snap.buyers_before, snap.now.loc["prospect", "n_users"]) == (0, 0, 5)
    assert rl.stage_reason(snap, june) == (
        "Lifecycle stages need buyers (users with an order) by the end of June 2026; the data has "
        "5 registered users and none has ordered yet."
    )
    cmp = rl.compare_rules(rl.at_risk(con, june, RC))
    assert cmp.active == 0
    assert rl.at_risk_reason(cmp, snap, june) == (
        "Who is at risk needs buyers at the end of June 2026; nobody has ordered yet."
    )


def test_first_month_of_buyers_has_no_moves_and_no_churn_profile(con):
    """August 2026: u2's 08-01 order is the first of the data; nobody was a buyer at the July end."""
    aug = Period("2026-08")
    panel = rl.build_stages(con, aug, RC, months=4)  # May..August
    sizes = rl.stage_sizes(con, panel)
    # May has no registered user (all register 06-01): the history starts in June
    assert list(rl.stage_history(sizes).index) == [
        pd.Timestamp("2026-06-01"),
        pd.Timestamp("2026-07-01"),
        pd.Timestamp("2026-08-01"),
    ]
    snap = rl.stage_snapshot(sizes, aug)
    assert (snap.buyers, snap.buyers_before) == (1, 0)  # u2 new in August
    assert rl.stage_reason(snap, aug) == ""
    assert rl.transitions_reason(snap, aug) == (
        "How users moved needs buyers at the end of July 2026; the data has none (the export starts "
        "later), so every buyer at the end of August 2026 (1) is new."
    )
    prof = rl.churn_profile(con, aug, RC, DP)
    assert (prof.population, prof.churned) == (0, 0)
    assert prof.reason.startswith(
        "Who churned needs buyers active at the end of July 2026; the data has none"
    )


def test_churn_profile_too_few_active_buyers(con):
    prof = rl.churn_profile(con, P, RC, DP)
    # u1, u4, u6 active at the September end, u1 churned: below the 30 users a comparison needs
    assert prof.reason == (
        "Who churned needs at least 30 buyers active at the end of September 2026 to compare; "
        "the data has 3 (1 churned in October 2026)."
    )
    # u1 churned (store only, 2 users with u4): 1 of 2 vs the rest u6 0 of 1 -> no finite ratio;
    # online only u6: 0 of 1 vs 1 of 2 -> 0
    lv = prof.levels.set_index(["attribute", "level"])
    assert np.isnan(lv.loc[("order_mix", "store only"), "rate_ratio"])
    assert lv.loc[("order_mix", "online only"), "rate_ratio"] == 0
    assert prof.riskiest_level(["order_mix"], 1) is None  # no level with a finite ratio above 1


def test_many_levels_keep_the_largest_and_pool_the_rest():
    # 12 stores: S01 has 12 users (3 churned), S02 11 (2), ..., S12 1 user (0 churned)
    lv = pd.DataFrame(
        dict(
            attribute="main_store",
            level=[f"S{i:02d}" for i in range(1, 13)],
            n_users=list(range(12, 0, -1)),
            n_churned=[3, 2] + [1] * 8 + [0, 0],
        )
    )
    out = rl._collapse_levels(lv, max_levels=10).set_index("level")
    assert len(out) == 10 and "S09" in out.index and "S10" not in out.index
    # pooled: S10 (3 users, 1 churned), S11 (2, 0), S12 (1, 0)
    assert tuple(out.loc["other (3 levels)", ["n_users", "n_churned"]]) == (6, 1)
    assert out.n_users.sum() == 78 and out.n_churned.sum() == 13  # 12 + 11 + ... + 1; 3 + 2 + 8 x 1
    assert rl._collapse_levels(lv, max_levels=12).equals(lv)  # few enough levels: unchanged


def _outcome_rows(channel, cost_per_touch):
    """Campaign 7 (channel, cost per touch): T u1 (order, 50), u2 (none); H u3 (order, 20), u4 (none)."""
    return pd.DataFrame(
        dict(
            campaign_id=7,
            campaign_name="2026-09 召回",
            channel=channel,
            started_at=pd.Timestamp("2026-09-01 10:00"),
            cost_per_touch=cost_per_touch,
            user_id=[1, 2, 3, 4],
            arm=["treatment", "treatment", "holdout", "holdout"],
            is_touched=[True, True, False, False],
            reactivated=[True, False, True, False],
            orders=[1, 0, 1, 0],
            gmv=[50.0, 0, 20, 0],
            coupons_redeemed=0,
            face_redeemed=0.0,
        )
    )


def test_cost_unknown_for_a_channel_without_cost_per_touch():
    # an 'email' campaign without a cost per touch, and params with no cost for email
    eff = rl.campaign_effects(_outcome_rows("email", np.nan), RC).set_index("group")
    row = eff.loc["all"]
    assert row.inc_gmv == pytest.approx((25 - 10) * 2)  # (mean T 25 - mean H 10) x 2 treated
    assert np.isnan(row.cost) and np.isnan(row.roi) and row.cost_unknown_for == "email"
    assert rl.cost_text(row) == "an unknown cost (no cost per touch for email)"
    assert rl.cost_cell(row) == "unknown (email)"
    # params cost for email: 2 touches x 0.03
    rc = RecallParams(cost_per_touch={"email": 0.03})
    known = rl.campaign_effects(_outcome_rows("email", np.nan), rc).set_index("group").loc["all"]
    assert known.cost == pytest.approx(0.06) and known.roi == pytest.approx(30 / 0.06)
    assert known.cost_unknown_for == "" and rl.cost_text(known, prefix="") == "¥0"


def test_list_plan_cost_unknown_for_a_channel_missing_in_params():
    lst = pd.DataFrame(
        dict(
            user_id=[1, 2, 3, 4, 5],
            channel=["sms", "sms", "sms", "app_push", "app_push"],
            arm=["treatment", "treatment", "holdout", "treatment", "holdout"],
            value_at_stake=[10.0, 20, 30, 40, 50],
        )
    )
    plan = rl.list_plan(lst, RecallParams(cost_per_touch={"sms": 0.05})).set_index("channel")
    assert plan.loc["sms", "touch_cost"] == pytest.approx(0.1)  # 2 treated x 0.05
    assert np.isnan(plan.loc["app_push", "touch_cost"])
    assert rl.plan_cost_text(plan.reset_index()) == (
        "Planned touch cost ¥0.1 for sms plus the face value of redeemed coupons; the touch cost of "
        "app_push (1 treated users) is unknown: params recall.cost_per_touch has no cost for app_push."
    )
    assert rl.plan_cost_text(plan.loc[["sms"]].reset_index()) == (
        "Planned touch cost ¥0.1 plus the face value of redeemed coupons."
    )
    assert [rl.touch_cost_cell(c) for c in plan.touch_cost] == ["unknown", "¥0.1"]


def test_campaigns_without_holdout_need_one(make_warehouse):
    wh = make_warehouse(
        {
            "users": USERS,
            "orders": ORDERS,
            "campaigns": CAMPAIGNS,
            "campaign_members": [m for m in MEMBERS if m["arm"] == "treatment"],  # u1, u2, u4
        }
    )
    with connect(wh) as c:
        res = rl.recall_effects(c, P, RC, DP)
    assert res.effects.empty
    assert res.unmeasured[["label", "n_treatment", "n_holdout"]].values.tolist() == [
        ["2026-09 流失召回（短信）", 3, 0]
    ]
    assert res.reason == (
        "The recall effect needs a randomised holdout (members drawn but not touched); none of the 1 "
        "recall campaigns in the 12 months to October 2026 kept one, so their reactivation cannot be "
        "told apart from users who would have come back anyway."
    )
    assert rl.unmeasured_sentence(res.unmeasured).startswith(
        "1 recall campaign without a randomised holdout (2026-09 流失召回（短信）) is left out"
    )


def test_recall_effects_measured_and_no_campaign(con):
    res = rl.recall_effects(con, P, RC, DP)
    assert res.reason == "" and res.unmeasured.empty
    assert res.pooled.n_treatment == 3 and res.pooled.n_holdout == 2
    # August: the 09-01 campaign is not assigned yet
    none = rl.recall_effects(con, Period("2026-08"), RC, DP)
    assert none.effects.empty and none.reason.startswith(
        "The recall effect needs a recall campaign whose 30-day reactivation window has ended"
    )


def test_empty_recall_list_says_why(con):
    rc = RecallParams(list_max_recency_days=1)
    assert rl.recall_list(con, P, rc, DP).empty
    # active at the October end: u2, u3, u4, u6 (none with p < 0.1); churned: u1, silent 37 days
    assert rl.list_reason(con, P, rc) == (
        "Nobody qualifies for the recall list: none of the 4 active buyers is overdue against their own "
        "rhythm (P(gap this long) below 10%), and all 1 churned buyers have been silent for more than 1 "
        "days (recall.list_max_recency_days). No list is written."
    )
    cool = RecallParams(at_risk_p=0.6, list_cooldown_days=61)
    # candidates u2, u3, u4 (p < 0.6) and u1 (churned 37 days): all members of the 09-01 campaign
    assert rl.list_reason(con, P, cool) == (
        "Nobody qualifies for the recall list: all 4 candidates (3 overdue active buyers, 1 recently "
        "churned) were put in a recall campaign in the last 61 days (recall.list_cooldown_days)."
    )
    assert rl.list_reason(con, P, RC) == ""  # u1 qualifies


def test_sentences_leave_out_empty_groups(con):
    tr = rl.transitions(con, P)
    # September end: u1, u4, u6 new, u2 churned, nobody declining; u2 is back (mature)
    assert (
        rl.transitions_title(tr, P)
        == "Nobody was declining at the end of Sep 2026; 1 churned users came back"
    )
    c = rl.compare_rules(rl.at_risk(con, P, RecallParams(at_risk_p=0.6)))
    text = rl.rules_sentence(c, RC)
    # personal only u2, u3; global only nobody
    assert "**Only the personal rule catches 2 users**" in text
    assert text.endswith("no user is flagged by the 30-day rule alone.")
    assert rl.metric_suffixes(pd.DataFrame(dict(channel=["sms", "wechat_notice", "sms"]))) == [
        "sms.1",
        "wechat_notice",
        "sms.2",
    ]


def test_offline_channels_and_list_channels_come_from_params(con):
    # 'app' as the only offline order channel: u6 (app orders) is now the store buyer, u1 / u4 online
    prof = rl.churn_profile(con, P, RC, DataParams(offline_order_channels=["app"]))
    lv = prof.levels.set_index(["attribute", "level"])
    assert tuple(lv.loc[("order_mix", "store only"), ["n_users", "n_churned"]]) == (1, 0)  # u6
    assert tuple(lv.loc[("order_mix", "online only"), ["n_users", "n_churned"]]) == (2, 1)  # u1, u4
    # no order channel is offline: u1..u4 (all store orders) go to the online channel, here 'email'
    rc = RecallParams(at_risk_p=0.6, channel_online="email")
    lst = rl.recall_list(con, P, rc, DataParams(offline_order_channels=["kiosk"]))
    assert sorted(lst.user_id) == [1, 2, 3, 4] and set(lst.channel) == {"email"}
    plan = rl.list_plan(lst, rc)  # default cost_per_touch has sms, wechat_notice, offline_push only
    assert plan.channel.tolist() == ["email"] and np.isnan(plan.touch_cost.iloc[0])
    assert rl.plan_cost_text(plan) == (
        "The touch cost of email (3 treated users) is unknown: params recall.cost_per_touch has no cost "
        "for email."
    )
