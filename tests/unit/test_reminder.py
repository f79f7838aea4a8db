"""Expiry-reminder effect, the due list and holdout assignment on hand fixtures.

Reminder fixture (campaign 1, expiry_reminder, assigned 10-06 08:00, window 48 h to 10-08 08:00);
every user holds one new_user_mid coupon expiring 10-08 08:00:
    u1 treatment: order 10-07 10:00 with its coupon (converted) + order 10-07 18:00 without
    u2 treatment: no order
    u3 holdout:   order 10-09 10:00 with its coupon, after expiry and after the window
    u4 holdout:   order 10-07 09:00 with its coupon (converted)
No order has lines, so every margin is assumed: paid GMV x 25% (params experiments.assumed_margin_rate).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

from userops import i18n, money
from userops import narrative as nv
from userops import retention as r
from userops.campaigns import arm_rates, coupon_reminder_effect
from userops.db import connect
from userops.experiment import assign_arms
from userops.params import DataParams, ExperimentParams, RetentionParams
from userops.period import Period
from userops.stats import diff_proportions
from userops.testing import order_row

P = Period("2026-10")
RP = RetentionParams()
DP = DataParams()
USERS = [dict(user_id=i, registered_at="2026-10-01 08:00:00", channel="app") for i in (1, 2, 3, 4)]


def _coupon(cid, uid, expires="2026-10-08 08:00:00", kind="new_user_mid"):
    return dict(
        coupon_id=cid,
        user_id=uid,
        kind=kind,
        issued_at="2026-10-01 08:00:00",
        expires_at=expires,
        face_value=5,
        min_spend=29,
    )


def _tables() -> dict[str, list[dict]]:
    return {
        "users": USERS,
        "coupons": [_coupon(100 + i, i) for i in (1, 2, 3, 4)],
        "campaigns": [
            dict(
                campaign_id=1,
                name="expiry 10-06",
                kind="expiry_reminder",
                channel="wechat_notice",
                started_at="2026-10-06 08:00:00",
                ended_at="2026-10-08 08:00:00",
                cost_per_touch=0.01,
            )
        ],
        "campaign_members": [
            dict(
                campaign_id=1,
                user_id=1,
                arm="treatment",
                assigned_at="2026-10-06 08:00:00",
                touched_at="2026-10-06 08:00:00",
            ),
            dict(
                campaign_id=1,
                user_id=2,
                arm="treatment",
                assigned_at="2026-10-06 08:00:00",
                touched_at="2026-10-06 08:00:00",
            ),
            dict(campaign_id=1, user_id=3, arm="holdout", assigned_at="2026-10-06 08:00:00"),
            dict(campaign_id=1, user_id=4, arm="holdout", assigned_at="2026-10-06 08:00:00"),
        ],
        "orders": [
            order_row(1, 1, "2026-10-07 10:00:00", coupon_id=101, gmv=30),
            order_row(2, 1, "2026-10-07 18:00:00", gmv=30),
            order_row(3, 3, "2026-10-09 10:00:00", coupon_id=103, gmv=30),
            order_row(4, 4, "2026-10-07 09:00:00", coupon_id=104, gmv=30),
        ],
    }


@pytest.fixture
def con(make_warehouse):
    wh = make_warehouse(_tables())
    c = connect(wh)
    yield c
    c.close()


def test_reminder_effect_counts_and_increment(con):
    eff = r.reminder_effect(con, P.start, P.end, P, RP, DP)
    arms = eff.arms.set_index("arm")
    assert arms.loc["treatment", "members"] == 2
    assert arms.loc["treatment", "converted"] == 1  # u1
    assert arms.loc["treatment", "orders"] == 2  # u1's two orders in the window
    assert arms.loc["holdout", "converted"] == 1  # u4; u3 redeemed after expiry
    assert arms.loc["holdout", "orders"] == 1  # u4; u3's order is after the window
    assert eff.effect.diff == pytest.approx(0.0)  # 1/2 - 1/2
    assert eff.orders_per_member_treatment == 1.0  # 2 orders / 2 members
    assert eff.orders_per_member_holdout == 0.5  # 1 / 2
    assert eff.incremental_orders == pytest.approx(1.0)  # (1.0 - 0.5) x 2 treated


def test_reminder_margin_discount_cost_and_roi(con):
    eff = r.reminder_effect(con, P.start, P.end, P, RP, DP, ExperimentParams())
    # margins (assumed 25%): u1 orders 1+2 = 7.5 + 7.5 = 15, u2 0 | u3 0 (after the window), u4 order 4 = 7.5
    # incremental margin = treated 15 - 2 treated x holdout mean (7.5 / 2) = 7.5
    assert eff.incremental_margin == pytest.approx(7.5)
    assert eff.margin_basis == money.margin_label(0.25)  # all 3 window orders lack a cost of goods
    assert (eff.assumed_margin_orders, eff.window_orders) == (3, 3)
    # anyway discount = 2 treated x holdout redemption rate 1/2 (u4) x mean discount per treated
    # redemption (u1's coupon 101, face value 5) = 5
    assert eff.expected_anyway_redemptions == pytest.approx(1.0)
    assert eff.mean_discount == pytest.approx(5.0)
    assert eff.anyway_discount == pytest.approx(5.0)
    assert eff.discount_without_extra_order == 0.0  # 0 extra redemptions, 1 extra order
    assert eff.cost_yuan == pytest.approx(0.02)  # touch cost counted once: 2 treated x 0.01, no coupon value
    assert eff.roi == pytest.approx((7.5 - 0.02) / 0.02)  # ROI on margin: (7.5 - 0.02) / 0.02 = 374
    fixed = r.reminder_effect(con, P.start, P.end, P, RP, DP, ExperimentParams(campaign_fixed_cost=1.0))
    assert fixed.cost_yuan == pytest.approx(1.02)  # + the fixed cost, once for the one campaign
    text = r.reminder_text(eff, RP)
    assert "**¥8 增量毛利**" in text and "**ROI（毛利口径）374.0**" in text
    assert "一次活动" in text and "不是上面" not in text  # one campaign: the lift is the rates' difference
    i18n.set_language("en")
    text = r.reminder_text(eff, RP)
    assert "¥8 incremental gross margin" in text and "ROI on margin is 374.0" in text
    assert "basis: gross margin at an assumed 25% of paid GMV" in text


def _two_campaign_tables() -> dict[str, list[dict]]:
    """Two expiry campaigns with the same (zero) effect and different holdout shares.

    Campaign 1 (users 1-15): 5 treated, 1 redeems (users 1); 10 holdout, 2 redeem (users 6, 7): 20% vs 20%.
    Campaign 2 (users 16-30): 10 treated, 6 redeem (users 16-21); 5 holdout, 3 redeem (26-28): 60% vs 60%.
    Each redemption is an order of 40 (margin 10 assumed) with the user's coupon (face value 5), 10-07.
    """
    plan = {
        1: (range(1, 6), {1}, range(6, 16), {6, 7}),
        2: (range(16, 26), set(range(16, 22)), range(26, 31), {26, 27, 28}),
    }
    campaigns, members, orders = [], [], []
    for cid, (treated, t_conv, held, h_conv) in plan.items():
        campaigns.append(dict(_tables()["campaigns"][0], campaign_id=cid, name=f"expiry {cid}"))
        for arm, users in (("treatment", treated), ("holdout", held)):
            for u in users:
                touched = "2026-10-06 08:00:00" if arm == "treatment" else None
                members.append(
                    dict(
                        campaign_id=cid,
                        user_id=u,
                        arm=arm,
                        assigned_at="2026-10-06 08:00:00",
                        touched_at=touched,
                    )
                )
        for u in t_conv | h_conv:
            orders.append(order_row(u, u, "2026-10-07 10:00:00", coupon_id=100 + u, gmv=40))
    users = [dict(user_id=i, registered_at="2026-10-01 08:00:00", channel="app") for i in range(1, 31)]
    return {
        "users": users,
        "coupons": [_coupon(100 + i, i) for i in range(1, 31)],
        "campaigns": campaigns,
        "campaign_members": members,
        "orders": orders,
    }


def test_pooled_lift_is_stratified_not_raw(make_warehouse):
    con = connect(make_warehouse(_two_campaign_tables()))
    eff = r.reminder_effect(con, P.start, P.end, P, RP, DP, ExperimentParams(bootstrap_draws=200))
    arms = eff.arms.groupby("arm")[["members", "converted"]].sum()
    raw = (
        arms.converted["treatment"] / arms.members["treatment"]
        - arms.converted["holdout"] / arms.members["holdout"]
    )
    assert raw == pytest.approx(7 / 15 - 5 / 15)  # raw counts added: (1 + 6) / 15 - (2 + 3) / 15 = +13.3 pp
    assert eff.effect.diff == pytest.approx(0.0)  # each campaign 0 (20% vs 20%, 60% vs 60%): MH 0
    assert eff.effect.n_strata == 2
    assert eff.effect.rate_holdout == pytest.approx(7 / 15)  # (5 x 20% + 10 x 60%) / 15 treated
    assert eff.incremental_redemptions == pytest.approx(0.0)  # 5 x 0 + 10 x 0
    assert eff.incremental_orders == pytest.approx(0.0)  # one order per redemption
    assert eff.incremental_margin == pytest.approx(0.0)  # 10 per order on both arms
    # anyway discount: campaign 1: 5 x 0.2 x 5 = 5; campaign 2: 10 x 0.6 x 5 = 30
    assert eff.anyway_discount == pytest.approx(35.0)
    assert eff.cost_yuan == pytest.approx(0.15)  # 15 treated x 0.01
    assert eff.effect.ci_low < 0 < eff.effect.ci_high


def test_reminder_bootstrap_seeded_and_reproducible(make_warehouse):
    con = connect(make_warehouse(_two_campaign_tables()))

    def run(seed):
        eff = coupon_reminder_effect(
            con,
            "expiry_reminder",
            ["new_user_mid"],
            P.start,
            P.end,
            P.as_of,
            48,
            exp=ExperimentParams(bootstrap_draws=200, bootstrap_seed=seed),
        )
        return eff.incremental_orders_ci, eff.incremental_margin_ci, (eff.effect.ci_low, eff.effect.ci_high)

    first = run(7)
    assert run(7) == first  # the same seed, the same intervals
    assert run(8) != first  # another seed, another draw
    lo, hi = first[0]
    assert lo < 0 < hi  # incremental orders 0 sits inside its interval


def test_diff_proportions_matches_statsmodels():
    d = diff_proportions(30, 100, 20, 100)
    assert d.diff == pytest.approx(0.10)  # 30/100 - 20/100
    low, high = confint_proportions_2indep(30, 100, 20, 100, method="newcomb", compare="diff")
    assert (d.ci_low, d.ci_high) == pytest.approx((low, high))
    assert d.ci_low < 0 < d.ci_high  # n = 100 per arm cannot separate 30% from 20%
    big = diff_proportions(300, 1000, 200, 1000)
    assert big.significant and big.ci_low > 0


def test_expiring_coupons_due(make_warehouse):
    coupons = [
        _coupon(1, 1, expires="2026-11-01 10:00:00"),  # due
        _coupon(2, 1, expires="2026-11-02 23:59:00", kind="new_user_small"),  # due
        _coupon(3, 2, expires="2026-11-03 00:00:00"),  # exactly cutoff + 48 h: not due
        _coupon(4, 3, expires="2026-10-31 23:00:00"),  # expired before the cutoff
        _coupon(5, 2, expires="2026-11-02 10:00:00"),  # redeemed on 10-30: not due
        _coupon(6, 3, expires="2026-11-01 10:00:00", kind="repurchase"),  # not a new-user coupon
    ]
    orders = [order_row(1, 2, "2026-10-30 10:00:00", coupon_id=5, gmv=30)]
    con = connect(make_warehouse({"users": USERS, "coupons": coupons, "orders": orders}))
    due = r.expiring_coupons(con, P, RP, DP)
    assert due["coupon_id"].tolist() == [1, 2]
    assert due["arm"].nunique() == 1  # both coupons of u1 share the user's arm
    assert list(due.columns[:5]) == ["user_id", "coupon_id", "expires_at", "face_value", "kind"]


def test_assign_arms_deterministic_balanced_and_order_free():
    keys = np.arange(1000)
    strata = np.where(keys % 3 == 0, "a", "b")
    arms = assign_arms(keys, 0.3, seed=1, strata=strata)
    frame = pd.DataFrame({"k": keys, "s": strata, "arm": arms})
    holdout = frame[frame.arm == "holdout"].groupby("s").size()
    assert holdout["a"] == round(0.3 * 334) and holdout["b"] == round(0.3 * 666)  # exact share per stratum
    shuffled = np.random.default_rng(5).permutation(1000)
    again = assign_arms(keys[shuffled], 0.3, seed=1, strata=strata[shuffled])
    assert (again == arms[shuffled]).all()  # input order does not matter
    assert (assign_arms(keys, 0.3, seed=2, strata=strata) != arms).any()  # another seed, another draw


def test_expiring_coupons_use_the_params_pack_kinds(make_warehouse):
    coupons = [
        _coupon(1, 1, expires="2026-11-01 10:00:00", kind="other"),  # the chain's own pack kind
        _coupon(2, 2, expires="2026-11-01 10:00:00"),  # new_user_mid: not in this chain's pack
    ]
    orders = [order_row(1, 3, "2026-10-02 10:00:00")]
    con = connect(make_warehouse({"users": USERS, "coupons": coupons, "orders": orders}))
    due = r.expiring_coupons(con, P, RP, DataParams(new_user_coupon_kinds=["other"]))
    assert due["coupon_id"].tolist() == [1]
    none_due = r.expiring_coupons(con, P, RP, DataParams(new_user_coupon_kinds=["welcome"]))
    assert none_due.empty
    assert r.expiring_text(none_due, P, RP).startswith("2026-10-31 之后 48 小时内没有未核销的新人券到期")
    i18n.set_language("en")
    text = r.expiring_text(none_due, P, RP)
    assert text.startswith("No unredeemed new-user coupon expires within 48 hours after 2026-10-31")


def test_reminder_effect_measured_with_both_arms(con):
    s = r.reminder_section(con, P.start, P.end, P, RP, DP, {"campaigns", "campaign_members", "coupons"})
    assert s.ok
    rates = arm_rates(s.value).set_index("arm")
    assert rates.loc["holdout", "rate"] == pytest.approx(0.5)  # u4 of u3 u4
    assert rates.loc["reminded (treatment)", "converted"] == 1  # u1 of u1 u2
    assert (rates.low <= rates.rate).all() and (rates.rate <= rates.high).all()


def test_reminder_without_holdout_says_so(make_warehouse):
    tables = _tables()
    tables["campaign_members"] = [m for m in tables["campaign_members"] if m["arm"] == "treatment"]
    con = connect(make_warehouse(tables))
    s = r.reminder_section(con, P.start, P.end, P, RP, DP, {"campaigns", "campaign_members", "coupons"})
    assert not s.ok
    assert s.reason == "衡量到期提醒需要在提醒组旁边有随机对照组；本期的到期提醒活动没有对照组。"
    i18n.set_language("en")
    s = r.reminder_section(con, P.start, P.end, P, RP, DP, {"campaigns", "campaign_members", "coupons"})
    assert "needs a randomised holdout" in s.reason and "no holdout arm" in s.reason


def test_reminder_without_campaign_or_tables_says_so(con):
    nov = Period("2026-11")  # the only campaign was assigned in October
    s = r.reminder_section(con, nov.start, nov.end, nov, RP, DP, {"campaigns", "campaign_members", "coupons"})
    assert s.reason == "衡量到期提醒需要本期有名单的到期提醒活动；数据中没有。"
    s = r.reminder_section(con, P.start, P.end, P, RP, DP, {"coupons"})
    assert s.reason == "衡量到期提醒需要可选的「营销活动」、「活动名单」表；数据中没有。"
    i18n.set_language("en")
    s = r.reminder_section(con, nov.start, nov.end, nov, RP, DP, {"campaigns", "campaign_members", "coupons"})
    assert s.reason == (
        "Measuring the reminder needs an expiry-reminder campaign with members in this period; the data has none."
    )
    s = r.reminder_section(con, P.start, P.end, P, RP, DP, {"coupons"})
    assert s.reason == (
        "Measuring the reminder needs the optional Campaigns, Campaign members tables; the data lacks them."
    )


def test_reminder_margin_measured_where_cost_of_goods_is_known(make_warehouse):
    tables = _tables()
    tables["products"] = [
        dict(product_id="P1", name="p", category="fresh", price=30, unit_cost=20, is_hero=False)
    ]
    tables["order_items"] = [dict(order_id=1, product_id="P1", quantity=1, amount=30)]  # only u1's order 1
    con = connect(make_warehouse(tables))
    eff = r.reminder_effect(con, P.start, P.end, P, RP, DP, ExperimentParams())
    # u1: order 1 measured 30 - 1 x 20 = 10, order 2 assumed 30 x 25% = 7.5 -> 17.5; u4: 7.5 assumed
    # incremental margin = 17.5 - 2 treated x (7.5 / 2 holdout) = 10
    assert eff.incremental_margin == pytest.approx(10.0)
    assert eff.margin_basis == (
        "gross margin (paid GMV - cost of goods); 2 of 3 window orders at an assumed 25% margin"
    )  # orders 2 and 4 have no lines


def test_reminder_actions_weigh_margin_against_cost(con):
    s = r.reminder_section(
        con, P.start, P.end, P, RP, DP, {"campaigns", "campaign_members", "coupons"}, ExperimentParams()
    )
    lift = replace(s.value.effect, diff=0.2, ci_low=0.1, ci_high=0.3)  # a clear lift, by hand
    # incremental margin 7.5 (interval 5 to 10, by hand) for a touch cost of 0.02: ROI 374.0 (249.0 to 499.0)
    keep = replace(s.value, effect=lift, incremental_margin_ci=(5.0, 10.0))
    text = r.actions(replace(s, value=keep), None, r.Section(reason="x"), r.Section(reason="x"), RP)[0]
    assert text.startswith("**继续发送到期提醒**。") and "ROI（毛利口径）374.0" in text
    assert nv.plain(text).endswith("ROI（毛利口径）374.0（95%置信区间 249.0–499.0）。")
    # the same lift, but the margin interval reaches -1: ROI (-1 - 0.02) / 0.02 = -51.0 -> not "keep"
    unsure = replace(keep, incremental_margin_ci=(-1.0, 10.0))
    text = r.actions(replace(s, value=unsure), None, r.Section(reason="x"), r.Section(reason="x"), RP)[0]
    assert text.startswith("**继续测试到期提醒，并保留对照组衡量**。") and "继续发送" not in text
    assert "95%置信区间 -51.0–499.0" in nv.plain(text) and "仍包含亏损" in text
    i18n.set_language("en")
    text = r.actions(replace(s, value=unsure), None, r.Section(reason="x"), r.Section(reason="x"), RP)[0]
    assert text.startswith("**Keep testing the expiry reminder, and keep its holdout to measure it.**")
    assert "still includes a loss" in text and "Keep the expiry reminder." not in text
    i18n.set_language("zh")
    losing = replace(keep, incremental_margin=-1.0, incremental_margin_ci=(-2.0, -0.5))
    text = r.actions(replace(s, value=losing), None, r.Section(reason="x"), r.Section(reason="x"), RP)[0]
    assert text.startswith("**重新评估到期提醒**。")  # ROI CI (-0.5 - 0.02) / 0.02 < 0


def test_bootstrap_increments_do_not_depend_on_the_block_size():
    from userops.campaigns import _bootstrap_increments

    # two campaigns; u1 in both. c1: 2 treated, 2 held out; c2: 2 treated, 1 held out
    rows = pd.DataFrame(
        {
            "campaign_id": ["c1", "c1", "c1", "c1", "c2", "c2", "c2"],
            "user_id": ["u1", "u2", "u3", "u4", "u1", "u5", "u6"],
            "arm": ["treatment", "treatment", "holdout", "holdout", "treatment", "holdout", "treatment"],
            "converted": [1, 0, 1, 0, 1, 0, 1],
            "orders": [2, 0, 1, 0, 1, 0, 3],
            "margin": [20.0, 0, 9, 0, 6, 0, 30],
        }
    )
    camp = pd.DataFrame({"campaign_id": ["c1", "c2"], "members_treatment": [2, 2]})
    one = _bootstrap_increments(rows, camp, 0.9, 150, 8, block_cells=len(rows))
    whole = _bootstrap_increments(rows, camp, 0.9, 150, 8, block_cells=10**9)
    assert one == whole
    lo, hi = one["orders"]
    assert lo < hi
