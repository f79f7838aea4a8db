"""Play 2 recovers the effects planted in a freshly generated demo set (see planted.json)."""

from __future__ import annotations

import pytest

from userops import retention as r
from userops.db import last_complete_month
from userops.params import DataParams, RetentionParams
from userops.period import Period

RP = RetentionParams()
DP = DataParams()


@pytest.fixture(scope="module")
def period(demo_con):
    return Period(last_complete_month(demo_con))


def test_expiry_reminder_lift_inside_ci(demo_con, period, planted):
    """The randomised reminder lift, pooled over every campaign of the data, covers the planted lift."""
    truth = planted["expiry_reminder_lift"]["lift"]
    first = period.shift(-12).start
    eff = r.reminder_effect(demo_con, first, period.end, period, RP, DP)
    e = eff.effect
    assert e.ci_low <= truth <= e.ci_high, (e.diff, e.ci_low, e.ci_high, truth)
    assert e.ci_low > 0  # detected, not just "not excluded"
    assert e.ci_high - e.ci_low < 0.12  # and measured with useful precision
    assert e.rate_holdout == pytest.approx(planted["expiry_reminder_lift"]["base"], abs=0.04)


def test_bad_channel_retains_worst(demo_con, period, planted):
    """The planted low-quality channel has the lowest cumulative D7 of all channels."""
    bad = planted["channel_quality"]["channel"]
    rp = RetentionParams(channel_trailing_months=6)
    ch = r.channel_summary(demo_con, period, rp)
    assert ch.iloc[-1].channel == bad, ch[["channel", "cum_d7"]]
    others = ch[ch.channel != bad]
    assert (others.cum_d7_low > ch.iloc[-1].cum_d7_high).sum() >= len(
        others
    ) // 2  # clearly separated from most


def test_due_list_is_reproducible_and_split(demo_con, period):
    a = r.expiring_coupons(demo_con, period, RP, DP)
    b = r.expiring_coupons(demo_con, period, RP, DP)
    assert len(a) > 0 and a.equals(b)
    share = (a.drop_duplicates("user_id").arm == "holdout").mean()
    assert share == pytest.approx(RP.reminder_holdout_share, abs=0.02)
