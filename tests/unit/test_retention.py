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
