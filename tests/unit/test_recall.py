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
from statsmodels.stats.contingency_tables import StratifiedTable
from statsmodels.stats.proportion import confint_proportions_2indep

from userops import clv, i18n
from userops import narrative as nv
from userops import recall as rl
from userops.db import connect
from userops.experiments import poisson1_blocks
from userops.params import DataParams, ExperimentParams, RecallParams
from userops.period import Period
from userops.testing import order_row

P = Period("2026-10")
RC = RecallParams()
DP = DataParams()


@pytest.fixture(autouse=True)
def english():
    """The sentences below are pinned in English (the i18n test keeps zh/recall.yaml in step)."""
    i18n.set_language("en")
    yield
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


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


def test_user_months_built_at_load(make_warehouse):
    """fct_user_months (sql/warehouse/75_fct_user_months.sql): one row per user x month with an
    order, the facts to date at its month end, valid until the user's next month with an order.

    u1 (product A costs 30; orders without lines have no cost of goods):
        07-03 10:00  100  2 x A (amount 120): cogs 60, margin 40   first order
        07-03 18:00   10  no lines                                 same day: no gap
        07-13 10:00   20  no lines                                 gap 10
        (no order in August)
        09-02 10:00   30  no lines                                 gap 51 (07-13 -> 09-02)
        09-06 10:00   40  1 x A (amount 40): cogs 30, margin 10    gap 4
        09-26 10:00   10  no lines                                 gap 20
    u2  08-15 10:00   50  no lines                                 no gap
    u3  registered, never ordered: no row
    """
    users = [dict(user_id=u, registered_at="2026-06-01 09:00:00", channel="app") for u in (1, 2, 3)]
    orders = [
        order_row(1, 1, "2026-07-03 10:00:00", gmv=100),
        order_row(2, 1, "2026-07-03 18:00:00", gmv=10),
        order_row(3, 1, "2026-07-13 10:00:00", gmv=20),
        order_row(4, 1, "2026-09-02 10:00:00", gmv=30),
        order_row(5, 1, "2026-09-06 10:00:00", gmv=40),
        order_row(6, 1, "2026-09-26 10:00:00", gmv=10),
        order_row(7, 2, "2026-08-15 10:00:00", gmv=50),
    ]
    products = [dict(product_id="A", name="a", category="fresh", price=60, unit_cost=30, is_hero=False)]
    items = [
        dict(order_id=1, product_id="A", quantity=2, amount=120),
        dict(order_id=5, product_id="A", quantity=1, amount=40),
    ]
    wh = make_warehouse({"users": users, "orders": orders, "products": products, "order_items": items})
    c = connect(wh)
    df = c.execute("select * from fct_user_months order by user_id, month_start").df()
    c.close()
    d = pd.Timestamp
    assert df.user_id.tolist() == [1, 1, 2]  # u1: July and September (not August); u2: August
    assert df.month_start.tolist() == [d("2026-07-01"), d("2026-09-01"), d("2026-08-01")]
    # u1's July holds at the July and August month ends, until September; the last rows are open
    assert df.next_month_start.iloc[0] == d("2026-09-01")
    assert df.next_month_start.iloc[1:].isna().all()
    assert df.orders_month.tolist() == [3, 3, 1]  # orders 1-3; 4-6; 7
    assert df.gmv_month.astype(float).tolist() == [130.0, 80.0, 50.0]  # 100+10+20; 30+40+10; 50
    assert df.last_order_date.tolist() == [d("2026-07-13"), d("2026-09-26"), d("2026-08-15")]
    assert df.n_orders.tolist() == [3, 6, 1]
    assert df.gmv_to_date.astype(float).tolist() == [130.0, 210.0, 50.0]
    assert df.n_gaps.tolist() == [1, 4, 0]  # July: 10; Sept: 10, 51, 4, 20 (07-03 twice is one day)
    assert df.gap_days_sum.tolist() == [10, 85, 0]  # 10; 10 + 51 + 4 + 20
    # median of all gaps to date: July [10] -> 10; Sept [4, 10, 20, 51] -> (10 + 20) / 2 = 15; u2 none
    assert df.usual_gap_days.iloc[0] == 10.0 and df.usual_gap_days.iloc[1] == 15.0
    assert pd.isna(df.usual_gap_days.iloc[2])
    # known margin: order 1 100 - 60 = 40; + order 5 40 - 30 = 10 -> 50. Paid GMV without a cost of
    # goods: orders 2, 3 -> 30; + orders 4, 6 -> 70; u2's order 7 -> 50
    assert df.margin_known_to_date.astype(float).tolist() == [40.0, 50.0, 0.0]
    assert df.gmv_assumed_to_date.astype(float).tolist() == [30.0, 70.0, 50.0]


