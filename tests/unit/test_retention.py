"""Play 2 metrics on hand-computed fixtures. Report month 2026-10, as of 2026-10-31.

Orders of the main fixture (user: order times, 'D' = calendar days after the first order):
    u1 app       10-01 10:00 (first), 10-02 09:00 (D1)
    u2 app       10-01 20:00 (first), 10-01 22:00 (D0, same day), 10-09 08:00 (D8)
    u3 paid_ads  10-02 12:00 (first), 10-06 12:00 (D4)
    u4 paid_ads  10-28 12:00 (first), 10-29 12:00 (D1)   -> observed only 3 days by 10-31
    u5 paid_ads  registered, never ordered
    u6 official_account 10-20 12:00 (first only)
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from userops import retention as r
from userops.db import connect
from userops.params import DataParams, RetentionParams
from userops.period import Period
from userops.testing import one_row, order_row

P = Period("2026-10")
RP = RetentionParams()
DP = DataParams()

USERS = [
    dict(user_id=1, registered_at="2026-10-01 09:00:00", channel="app"),
    dict(user_id=2, registered_at="2026-10-01 09:00:00", channel="app"),
    dict(user_id=3, registered_at="2026-10-02 09:00:00", channel="paid_ads"),
    dict(user_id=4, registered_at="2026-10-27 09:00:00", channel="paid_ads"),
    dict(user_id=5, registered_at="2026-10-27 09:00:00", channel="paid_ads"),
    dict(user_id=6, registered_at="2026-10-20 09:00:00", channel="official_account"),
]


ORDERS = [
    order_row(1, 1, "2026-10-01 10:00:00"),
    order_row(2, 1, "2026-10-02 09:00:00", coupon_id=101),
    order_row(3, 2, "2026-10-01 20:00:00"),
    order_row(4, 2, "2026-10-01 22:00:00"),
    order_row(5, 2, "2026-10-09 08:00:00", coupon_id=104),
    order_row(6, 3, "2026-10-02 12:00:00"),
    order_row(7, 3, "2026-10-06 12:00:00"),
    order_row(8, 4, "2026-10-28 12:00:00"),
    order_row(9, 4, "2026-10-29 12:00:00"),
    order_row(10, 6, "2026-10-20 12:00:00"),
]


def _coupon(cid, uid, kind, issued, expires, face=3, campaign=None):
    return dict(
        coupon_id=cid,
        user_id=uid,
        kind=kind,
        issued_at=issued,
        expires_at=expires,
        face_value=face,
        min_spend=10,
        campaign_id=campaign,
    )


COUPONS = [
    # c101 u1 small: redeemed by order 2 on 10-02, within validity
    _coupon(101, 1, "new_user_small", "2026-10-01 09:00:00", "2026-10-08 09:00:00"),
    # c102 u1 large: never redeemed, closed
    _coupon(102, 1, "new_user_large", "2026-10-01 09:00:00", "2026-10-08 09:00:00", face=20),
    # c103 u4 small: still valid at 10-31 (not closed)
    _coupon(103, 4, "new_user_small", "2026-10-27 12:00:00", "2026-11-03 12:00:00"),
    # c104 u2 small: redeemed by order 5 on 10-09, AFTER expiry 10-08
    _coupon(104, 2, "new_user_small", "2026-10-01 09:00:00", "2026-10-08 09:00:00"),
]


@pytest.fixture
def con(make_warehouse):
    wh = make_warehouse({"users": USERS, "orders": ORDERS, "coupons": COUPONS})
    c = connect(wh)
    yield c
    c.close()


def test_monthly_cohort_dk_and_cumulative(con):
    oct_ = r.by_cohort(r.cohort_counts(con, P.start, P.end, "month", P, RP))
    d1 = one_row(oct_, day_k=1)
    assert d1.cohort_users == 5  # u1 u2 u3 u4 u6 (u5 never ordered)
    assert d1.eligible_users == 5  # all observed 1 day by 10-31 (u4: 10-29)
    assert d1.retained_users == 2  # u1 (10-02), u4 (10-29); u2's same-day order is D0
    assert d1.retention == pytest.approx(0.4)
    assert d1.is_mature
    d4 = one_row(oct_, day_k=4)
    assert d4.eligible_users == 4  # u4 would need 11-01
    assert d4.retained_users == 1  # u3 (10-06)
    assert d4.cum_retained_users == 2  # u1 (D1), u3 (D4)
    assert d4.cum_retention == pytest.approx(0.5)
    assert not d4.is_mature  # 4 of 5 users observed -> masked in grids
    d7 = one_row(oct_, day_k=7)
    assert d7.retained_users == 0  # u2's 10-09 is D8, outside 1..7
    assert d7.cum_retention == pytest.approx(0.5)  # u1, u3 of u1 u2 u3 u6


def test_daily_triangle_masks_immature_and_zero_fills(con):
    daily = r.by_cohort(r.cohort_counts(con, dt.date(2026, 10, 1), P.end, "day", P, RP))
    assert daily["cohort_start"].nunique() == 31  # every day of October, quiet ones included
    grid, mask = r.triangle(daily)
    assert grid.loc[pd.Timestamp("2026-10-28"), 1] == 1.0  # u4 ordered on 10-29
    assert not mask.loc[pd.Timestamp("2026-10-28"), 3]  # 10-31 observed: mature
    assert mask.loc[pd.Timestamp("2026-10-28"), 4]  # 11-01 not observed: masked, never 0
    assert mask.loc[pd.Timestamp("2026-10-03")].all()  # no new users on 10-03: masked
    assert grid.loc[pd.Timestamp("2026-10-01"), 1] == 0.5  # u1 of u1 u2


def test_channel_pooled_rates(con):
    ch = r.by_channel(r.cohort_counts(con, P.start, P.end, "day", P, RP))
    assert one_row(ch, channel="paid_ads", day_k=1).retention == pytest.approx(0.5)  # u4 of u3 u4
    assert one_row(ch, channel="app", day_k=1).retention == pytest.approx(0.5)  # u1 of u1 u2
    assert one_row(ch, channel="official_account", day_k=1).retention == 0.0  # u6 of u6


def test_second_order_within_7_days(con):
    s = r.second_order_share(con, P.start, P.end, P, RP)
    total = one_row(s, channel="all")
    assert total.new_users == 5
    assert total.eligible_users == 4  # u4's window ends 11-04, after 10-31
    assert total.second_within == 3  # u1 (23 h), u2 (2 h, same day), u3 (4 days); not u6
    assert total.share == pytest.approx(0.75)
    assert one_row(s, channel="paid_ads").share == pytest.approx(1.0)  # u3 of u3 (u4 not eligible)


def test_time_to_second_order_km_censors(con):
    curves = r.time_to_second(con, P.start, P.end, P, RP)
    km = curves["all"]["survival"]
    # durations: u2 0, u1 1, u4 1, u3 4 (events); u6 censored at 11 days (10-20 .. 10-31)
    assert km.loc[0] == pytest.approx(0.8)  # 1 event of 5 at risk
    assert km.loc[1] == pytest.approx(0.4)  # 0.8 x (1 - 2/4)
    assert km.loc[4] == pytest.approx(0.2)  # 0.4 x (1 - 1/2)
    assert km.iloc[-1] == pytest.approx(0.2)  # u6 censored, no further drop
    assert curves["all"].attrs["median"] == 1
    assert r.share_by_day(curves["all"], 7) == pytest.approx(0.8)


def test_coupon_pack_redemption_within_validity(con):
    cp = r.coupon_pack(con, P, DP).set_index("kind")
    small = cp.loc["new_user_small"]
    assert small.n_issued == 3  # c101 c103 c104
    assert small.n_closed == 2  # c103 still valid at 10-31
    assert small.n_redeemed_closed == 2  # c101 (10-02), c104 (10-09)
    assert small.n_redeemed_within == 1  # c104 redeemed after its 10-08 expiry
    assert small.redemption_rate == pytest.approx(0.5)
    assert cp.loc["new_user_large"].redemption_rate == 0.0  # c102 unused


def test_km_share_beyond_the_observed_days_is_not_shown(con):
    curve = r.time_to_second(con, P.start, P.end, P, RP)["all"]
    assert r.share_by_day(curve, 7) == pytest.approx(0.8)  # 1 - KM 0.2 after u3's day-4 order
    assert pd.isna(r.share_by_day(curve, 30))  # the longest observation is u6's 11 days
    assert (
        r.km_finding(curve, RP)
        == "80.0% of new users reorder within 7 days (30 days needs a longer observation)"
    )


def test_channel_section_keeps_each_interval_around_its_rate(con):
    ch = r.channel_section(con, P, RP).value
    # cumulative D7 over users observed 7 days: paid_ads u3 (D4) 1/1, app u1 of u1 u2, official u6 0/1
    assert ch.channel.tolist() == ["paid_ads", "app", "official_account"]
    assert ch.cum_d7.tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert (ch.cum_d7_low <= ch.cum_d7).all() and (ch.cum_d7 <= ch.cum_d7_high).all()
    assert ch.cum_d7_low.iloc[2] == 0.0 and ch.cum_d7_high.iloc[0] == 1.0
    assert r.overall_cum_dk(ch) == pytest.approx(0.5)  # u1, u3 of u1 u2 u3 u6
    assert r.channel_finding(ch, 7) == "paid_ads retains best (100.0%), official_account worst (0.0%)"


def test_sections_without_new_users_say_what_they_need(con):
    nov, dec = Period("2026-11"), Period("2026-12")
    assert r.headline_section(con, nov, RP).reason == (
        "This section needs new users (a first order) in November 2026; the data has none."
    )
    # October's cohort is not fully observed for 7 days (u4 from 10-28) and no earlier month has users
    assert "needs a first-order month from May 2026 to October 2026 whose new users were all observed" in (
        r.monthly_section(con, P, RP).reason
    )
    assert r.monthly_section(con, nov, RP).ok  # by 11-30 every October user is observed 7 days
    daily = r.cohort_grid_section(r.daily_cohorts(con, dec, RP), "daily", dec)
    assert daily.reason == (
        "The daily cohort grid needs new users observed for at least a day by 2026-12-31; "
        "the data has none in these cohorts."
    )
    assert not r.km_section(con, dec.start, dec, RP).ok


def test_weekly_trend_from_complete_weeks_only(con):
    weekly = r.weekly_cohorts(con, P, RP)
    # complete (mature) D7 weeks: 09-28 (u1 u2 u3: u1, u3 reorder -> 2/3) and 10-19 (u6: 0/1)
    assert r.weekly_finding(weekly, 7) == (
        "Weekly cohorts: cumulative D7 moved -66.7 pp from the first to the last complete week"
    )
    one_week = weekly[weekly.cohort_start != pd.Timestamp("2026-10-19")]
    assert r.weekly_finding(one_week, 7).startswith("A weekly trend of cumulative D7 needs two weeks")


def test_coupon_pack_section_and_actions_on_missing_numbers(con):
    assert not r.coupon_pack_section(con, P, DP, has_coupons=False).ok
    other = r.coupon_pack_section(con, P, DataParams(new_user_coupon_kinds=["recall"]), has_coupons=True)
    assert other.reason.startswith("This section needs new-user pack coupons (kinds recall")
    pack = r.coupon_pack_section(con, P, DP, has_coupons=True)
    # closed coupons: small c101 (redeemed in validity), c104 (redeemed after expiry); large c102
    assert pack.value.set_index("kind").redemption_rate.to_dict() == {
        "new_user_small": 0.5,
        "new_user_large": 0.0,
    }
    ch = r.channel_section(con, P, RP)  # every channel below min_cohort_users: no channel action
    acts = r.actions(r.Section(reason="no campaign"), None, ch, pack, RetentionParams(min_cohort_users=1))
    assert acts == [
        "**Rework the new_user_large coupon** (¥20 off ¥10): only 0.0% are used within their validity."
    ]
    nothing = r.Section(reason="needs data")
    assert r.actions(nothing, None, nothing, nothing, RP) == []
    assert r.actions_text([]).startswith("No action this month")
    assert r.actions(r.Section(reason="no campaign"), None, ch, pack, RP) == []  # 1-2 closed coupons per kind


def test_headline_text_without_a_previous_month(con):
    h = r.headline_section(con, P, RP).value
    assert (h.new_users, h.new_users_prev) == (5, 0)  # u1 u2 u3 u4 u6; nobody ordered in September
    text = r.headline_text(h, P, RP)
    assert text.splitlines()[0] == "**5 users placed their first order in October 2026**."
    assert "- **D1 retention 40.0%**: the share who ordered again the next day." in text  # u1, u4 of 5
    assert "September" not in text and "n/a" not in text


def test_channels_beyond_top_n_are_pooled_as_others(con):
    ch = r.channel_summary(con, P, RetentionParams(channel_top_n=1)).set_index("channel")
    # most new users: app (u1 u2) and paid_ads (u3 u4) tie at 2 -> app by name; others = paid_ads + official
    assert ch.index.tolist() == ["app", "others"]  # others: u3 (D4) of u3 u6 observed 7 days -> 50%
    assert ch.loc["others", "new_users"] == 3  # u3 u4 u6
    assert ch.loc["others", "cum_d7"] == pytest.approx(0.5)
    assert ch.loc["others", "d1"] == pytest.approx(1 / 3)  # u4 (10-29) of u3 u4 u6
    assert ch.loc["others", "second_within"] == pytest.approx(0.5)  # u3 of u3 u6 (u4 not eligible)
