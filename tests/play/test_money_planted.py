"""Every money verdict of play 1 shows on the demo: the planted unprofitable channel (planted.json
"unprofitable_channel": spend per registration far above what its customers' margin pays back) has
margin LTV/CAC below 1 and the play says to stop or fix it; every other channel pays back."""

from __future__ import annotations

import pytest

from userops import acquisition as a
from userops import i18n
from userops.db import last_complete_month
from userops.params import AcquisitionParams, DataParams, ExperimentParams
from userops.period import Period

AP = AcquisitionParams()
KINDS = DataParams().new_user_coupon_kinds
RATE = ExperimentParams().assumed_margin_rate


@pytest.fixture(scope="module")
def period(demo_con):
    return Period(last_complete_month(demo_con))


@pytest.fixture(scope="module")
def ratio(demo_con, period):
    cost = a.cac(demo_con, period, AP, KINDS)
    hold = a.holdout_check(demo_con, period, AP)
    pred = a.predicted_ltv(demo_con, period, AP, hold, KINDS, RATE)
    result = a.ltv_cac_result(pred, cost, a.cac_reason(cost, period, AP, True))
    assert result.ok, result.reason
    return result.table


def test_unprofitable_channel_below_one_and_the_rest_above(ratio, planted):
    bad = planted["unprofitable_channel"]["channel"]
    r = ratio.set_index("channel")
    assert r.loc[bad].ltv_cac_margin < 1, r[["ltv_margin_gross", "cac_yuan", "ltv_cac_margin"]]
    others = r.drop(index=bad)
    assert len(others) == 7  # every other demo channel has a ratio
    assert (others.ltv_cac_margin > 1).all(), others[["ltv_margin_gross", "cac_yuan", "ltv_cac_margin"]]
    # the one CAC: spend + commissions + coupons, per new user, and the margin LTV gross of the pack
    assert (r.ltv_margin_gross == r.ltv_margin + r.pack_per_customer).all()
    assert r.loc[bad].cac_yuan > r.loc[bad].spend_per_user_yuan  # its coupons are in it too


def test_actions_say_stop_or_fix_the_unprofitable_channel(demo_con, period, ratio, planted):
    bad = planted["unprofitable_channel"]["channel"]
    qual = a.quality(demo_con, period, AP)
    act = a.channel_actions(ratio, qual, AP).set_index("channel")
    assert act.loc[bad].action == "cut"
    assert (act.drop(index=bad).action != "cut").all()
    lines = a.channel_action_lines(act.reset_index(), AP)
    stop = [ln for ln in lines if ln.startswith(f"**停投或整改{i18n.name('channel', bad)}**")]
    assert len(stop) == 1 and "按毛利计算是亏损的" in stop[0], lines
    assert sum("停投或整改" in ln for ln in lines) == 1
    assert lines[0] == stop[0]  # first: the line the brief quotes