def test_stages_need_a_warehouse_loaded_with_user_months(tmp_path):
    """A warehouse loaded before fct_user_months existed: a clear message, not a catalog error."""
    import duckdb

    wh = tmp_path / "old.duckdb"
    duckdb.connect(str(wh)).close()
    c = connect(wh)
    with pytest.raises(RuntimeError, match="load it again"):
        rl.build_stages(c, P, RC, months=2)
    c.close()


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
    # BG/NBD inputs at day level, T to 11-01: u2 days 08-01, 10-05 -> x 1, t_x 65, T 92
    assert ar.loc[2, ["frequency", "recency", "T"]].tolist() == [1, 65, 92]
    # 3 repeat buyers (u1, u2, u6) of 5 < acquisition.ltv_min_repeaters 30: the silence rule, said so
    vm = ar.attrs["value_model"]
    assert (vm.basis, vm.bg, vm.buyers) == ("rule", None, 5)
    assert "3 of 5 customers" in vm.reason
    assert rl.value_sentence(vm).endswith(
        "value at stake therefore uses a rule instead: the buyer's usual order rate × 30 days × the chance of "
        "a gap at least as long as their current silence, times their gross margin at an assumed 25% of paid "
        "GMV (no cost of goods in the data) per order day."
    )
    assert ar.p_alive.isna().all()
    # rule: rate x 30 days x P(gap this long) x margin per order day (no unit cost: 25% of paid GMV)
    # u6 (2 orders, silent 3 days): 3 / 119 x 30 x 0.928 x 0.25 x (20 + 60) / 2 = 7.02
    assert ar.loc[6, "value_at_stake"] == pytest.approx(3 / 119 * 30 * (119 / 122) ** 3 * 10)
    # u2: 3 / 131 x 30 x 0.581 x 0.25 x 65 = 6.49; u3: 2 / 66 x 30 x 0.576 x 10 = 5.23
    assert ar.loc[2, "value_at_stake"] == pytest.approx(3 / 131 * 30 * (131 / 157) ** 3 * 16.25)
    assert ar.loc[3, "value_at_stake"] == pytest.approx(2 / 66 * 30 * (66 / 87) ** 2 * 10)
    # u4 (silent 41 days): 2 / 66 x 30 x 0.380 x 6.25 = 2.16, last; the old score (rate x GMV x (1 - P))
    # ranked it above u6 (14.08 vs 2.18)
    assert ar.loc[4, "value_at_stake"] == pytest.approx(2 / 66 * 30 * (66 / 107) ** 2 * 6.25)
    assert list(ar.index) == [6, 2, 3, 4]
    c = rl.compare_rules(ar.reset_index())
    # personal (p < 0.6): u2, u3, u4; global (recency >= 30): u4 only
    assert (c.personal, c.global_, c.both, c.personal_only, c.global_only) == (3, 1, 1, 2, 0)


# CDNOW's published BG/NBD parameters (Fader, Hardie & Lee 2005; weeks): r 0.243, alpha 4.414,
# a 0.793, b 2.426. P(alive | x, t_x, T) = 1 / (1 + a / (b + x - 1) x ((alpha + T) / (alpha + t_x))^(r + x)).
CDNOW = clv.BetaGeo(r=0.243, alpha=4.414, a=0.793, b=2.426, n=0, loglik=0.0)


def test_p_alive_matches_the_bgnbd_closed_form():
    got = clv.p_alive(CDNOW, [23, 2, 0], [39, 30.43, 0], [39, 38.86, 38.86])
    # x 23, t_x = T = 39 (bought in the last week): 1 / (1 + 0.793 / 24.426 x 1^23.243) = 1 / 1.032465
    assert got[0] == pytest.approx(1 / (1 + 0.793 / 24.426))  # 0.96856
    # the paper's x 2, t_x 30.43, T 38.86: a / (b + 1) = 0.793 / 3.426 = 0.231465;
    # (43.274 / 34.844)^2.243 = 1.241935^2.243 = exp(2.243 x 0.216672) = 1.62580 -> odds 0.376316
    assert got[1] == pytest.approx(1 / (1 + 0.231465 * 1.62580), abs=1e-5)  # 0.72658
    assert got[2] == 1.0  # no repeat purchase: the BG/NBD never lets them drop out unseen
    # the same customer's expected purchases in the next 39 weeks: 1.226 in Fader, Hardie & Lee (2005)
    assert CDNOW.expected_purchases(39, [2], [30.43], [38.86])[0] == pytest.approx(1.226, abs=5e-4)


