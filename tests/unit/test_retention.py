"""Play 2 metrics on hand-computed fixtures. Report month 2026-10, as of 2026-10-31.

Orders of the main fixture (user: order times, 'D' = calendar days after the first order):
    u1 app       10-01 10:00 (first), 10-02 09:00 (D1)
    u2 app       10-01 20:00 (first), 10-01 22:00 (D0, same day), 10-09 08:00 (D8)
    u3 paid_ads  10-02 12:00 (first), 10-06 12:00 (D4)
    u4 paid_ads  10-28 12:00 (first), 10-29 12:00 (D1)   -> observed only 3 days by 10-31
    u5 paid_ads  registered, never ordered
    u6 official_account 10-20 12:00 (first only)
Events: u1 visit 10-01 (D0), u2 visit 10-02 (D1), u6 visit 10-21 (D1), u3 add_cart 10-03 (D1).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from userops import i18n
from userops import narrative as nv
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


def _event(uid, ts, event="visit"):
    return dict(user_id=uid, ts=ts, event=event, event_channel="app")


EVENTS = [
    _event(1, "2026-10-01 11:00:00"),
    _event(2, "2026-10-02 10:00:00"),
    _event(6, "2026-10-21 10:00:00"),
    _event(3, "2026-10-03 10:00:00", "add_cart"),
]


@pytest.fixture
def con(make_warehouse):
    wh = make_warehouse({"users": USERS, "orders": ORDERS, "coupons": COUPONS, "events": EVENTS})
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


def test_time_to_return_km_censors_and_ignores_same_day_orders(con):
    curves = r.time_to_second(con, P.start, P.end, P, RP)
    km = curves["all"]["survival"]
    # days to the first later order day: u1 1, u4 1, u3 4, u2 8 (10-09; its 10-01 22:00 order is
    # day 0, the same trip, as in the headline 7-day retention); u6 censored at 11 days (10-20 .. 10-31)
    assert km.loc[0] == pytest.approx(1.0)  # no return on day 0 by definition
    assert km.loc[1] == pytest.approx(0.6)  # 2 returns of 5 at risk
    assert km.loc[4] == pytest.approx(0.4)  # 0.6 x (1 - 1/3)
    assert km.loc[8] == pytest.approx(0.2)  # 0.4 x (1 - 1/2): u2 of u2 u6
    assert km.iloc[-1] == pytest.approx(0.2)  # u6 censored, no further drop
    assert curves["all"].attrs["median"] == 4
    # censored 7-day estimate 60% (u4's D1 counts though u4 is observed 3 days) vs the headline's
    # 50% on the users observed 7 days (u1, u3 of u1 u2 u3 u6): the same definition, two estimators
    assert r.share_by_day(curves["all"], 7) == pytest.approx(0.6)


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
    assert r.share_by_day(curve, 7) == pytest.approx(0.6)  # 1 - KM 0.4 after u3's day-4 order
    assert pd.isna(r.share_by_day(curve, 30))  # the longest observation is u6's 11 days
    assert r.km_finding(curve, RP) == "估计 60.0% 的新客在第 7 天前再次下单（第 30 天需要更长的观察期）"
    i18n.set_language("en")
    assert r.km_finding(curve, RP) == (
        "Estimated: 60.0% of new users order again by day 7 (day 30 needs a longer observation)"
    )


def test_channel_section_keeps_each_interval_around_its_rate(con):
    ch = r.channel_section(con, P, RP).value
    # cumulative D7 over users observed 7 days: paid_ads u3 (D4) 1/1, app u1 of u1 u2, official u6 0/1
    assert ch.channel.tolist() == ["paid_ads", "app", "official_account"]
    assert ch.cum_d7.tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert (ch.cum_d7_low <= ch.cum_d7).all() and (ch.cum_d7 <= ch.cum_d7_high).all()
    assert ch.cum_d7_low.iloc[2] == 0.0 and ch.cum_d7_high.iloc[0] == 1.0
    assert r.overall_cum_dk(ch) == pytest.approx(0.5)  # u1, u3 of u1 u2 u3 u6
    assert r.channel_finding(ch, 7) == "付费广告留存最好（100.0%），公众号最差（0.0%）"  # business names
    i18n.set_language("en")
    assert r.channel_finding(ch, 7) == "Paid ads retains best (100.0%), Official account worst (0.0%)"


def test_sections_without_new_users_say_what_they_need(con):
    nov, dec = Period("2026-11"), Period("2026-12")
    assert (
        r.headline_section(con, nov, RP).reason == "本节需要2026年11月有新客（下了首单的用户）；数据中没有。"
    )
    i18n.set_language("en")
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
        "these cohorts have none."
    )
    assert not r.km_section(con, dec.start, dec, RP).ok


def test_weekly_cohorts_start_on_mondays_and_mark_partial_weeks(con):
    weekly = r.weekly_cohorts(con, P, RP)
    starts = pd.to_datetime(weekly.cohort_start.drop_duplicates())
    assert (starts.dt.weekday == 0).all()  # Mondays
    assert starts.min() == pd.Timestamp("2026-08-10") and len(starts) == 12  # 12 weeks to 10-26
    done = weekly[weekly.day_k == 1].set_index("cohort_start").is_complete
    assert not done[pd.Timestamp("2026-09-28")]  # the data starts Thu 10-01: a 4-day stub week
    assert done[pd.Timestamp("2026-10-19")]  # Mon 10-19 .. Sun 10-25, all observed
    assert not done[pd.Timestamp("2026-10-26")]  # Mon 10-26 .. Sun 11-01: 11-01 is after the month
    # complete weeks observed 7 days: 10-05, 10-12 (no users: no rate), 10-19 (u6) -> one rate
    assert r.weekly_finding(weekly, 7) == "7日留存的周趋势需要 4 个观察满 7 天的完整周；数据中有 1 个"
    i18n.set_language("en")
    assert r.weekly_finding(weekly, 7) == (
        "A weekly trend of 7-day retention needs 4 complete weeks observed for 7 days; the data has 1"
    )


def _trend_tables():
    """A 1-day stub week (Sun 09-06, 1 user back on D1 = 100%) then 4 complete weeks of 4 new
    users each (first orders on the Monday), 3, 2, 2, 1 of them back on D1: 75%, 50%, 50%, 25%."""
    users, orders, oid = [], [], iter(range(1, 100))
    plan = [("2026-09-06", 1, 1), ("2026-09-07", 4, 3), ("2026-09-14", 4, 2), ("2026-09-21", 4, 2)]
    plan.append(("2026-09-28", 4, 1))
    uid = 0
    for day, n, back in plan:
        for i in range(n):
            uid += 1
            users.append(dict(user_id=uid, registered_at=f"{day} 08:00:00", channel="app"))
            orders.append(order_row(next(oid), uid, f"{day} 10:00:00"))
            if i < back:
                d1 = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
                orders.append(order_row(next(oid), uid, f"{d1} 10:00:00"))
    return {"users": users, "orders": orders}


def test_weekly_trend_is_a_fit_over_complete_weeks(make_warehouse):
    c = connect(make_warehouse(_trend_tables()))
    weekly = r.weekly_cohorts(c, P, RP)
    stub = one_row(weekly, cohort_start=pd.Timestamp("2026-08-31"), day_k=7)
    assert stub.cum_retention == 1.0 and not stub.is_complete  # Mon 08-31 week holds only Sun 09-06
    t = r.weekly_trend(weekly, 7)
    # x = 0..3, y = .75 .5 .5 .25: slope = Sxy/Sxx = -0.75/5 = -0.15; residuals .025 -.075 .075 -.025,
    # SSE .0125, se = sqrt(.0125/2/5) = .035355, t(.975, 2) = 4.3027 -> CI -0.15 -/+ 0.15212
    assert t["weeks"] == 4
    assert t["slope"] == pytest.approx(-0.15)
    assert (t["ci_low"], t["ci_high"]) == pytest.approx((-0.30212, 0.00212), abs=1e-4)
    # the old "first to last complete week" read the stub: 100% -> 25% = -75 pp; the fit says no trend
    i18n.set_language("en")
    assert nv.plain(r.weekly_finding(weekly, 7)) == (
        "7-day retention shows no clear weekly trend over 4 complete weeks (95% CI -30.2 pp–+0.2 pp a week)"
    )
    c.close()


def test_return_event_activity_and_named_event(con):
    def d1(event):
        m = r.by_cohort(r.cohort_counts(con, P.start, P.end, "month", P, RP, return_event=event))
        return one_row(m, day_k=1)

    assert d1("order").retained_users == 2  # u1 (order 10-02), u4 (order 10-29)
    # any: + u2 (visit 10-02), u6 (visit 10-21), u3 (add_cart 10-03); u1's 10-01 visit is D0
    assert d1("any").retained_users == 5
    assert d1("visit").retained_users == 2  # u2, u6 (u1's visit is D0)
    assert d1("add_cart").retained_users == 1  # u3 (10-03 is D1 of 10-02)
    assert d1("any").retention == 1.0  # 5 of u1 u2 u3 u4 u6
    h = r.headline(con, P, RP)
    assert (h.d1, h.other_event, h.d1_other) == (pytest.approx(0.4), "any", 1.0)
    assert "- 若以「有任何活跃（浏览等行为或下单）」计，次日留存为 100.0%" in r.headline_text(h, P, RP)
    i18n.set_language("en")
    text = r.headline_text(h, P, RP)
    assert "- D1 on any activity (an event or an order) instead: 100.0% (same new users" in text
    on_visits = RetentionParams(return_event="visit")
    hv = r.headline(con, P, on_visits)
    assert (hv.d1, hv.other_event, hv.d1_other) == (pytest.approx(0.4), "order", pytest.approx(0.4))
    no_events = r.headline(con, P, RP, has_events=False)
    assert pd.isna(no_events.d1_other)
    assert "- D1 on any activity (an event or an order) needs the optional Events table" in (
        r.headline_text(no_events, P, RP)
    )
    assert r.headline_section(con, P, on_visits, has_events=False).reason == (
        "Retention on a 'visit' event as the return event needs the optional Events table; the data lacks it."
    )


def test_one_headline_definition_and_named_variants(con):
    h = r.headline(con, P, RP)
    # headline 7-day: u1 (D1), u3 (D4) of u1 u2 u3 u6 (u4 observed 3 days) = 50%; u2's same-day
    # 2nd order is not a return. Variant 2nd order within 7 x 24 h: u1 u2 u3 of the same 4 = 75%.
    assert (h.cum_d7, h.second_within) == (pytest.approx(0.5), pytest.approx(0.75))
    defs = r.metric_definitions(RP)
    assert set(defs) == {
        "d1_retention",
        "d1_retention_any",
        "cum_d7_retention",
        "second_order_within_168h",
        "km_retention_by_day_30",
        "cum_d7_retention.<channel>",
    }
    assert defs["cum_d7_retention"][1].startswith("7-day retention (headline)")
    assert all(
        defs[k][1].startswith("variant:") for k in ("second_order_within_168h", "km_retention_by_day_30")
    )
    text = r.headline_text(h, P, RP)
    assert "- **7日留存 50.0%**：首单后第 1–7 天内再次下单的新客占比" in text
    assert "- 口径变体 **7日复购率 75.0%**：首单后 7×24 小时内下第二单的占比。" in text
    i18n.set_language("en")
    text = r.headline_text(h, P, RP)
    assert "- **7-day retention 50.0%**: the share with another order on days 1–7" in text
    assert "- Variant, **7-day repurchase rate 75.0%**: the share with a 2nd order within 7 x 24 h" in text


def test_coupon_pack_section_and_actions_on_missing_numbers(con):
    assert not r.coupon_pack_section(con, P, DP, has_coupons=False).ok
    other = r.coupon_pack_section(con, P, DataParams(new_user_coupon_kinds=["recall"]), has_coupons=True)
    assert other.reason == "本节需要2026年10月发放的新人券（参数中的新人券类型：召回券）；数据中没有。"
    pack = r.coupon_pack_section(con, P, DP, has_coupons=True)
    # closed coupons: small c101 (redeemed in validity), c104 (redeemed after expiry); large c102
    assert pack.value.set_index("kind").redemption_rate.to_dict() == {
        "new_user_small": 0.5,
        "new_user_large": 0.0,
    }
    ch = r.channel_section(con, P, RP)  # every channel below min_cohort_users: no channel action
    acts = r.actions(r.Section(reason="no campaign"), None, ch, pack, RetentionParams(min_cohort_users=1))
    assert acts == [
        "**重新设计新人大额券**（满 ¥10 减 ¥20）：只有 0.0% 在有效期内被使用。"
    ]  # its business name
    nothing = r.Section(reason="needs data")
    assert r.actions(nothing, None, nothing, nothing, RP) == []
    assert r.actions_text([]).startswith("本月没有行动")
    assert r.actions(r.Section(reason="no campaign"), None, ch, pack, RP) == []  # 1-2 closed coupons per kind


def test_headline_text_without_a_previous_month(con):
    h = r.headline_section(con, P, RP).value
    assert (h.new_users, h.new_users_prev) == (5, 0)  # u1 u2 u3 u4 u6; nobody ordered in September
    zh = r.headline_text(h, P, RP)
    assert zh.splitlines()[0] == "**2026年10月共有 5 名用户下了首单**。"
    assert "9月" not in zh and "无数据" not in zh
    i18n.set_language("en")
    text = r.headline_text(h, P, RP)
    assert text.splitlines()[0] == "**5 users placed their first order in October 2026**."
    assert "- **D1 retention 40.0%**: the share with another order on the day after the first order." in text
    assert "September" not in text and "n/a" not in text


def test_channels_beyond_top_n_are_pooled_as_others(con):
    ch = r.channel_summary(con, P, RetentionParams(channel_top_n=1)).set_index("channel")
    # most new users: app (u1 u2) and paid_ads (u3 u4) tie at 2 -> app by name; others = paid_ads + official
    assert ch.index.tolist() == ["app", "others"]  # others: u3 (D4) of u3 u6 observed 7 days -> 50%
    assert ch.loc["others", "new_users"] == 3  # u3 u4 u6
    assert ch.loc["others", "cum_d7"] == pytest.approx(0.5)
    assert ch.loc["others", "d1"] == pytest.approx(1 / 3)  # u4 (10-29) of u3 u4 u6
    assert ch.loc["others", "second_within"] == pytest.approx(0.5)  # u3 of u3 u6 (u4 not eligible)


def _run(con, tmp_path=None):
    """Play 02's report sections on the hand fixture (no notebook, no PDF): a context as open_play makes."""
    from userops import charts
    from userops import retention_report as rr
    from userops.context import PlayContext
    from userops.db import present_tables
    from userops.outputs import Report
    from userops.params import Params

    charts.use_house_style()  # as open_play does (the font with Chinese glyphs, the hatch colour)
    report = Report(play="02_new_user_retention", month=P.month, output_dir=tmp_path, con=con)
    ctx = PlayContext(con=con, period=P, params=Params(), report=report, present=present_tables(con))
    run, opening = rr.start(ctx)
    sections = [opening] + [
        f(run)
        for f in (rr.headline, rr.cohorts, rr.channels, rr.time_to_return, rr.coupon_pack, rr.reminder)
        + (rr.remind_now, rr.actions, rr.appendix)
    ]
    return rr, run, sections


