"""Play 1 recovers the effects planted in a freshly generated demo set (see planted.json)."""

from __future__ import annotations

import pytest

from userops import acquisition as a
from userops.db import last_complete_month
from userops.params import AcquisitionParams, DataParams, ExperimentParams
from userops.period import Period

AP = AcquisitionParams()


@pytest.fixture(scope="module")
def period(demo_con):
    return Period(last_complete_month(demo_con))


@pytest.fixture(scope="module")
def quality(demo_con, period):
    return a.quality(demo_con, period, AP)


def test_bad_channel_worst_quality_among_largest_volume(quality, planted):
    """paid_ads (cheap, high volume, retains badly) is last on D30 and top-2 on new users."""
    bad = planted["channel_quality"]["channel"]
    worst = quality.iloc[-1]
    assert worst.channel == bad, quality[["channel", "d_long", "new_users"]]
    assert worst.volume_rank <= 2
    others = quality[quality.channel != bad]
    # its interval lies below the intervals of all but at most two others (small demo set: 8k users)
    assert (others.d_long_low > worst.d_long_high).sum() >= len(others) - 2
    assert (others.gmv_per_user > worst.gmv_per_user).all()  # and the lowest 90-day value per user
    assert (others.d_short > worst.d_short).all()


def test_bad_channel_d30_matches_planted_repeat_share(quality, planted):
    """The generator's 30-day repeat share of paid_ads buyers lies inside our D30 interval (±3 pp)."""
    truth = planted["channel_quality"]["d30_repeat_share_of_buyers"]
    bad = quality.set_index("channel").loc[planted["channel_quality"]["channel"]]
    assert bad.d_long_low - 0.03 <= truth[bad.name] <= bad.d_long_high + 0.03, (bad.d_long, truth[bad.name])


def test_spend_per_registration_matches_planted_cac(demo_con, period, planted):
    """Over the whole demo, spend / registrations per channel equals the generator's CAC (±2%)."""
    kinds = DataParams().new_user_coupon_kinds
    cost = a.cac(demo_con, period, AcquisitionParams(cac_months=12), kinds).set_index("channel")  # all months
    truth = planted["channel_quality"]["cac_per_registered_user"]
    full = cost.loc[list(truth)]
    lowest = full.spend_per_registration_yuan.idxmin()
    assert lowest == planted["channel_quality"]["channel"]  # the bad channel is the cheapest
    for ch, v in truth.items():
        assert full.loc[ch].spend_per_registration_yuan == pytest.approx(v, rel=0.02), ch


def test_ltv_model_holdout_error_is_small(demo_con, period):
    """The check covers what is reported: the 8-month demo (orders from 2025-11) cannot hold out 12
    months after 90 days of history, so the model is fitted on the orders before 2026-01-30 and checked
    on the 5 months after (152 days), and the LTV is reported over those 5 months, not 12.

    Over 5 months the error is larger than over the old 90 days (seeded run: +12.4% purchase days and
    +14.0% GMV overall; 2% to 12% on the channels with at least 150 customers; wechat_moments, 136
    customers, +43%): bounds of 20% overall and for the larger channels. A channel with fewer than
    `ltv_min_customers` calibration customers (official_account, 91) uses the model of all channels.
    """
    hold = a.holdout_check(demo_con, period, AP)
    ht = hold.table.set_index("channel")
    assert (
        ht.attrs["horizon_months"] == 5 and ht.attrs["holdout_days"] == 152 and not ht.attrs["full_horizon"]
    )
    small = ht.customers < AP.ltv_min_customers
    assert (ht.model[(ht.index != "all") & small] == "all channels").all(), ht[["customers", "model"]]
    assert (ht.model[(ht.index != "all") & ~small] == "own").all(), ht[["customers", "model"]]
    assert abs(ht.loc["all"].error_days) < 0.20, ht[["actual_days", "pred_days", "error_days"]]
    assert abs(ht.loc["all"].error_gmv) < 0.20
    big = ht[(ht.index != "all") & (ht.customers >= 150)]
    assert len(big) >= 4 and (big.error_days.abs() < 0.20).all(), big[["customers", "error_days"]]
    assert a.predicted_ltv(demo_con, period, AP, hold).table.attrs["horizon_months"] == 5


def test_bad_channel_lowest_predicted_ltv(demo_con, period, planted):
    pred = a.predicted_ltv(demo_con, period, AP).table.set_index("channel")
    assert pred.ltv_revenue.idxmin() == planted["channel_quality"]["channel"], pred.ltv_revenue


def test_community_economics_recover_the_planted_truth(demo_con, period, planted):
    """The report's group-leader (community) gross margin per yuan spent equals the generator's truth.

    Tolerance 1%: planted.json computes the same definition on the same users (referred users
    registered in the last 3 months whose 30-day window is complete) from the generator's own arrays
    (line costs, coupon faces, commission), independently of the SQL; only cent rounding can differ,
    so a larger gap is a definition error (e.g. a coupon counted twice, GMV instead of margin).
    And the figure lands near the source article's ~3 (2.5 to 3.5), as the demo's commission is set to.
    """
    truth = planted["referral_economics"]
    ap = AcquisitionParams(
        referral_months=truth["registration_months"], referral_gmv_days=truth["window_days"]
    )
    ref = a.referrers(
        demo_con, period, ap, DataParams().new_user_coupon_kinds, ExperimentParams().assumed_margin_rate
    )
    _, metrics = a.referral_findings(ref, a.groups(ref), ap, ExperimentParams().assumed_margin_rate)
    gl = truth["group_leader"]
    assert ap.commission_group_leader == gl["commission_per_valid_user"]
    assert a.referral_economics(ref, "group_leader")["users"] == gl["users"]
    assert metrics["community_margin_per_yuan"] == pytest.approx(gl["margin_per_yuan"], rel=0.01)
    assert metrics["community_gmv_per_yuan"] == pytest.approx(gl["gmv_per_yuan"], rel=0.01)
    assert 2.5 <= metrics["community_margin_per_yuan"] <= 3.5
    sp = truth["store_promoter"]
    assert metrics["promoter_margin_per_yuan"] == pytest.approx(sp["margin_per_yuan"], rel=0.01)