def test_bgnbd_value_ranks_the_long_silent_buyer_below_the_recent_one():
    """Two 2-order buyers alike but for their silence (days; CDNOW's rate scale in days: alpha x 7)."""
    bg = clv.BetaGeo(r=0.243, alpha=4.414 * 7, a=0.793, b=2.426, n=0, loglik=0.0)
    vm = rl.ValueModel("bgnbd", "", bg, "gross margin", horizon_days=30, buyers=2)
    df = pd.DataFrame(
        dict(
            user_id=[1, 2],
            # both first bought 60 days before the month end (T = 61 to the day after it) and once more:
            # user 1 on day 7 (t_x 7, silent 53 days), user 2 on day 57 (t_x 57, silent 3 days)
            frequency=[1.0, 1.0],
            recency=[7.0, 57.0],
            T=[61.0, 61.0],
            margin_per_day=[20.0, 20.0],
            rate_per_day=[0.1, 0.1],
            p_gap_at_least=[0.5, 0.5],
        )
    )
    out = rl.score_values(df, vm).set_index("user_id")
    # P(alive): odds = a / b x ((alpha + T) / (alpha + t_x))^(r + 1), alpha 30.898, r + 1 = 1.243
    # user 1: 0.793 / 2.426 x (91.898 / 37.898)^1.243 = 0.326876 x 3.00725 = 0.98300 -> 0.50429
    # user 2: 0.326876 x (91.898 / 87.898)^1.243 = 0.326876 x 1.05687 = 0.34547 -> 0.74324
    assert out.loc[1, "p_alive"] == pytest.approx(0.50429, abs=1e-5)
    assert out.loc[2, "p_alive"] == pytest.approx(0.74324, abs=1e-5)
    assert out.loc[1, "value_at_stake"] < out.loc[2, "value_at_stake"]
    # the value is P(alive)-weighted: expected orders over 30 days x 20 per order day
    ratio = out.loc[1, "expected_orders"] / out.loc[2, "expected_orders"]
    assert ratio == pytest.approx(out.loc[1, "p_alive"] / out.loc[2, "p_alive"])  # same history if alive
    assert out.loc[2, "value_at_stake"] == pytest.approx(out.loc[2, "expected_orders"] * 20)


def test_campaign_effect_against_statsmodels(con):
    rl.build_stages(con, P, RC)  # default months: also the August end, the stage at the 09-01 draw
    out = rl.outcomes(con, P, RC, DP)
    assert len(out) == 5
    eff = rl.campaign_effects(out, RC)
    row = eff[eff.group == "campaign"].iloc[0]
    # treatment: u1, u4 reactivated of 3 (u2 ordered 10-05, after the window); holdout: u6 of 2
    assert (row.rate_treatment, row.rate_holdout) == (pytest.approx(2 / 3), pytest.approx(1 / 2))
    low, high = confint_proportions_2indep(2, 3, 1, 2, method="newcomb", compare="diff")
    assert (row.ci_low, row.ci_high) == (pytest.approx(low), pytest.approx(high))
    # one campaign: the stratified pooled difference is the campaign's own 2/3 - 1/2
    assert eff[eff.group == "all"].iloc[0]["diff"] == pytest.approx(1 / 6)
    # incremental paid GMV = (mean T (90 + 0 + 25) / 3 - mean H (0 + 20) / 2) x 3 treated = 85
    assert row.inc_gmv == pytest.approx(85)
    assert row.inc_orders == pytest.approx((4 / 3 - 1 / 2) * 3)  # T 3 + 0 + 1 orders, H 0 + 1
    assert row.inc_gmv_low <= row.inc_gmv <= row.inc_gmv_high
    # members at the September 1 draw: stage at the August end (u1, u3, u4, u6 prospect; u2 new)
    assert out.set_index("user_id").stage_at_assignment.to_dict() == {
        1: "prospect",
        2: "new",
        3: "prospect",
        4: "prospect",
        6: "prospect",
    }
    again = rl.campaign_effects(out, RC)
    assert again.inc_gmv_low.equals(eff.inc_gmv_low)  # seeded bootstrap


def test_roi_on_assumed_margin_and_a_coupon_counted_once(con):
    """No products.unit_cost in the fixture: margin = 25% (experiments.assumed_margin_rate) of paid GMV."""
    row = rl.campaign_effects(rl.outcomes(con, P, RC, DP), RC).set_index("group").loc["all"]
    # margin T: u1 0.25 x 90 = 22.5, u2 0, u4 0.25 x 25 = 6.25; H: u3 0, u6 0.25 x 20 = 5
    # incremental margin = (28.75 / 3 - 5 / 2) x 3 treated = 21.25
    assert row.inc_margin == pytest.approx(21.25)
    # cost = 3 touches x 0.05; coupon 901 (face 10, redeemed on order 1) is inside order 1's paid GMV 30
    # and is NOT added again (the old cost was 0.15 + 10 = 10.15)
    assert row.cost == pytest.approx(0.15) and row.coupon_face_redeemed == pytest.approx(10)
    assert row.roi == pytest.approx((21.25 - 0.15) / 0.15)  # 140.67
    assert row.gmv_per_yuan == pytest.approx(85 / 0.15)  # a revenue ratio, not ROI
    assert (row.window_orders, row.assumed_orders) == (5, 5)  # orders 1, 2, 3, 7 (T) and 8 (H)
    assert rl.margin_basis(row, ExperimentParams()) == (
        "gross margin at an assumed 25% of paid GMV (no cost of goods in the data)"
    )
    assert (
        nv.plain(rl.roi_text(row))
        == f"**ROI on margin 140.7** (95% CI {row.roi_low:,.1f}–{row.roi_high:,.1f})"
    )
    # a fixed cost of 5 per campaign: cost 5.15, ROI (21.25 - 5.15) / 5.15
    fixed = rl.campaign_effects(rl.outcomes(con, P, RC, DP), RC, ExperimentParams(campaign_fixed_cost=5))
    f = fixed.set_index("group").loc["all"]
    assert f.cost == pytest.approx(5.15) and f.roi == pytest.approx((21.25 - 5.15) / 5.15)