def _words(sections) -> str:
    """The sentences of the sections (Markdown) and the text of their tables (column headers and cells)."""
    import matplotlib.pyplot as plt

    out = []
    for s in sections:
        for item in s.items:
            if isinstance(item, plt.Figure):
                out += [t.get_text() for ax in item.axes for t in [ax.title, ax.xaxis.label, ax.yaxis.label]]
                plt.close(item)
            elif isinstance(item.data, str):  # Markdown
                out.append(item.data)
            else:  # a Styler
                out += [str(c) for c in item.data.columns] + [str(v) for v in item.data.to_numpy().ravel()]
    return nv.plain("\n".join(out))


def test_report_sections_speak_the_report_language_and_record_the_metrics(con, tmp_path):
    """Every section runs on the fixture (no campaign: the reminder says why), shows no code name and
    records the metric keys metrics.json promises; the summary holds three findings.

    About 5 s once the plotting libraries are imported (two passes, zh and en, nine sections each):
    the only test of the sections the notebook calls, short of the e2e run."""
    import re

    rr, run, sections = _run(con, tmp_path)
    text = _words(sections)
    assert "# 新客7日留存" in text and "## 8 · 行动" in text
    assert not re.search(r"\b[a-z]+_[a-z0-9_]+\b", text), re.findall(r"\b[a-z]+_[a-z0-9_]+\b", text)
    assert "衡量到期提醒需要可选的「营销活动」、「活动名单」表；数据中没有。" in text  # no campaign tables
    assert "付费广告" in text and "新人小额券" in text  # business names, never the codes
    assert sorted(run.rep.metrics) == [
        "coupon_redemption.new_user_large",
        "coupon_redemption.new_user_small",
        "cum_d7_retention",
        "cum_d7_retention.app",
        "cum_d7_retention.official_account",
        "cum_d7_retention.paid_ads",
        "d1_retention",
        "d1_retention_any",
        "expiring_coupons_users",
        "new_users",
        "second_order_within_168h",
        "targets.expiring_coupons.contact_plan_left_out",  # the list joins the contact plan
    ]  # km_retention_by_day_30 needs a user observed 30 days: u6's 11 days are the longest
    assert run.rep.metrics["cum_d7_retention"]["value"] == pytest.approx(0.5)  # u1, u3 of u1 u2 u3 u6
    findings, _ = rr.summary_items(run)
    # 5 new users, 7-day 50.0%; paid_ads 100% best, official_account 0% worst; small 50% vs large 0%
    assert findings == [
        "2026年10月有 5 名新客，7日留存 50.0%。",
        "付费广告新客的7日留存最好（100.0%），公众号最差（0.0%）。",
        "新人券中新人大额券核销率最低（0.0%），新人小额券最高（50.0%）。",
    ]
    i18n.set_language("en")
    rr, run, sections = _run(con)
    text = _words(sections)
    assert not re.search(r"[\u3400-\u9fff]", text.replace(run.ctx.params.chain_name, ""))
    assert "## 8 · Actions" in text and "Paid ads" in text
