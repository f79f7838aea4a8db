"""Brief (00): operating matrix, GMV decomposition, key-path funnel, KPI flags, play results.

Hand fixtures; every expected number is commented with the rows behind it. Report month
2026-10, previous month 2026-09. Groups are play 04's lifecycle stages at the previous month end
(default recall params: churned = 60+ days silent, or > 4 x the median gap, at least 30 days, for
users with 2+ gaps; dormant = churned).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

from userops import brief, i18n, recall
from userops import narrative as nv
from userops.db import connect
from userops.db import query as db_query
from userops.params import BriefParams, DataParams, Params, RecallParams
from userops.period import Period

P = Period("2026-10")
BP = BriefParams()
RC = RecallParams()
DP = DataParams()

# u1: returning in Sep (new at Aug 31: first order Aug 20) and in Oct (growth at Sep 30).
# u2: new in Sep (registered Aug 25, first order Sep 10); returning in Oct (last Sep 10).
# u3: dormant in Sep and Oct (last order Apr 1: churned); reactivated by its Oct 20 order.
# u4: registered Sep 15, never orders: new in Sep and Oct; visits in Sep only.
# u5: registered Oct 5: not in Sep at all; new in Oct with two orders.
# u6: one order Jul 15: returning in Sep (47 days at Aug 31: declining), dormant in Oct (77 days at
#     Sep 30 >= 60: churned); visits only.
# Logged visits (the traffic basis): app / mini-program sessions (`visit`) and store footfall
# (`store_visit`, params brief.footfall_events). u2's Sep session, u1's Oct store visit, u5's Oct
# session and store visit, u4's Oct store walk-in without buying. u1's Sep order, u2's Oct order and
# u3's Oct order have no logged visit in their month: unobserved buyers.
MATRIX_TABLES = {
    "users": [
        {"user_id": 1, "registered_at": "2026-05-01 09:00:00", "channel": "app"},
        {"user_id": 2, "registered_at": "2026-08-25 09:00:00", "channel": "app"},
        {"user_id": 3, "registered_at": "2026-03-01 09:00:00", "channel": "app"},
        {"user_id": 4, "registered_at": "2026-09-15 09:00:00", "channel": "app"},
        {"user_id": 5, "registered_at": "2026-10-05 09:00:00", "channel": "app"},
        {"user_id": 6, "registered_at": "2026-01-01 09:00:00", "channel": "app"},
    ],
    "orders": [
        {"order_id": 11, "user_id": 1, "ordered_at": "2026-08-20 10:00:00", "gmv": 50},
        {"order_id": 12, "user_id": 1, "ordered_at": "2026-09-05 10:00:00", "gmv": 100},
        {"order_id": 13, "user_id": 1, "ordered_at": "2026-10-03 10:00:00", "gmv": 80},
        {"order_id": 21, "user_id": 2, "ordered_at": "2026-09-10 10:00:00", "gmv": 40},
        {"order_id": 22, "user_id": 2, "ordered_at": "2026-10-15 10:00:00", "gmv": 70},
        {"order_id": 31, "user_id": 3, "ordered_at": "2026-04-01 10:00:00", "gmv": 30},
        {"order_id": 32, "user_id": 3, "ordered_at": "2026-10-20 10:00:00", "gmv": 90},
        {"order_id": 51, "user_id": 5, "ordered_at": "2026-10-05 10:00:00", "gmv": 20},
        {"order_id": 52, "user_id": 5, "ordered_at": "2026-10-06 10:00:00", "gmv": 30},
        {"order_id": 61, "user_id": 6, "ordered_at": "2026-07-15 10:00:00", "gmv": 25},
    ],
    "events": [
        {"user_id": 4, "ts": "2026-09-16 12:00:00", "event": "visit", "event_channel": "mini_program"},
        {"user_id": 6, "ts": "2026-09-03 12:00:00", "event": "visit", "event_channel": "app"},
        {"user_id": 6, "ts": "2026-10-08 12:00:00", "event": "visit", "event_channel": "app"},
        {"user_id": 2, "ts": "2026-09-10 09:30:00", "event": "visit", "event_channel": "mini_program"},
        {"user_id": 1, "ts": "2026-10-03 09:50:00", "event": "store_visit", "event_channel": "store"},
        {"user_id": 5, "ts": "2026-10-05 09:30:00", "event": "visit", "event_channel": "app"},
        {"user_id": 5, "ts": "2026-10-06 09:50:00", "event": "store_visit", "event_channel": "store"},
        {"user_id": 4, "ts": "2026-10-12 18:00:00", "event": "store_visit", "event_channel": "store"},
    ],
}
for _o in MATRIX_TABLES["orders"]:
    _o.update(store_id="s1", order_channel="store", discount=0)


@pytest.fixture
def matrix_con(make_warehouse):
    con = connect(make_warehouse(MATRIX_TABLES))
    yield con
    con.close()


def _cell(m: pd.DataFrame, month: str, group: str) -> pd.Series:
    return m[(m.month == month) & (m.user_group == group)].iloc[0]


def test_operating_matrix_groups_and_counts(matrix_con):
    m = brief.matrix(matrix_con, P.prev, P, RC, events=True)
    assert len(m) == 6  # 2 months x 3 groups, zero-filled
    cols = [
        "base_users",
        "visitors",
        "session_visitors",
        "footfall_visitors",
        "buyers",
        "converted",
        "orders",
        "gmv",
    ]
    # Sep new: u2, u4 (u5 registers in Oct); visitors u2 (session Sep 10), u4 (session Sep 16);
    # buyer u2 with its session: converted; 1 order, 40
    assert _cell(m, "2026-09", "new")[cols].tolist() == [2, 2, 2, 0, 1, 1, 1, 40]
    # Sep returning: u1, u6; visitor u6 only (session Sep 3); buyer u1 (order 12, 100) has no logged
    # visit in Sep: not converted traffic, an unobserved buyer
    assert _cell(m, "2026-09", "returning")[cols].tolist() == [2, 1, 1, 0, 1, 0, 1, 100]
    # Sep dormant: u3 only, no visit, no order -> a row of zeros, factors 0 (not NaN)
    sep_d = _cell(m, "2026-09", "dormant")
    assert sep_d[cols].tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    assert sep_d[list(brief.FACTORS)].tolist() == [0, 0, 0, 0, 0]
    # Oct new: u4, u5; visitors u4 (store walk-in Oct 12), u5 (session Oct 5 and store visit Oct 6):
    # sessions 1 (u5), footfall 2 (u4, u5); buyer u5 converted: orders 51, 52 = 50
    assert _cell(m, "2026-10", "new")[cols].tolist() == [2, 2, 1, 2, 1, 1, 2, 50]
    # Oct returning: u1 (last Sep 5), u2 (last Sep 10); visitor u1 (store visit Oct 3); both buy once
    # (80 + 70); u1 converted, u2 unobserved
    assert _cell(m, "2026-10", "returning")[cols].tolist() == [2, 1, 0, 1, 2, 1, 2, 150]
    # Oct dormant: u3 (last Apr 1), u6 (last Jul 15, 78 days); visitor u6 (session Oct 8), no order;
    # buyer u3 (order 32, 90) without a logged visit
    assert _cell(m, "2026-10", "dormant")[cols].tolist() == [2, 1, 1, 0, 1, 0, 1, 90]
    # factors (traffic, conversion, unobserved_buyers, orders_per_buyer, aov):
    # Oct new: 2 visitors, 1/2 converted, 0 unobserved, 2 orders / 1 buyer, 50 / 2 orders = 25
    assert _cell(m, "2026-10", "new")[list(brief.FACTORS)].tolist() == [2, 0.5, 0, 2.0, 25.0]
    # Oct returning: 1 visitor who bought (100% of observed traffic), u2 apart; 2/2, 150/2 = 75
    assert _cell(m, "2026-10", "returning")[list(brief.FACTORS)].tolist() == [1, 1.0, 1, 1.0, 75.0]
    # Oct dormant: u6 visited and did not buy -> conversion 0; u3's purchase is not converted traffic
    assert _cell(m, "2026-10", "dormant")[list(brief.FACTORS)].tolist() == [1, 0.0, 1, 1.0, 90.0]


def test_matrix_reconciles_with_month_gmv(matrix_con):
    for events in (True, False):
        m = brief.matrix(matrix_con, P.prev, P, RC, events=events)
        per_month = m.assign(x=brief.product_of_factors(m)).groupby("month")["x"].sum()
        totals = brief.month_totals(matrix_con, P.prev, P).set_index("month")
        # Sep: orders 12 + 21 = 140; Oct: 13 + 22 + 32 + 51 + 52 = 80 + 70 + 90 + 20 + 30 = 290
        assert totals["gmv"].tolist() == [140, 290]
        assert totals["orders"].tolist() == [2, 5]
        # (traffic x conversion + unobserved) x orders/buyer x AOV: Oct with events
        # new (2 x .5 + 0) x 2 x 25 = 50, returning (1 x 1 + 1) x 1 x 75 = 150, dormant (0 + 1) x 1 x 90 = 90
        assert per_month.tolist() == pytest.approx([140, 290], abs=1e-9)
    # without events no visit is observed: traffic is the eligible base, which holds every buyer
    m = brief.matrix(matrix_con, P.prev, P, RC, events=False)
    # Oct new base u4, u5 = 2 -> conversion 1/2; Oct returning base u1, u2, both buy -> 2/2
    assert _cell(m, "2026-10", "new")[["traffic", "conversion", "unobserved_buyers"]].tolist() == [2, 0.5, 0]
    assert _cell(m, "2026-10", "returning")[["traffic", "conversion", "unobserved_buyers"]].tolist() == [
        2,
        1,
        0,
    ]


def test_traffic_basis_events_are_params(matrix_con):
    """Without footfall events (a chain whose stores log no visits) in-store buyers are unobserved."""
    m = brief.matrix(matrix_con, P.prev, P, RC, events=True, bp=BriefParams(footfall_events=[]))
    f = list(brief.FACTORS)
    # Oct new: visitor u5 only (session Oct 5; u4's store walk-in no longer counts): 1/1 converted
    assert _cell(m, "2026-10", "new")[f].tolist() == [1, 1.0, 0, 2.0, 25.0]
    # Oct returning: no visitor (u1's store visit not counted): both buyers unobserved, (0 + 2) x 1 x 75
    assert _cell(m, "2026-10", "returning")[f].tolist() == [0, 0.0, 2, 1.0, 75.0]
    assert brief.product_of_factors(m[m.month == "2026-10"]).sum() == pytest.approx(290)
    # a session event named as footfall too is refused (one role per event name)
    with pytest.raises(ValueError, match="both visit_events and footfall_events"):
        BriefParams(footfall_events=["visit"])


def test_traffic_basis_sentence(matrix_con):
    i18n.set_language("en")  # the wording pinned below (the catalog test keeps zh in step)
    m = brief.matrix(matrix_con, P.prev, P, RC, events=True)
    t = brief.traffic_basis(m, P)
    # Oct: visitors 2 + 1 + 1 = 4; sessions u5, u6 = 2; store visits u4, u5, u1 = 3; converted u5, u1;
    # unobserved u2 (returning: 1 x 1 x 75 = 75), u3 (dormant: 1 x 1 x 90 = 90): 165 / 290 = 56.9%
    assert (t["traffic"], t["session_visitors"], t["footfall_visitors"]) == (4, 2, 3)
    assert (t["converted"], t["unobserved_buyers"]) == (2, 2)
    assert t["unobserved_gmv_share"] == pytest.approx(165 / 290)
    text = brief.traffic_basis_text(m, P)
    assert text == (
        "Traffic basis, October 2026: 4 users with a logged visit (2 with app or mini-program sessions, "
        "3 store visits where stores log them); 2 buyers (56.9% of GMV) had no logged visit and are "
        "counted apart, not as converted traffic."
    )
    # the KPI tile's conversion: converted 2 / traffic 4
    assert brief.kpi_series(m).loc["2026-10", "conversion"] == pytest.approx(0.5)
    b = brief.compute(matrix_con, P, BP, events=True, offline_channels=DP.offline_order_channels, rc=RC)
    # 8 months (Mar..Oct: trailing 6 + the previous + the report month); Oct GMV 290 both ways
    assert brief.matrix_check_text(b) == (
        "Check: Σ over the three groups of (users × conversion + buyers without a logged visit) × orders "
        "per buyer × AOV = **¥290.00**, the month's GMV from the orders is **¥290.00** (largest difference "
        "over the 8 months computed: ¥0.00). Users are from visit events. " + text
    )
    no_foot = brief.matrix(matrix_con, P.prev, P, RC, events=True, bp=BriefParams(footfall_events=[]))
    # Oct without footfall: visitors u5, u6 (sessions); buyers u1, u2, u3 without a session
    assert brief.traffic_basis_text(no_foot, P) == (
        "Traffic basis, October 2026: 2 users with a logged visit (2 with app or mini-program sessions, "
        "no store visit: the data has no store footfall); 3 buyers (82.8% of GMV) had no logged visit "
        "and are counted apart, not as converted traffic."
    )  # unobserved GMV: returning 2 x 1 x 75 = 150 + dormant 90 = 240 / 290 = 82.8%
    no_events = brief.matrix(matrix_con, P.prev, P, RC, events=False)
    assert "no visit records" in brief.traffic_basis_text(no_events, P)
    assert brief.factor_name("unobserved_buyers") not in brief.matrix_table(no_events, P).columns
    col = i18n.t("brief.matrix_group")
    table = brief.matrix_table(m, P).set_index(col)[brief.factor_name("unobserved_buyers")]
    # Sep -> Oct: returning u1 -> u2 (1 -> 1), dormant none -> u3 (0 -> 1), new none (0 -> 0); no % change
    assert table.tolist() == ["0 → 0", "1 → 1", "0 → 1", ""]
    assert "font-size: 8.5pt" in brief.matrix_table_html(m, P).to_html()
    assert "font-size: 8.5pt" in brief.terms_table_html(brief.glossary_table()).to_html()


def test_dormant_group_follows_the_recall_churn_rule(matrix_con):
    # with recall.churned_days = 90, u6 (77 days silent at Sep 30, one order) is declining, not churned
    m = brief.matrix(matrix_con, P.prev, P, RecallParams(churned_days=90), events=True)
    assert _cell(m, "2026-10", "returning")["base_users"] == 3  # u1, u2, u6
    assert _cell(m, "2026-10", "dormant")["base_users"] == 1  # u3 (182 days silent at Sep 30)
    with pytest.raises(ValueError, match="brief.dormant_days is no longer used"):
        Params.model_validate({"brief": {"dormant_days": 60}})


# One reactivation definition (user_stages.sql is_reactivated), report month 2026-10:
# ra: orders Aug 1, 8, 15 (2 gaps of 7 d: personal rule, churned after max(4 x 7, 30) = 30 d);
#     46 d silent at Sep 30 -> churned; orders Oct 10 -> reactivated. (The old 60-day rule counted
#     47 d at Oct 1 as returning, so it missed this user.)
# rb: orders Jun 1, 8, 15 (personal, 30 d) -> churned at Sep 30 (107 d); orders Oct 1 -> reactivated,
#     though churned again at Oct 31 (30 d silent >= 30): it came back, so it counts (play 04's old
#     "no longer churned at the month end" count missed it).
# rc: one order Jul 15 -> churned at Sep 30 (77 d >= 60); no October order: dormant, not reactivated.
# rd: one order Aug 20 -> declining at Sep 30 (41 d): returning in Oct; its Oct 5 order is not a reactivation.
# re: registers and orders Oct 3: new.
REACT_TABLES = {
    "users": [
        {"user_id": i, "registered_at": reg, "channel": "app"}
        for i, reg in [
            (1, "2026-07-01 09:00:00"),
            (2, "2026-05-01 09:00:00"),
            (3, "2026-07-01 09:00:00"),
            (4, "2026-08-01 09:00:00"),
            (5, "2026-10-03 09:00:00"),
        ]
    ],
    "orders": [
        {"order_id": 10 * u + k, "user_id": u, "ordered_at": f"{d} 10:00:00", "gmv": 10}
        for u, days in [
            (1, ["2026-08-01", "2026-08-08", "2026-08-15", "2026-10-10"]),
            (2, ["2026-06-01", "2026-06-08", "2026-06-15", "2026-10-01"]),
            (3, ["2026-07-15"]),
            (4, ["2026-08-20", "2026-10-05"]),
            (5, ["2026-10-03"]),
        ]
        for k, d in enumerate(days)
    ],
    "events": [{"user_id": 4, "ts": "2026-10-05 12:00:00", "event": "visit", "event_channel": "app"}],
}
for _o in REACT_TABLES["orders"]:
    _o.update(store_id="s1", order_channel="store", discount=0)


def test_reactivated_is_one_definition_in_brief_and_play_04(make_warehouse):
    con = connect(make_warehouse(REACT_TABLES))
    try:
        m = brief.matrix(con, P.prev, P, RC, events=True)
        # Oct dormant: ra, rb, rc; buyers ra (Oct 10), rb (Oct 1) = the reactivated users
        assert _cell(m, "2026-10", "dormant")[["base_users", "buyers", "reactivated"]].tolist() == [3, 2, 2]
        # Oct returning: rd only, its order is not a reactivation; new: re
        assert _cell(m, "2026-10", "returning")[["base_users", "buyers", "reactivated"]].tolist() == [1, 1, 0]
        assert _cell(m, "2026-10", "new")[["base_users", "buyers", "reactivated"]].tolist() == [1, 1, 0]
        # Sep: rb churned at Aug 31 (77 d since Jun 15), rc declining (47 d < 60); nobody ordered in Sep
        assert m[m.month == "2026-09"].reactivated.sum() == 0
        assert brief.kpi_series(m).loc["2026-10", "reactivated"] == 2
        # play 04 counts the same users from the same stage table
        recall.build_stages(con, P, RC, months=2)
        tr = recall.transitions(con, P)
        assert recall.reactivated(tr) == 2
        # rb came back yet is churned again at Oct 31: one reactivated user on the churned -> churned row
        cc = tr[(tr.stage_prev == "churned") & (tr.stage == "churned")].iloc[0]
        assert (cc.n_users, cc.reactivated) == (2, 1)  # rc (silent) and rb
    finally:
        con.close()


def _shapley_by_permutations(x0, x1):
    """Reference: average over the 24 orders of switching factors from x0 to x1."""
    k = len(x0)
    out = np.zeros(k)
    perms = list(itertools.permutations(range(k)))
    for order in perms:
        cur = list(x0)
        for i in order:
            before = math.prod(cur)
            cur[i] = x1[i]
            out[i] += math.prod(cur) - before
    return out / len(perms)


def test_decomposition_sums_exactly_to_the_change(matrix_con):
    m = brief.matrix(matrix_con, P.prev, P, RC, events=True)
    d = brief.decompose(m, P).set_index(["user_group", "factor"])["contribution"]
    # total change: 290 - 140 = 150
    assert d.sum() == pytest.approx(150, abs=1e-9)
    # factor order: traffic, conversion, unobserved_buyers, orders_per_buyer, aov.
    # returning: (T 1, c 0, U 1, f 1, AOV 100) -> (1, 1, 1, 1, 75); buyers 0 x 1 + 1 = 1 -> 1 x 1 + 1 = 2.
    # level 1 (buyers x f x AOV, f fixed at 1): buyers +1 x mean AOV 87.5 = 87.5; AOV -25 x mean buyers
    # 1.5 = -37.5. level 2: the buyers' +1 is all conversion (+1 x mean traffic 1): 87.5 to conversion
    assert d["returning"].tolist() == pytest.approx([0, 87.5, 0, 0, -37.5])
    # dormant: every level-1 factor starts at 0 (no Sep buyers): 90 split evenly, 30 each; the buyers'
    # 30 is all unobserved (u3 bought without a logged visit; u6's visit adds traffic at conversion 0)
    assert d["dormant"].tolist() == pytest.approx([0, 0, 30, 30, 30])
    # new: buyers 2 x .5 = 1 -> 2 x .5 = 1 unchanged; orders/buyer 1 -> 2 (x mean AOV 32.5) = 32.5,
    # AOV 40 -> 25 (x mean orders/buyer 1.5) = -22.5; 50 - 40 = 10
    assert d["new"].tolist() == pytest.approx([0, 0, 0, 32.5, -22.5])
    top = brief.largest(brief.decompose(m, P))
    assert (top.user_group, top.factor) == ("returning", "conversion")  # 87.5 is the largest bar


def test_buyer_split_is_exact():
    # buyers = T x c + U: (10 x .2 + 3 = 5) -> (12 x .25 + 1 = 4), change -1.
    # traffic: +2 x mean conversion .225 = .45; conversion: +.05 x mean traffic 11 = .55; unobserved -2
    got = brief.buyer_split(np.array([[10, 0.2, 3]]), np.array([[12, 0.25, 1]]))
    assert got[0].tolist() == pytest.approx([0.45, 0.55, -2.0])
    assert got.sum() == pytest.approx(4 - 5)


def test_shapley_handles_many_rows_and_zeros():
    x0 = np.array([[3.0, 0.2, 1.5, 40.0], [0.0, 0.0, 0.0, 0.0]])
    x1 = np.array([[4.0, 0.25, 1.0, 50.0], [5.0, 0.4, 1.0, 10.0]])
    c = brief.shapley_product(x0, x1)
    assert c.sum(axis=1) == pytest.approx(x1.prod(axis=1) - x0.prod(axis=1))
    assert c[0] == pytest.approx(_shapley_by_permutations(x0[0], x1[0]))


# a1: visit, browse, cart on mini_program Oct 2, pays there Oct 2, buys again in a store Oct 20 (18 days)
# a2: visit and browse on mini_program; a3: visit on app only; a4: visit, browse, cart on app, no order
# a5: store only, no events: orders Oct 10 and Oct 25 (15 days later)
FUNNEL_TABLES = {
    "users": [{"user_id": i, "registered_at": "2026-09-01 09:00:00", "channel": "app"} for i in range(1, 6)],
    "orders": [
        {"order_id": 1, "user_id": 1, "ordered_at": "2026-10-02 10:30:00", "order_channel": "mini_program"},
        {"order_id": 2, "user_id": 1, "ordered_at": "2026-10-20 18:00:00", "order_channel": "store"},
        {"order_id": 3, "user_id": 5, "ordered_at": "2026-10-10 09:00:00", "order_channel": "store"},
        {"order_id": 4, "user_id": 5, "ordered_at": "2026-10-25 09:00:00", "order_channel": "store"},
    ],
    "events": [
        {"user_id": 1, "ts": "2026-10-02 10:00:00", "event": "visit", "event_channel": "mini_program"},
        {"user_id": 1, "ts": "2026-10-02 10:05:00", "event": "browse_40s", "event_channel": "mini_program"},
        {"user_id": 1, "ts": "2026-10-02 10:10:00", "event": "add_cart", "event_channel": "mini_program"},
        {"user_id": 2, "ts": "2026-10-05 10:00:00", "event": "visit", "event_channel": "mini_program"},
        {"user_id": 2, "ts": "2026-10-05 10:05:00", "event": "browse_40s", "event_channel": "mini_program"},
        {"user_id": 3, "ts": "2026-10-06 10:00:00", "event": "visit", "event_channel": "app"},
        {"user_id": 4, "ts": "2026-10-07 10:00:00", "event": "visit", "event_channel": "app"},
        {"user_id": 4, "ts": "2026-10-07 10:05:00", "event": "browse_40s", "event_channel": "app"},
        {"user_id": 4, "ts": "2026-10-07 10:10:00", "event": "add_cart", "event_channel": "app"},
    ],
}
for _o in FUNNEL_TABLES["orders"]:
    _o.update(store_id="s1", gmv=30, discount=0)


@pytest.fixture
def funnel_con(make_warehouse):
    con = connect(make_warehouse(FUNNEL_TABLES))
    yield con
    con.close()


def _steps(f: pd.DataFrame, segment: str) -> list:
    s = f[f.segment == segment].sort_values("step_order")["users"]
    return [None if pd.isna(x) else int(x) for x in s]


def test_key_path_funnel(funnel_con):
    f = brief.funnel(funnel_con, P, BP, DP.offline_order_channels)
    assert sorted(set(f.segment)) == ["app", "mini_program", "offline", "online", "store"]
    # buy again within 30 days: no month's window is complete by 10-31 (a1 from 10-02 10:30 needs
    # 11-01 10:30; September has no buyer), so step 5 is not measured rather than cut short
    # mini_program: visit a1, a2; browse a1, a2; cart a1; paid there a1
    assert _steps(f, "mini_program") == [2, 2, 1, 1, None]
    # app: visit a3, a4; browse a4; cart a4; no app order
    assert _steps(f, "app") == [2, 1, 1, 0, None]
    # online pooled: visit a1-a4 = 4; browse a1, a2, a4 = 3; cart a1, a4 = 2; paid a1 = 1
    assert _steps(f, "online") == [4, 3, 2, 1, None]
    # store logs no visits: path starts at checkout; buyers a1 (Oct 20), a5
    assert _steps(f, "store") == [None, None, None, 2, None]
    assert _steps(f, "offline") == [None, None, None, 2, None]
    assert f[f.step == "buy_again"].measured_month.isna().all()
    on = f[f.segment == "online"].set_index("step")["conversion"]
    assert on[["browse", "add_cart", "checkout"]].tolist() == pytest.approx([3 / 4, 2 / 3, 1 / 2])
    assert pd.isna(on["buy_again"])
    bp = brief.break_point(f, "online")
    assert (bp.from_step, bp.step, bp.conversion) == ("add_cart", "checkout", 0.5)  # 1 of 2 carts paid
    # store's checkout step has no step before it: no conversion, never the break point
    assert f[(f.segment == "store") & (f.step == "checkout")]["conversion"].isna().all()


def test_funnel_repeat_window(funnel_con):
    # with a 10-day window every October buyer's window ends by 10-31 (a1 10-12, a5 10-20), so
    # October is measured; neither a1 (next order after 18 days) nor a5 (15 days) buys again in time
    f = brief.funnel(funnel_con, P, BriefParams(repeat_days=10), DP.offline_order_channels)
    again = f[f.step == "buy_again"].set_index("segment")
    assert (again.measured_month == "2026-10").all()
    assert _steps(f, "online")[-1] == 0 and again.eligible_users["online"] == 1  # a1
    assert _steps(f, "store")[-1] == 0 and again.eligible_users["store"] == 2  # a1 (Oct 20), a5
    assert again.conversion["store"] == 0.0


# The key path's "buy again within 30 days" is play 03's 30-day repurchase (one SQL definition),
# measured on the latest month whose buyers have all had 30 days. Store orders only (no events):
#   b1 09-05 10:00, 09-20 10:00 (15 d)           -> September buyer, back
#   b2 09-28 10:00, 10-20 10:00 (22 d)           -> September buyer, back (after September ended)
#   b3 09-29 10:00                               -> September buyer, not back (window ends 10-29)
#   b4 10-25 10:00, 10-26 10:00 (1 d)            -> October buyer, window open at 10-31
# October's buyers b2 (10-20), b4 have not had 30 days: September is the latest complete month,
# b1 b2 of b1 b2 b3 = 2/3. The old step counted October cut at 10-31: b4 of b2 b4 = 50%.
REPEAT_TABLES = {
    "users": [{"user_id": i, "registered_at": "2026-09-01 09:00:00", "channel": "app"} for i in range(1, 5)],
    "orders": [
        {"order_id": 1, "user_id": 1, "ordered_at": "2026-09-05 10:00:00"},
        {"order_id": 2, "user_id": 1, "ordered_at": "2026-09-20 10:00:00"},
        {"order_id": 3, "user_id": 2, "ordered_at": "2026-09-28 10:00:00"},
        {"order_id": 4, "user_id": 2, "ordered_at": "2026-10-20 10:00:00"},
        {"order_id": 5, "user_id": 3, "ordered_at": "2026-09-29 10:00:00"},
        {"order_id": 6, "user_id": 4, "ordered_at": "2026-10-25 10:00:00"},
        {"order_id": 7, "user_id": 4, "ordered_at": "2026-10-26 10:00:00"},
    ],
}
for _o in REPEAT_TABLES["orders"]:
    _o.update(store_id="s1", gmv=30, discount=0, order_channel="store")


def test_buy_again_is_play_03s_repurchase_on_complete_windows(make_warehouse):
    from userops import activity
    from userops.params import ActivityParams

    con = connect(make_warehouse(REPEAT_TABLES))
    f = brief.funnel(con, P, BP, DP.offline_order_channels)
    again = f[f.step == "buy_again"].set_index("segment")
    assert again.loc["offline", "measured_month"] == "2026-09"
    assert (again.loc["offline", "users"], again.loc["offline", "eligible_users"]) == (2, 3)  # b1 b2 of b1-b3
    assert again.loc["offline", "conversion"] == pytest.approx(2 / 3)
    rep = activity.repurchase(con, P, ActivityParams(), DP)
    mature = activity.latest_mature_month(rep)
    row = rep[(rep.month == mature) & (rep.segment == "all")].iloc[0]
    assert (mature, row.repurchase_rate) == (pd.Timestamp("2026-09-01"), pytest.approx(2 / 3))  # the same
    row = f[(f.segment == "offline") & (f.step == "buy_again")].iloc[0]
    assert brief.funnel_metric_definition(row, BP).startswith(
        "share of September 2026's online checkout users with another order within 30 x 24 h"
    )
    con.close()


def test_the_briefs_two_funnels_come_from_one_query_over_the_months_they_read(make_warehouse, monkeypatch):
    # REPEAT_TABLES (above), 30 days. The brief's funnels of October and September read October,
    # September and August (the latest month whose last possible buyer's window, from Aug 31 23:59,
    # closes by September's as-of day 09-30): one query, windows observed to 10-31.
    con = connect(make_warehouse(REPEAT_TABLES))
    calls = []
    monkeypatch.setattr(brief, "query", lambda name, con, **kw: calls.append(kw) or db_query(name, con, **kw))
    now, prev = brief.funnels(con, [P, P.prev], BP, DP.offline_order_channels)
    assert [(c["from_date"], c["to_date"], c["as_of"]) for c in calls] == [
        (dt.date(2026, 8, 1), dt.date(2026, 11, 1), dt.date(2026, 10, 31))
    ]
    rows = db_query("brief/key_path_funnel", con, **calls[0])
    again = rows[(rows.segment == "offline") & (rows.step == "buy_again")].set_index("month")
    # September's checkout users b1 b2 b3: windows close 10-05, 10-28, 10-29 (09-29 10:00 + 30 x 24 h)
    assert str(again.loc["2026-09-01", "window_closes_on"])[:10] == "2026-10-29"
    assert (again.loc["2026-09-01", "users"], again.loc["2026-09-01", "eligible_users"]) == (2, 3)
    # October's b2 (10-20 10:00) and b4 (10-25 10:00): the last window closes 11-24, none eligible yet
    assert str(again.loc["2026-10-01", "window_closes_on"])[:10] == "2026-11-24"
    assert again.loc["2026-10-01", "eligible_users"] == 0
    # October's brief measures September (2 of 3); September's brief cannot: September's windows
    # close after 09-30 and August has no buyer (observed to 10-31, September would look complete)
    on = now[(now.segment == "offline") & (now.step == "buy_again")].iloc[0]
    assert (on.measured_month, on.users, on.eligible_users) == ("2026-09", 2, 3)
    before = prev[(prev.segment == "offline") & (prev.step == "buy_again")].iloc[0]
    assert before.measured_month is None and math.isnan(before.users) and math.isnan(before.conversion)
    for got, month in ((now, P), (prev, P.prev)):  # the same frames as one month's funnel alone
        pd.testing.assert_frame_equal(got, brief.funnel(con, month, BP, DP.offline_order_channels))
    con.close()


def test_data_quality(funnel_con):
    q = brief.data_quality(funnel_con).set_index("table_name")
    assert q.loc["users", "n_rows"] == 5 and q.loc["orders", "n_rows"] == 4 and q.loc["events", "n_rows"] == 9
    assert bool(q.loc["events", "present"]) and not bool(q.loc["coupons", "present"])
    assert q.loc["coupons", "n_rows"] == 0
    assert (q["rejected_rows"] == 0).all()
    assert str(q.loc["orders", "first_at"]) == "2026-10-02 10:30:00"  # order 1
    assert str(q.loc["orders", "last_at"]) == "2026-10-25 09:00:00"  # order 4


def _series(changes: list[float], start: float = 1000.0) -> pd.DataFrame:
    """KPI series whose GMV (and every other KPI) follows the given month-over-month changes."""
    vals = [start]
    for c in changes:
        vals.append(vals[-1] * (1 + c))
    months = [P.shift(-k).month for k in range(len(vals) - 1, -1, -1)]
    df = pd.DataFrame({k: vals for k, *_ in brief.KPIS}, index=months)
    df["conversion"] = 0.5
    return df


def test_kpi_flag_rule():
    # previous 6 changes: 10, 12, 8, 11, 9, 10 % -> mean 10 %, SD 1.414 %; 2 SD = 2.83 %
    usual = [0.10, 0.12, 0.08, 0.11, 0.09, 0.10]
    inside = brief.kpi_tiles(_series([0.05, *usual, 0.12]), P, BP).set_index("key")  # 12 %: 2 pp off
    assert not inside.loc["gmv", "flagged"]
    assert inside.loc["gmv", "usual_change"] == pytest.approx(0.10)
    assert inside.loc["gmv", "usual_sd"] == pytest.approx(np.std(usual, ddof=1))
    assert inside.loc["gmv", "change"] == pytest.approx(0.12)
    assert inside.loc["gmv", "prev_source"] == "computed"
    outside = brief.kpi_tiles(_series([0.05, *usual, 0.13]), P, BP).set_index("key")  # 3 pp > 2.83 pp
    assert outside.loc["gmv", "flagged"]
    # conversion constant at 50 %: change 0 pp, SD 0 -> never flagged
    assert outside.loc["conversion", "change"] == 0 and not outside.loc["conversion", "flagged"]


def test_previous_month_read_from_previous_run(tmp_path):
    prev_dir, this_dir = tmp_path / P.prev.month, tmp_path / ".tmp-2026-10-abcd"
    prev_dir.mkdir()
    this_dir.mkdir()
    # kpi.conversion was written on an earlier definition (buyers / traffic incl. store buyers): left out
    old_conversion = {"value": 0.9, "definition": "buyers / traffic"}
    mets = {"kpi.gmv": {"value": 999.0}, "kpi.conversion": old_conversion}
    doc = {"month": P.prev.month, "plays": {brief.BRIEF_PLAY: {"metrics": mets}}}
    (prev_dir / "metrics.json").write_text(json.dumps(doc), encoding="utf-8")
    prev = brief.previous_brief_metrics(this_dir, P.prev.month)
    assert prev == {"gmv": 999.0}
    tiles = brief.kpi_tiles(_series([0.1] * 8), P, BP, prev).set_index("key")
    assert tiles.loc["gmv", "prev"] == 999.0 and tiles.loc["gmv", "prev_source"] == "previous run"
    assert tiles.loc["orders", "prev_source"] == "computed"  # not in the previous run's metrics
    assert brief.previous_brief_metrics(this_dir, "2026-08") is None
    assert brief.previous_brief_metrics("", P.prev.month) is None
    # a KPI recorded under another definition is recomputed, not compared across definitions
    old_rule = "users dormant at the month start (no order for more than dormant_days) who ordered"
    doc["plays"][brief.BRIEF_PLAY]["metrics"]["kpi.reactivated"] = {"value": 294, "definition": old_rule}
    doc["plays"][brief.BRIEF_PLAY]["metrics"]["kpi.orders"] = {
        "value": 5,
        "definition": brief.KPI_DEFINITIONS["orders"],
    }
    (prev_dir / "metrics.json").write_text(json.dumps(doc), encoding="utf-8")
    assert brief.previous_brief_metrics(this_dir, P.prev.month) == {"gmv": 999.0, "orders": 5}


def test_play_results_from_the_run_folder(tmp_path):
    doc = {
        "month": "2026-10",
        "plays": {
            brief.BRIEF_PLAY: {"metrics": {"kpi.gmv": {"value": 1.0, "unit": "yuan"}}},
            "04_churn_recall": {
                "metrics": {
                    "recall_lift": {
                        "value": 0.08,
                        "unit": "share (difference)",
                        "definition": "d",
                        "period": "2026-10",
                        "ci_low": 0.05,
                        "ci_high": 0.11,
                    },
                    "recall_roi": {"value": 2.5, "unit": "ratio", "definition": "r", "period": "2026-10"},
                    "dormant_users": {"value": 500, "unit": "users", "definition": "n", "period": "2026-10"},
                }
            },
        },
    }
    (tmp_path / "metrics.json").write_text(json.dumps(doc), encoding="utf-8")
    (tmp_path / "targets").mkdir()
    # 3 users to touch (u1 has two rows), 1 holdout
    (tmp_path / "targets" / "recall_list.csv").write_text(
        "user_id,coupon,arm\n1,a,treatment\n1,b,treatment\n2,a,treatment\n3,a,treatment\n4,a,holdout\n"
    )
    pm = brief.play_metrics(brief.run_metrics(tmp_path))
    assert set(pm.play) == {"04_churn_recall"}  # the brief's own metrics are not a play's
    eff = brief.effect_metrics(pm).set_index("key")
    assert list(eff.index) == ["recall_lift", "recall_roi"]  # dormant_users sizes nothing
    # one line in the PDF: no-break spaces inside the interval
    text = eff.loc["recall_lift", "text"]
    assert nv.plain(text) == "+8.0 pp（95%置信区间 +5.0 pp–+11.0 pp）"
    assert " " not in text.split("（")[1]  # no-break spaces and joiners only: one line in the PDF
    assert eff.loc["recall_lift", "measure"] == "recall_lift"  # no business name: as recorded (see e2e)
    assert eff.loc["recall_roi", "text"] == "2.5"  # ROI with one decimal, as in the plays' sentences
    # the brief's tables print small and whole (issue #15: the brief fits 6 pages in either language)
    html = brief.effects_table_html(eff.reset_index()).to_html()
    assert "font-size: 8.5pt" in html and "uo-keep" in html and i18n.t("brief.effects_caption") in html
    (tmp_path / "targets" / "expiring_coupons.csv").write_text("user_id,coupon_id,arm\n")  # nobody due
    assert brief.target_lists(tmp_path).target.tolist() == ["recall_list"]
    t = brief.target_lists(tmp_path).iloc[0]
    assert (t.target, t.rows, t.users, t.to_touch, t.holdout) == ("recall_list", 5, 4, 3, 1)
    assert brief.target_lists("").empty and brief.run_metrics("") == {}


def test_play_actions_quote_the_top_lines_of_each_play(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    (tmp_path / "notebooks").mkdir()
    acts = new_code_cell("...")
    acts.outputs = [
        new_output(
            "display_data", data={"text/markdown": "1. **Send the list** (2,797 users).\n2. **Keep X**."}
        )
    ]
    nb = new_notebook(
        cells=[
            new_markdown_cell("# 流失召回 · Churn recall"),
            new_markdown_cell("## 7 · 行动 · Actions"),
            acts,
            new_markdown_cell("## 附录 · Definitions"),
        ]
    )
    nbformat.write(nb, tmp_path / "notebooks" / "04_churn_recall.ipynb")
    nbformat.write(
        new_notebook(cells=[new_markdown_cell("# no actions")]), tmp_path / "notebooks" / "05_x.ipynb"
    )
    got = brief.play_actions(tmp_path, ["04_churn_recall", "05_x", "01_not_run"], per_play=1)
    assert got.to_dict("records") == [
        {"play": "04_churn_recall", "rank": 1, "action": "**Send the list** (2,797 users)."}
    ]
    assert len(brief.play_actions(tmp_path, ["04_churn_recall"], per_play=5)) == 2


def test_no_previous_month_means_no_comparison(matrix_con):
    jul = Period("2026-07")
    m = brief.matrix(matrix_con, jul.prev, jul, RC, events=True)
    d = brief.decompose(m, jul)
    # June has no order at all; July has u6's ¥25 order (07-15)
    assert (d.attrs["gmv_prev"], d.attrs["gmv"]) == (0.0, 25.0)
    assert brief.comparison_reason(d, jul) == "与2026年6月比较需要2026年6月的订单，数据中没有。"
    assert (
        brief.gmv_finding(d, jul)
        == "**GMV ¥25**（2026年7月）。与2026年6月比较需要2026年6月的订单，数据中没有。"
    )
    table = brief.matrix_table(m, jul).set_index("用户群")
    assert table.loc["新客", "GMV"] == "¥25"  # this month only: u6's first order on 07-15
    assert table.loc["合计", "GMV"] == "¥25"
    assert table.loc["沉睡", "客单价"] == "无"  # no dormant user ordered in July
    assert "→" not in table.to_string() and "nan" not in table.to_string().lower()
    assert brief.matrix_caption(m, jul) == "每格：7月（没有6月的数据可比较）"
    i18n.set_language("en")
    try:
        assert brief.gmv_finding(d, jul) == (
            "**GMV ¥25** in July 2026. Comparing with June 2026 needs orders in June 2026; the data has none."
        )
        assert brief.matrix_table(m, jul).set_index("group").loc["Dormant", "AOV"] == "none"
    finally:
        i18n.set_language("zh")
    oct_ = brief.matrix(matrix_con, P.prev, P, RC, events=True)
    # October's dormant group bought (u3) but September's did not: its AOV had no orders last month
    assert brief.matrix_table(oct_, P).set_index("用户群").loc["沉睡", "客单价"] == "无 → ¥90.0"
    assert brief.comparison_reason(brief.decompose(brief.matrix(matrix_con, P.prev, P, RC, True), P), P) == ""


def test_tiles_without_history_say_so():
    series = _series([0.1])  # only two months: one change, no trailing norm
    tiles = brief.kpi_tiles(series, P, BP)
    html = brief.kpi_tiles_html(tiles, P, BP.trailing_months)
    assert "+10.0% 较9月" in html and "正常波动" not in html and "nan" not in html.lower()
    first = brief.kpi_tiles(series.iloc[-1:], P, BP)  # the report month alone
    html = brief.kpi_tiles_html(first, P, BP.trailing_months)
    assert "较9月" not in html and "均值" not in html
    assert "–" not in html and "nan" not in html.lower()


def test_metrics_a_play_could_not_measure_are_named_not_shown():
    pm = pd.DataFrame(
        [
            ("02_new_user_retention", "expiry_reminder_lift", None, "share (difference)"),
            ("02_new_user_retention", "km_second_order_by_day_30", None, "share"),
            ("02_new_user_retention", "cum_d7_retention.app", None, "share"),  # a breakdown: not named
            ("04_churn_recall", "recall_roi", 2.5, "ratio"),
        ],
        columns=["play", "key", "value", "unit"],
    ).assign(ci_low=None, ci_high=None)
    assert brief.effect_metrics(pm).key.tolist() == ["recall_roi"]
    # named in business words; a metric without a business name is counted, its code never shown
    assert brief.unmeasured_text(pm) == (
        "本期数据无法测量（各分析报告说明所需数据）：02 新客7日留存：新人券到期提醒：核销率提升、另有 1 项指标。"
    )
    assert brief.unmeasured_text(pm[pm.value.notna()]) == ""


# --------------------------------------------------------------------------- play status note


def test_play_status_note_names_failed_skipped_and_earlier_plays(tmp_path):
    from userops import run_status

    assert brief.play_status_note(None) is None  # interactive run: no run folder
    assert brief.play_status_note(tmp_path) is None  # no run_status.json
    status = run_status.empty("2026-10")
    status["succeeded"] = [{"notebook": "01_acquisition", "title": "拉新 · Acquisition"}]
    run_status.write(tmp_path, status)
    assert brief.play_status_note(tmp_path) is None  # every play ran this time

    status["failed"] = [
        {
            "notebook": "03_active_incentives",
            "title": "促活 · Active-user incentives",
            "cell": 12,
            "error": "E: x",
        },
        {"notebook": "04_churn_recall", "title": "流失召回 · Churn recall", "cell": 3, "error": "E: y"},
    ]
    status["skipped"] = [{"notebook": "05_personas", "title": "05_personas"}]  # title fell back to the stem
    status["carried_over"] = ["01_acquisition", "04_churn_recall"]
    run_status.write(tmp_path, status)
    note = brief.play_status_note(tmp_path)
    assert note.startswith("**本月简报缺少的分析。**")
    assert "未能完成：03 促活、04 流失召回（此前运行）。它们的数字、名单和行动不在本简报中" in note
    assert "本期未运行：05 用户画像；简报中没有它们的结果。" in note
    assert "（未用最新数据重跑）：01 拉新。" in note
    assert "E: x" not in note and "\n" not in note  # business language, one paragraph


def test_one_repurchase_window_in_params():
    from userops.params import Params

    with pytest.raises(ValueError, match="brief.repeat_days \\(20\\) must equal activity.repurchase_days"):
        Params.model_validate({"brief": {"repeat_days": 20}})
    assert Params.model_validate({"brief": {"repeat_days": 20}, "activity": {"repurchase_days": 20}})


def test_break_point_text_says_when_buy_again_cannot_be_measured(funnel_con):
    from types import SimpleNamespace

    f = brief.funnel(funnel_con, P, BP, DP.offline_order_channels)
    b = SimpleNamespace(
        period=P, funnel=f, funnel_prev=brief.funnel(funnel_con, P.prev, BP, DP.offline_order_channels)
    )
    text = brief.break_point_text(b, brief.break_point(f, "online"), BP)
    # add_cart a1 a4 -> checkout a1: 1 user stops; October's buyers (a1 from 10-02) have not had 30 days
    assert text.startswith("**先修复 选货 → 结账**：本月有 1 名线上用户在此止步")
    assert text.endswith("30 天内再购买需要在 2026-10-31 前观察满 30 天的买家；数据中还没有。")
    i18n.set_language("en")
    try:
        text_en = brief.break_point_text(b, brief.break_point(f, "online"), BP)
        assert text_en.startswith("**Fix add to cart → check out first**: 1 online user stops there")
        assert text_en.endswith(
            "Buy again within 30 days needs buyers observed for 30 days after their first order of a month by "
            "2026-10-31; the data has none yet."
        )
    finally:
        i18n.set_language("zh")
    assert "nan" not in text


def test_last_page_of_a_brief_section_is_the_page_before_a_heading():
    """The layout rule "no page more than a third empty except the last of a section", for the brief:
    a page may end short only when the next page opens with one of the brief's section headings (as
    printed in the report language), or when it is the PDF's last page."""
    from userops.export import opens_section, sparse_of

    i18n.set_language("zh")
    heads = brief.section_headings()
    assert heads[0] == "本月要点" and heads[1] == "1 · KPI 看板" and heads[-1] == "术语表"
    assert len(heads) == len(brief.SECTIONS) == 9
    texts = [
        "鲜邻便利\n月度用户运营简报",  # p1 cover
        "月度经营简报\n本月要点\n…",  # p2 the brief's title page
        "2 · 3 × 3\n经营矩阵\n用户按月初状态分组",  # p3 opens section 2 (pdftotext wrapped the heading)
        "用户\n流量\n新客 2,525",  # p4 the matrix table continued: no heading
        "附录 · 指标定义与数据质量\n指标",  # p5 opens the appendix
        "术语\n解释",  # p6 the glossary table continued
    ]
    assert [opens_section(t, heads) for t in texts] == [False, False, True, False, True, False]
    # fills (share of the printable height used): p1 0.5 is followed by the title page -> sparse;
    # p2 0.6 is followed by section 2 -> its section's last page; p3 0.6 is followed by a continued
    # table -> sparse; p4 0.3 is followed by the appendix; p5 0.9 is full; p6 is the last page
    assert sparse_of([0.5, 0.6, 0.6, 0.3, 0.9, 0.1], texts, sections=heads) == [1, 3]
    assert sparse_of([0.7, 0.67, 0.6, 0.3, 0.9, 0.1], texts, sections=heads) == [3]  # 0.67 >= 2/3
    i18n.set_language("en")
    assert opens_section("Appendix: definitions and data quality\nMeasure", brief.section_headings())
    assert not opens_section("Appendix: definitions and data quality", None)  # the generic rule wants "·"