def test_roi_on_measured_margin_with_unit_cost(make_warehouse):
    """products.unit_cost F1 18, S1 12 and a line on every window order: margin measured, none assumed."""
    products = [dict(p, unit_cost=c) for p, c in zip(PRODUCTS, [18, 12], strict=True)]
    items = ITEMS + [
        dict(order_id=7, product_id="F1", quantity=1, amount=25),  # u4
        dict(order_id=8, product_id="S1", quantity=1, amount=20),  # u6
    ]
    tables = dict(
        users=USERS,
        orders=ORDERS,
        products=products,
        order_items=items,
        campaigns=CAMPAIGNS,
        campaign_members=MEMBERS,
        coupons=COUPONS,
    )
    with connect(make_warehouse(tables)) as c:
        out = rl.outcomes(c, P, RC, DP)
    row = rl.campaign_effects(out, RC).set_index("group").loc["all"]
    # margin = paid GMV - quantity x unit_cost. T: u1 orders 1 (F1 30 - 18 = 12), 2 (S1 30 - 12 = 18),
    # 3 (F1 12) = 42; u2 0; u4 order 7 (25 - 18 = 7). H: u3 0; u6 order 8 (20 - 12 = 8).
    # incremental margin = (49 / 3 - 8 / 2) x 3 = 37
    assert row.inc_margin == pytest.approx(37)
    assert row.assumed_orders == 0 and rl.margin_basis(row, ExperimentParams()) == (
        "gross margin (paid GMV - cost of goods)"
    )
    assert row.roi == pytest.approx((37 - 0.15) / 0.15)  # 245.67 on measured margin vs 140.67 assumed


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
    """Campaign 7 (channel, cost per touch): T u1 (order, 50), u2 (none); H u3 (order, 20), u4 (none).

    Margin at the assumed 25%: u1 12.5, u3 5 (both orders without cost of goods).
    """
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
            margin=[12.5, 0, 5, 0],
            assumed_orders=[1, 0, 1, 0],
            assigned_at=pd.Timestamp("2026-09-01 10:00"),
            stage_at_assignment="churned",
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
    assert rl.cost_text(row) == "an unknown cost (no cost per touch for Email)"  # the channel's display name
    assert rl.cost_cell(row) == "unknown (Email)"
    # params cost for email: 2 touches x 0.03
    rc = RecallParams(cost_per_touch={"email": 0.03})
    known = rl.campaign_effects(_outcome_rows("email", np.nan), rc).set_index("group").loc["all"]
    # ROI on margin: incremental margin (12.5 / 2 - 5 / 2) x 2 = 7.5; (7.5 - 0.06) / 0.06 = 124
    assert known.cost == pytest.approx(0.06) and known.roi == pytest.approx((7.5 - 0.06) / 0.06)
    assert known.cost_unknown_for == "" and rl.cost_text(known) == "a campaign cost of ¥0.1 (2 touches)"
    assert rl.roi_text(row) == "no ROI: the cost is unknown (no cost per touch for Email)"


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
        "Planned touch cost ¥0.1 for SMS (the coupons' discount is not added: it comes out of paid GMV when "
        "redeemed); the touch cost of App push (1 treated user) is unknown: the params give no cost per touch "
        "for App push."
    )
    assert rl.plan_cost_text(plan.loc[["sms"]].reset_index()) == (
        "Planned campaign cost ¥0.1 of touches (the coupons' discount is not added: it comes out of paid GMV "
        "when redeemed)."
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
        "recall campaign in the 12 months to October 2026 kept one, so their reactivation cannot be "
        "told apart from users who would have come back anyway (30-day window)."
    )
    assert rl.unmeasured_sentence(res.unmeasured).startswith(
        "1 recall campaign without a randomised holdout (2026-09 流失召回（短信）) left out"
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
        "rhythm (chance of a gap this long below 10%), and every churned buyer (1) has been silent for more "
        "than 1 day. No list is written."
    )
    cool = RecallParams(at_risk_p=0.6, list_cooldown_days=61)
    # candidates u2, u3, u4 (p < 0.6) and u1 (churned 37 days): all members of the 09-01 campaign
    assert rl.list_reason(con, P, cool) == (
        "Nobody qualifies for the recall list: all 4 candidates (3 overdue active buyers, 1 recently "
        "churned) were put in a recall campaign in the last 61 days."
    )
    assert rl.list_reason(con, P, RC) == ""  # u1 qualifies


def test_sentences_leave_out_empty_groups(con):
    tr = rl.transitions(con, P)
    # September end: u1, u4, u6 new, u2 churned, nobody declining; u2 is back (mature)
    assert (
        rl.transitions_title(tr, P)
        == "Nobody was in the declining stage at the end of Sep 2026; 1 dormant user came back (ordered again)"
    )
    assert rl.reactivated(tr) == 1  # u2: churned at the September end, ordered 10-05
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


