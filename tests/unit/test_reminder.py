"""Expiry-reminder effect, the due list and holdout assignment on hand fixtures.

Reminder fixture (campaign 1, expiry_reminder, assigned 10-06 08:00, window 48 h to 10-08 08:00);
every user holds one new_user_mid coupon expiring 10-08 08:00:
    u1 treatment: order 10-07 10:00 with its coupon (converted) + order 10-07 18:00 without
    u2 treatment: no order
    u3 holdout:   order 10-09 10:00 with its coupon, after expiry and after the window
    u4 holdout:   order 10-07 09:00 with its coupon (converted)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

from userops import retention as r
from userops.campaigns import arm_rates
from userops.db import connect
from userops.experiment import assign_arms
from userops.params import DataParams, RetentionParams
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
    assert "needs a randomised holdout" in s.reason and "no holdout arm" in s.reason


def test_reminder_without_campaign_or_tables_says_so(con):
    nov = Period("2026-11")  # the only campaign was assigned in October
    s = r.reminder_section(con, nov.start, nov.end, nov, RP, DP, {"campaigns", "campaign_members", "coupons"})
    assert s.reason == (
        "Measuring the reminder needs a campaign of kind 'expiry_reminder' with members in this period; "
        "the data has none."
    )
    s = r.reminder_section(con, P.start, P.end, P, RP, DP, {"coupons"})
    assert s.reason == (
        "Measuring the reminder needs the optional tables `campaigns`, `campaign_members`; the data lacks them."
    )