def test_sentences_read_chinese_in_the_default_language(con):
    """zh (the default): the same findings in Chinese, no code name, business names of stages and channels."""
    from userops.export import cjk_share, code_on_page

    i18n.set_language("zh")
    tr = rl.transitions(con, P)
    title = rl.transitions_title(tr, P)
    assert title == "9月末没有衰退期用户；1 名沉睡用户被唤醒（重新下单）"  # u2: churned at the September end
    c = rl.compare_rules(rl.at_risk(con, P, RecallParams(at_risk_p=0.6)))
    text = rl.rules_sentence(c, RC)
    assert "**只有个人规则能发现 2 名用户**" in text and text.endswith("没有用户只被 30 天规则预警。")
    reason = rl.list_reason(con, P, RecallParams(list_max_recency_days=1))
    assert reason.startswith("没有用户符合召回名单条件：4 名活跃买家中没有人按自己的节奏逾期")
    plan = rl.list_plan(
        pd.DataFrame(dict(user_id=[1], channel=["email"], arm=["treatment"], value_at_stake=[1.0])), RC
    )
    for t in (title, text, reason, rl.plan_cost_text(plan)):
        assert cjk_share(t) > 0.95 and code_on_page(t) == [], t


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
        "The touch cost of Email (3 treated users) is unknown: the params give no cost per touch for Email."
    )


# --------------------------------------------------------------------------- pooling, channels, forecast


def _members(cid, channel, month, arm, n, converted, first_user, stage="churned", cost=0.05):
    """n member rows of campaign cid in one arm, the first `converted` reactivated (1 order, 40 paid GMV)."""
    at = pd.Timestamp(f"{month}-01 10:00")
    hit = np.arange(n) < converted
    return pd.DataFrame(
        dict(
            campaign_id=cid,
            campaign_name=f"{month} 召回 ({channel})",
            channel=channel,
            started_at=at,
            cost_per_touch=cost,
            user_id=np.arange(first_user, first_user + n),
            arm=arm,
            assigned_at=at,
            is_touched=arm == "treatment",
            reactivated=hit,
            orders=hit.astype(int),
            gmv=np.where(hit, 40.0, 0.0),
            margin=np.where(hit, 10.0, 0.0),
            assumed_orders=hit.astype(int),
            coupons_redeemed=0,
            face_redeemed=0.0,
            stage_at_assignment=stage,
        )
    )


def _two_campaigns():
    """A (sms, 2026-08): holdout share 50%: T 2 of 10, H 1 of 10 (diff +10 pp).
    B (wechat_notice, 2026-09): holdout share 10%: T 54 of 90, H 5 of 10 (diff +10 pp). Distinct users."""
    return pd.concat(
        [
            _members(1, "sms", "2026-08", "treatment", 10, 2, 1),
            _members(1, "sms", "2026-08", "holdout", 10, 1, 11),
            _members(2, "wechat_notice", "2026-09", "treatment", 90, 54, 21, cost=0.01),
            _members(2, "wechat_notice", "2026-09", "holdout", 10, 5, 111, cost=0.01),
        ],
        ignore_index=True,
    )


def test_pooled_effect_is_stratified_by_campaign():
    out = _two_campaigns()
    eff = rl.campaign_effects(out, RC).set_index("group")
    allr = eff.loc["all"]
    # raw counts added across campaigns: T 56 / 100 = 56%, H 6 / 20 = 30%: +26 pp, although each
    # campaign lifted by +10 pp (B's large treatment arm has a high base rate: Simpson)
    assert allr.raw_diff == pytest.approx(0.26)
    # Mantel-Haenszel: sum((x1 n0 - x0 n1) / N) / sum(n1 n0 / N)
    #   A: (2 x 10 - 1 x 10) / 20 = 0.5, weight 10 x 10 / 20 = 5; B: (54 x 10 - 5 x 90) / 100 = 0.9, weight 9
    #   (0.5 + 0.9) / (5 + 9) = 0.1
    assert allr["diff"] == pytest.approx(0.10)
    tables = np.array([[[2, 8], [1, 9]], [[54, 36], [5, 5]]]).transpose(1, 2, 0)  # 2 x 2 x strata
    assert allr.p_value == pytest.approx(StratifiedTable(tables).test_null_odds(correction=False).pvalue)
    assert allr.ci_low < 0.10 < allr.ci_high  # user-resampling bootstrap interval around the estimate
    # increments sum the campaigns: orders (0.2 - 0.1) x 10 + (0.6 - 0.5) x 90 = 10; margin x 10 = 100
    assert allr.inc_orders == pytest.approx(10) and allr.inc_margin == pytest.approx(100)
    # cost 10 x 0.05 + 90 x 0.01 = 1.4; ROI (100 - 1.4) / 1.4
    assert allr.cost == pytest.approx(1.4) and allr.roi == pytest.approx((100 - 1.4) / 1.4)
    text = rl.pooled_sentence(allr, RC, ExperimentParams(), 2, "August 2026")
    assert "**+10.0 pp**" in text and "adding raw counts across campaigns would give +26.0 pp" in text


def test_shared_holdout_counted_once_and_users_kept_in_both_arms():
    # campaigns 1 and 2 drawn at the same instant share holdout users 11..20 (listed in both)
    a = _members(1, "sms", "2026-08", "treatment", 10, 2, 1)
    h = _members(1, "sms", "2026-08", "holdout", 10, 1, 11)
    b = _members(2, "sms", "2026-08", "treatment", 10, 4, 31).assign(campaign_name="b")
    shared = h.assign(campaign_id=2, campaign_name="b")
    # a later campaign 3 treats holdout user 11 again: user 11's holdout rows are kept
    later = _members(3, "sms", "2026-09", "treatment", 1, 0, 11)
    later_h = _members(3, "sms", "2026-09", "holdout", 1, 0, 99)
    pe = rl._pooled(pd.concat([a, h, b, shared, later, later_h], ignore_index=True), ExperimentParams())
    per = pe.per_stratum.set_index("stratum")
    # shared holdout users weigh 1/2 in campaigns 1 and 2: 5 members (1 x 0.5 converted) each
    assert per.loc[1, "members_h"] == pytest.approx(5) and per.loc[2, "members_h"] == pytest.approx(5)
    assert per.loc[1, "converted_h"] == pytest.approx(0.5)
    assert pe.contaminated_holdout_rows == 0  # no row dropped


def test_channels_not_randomised_get_no_favour():
    out = _two_campaigns()  # sms in August, wechat_notice in September: different draws
    v = rl.channel_verdict(out, RC)
    assert v.favour == "" and v.splits == 0
    assert v.sentence == (
        "**The channels are not comparable**: they were never randomised against each other (SMS in Aug 2026; "
        "WeChat notice in Sep 2026; the list assigns a channel by each user's store share), so differences "
        "between their lifts may come from the month or the users, not the channel."
    )
    later = _members(3, "sms", "2026-10", "treatment", 5, 1, 500)
    v3 = rl.channel_verdict(pd.concat([later, out], ignore_index=True), RC)
    assert "(SMS in Aug 2026, Oct 2026; WeChat notice in Sep 2026;" in v3.sentence  # months in time order
    single = rl.channel_verdict(out[out.channel == "sms"], RC)
    assert single.favour == "" and single.sentence.startswith("Only one recall channel ran (SMS)")


def test_randomised_channel_split_can_favour_a_channel():
    # one draw (2026-10-01 10:00) split over two channels: sms 60 of 100 treated back, email 30 of 100
    split = pd.concat(
        [
            _members(5, "sms", "2026-10", "treatment", 100, 60, 1),
            _members(6, "email", "2026-10", "treatment", 100, 30, 101),
            _members(5, "sms", "2026-10", "holdout", 20, 4, 201),
            _members(6, "email", "2026-10", "holdout", 20, 4, 221),
        ],
        ignore_index=True,
    )
    v = rl.channel_verdict(split, RC)
    # sms - email among treated: 0.60 - 0.30 = +30 pp (one stratum)
    assert v.favour == "sms" and v.splits == 1
    assert v.sentence.startswith(
        "In 1 randomised channel split, treated users reached by SMS reactivated +30.0 pp"
    )
    # the same split with 32 of 100 for sms: +2 pp, not significant -> no favour
    close = split.assign(reactivated=split.reactivated & ~((split.campaign_id == 5) & (split.user_id > 32)))
    assert rl.channel_verdict(close, RC).favour == ""


def test_forecast_uses_the_lift_of_the_same_stage():
    lst = pd.DataFrame(
        dict(
            stage=["churned"] * 100 + ["declining"] * 20 + ["churned"] * 5,
            arm=["treatment"] * 120 + ["holdout"] * 5,
        )
    )
    lifts = rl.stage_lifts(_two_campaigns(), ExperimentParams(), min_users=5)  # all churned at the draw
    assert lifts.stage.tolist() == ["churned"] and lifts["diff"].iloc[0] == pytest.approx(0.10)
    # on these small holdouts the churned lift is not significant: no number of extra users is promised
    assert "the lift measured on Dormant members is not significant" in rl.forecast_sentence(lst, lifts)
    sure = lifts.assign(ci_low=0.05, ci_high=0.15)  # a lift of +10 pp (95% CI +5 to +15 pp)
    text = nv.plain(rl.forecast_sentence(lst, sure))
    # 100 treated churned users x +10 pp = 10 extra users (CI 5 to 15); declining users have no comparable lift
    assert text.startswith(
        " Forecast: the 100 treated Dormant users should bring about **10 extra users** back (95% CI 5–15"
    )
    assert "no lift has been measured on comparable users for Declining (20) treated users" in text
    none = rl.forecast_sentence(lst, lifts.iloc[0:0])  # campaigns measured, but no stage with enough members
    assert "Dormant (100), Declining (20)" in none and "no forecast exists" in none
    assert rl.forecast_sentence(lst, None).startswith(" Forecast: no recall campaign has been measured")


def test_list_leaves_out_the_global_holdout_upfront(con):
    # salt 'a': user 1's draw is 0.169 (sha256('a:1')), so a 20% share holds u1 out; salt 'h10' draws 0.274
    held = ExperimentParams(global_holdout_salt="a", global_holdout_share=0.2)
    lst = rl.recall_list(con, P, RC, DP, held)
    assert lst.empty and lst.attrs["global_holdout_left_out"] == 1
    assert rl.list_reason(con, P, RC, 1) == (
        "Nobody qualifies for the recall list: every user who would qualify (1) is in the persistent global holdout, "
        "which no list touches."
    )
    kept = rl.recall_list(
        con, P, RC, DP, ExperimentParams(global_holdout_salt="h10", global_holdout_share=0.2)
    )
    assert kept.user_id.tolist() == [1] and kept.attrs["global_holdout_left_out"] == 0


def test_channel_arm_is_a_stable_draw_per_user(con):
    rc = RecallParams(at_risk_p=0.6)
    a = rl.recall_list(con, P, rc, DP)
    b = rl.recall_list(con, P, rc, DP)
    assert a.channel_arm.equals(b.channel_arm)
    assert set(a.channel_arm) <= set(a.channel)  # u1 sms; u2, u4 offline_push; u3 offline_push
    # the same user keeps the same arm on a smaller list (the draw depends on the user only)
    small = rl.recall_list(con, P, RecallParams(at_risk_p=0.6, channel_store_active="sms"), DP)
    assert set(small.channel_arm) == {"sms"} and rl.channel_split_sentence(small) == (
        "The list uses one channel only (SMS), so it offers no channel split."
    )


def test_recall_action_follows_the_one_verdict_rule():
    eff = rl.campaign_effects(_two_campaigns(), RC).set_index("group")
    allr = eff.loc["all"]
    i18n.set_language("zh")
    # pooled lift +10.0 pp, 95% CI -13.9 to +34.8 pp (not clear): no keep/measure line at all
    assert not allr.significant and rl.recall_action(allr) is None
    allr = allr.copy()
    allr["significant"] = True  # the same row as if the lift were clear; its ROI CI -168.0 to 291.4
    # incremental margin 100 for 1.4 of touches (10 x 0.05 + 90 x 0.01): ROI (100 - 1.4) / 1.4 = 70.4
    text = rl.recall_action(allr)
    assert text.startswith("**继续召回，但必须保留对照组衡量**：合并各次活动，唤醒率提升 +10.0 pp")
    assert "**ROI（毛利口径）70.4**" in text and "增量毛利 ¥100，成本 ¥1.4（100 次触达）" in text
    # the same row with its ROI interval set by hand: each verdict gets its own sentence
    keep = allr.copy()
    keep[["roi_low", "roi_high"]] = [3.0, 120.0]
    assert rl.recall_action(keep).startswith("**继续召回**：")
    loss = keep.copy()
    loss["roi_low"] = -0.4
    assert rl.recall_action(loss).startswith("**继续召回，但必须保留对照组衡量**：")
    assert "的区间仍包含亏损" in rl.recall_action(loss)
    losing = keep.copy()
    losing[["roi", "roi_low", "roi_high"]] = [-0.6, -0.9, -0.2]
    assert rl.recall_action(losing).startswith("**重新评估召回活动**：增量毛利 ¥100 不足以覆盖成本")
    flat = keep.copy()
    flat["significant"] = False
    assert rl.recall_action(flat) is None  # no clear lift: no keep/measure line, only the channel actions
    unknown = keep.copy()
    unknown["cost_unknown_for"] = "sms"
    assert rl.recall_action(unknown).startswith("**继续召回，但必须保留对照组衡量**：")
    assert "无法计算 ROI：短信没有单次触达成本" in rl.recall_action(unknown)
    assert rl.channel_verdict(_two_campaigns(), RC).needs_split  # sms and wechat_notice, never randomised


def test_summary_finding_gives_the_roi_with_the_interval_of_the_action():
    # the pooled row of _two_campaigns (ROI (100 - 1.4) / 1.4 = 70.4) with a clear lift and its ROI interval
    # set by hand to 3.0-120.0: the summary's finding writes the ROI as the action does, interval included
    from types import SimpleNamespace

    from userops import recall_report as rr

    allr = rl.campaign_effects(_two_campaigns(), RC).set_index("group").loc["all"].copy()
    allr["significant"] = True
    allr[["roi_low", "roi_high"]] = [3.0, 120.0]
    run = SimpleNamespace(
        P=P, snap=None, cmp=None, lst=None, eff=pd.DataFrame([allr]), res=SimpleNamespace(pooled=allr)
    )
    i18n.set_language("en")
    (found,) = rr._findings(run)
    assert nv.plain(found).endswith("; ROI on margin 70.4 (95% CI 3.0–120.0).")
    assert "**ROI on margin 70.4** (95% CI 3.0–120.0)" in nv.plain(rl.recall_action(allr))
    i18n.set_language("zh")
    (found,) = rr._findings(run)
    assert nv.plain(found).endswith("；ROI（毛利口径）70.4（95%置信区间 3.0–120.0）。")
    assert "**ROI（毛利口径）70.4**（95%置信区间 3.0–120.0）" in nv.plain(rl.recall_action(allr))
    allr[["roi_low", "roi_high"]] = [np.nan, np.nan]  # every draw lost an arm: the ROI alone
    assert nv.plain(rr._findings(run)[0]).endswith("；ROI（毛利口径）70.4。")


def test_campaign_increments_do_not_depend_on_the_block_size():
    # two campaigns; u1 is in both (one Poisson weight per draw for both rows)
    out = pd.DataFrame(
        {
            "campaign_id": ["c1", "c1", "c1", "c1", "c2", "c2", "c2"],
            "user_id": ["u1", "u2", "u3", "u4", "u1", "u5", "u6"],
            "arm": ["treatment", "treatment", "holdout", "holdout", "treatment", "holdout", "treatment"],
            "orders": [2, 0, 1, 0, 1, 0, 3],
            "gmv": [80.0, 0, 30, 0, 25, 0, 90],
            "margin": [20.0, 0, 9, 0, 6, 0, 30],
        }
    )
    est, one = rl.campaign_increments(out, draws=200, seed=4, block_cells=len(out))
    _, whole = rl.campaign_increments(out, draws=200, seed=4, block_cells=10**9)
    # c1: T orders (2 + 0) / 2 - H (1 + 0) / 2 = 0.5, x 2 treated = 1.0
    assert est.set_index("campaign_id").loc["c1", "orders"] == pytest.approx(1.0)
    for v in rl.INCREMENT_VALUES:
        assert one[v].shape == (200, 2)
        np.testing.assert_array_equal(one[v], whole[v])


def test_summary_churned_finding_names_the_stage_inside_the_sentence():
    # hand snapshot: 5 of 10 buyers dormant at the October end, 1 of them came back
    from types import SimpleNamespace

    from userops import recall_report as rr

    now = pd.DataFrame({"share_of_buyers": [0.5], "n_users": [5]}, index=["churned"])
    run = SimpleNamespace(
        P=P, snap=SimpleNamespace(buyers=10, now=now), reactivated=1, cmp=None, eff=None, lst=None
    )
    i18n.set_language("en")
    assert rr._findings(run) == [
        "50.0% of buyers were in the dormant stage at the end of Oct 2026 (5 users); "
        "1 dormant user came back this month."
    ]


def _increments_by_one_hot(out: pd.DataFrame, draws: int, seed: int) -> dict[str, np.ndarray]:
    """The former campaign_increments bootstrap, kept as the reference: Poisson(1) user weights
    (the seeded weights, all draws at once) times a dense rows x (campaign x arm) one-hot matrix."""
    camp_ix, camps = pd.factorize(out.campaign_id, sort=True)
    k = len(camps)
    cell = camp_ix * 2 + (out.arm == "holdout").to_numpy()
    onehot = np.zeros((len(out), 2 * k))
    onehot[np.arange(len(out)), cell] = 1.0
    n_t = np.bincount(camp_ix[(out.arm == "treatment").to_numpy()], minlength=k).astype(float)
    user_ix, users = pd.factorize(out.user_id, sort=True)
    w = next(poisson1_blocks(seed, draws, len(users), draws)).astype(float)[:, user_ix]
    n = w @ onehot
    res = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for v in rl.INCREMENT_VALUES:
            s = (w * out[v].to_numpy(float)) @ onehot
            res[v] = (s[:, 0::2] / n[:, 0::2] - s[:, 1::2] / n[:, 1::2]) * n_t
    return res


def test_campaign_increments_equal_the_one_hot_formula():
    # c1: u1, u2 treated, u3 holdout; c2: u1 holdout, u4 treated, u5 holdout (u1 in both: one weight);
    # c3: u6 treated only (no holdout: NaN in every draw)
    out = pd.DataFrame(
        {
            "campaign_id": [1, 1, 1, 2, 2, 2, 3],
            "user_id": [11, 12, 13, 11, 14, 15, 16],
            "arm": ["treatment", "treatment", "holdout", "holdout", "treatment", "holdout", "treatment"],
            "orders": [1, 0, 2, 0, 3, 1, 1],
            "gmv": [40.0, 0, 70, 0, 120, 35, 10],
            "margin": [12.0, 0, 20, 0, 30, 9, 3],
        }
    )
    # block_cells 4 < 6 patterns (every user differs): one draw a block
    est, boot = rl.campaign_increments(out, draws=300, seed=9, block_cells=4)
    est = est.set_index("campaign_id")
    # c1 GMV: T (40 + 0) / 2 - H 70 / 1 = -50, x 2 treated = -100; c2: T 120 / 1 - H (0 + 35) / 2 = 102.5
    assert est.loc[1, "gmv"] == pytest.approx(-100)
    assert est.loc[2, "gmv"] == pytest.approx(102.5)
    assert est.loc[2, "orders"] == pytest.approx(3 - 0.5)  # T 3 orders, H (0 + 1) / 2
    assert np.isnan(est.loc[3, "margin"])
    ref = _increments_by_one_hot(out, 300, 9)
    for v in rl.INCREMENT_VALUES:
        assert boot[v].shape == (300, 3)
        # every user is their own pattern, so the same Poisson(1) weights: the same draws
        np.testing.assert_allclose(boot[v], ref[v], rtol=1e-12, atol=1e-9)
        assert np.isnan(boot[v][:, 2]).all()
