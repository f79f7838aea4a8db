"""Play 5 on hand-computed fixtures. Report month 2026-10 (as of 2026-10-31), 12-month window
[2025-11-01, 2026-11-01); last month's window is [2025-10-01, 2026-10-01), as of 2026-09-30.

Orders (user: date hour channel gmv):
    u1  2026-10-10 Sat 08h store 100 | 2026-10-20 Tue 12h app 100 | 2026-10-30 Fri 19h app 100
    u2  2026-10-31 Sat 10h mini_program 50
    u3  2026-08-01 Sat 09h store 20
    u4  2026-05-01 Fri 15h app 40 | 2026-05-02 Sat 15h app 40 | 2026-05-03 Sun 15h app 40
    u5  2025-10-15 Wed 09h store 500 (before this window, inside last month's) | 2025-12-01 Mon 09h store 30
    u6  registered, never ordered
Lines: u1's orders 1..3 and u2's order 4 (see ITEMS).

This month's RFM (5 buyers; score = 1 + floor(percent_rank * 5), capped at 5):
    recency days   u1 1, u2 0, u3 91, u4 181, u5 334 -> ranked descending: u5 1, u4 2, u3 3, u1 4, u2 5
    frequency      u1 3, u2 1, u3 1, u4 3, u5 1      -> u2 u3 u5 tie at rank 1 (score 1); u1 u4 rank 4 (pr .75, score 4)
    monetary       u1 300, u2 50, u3 20, u4 120, u5 30 -> u3 1, u5 2, u2 3, u4 4, u1 5
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from userops import activity, i18n
from userops import persona as ps
from userops.db import connect
from userops.params import ActivityParams, DataParams, Params, PersonaParams, RecallParams
from userops.period import Period
from userops.testing import order_row


@pytest.fixture(autouse=True)
def english():
    """Cluster names, playbook lines and sentences in English (the wording these tests pin down; the i18n
    test keeps zh/persona.yaml in step)."""
    i18n.set_language("en")
    yield
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


P = Period("2026-10")
PP = PersonaParams()
DP = DataParams()
AP = ActivityParams()
RP = RecallParams()

USERS = [
    dict(user_id=1, registered_at="2025-01-01 09:00:00", channel="app", city="上海", gender="F", birth_year=1990, family_status="with_kids"),
    dict(user_id=2, registered_at="2025-01-01 09:00:00", channel="app", city="上海", gender="M"),
    dict(user_id=3, registered_at="2025-01-01 09:00:00", channel="app", city="杭州", gender="F", birth_year=2003, family_status="single"),
    dict(user_id=4, registered_at="2025-01-01 09:00:00", channel="app", city="杭州", gender="M", birth_year=1960, family_status="retired"),
    dict(user_id=5, registered_at="2025-01-01 09:00:00", channel="app", city="杭州", gender="F", birth_year=1976, family_status="couple"),
    dict(user_id=6, registered_at="2025-01-01 09:00:00", channel="app", city="杭州", gender="F", birth_year=1976, family_status="couple"),
]  # fmt: skip


def _order(oid, uid, ts, channel, gmv, coupon=None):
    return order_row(oid, uid, ts, coupon_id=coupon, gmv=gmv, order_channel=channel)


ORDERS = [
    _order(1, 1, "2026-10-10 08:00:00", "store", 100),
    _order(2, 1, "2026-10-20 12:00:00", "app", 100),
    _order(3, 1, "2026-10-30 19:00:00", "app", 100),
    _order(4, 2, "2026-10-31 10:00:00", "mini_program", 50),
    _order(5, 3, "2026-08-01 09:00:00", "store", 20),
    _order(6, 4, "2026-05-01 15:00:00", "app", 40),
    _order(7, 4, "2026-05-02 15:00:00", "app", 40),
    _order(8, 4, "2026-05-03 15:00:00", "app", 40),
    _order(9, 5, "2025-10-15 09:00:00", "store", 500),
    _order(10, 5, "2025-12-01 09:00:00", "store", 30),
]

PRODUCTS = [
    dict(product_id="P1", name="青菜", category="fresh", price=5, is_hero=True),
    dict(product_id="P2", name="薯片", category="snacks", price=8, is_hero=False),
    dict(product_id="P3", name="奶粉", category="mother_baby", price=200, is_hero=False),
]

ITEMS = [
    dict(order_id=1, product_id="P1", quantity=2, amount=10),  # u1 fresh
    dict(order_id=1, product_id="P2", quantity=1, amount=8),  # u1 snacks
    dict(order_id=2, product_id="P1", quantity=1, amount=5),  # u1 fresh
    dict(order_id=3, product_id="P3", quantity=1, amount=82),  # u1 mother_baby (most GMV)
    dict(order_id=4, product_id="P2", quantity=2, amount=50),  # u2 snacks
]


@pytest.fixture
def con(make_warehouse):
    wh = make_warehouse({"users": USERS, "orders": ORDERS, "products": PRODUCTS, "order_items": ITEMS})
    c = connect(wh)
    yield c
    c.close()


def test_rfm_values_scores_segments_tiers(con):
    r = ps.rfm(con, P, PP, AP).set_index("user_id")
    assert list(r.index) == [1, 2, 3, 4, 5]  # u6 never ordered; u5 counts for its 2025-12-01 order
    assert r.recency_days.to_dict() == {1: 1, 2: 0, 3: 91, 4: 181, 5: 334}
    assert r.frequency.to_dict() == {1: 3, 2: 1, 3: 1, 4: 3, 5: 1}  # u5's 2025-10-15 order is outside
    assert r.monetary.to_dict() == {1: 300, 2: 50, 3: 20, 4: 120, 5: 30}
    assert r.r_score.to_dict() == {1: 4, 2: 5, 3: 3, 4: 2, 5: 1}
    assert r.f_score.to_dict() == {1: 4, 2: 1, 3: 1, 4: 4, 5: 1}  # ties share the lowest rank
    assert r.m_score.to_dict() == {1: 5, 2: 3, 3: 1, 4: 4, 5: 2}
    # segments: u1 r4 f4 champions; u2 r5 f1 recent first-timer; u3 r3 f1 promising; u4 r2 f4 at_risk; u5 r1 f1 lost
    assert r.segment.to_dict() == {
        1: "champions",
        2: "recent_first_timers",
        3: "promising",
        4: "at_risk",
        5: "lost",
    }
    # value tier = play 03's: 90-day spend in [08-03, 11-01): u1 300 potential (100..499), u2 50 ordinary;
    # u3 (08-01), u4 (May), u5 (2025-12) have no spend in it: none
    assert r.tier.to_dict() == {1: "potential", 2: "ordinary", 3: "none", 4: "none", 5: "none"}


def test_tier_summary_is_play_03s_tier(con):
    t = ps.tier_summary(con, P, AP).set_index("tier")
    assert list(t.index) == ["core", "important", "potential", "ordinary"]  # every tier, best first
    assert t.users.to_dict() == {"core": 0, "important": 0, "potential": 1, "ordinary": 1}  # u1, u2
    assert t.loc["potential", "gmv_share"] == pytest.approx(300 / 350)  # u1 300 of u1 300 + u2 50
    assert t.loc["potential", "user_share"] == pytest.approx(1 / 2)
    assert t.loc["potential", "label"] == "Potential"  # one language per report (the English one here)


def test_core_tier_size_is_the_same_in_plays_03_and_05(con):
    # thresholds 40 / 100 / 300 on 90-day spend in [08-03, 11-01): u1 300 core, u2 50 potential
    ap = ActivityParams(tier_thresholds_yuan={"potential": 40.0, "important": 100.0, "core": 300.0})
    play03 = activity.tiers_kept(activity.tier_transitions(con, P, ap), ap).end
    play05 = ps.tier_summary(con, P, ap).set_index("tier").loc["core", "users"]
    in_rfm = int((ps.rfm(con, P, PP, ap).tier == "core").sum())
    assert play03 == play05 == in_rfm == 1  # u1


def test_segment_names_never_read_as_tiers_or_new_users():
    assert not {r.name for r in PP.segments} & {"new", "none", "ordinary", *AP.tier_thresholds_yuan}
    bad = [{"name": "core", "r": [4, 5]}, *[r.model_dump() for r in PP.segments]]
    with pytest.raises(ValueError, match="core is a value-tier name"):
        Params.model_validate({"persona": {"segments": bad}})
    with pytest.raises(ValueError, match="new is a value-tier name or 'new'"):
        Params.model_validate({"persona": {"segments": [{"name": "new", "r": [4, 5]}]}})


def test_tier_movement_needs_earlier_spend(con):
    tt = activity.tier_transitions(con, P, AP)
    # start of October: 90-day spend in [07-03, 10-01): u3 20 (08-01) ordinary -> something to move from
    assert ps.needs_previous(tt, P) == ""
    early = activity.tier_transitions(con, Period("2025-10"), AP)  # nobody spent before 2025-10-01
    assert ps.needs_previous(early, Period("2025-10")).startswith("Tier movement needs users who spent")


def test_user_features(con):
    f = ps.user_features(con, P, PP, DP).set_index("user_id")
    u1 = f.loc[1]
    assert u1.n_orders == 3 and u1.gmv == 300 and u1.aov == 100
    assert u1.online_share == pytest.approx(2 / 3)  # app, app vs store
    assert (u1.n_online, u1.gmv_online, u1.n_offline, u1.gmv_offline) == (2, 200, 1, 100)
    assert (u1.n_month_orders, u1.n_month_online) == (3, 2)  # all three in October
    assert u1.weekend_share == pytest.approx(1 / 3)  # 10-10 is a Saturday
    assert (u1.tod_morning, u1.tod_midday, u1.tod_evening) == pytest.approx(
        (1 / 3, 1 / 3, 1 / 3)
    )  # 08h 12h 19h
    # lines: fresh (order 1), snacks (order 1), fresh (order 2), mother_baby (order 3) -> 2/4, 1/4, 1/4
    assert (u1.cat_fresh, u1.cat_snacks, u1.cat_mother_baby) == pytest.approx((0.5, 0.25, 0.25))
    assert u1.top_category == "mother_baby"  # 82 yuan vs fresh 15, snacks 8
    assert u1.age_band == "30-39"  # 2026 - 1990 = 36
    u2 = f.loc[2]
    assert (u2.age_band, u2.family_status) == ("unknown", "unknown")  # no birth year, no family status
    assert u2.tod_morning == 1 and u2.weekend_share == 1  # 10h on Saturday 10-31
    assert f.loc[3, "age_band"] == "<25"  # 23
    assert f.loc[4, "age_band"] == "60+"  # 66
    assert f.loc[5, "age_band"] == "50-59"  # 50
    assert f.loc[4, "tod_afternoon"] == 1  # 15h x 3
    assert f.loc[4, "cat_fresh"] == 0 and pd.isna(f.loc[4, "top_category"])  # no lines for u4
    assert ps.age_band_order(PP) == ["<25", "25-29", "30-39", "40-49", "50-59", "60+", "unknown"]


def test_user_categories_built_once_per_connection_and_window(con, tmp_path, monkeypatch):
    """The window's lines per user x category (user_categories.sql) are aggregated once per
    connection and window into the temp table persona_user_categories; user_features and every
    group_categories call read it, another window builds it again."""
    log = tmp_path / "queries.jsonl"
    monkeypatch.setenv("USEROPS_QUERY_LOG", str(log))
    ps.user_features(con, P, PP, DP)
    ps.group_categories(con, pd.DataFrame({"user_id": [1, 2], "dimension": "d", "grp": "a"}), P, PP)
    ps.group_categories(con, pd.DataFrame({"user_id": [1], "dimension": "cluster", "grp": "1"}), P, PP)

    def built() -> int:
        names = [json.loads(line)["sql"] for line in log.read_text().splitlines()]
        return names.count("persona/user_categories")

    assert built() == 1
    rows = con.execute(f"select * from {ps.CATEGORY_TABLE} order by user_id, category").df()
    # u1: fresh 2 lines (order 1 10 + order 2 5 = 15), mother_baby 1 (82), snacks 1 (8) of 4 lines;
    # u2: snacks 1 line (50) of 1
    assert list(zip(rows.user_id, rows.category, rows.lines, rows.gmv, rows.line_share, strict=True)) == [
        (1, "fresh", 2, 15.0, 0.5),
        (1, "mother_baby", 1, 82.0, 0.25),
        (1, "snacks", 1, 8.0, 0.25),
        (2, "snacks", 1, 50.0, 1.0),
    ]
    ps.user_features(con, Period("2026-05"), PP, DP)  # window [2025-06-01, 2026-06-01): no lines
    assert built() == 2
    assert con.execute(f"select count(*) from {ps.CATEGORY_TABLE}").fetchall() == [(0,)]


def test_top_category_ties_on_exact_line_gmv(make_warehouse):
    """Line GMV per user x category is the exact decimal sum: 0.10 + 0.20 ties with 0.30 (as doubles
    summed line by line it would be 0.30000000000000004 and win)."""
    items = [
        *ITEMS,
        dict(order_id=6, product_id="P1", quantity=1, amount=0.30),  # u4 fresh 0.30
        dict(order_id=7, product_id="P2", quantity=1, amount=0.10),  # u4 snacks 0.10
        dict(order_id=8, product_id="P2", quantity=1, amount=0.20),  # u4 snacks 0.20 -> 0.30
    ]
    wh = make_warehouse({"users": USERS, "orders": ORDERS, "products": PRODUCTS, "order_items": items})
    c = connect(wh)
    f = ps.user_features(c, P, PP, DP).set_index("user_id")
    cats = ps.group_categories(c, pd.DataFrame({"user_id": [4], "dimension": "d", "grp": "b"}), P, PP)
    c.close()
    assert f.loc[4, "top_category"] == "fresh"  # 0.30 vs 0.30: a tie, alphabetical
    # 1 and 2 of u4's 3 lines
    assert (f.loc[4, "cat_fresh"], f.loc[4, "cat_snacks"]) == pytest.approx((1 / 3, 2 / 3))
    b = cats.set_index("category")
    assert b.gmv.to_dict() == {"fresh": 0.3, "mother_baby": 0.0, "snacks": 0.3}  # the same double
    assert b.lines.to_dict() == {"fresh": 1, "mother_baby": 0, "snacks": 2}


def test_group_queries_zero_fill(con):
    groups = pd.DataFrame({"user_id": [1, 2, 4], "dimension": "d", "grp": ["a", "a", "b"]})
    cats = ps.group_categories(con, groups, P, PP)
    a = cats[cats.grp == "a"].set_index("category")
    assert a.lines.to_dict() == {"fresh": 2, "mother_baby": 1, "snacks": 2}  # u1 4 lines + u2 1 snacks line
    assert a.loc["snacks", "gmv"] == 58  # u1 8 + u2 50
    assert a.loc["mother_baby", "gmv_share"] == pytest.approx(82 / 155)  # 10 + 8 + 5 + 82 + 50
    b = cats[cats.grp == "b"]
    assert len(b) == 3 and b.lines.sum() == 0  # u4 has no lines: zero rows, not missing ones
    time = ps.group_time(con, groups, P, PP)
    assert len(time) == 2 * 7 * 24 and time.orders.sum() == 7  # a: 3 + 1, b: 3
    pk = ps.peaks(time).set_index("grp")
    assert pk.loc["b", "peak_hour"] == 15  # u4 always at 15h
    assert pk.loc["b", "peak_weekday"] == "Fri"  # Fri, Sat, Sun one each: earliest weekday wins
    assert pk.loc["a", "peak_weekday"] == "Sat"  # 10-10 and 10-31 are Saturdays


def test_group_summary_channel_aov(con):
    f = ps.user_features(con, P, PP, DP).assign(g="all")
    s = ps.group_summary(f, "g").iloc[0]
    assert s.users == 5 and s.orders == 9  # u5's 2025-10-15 order is outside the window
    # online orders: u1 2 x 100, u2 50, u4 3 x 40 -> 370 / 6; in store: u1 100, u3 20, u5 30 -> 150 / 3
    assert s.online_aov == pytest.approx(370 / 6)
    assert s.offline_aov == pytest.approx(50)
    assert s.offline_aov_low < 50 < s.offline_aov_high
    assert s.omni_share == pytest.approx(1 / 5)  # only u1 used both
    assert s.peak_time == "morning"  # u1 08h, u2 10h, u3 09h, u5 09h: 4 orders vs u4's 3 at 15h


def test_ratio_ci_user_level():
    # users with identical AOV: no spread -> zero-width interval at 10
    r, lo, hi = ps.ratio_ci(pd.Series([10.0, 30.0]), pd.Series([1, 3]))
    assert (r, lo, hi) == pytest.approx((10, 10, 10))
    # users (gmv, orders) = (10, 1), (90, 3): ratio 100 / 4 = 25; residuals -15, +15
    # se = sqrt(2 / 1 * (225 + 225)) / 4 = 30 / 4 = 7.5 -> 25 -/+ 1.96 x 7.5
    r, lo, hi = ps.ratio_ci(pd.Series([10.0, 90.0]), pd.Series([1, 3]))
    assert r == 25 and hi - r == pytest.approx(1.959964 * 7.5, rel=1e-5) and r - lo == pytest.approx(hi - r)
    assert np.isnan(ps.ratio_ci(pd.Series([0.0]), pd.Series([0]))[0])  # no orders of that kind


def test_cramers_v_and_strength():
    a = pd.Series(["x", "x", "y", "y"] * 10)
    v, p, n = ps.cramers_v(a, a.map({"x": "online", "y": "in-store"}))
    assert v == pytest.approx(1.0) and p < 0.001 and n == 40  # perfect link
    v, _, _ = ps.cramers_v(a, pd.Series(["u", "w"] * 20))  # each x/y level half u, half w
    assert v == pytest.approx(0.0)
    assert np.isnan(ps.cramers_v(a, pd.Series(["u"] * 40))[0])  # a constant has no association
    assert [ps.strength(v, (0.1, 0.2, 0.3)) for v in (0.05, 0.1, 0.25, 0.4)] == [
        "negligible",
        "weak",
        "moderate",
        "strong",
    ]


def _profile(**kw):
    base = dict(
        users=100,
        orders_per_user=10.0,
        aov=50.0,
        online_share=0.5,
        weekend_share=0.3,
        **{f"tod_{t}": 0.2 for t in ps.TIMES},
        **{f"cat_{c}": 1 / 6 for c in ps.CATEGORIES},
    )
    base.update(kw)
    return pd.Series(base)


def test_cluster_name_from_profile(english):
    overall = _profile()
    # online 0.8 >= 0.6; evening busiest; snacks 0.35 and drinks 0.30 lift >= 1.25 (vs 1/6), snacks first;
    # AOV 30 <= 50 / 1.25 -> small baskets; orders / user 10 = overall -> not frequent
    office = _profile(
        online_share=0.8,
        aov=30.0,
        tod_evening=0.5,
        tod_morning=0.1,
        cat_snacks=0.35,
        cat_drinks=0.30,
        cat_fresh=0.1,
        cat_cooking=0.1,
        cat_mother_baby=0.05,
        cat_daily=0.1,
    )
    assert ps.cluster_name(office, overall, PP) == "online evening snacks & drinks buyers, small baskets"
    i18n.set_language("zh")
    assert ps.cluster_name(office, overall, PP) == "线上晚间休闲零食和酒水饮料买家，小单"
    i18n.set_language("en")
    # in store 0.2 <= 0.4; morning; weekend 0.45 >= 1.25 x 0.3; fresh & cooking; AOV 70 >= 62.5; 13 >= 12.5 orders
    senior = _profile(
        online_share=0.2,
        weekend_share=0.45,
        aov=70.0,
        orders_per_user=13.0,
        tod_morning=0.6,
        cat_fresh=0.4,
        cat_cooking=0.3,
        cat_mother_baby=0.05,
        cat_snacks=0.05,
        cat_drinks=0.05,
        cat_daily=0.15,
    )
    assert ps.cluster_name(senior, overall, PP) == (
        "in-store weekend morning fresh & cooking buyers, big baskets, frequent"
    )
    # nothing stands out: omnichannel, the first busiest band (morning), the largest category alone
    assert ps.cluster_name(_profile(), overall, PP) == "omnichannel morning fresh buyers"
    # mother_baby reads as words
    mum = _profile(
        cat_mother_baby=0.5, cat_fresh=0.1, cat_cooking=0.1, cat_snacks=0.1, cat_drinks=0.1, cat_daily=0.1
    )
    assert ps.cluster_name(mum, overall, PP).startswith("omnichannel morning mother-and-baby buyers")


def test_name_clusters_deduplicates(english):
    prof = pd.DataFrame({"1": _profile(), "2": _profile(), "all": _profile()}).T
    names = ps.name_clusters(prof, PP)
    assert names.to_dict() == {
        "1": "omnichannel morning fresh buyers",
        "2": "omnichannel morning fresh buyers (2)",
    }


def _blobs(seed: int = 3) -> pd.DataFrame:
    """Three constructed behaviour groups of 120 users each (morning fresh / evening snacks / afternoon
    mother-and-baby), with small noise: the clustering must find k = 3 and separate them exactly."""
    rng = np.random.default_rng(seed)
    rows = []
    for g, (tod, cat, online) in enumerate(
        [("morning", "fresh", 0.1), ("evening", "snacks", 0.9), ("afternoon", "mother_baby", 0.6)]
    ):
        n = 120
        d = {f"tod_{t}": np.full(n, 0.05) for t in ps.TIMES}
        d[f"tod_{tod}"] = np.full(n, 0.8)
        d.update({f"cat_{c}": np.full(n, 0.06) for c in ps.CATEGORIES})
        d[f"cat_{cat}"] = np.full(n, 0.7)
        frame = pd.DataFrame(d) + rng.normal(0, 0.02, (n, len(d)))
        frame = frame.clip(0, 1)
        frame["online_share"] = np.clip(online + rng.normal(0, 0.05, n), 0, 1)
        frame["weekend_share"] = np.clip(0.3 + rng.normal(0, 0.05, n), 0, 1)
        frame["aov"] = 40 * np.exp(rng.normal(0, 0.1, n)) * (g + 1)
        frame["n_orders"] = 3 + rng.integers(0, 5, n)
        frame["truth"] = g
        rows.append(frame)
    out = pd.concat(rows, ignore_index=True)
    out.insert(0, "user_id", np.arange(1, len(out) + 1))
    return out


def test_clustering_recovers_constructed_groups_and_is_deterministic():
    from sklearn.metrics import adjusted_rand_score

    f = _blobs()
    pp = PersonaParams(k_min=2, k_max=5, pca_components=3)
    a = ps.cluster_users(f, pp)
    b = ps.cluster_users(f, pp)
    assert a.k == 3
    assert adjusted_rand_score(f.truth, a.assignment.cluster) == pytest.approx(1.0)
    assert a.assignment.equals(b.assignment) and a.silhouette.equals(b.silhouette)
    assert len(a.assignment) == len(f) and a.n_too_new == 0  # every user has >= 3 orders
    sizes = a.assignment.cluster.value_counts().sort_index()
    assert list(sizes.index) == [1, 2, 3] and sizes.is_monotonic_decreasing  # numbered largest first


def test_silhouette_from_one_distance_matrix_is_the_same(monkeypatch):
    """The sample's distances are computed once for every k: the silhouettes are the very numbers
    silhouette_score gives from the points (compared bit for bit with the matrix turned off)."""
    f = _blobs()
    pp = PersonaParams(k_min=2, k_max=5, pca_components=3, silhouette_sample=200)
    shared = ps.cluster_users(f, pp)
    monkeypatch.setattr(ps, "SILHOUETTE_MATRIX_MAX", 0)
    direct = ps.cluster_users(f, pp)
    assert shared.silhouette.equals(direct.silhouette) and shared.assignment.equals(direct.assignment)
    assert shared.k == 3 and len(shared.silhouette) == 4  # k = 2..5


def test_few_order_users_are_too_new_to_profile():
    f = _blobs()
    f.loc[:9, "n_orders"] = 1  # ten users of group 0 with a single order
    f.loc[10:11, "n_orders"] = 2  # two more with two orders (min_orders 3)
    pp = PersonaParams(k_min=2, k_max=4, pca_components=3)
    clus = ps.cluster_users(f, pp)
    assert clus.n_too_new == 12 and clus.n_fitted == len(f) - 12
    assert not set(clus.assignment.user_id) & set(f.user_id.iloc[:12])  # not clustered
    names = pd.Series({str(c): f"group {c}" for c in range(1, clus.k + 1)})
    rfm_users = pd.DataFrame({"user_id": f.user_id, "segment": "champions", "tier": "core"})
    up = ps.user_personas(clus, names, f, rfm_users, pp)
    assert len(up) == len(f)  # every buyer listed
    assert (up.persona.iloc[:12] == "too new to profile").all() and (up.cluster.iloc[:12] == 0).all()
    assert (up.cluster.iloc[12:] > 0).all()


def test_silhouette_note_says_when_it_is_weak():
    sil = pd.Series({3: 0.21, 4: 0.18}, name="silhouette").rename_axis("k")
    empty = pd.DataFrame({"user_id": [], "cluster": []})
    weak = ps.Clustering(empty, sil, 3, 100, 5, 1.0)
    assert ps.silhouette_note(weak, PP) == (
        "Separation of the chosen 3 clusters: **0.21** (-1 to 1, higher = better separated; 3 clusters: 0.21, "
        "4 clusters: 0.18). "
        "That is weak (below 0.25): the clusters overlap, so read their names as tendencies of the buyers, "
        "not as distinct groups."
    )
    strong = ps.Clustering(empty, sil.replace(0.21, 0.33), 3, 100, 5, 1.0)
    assert ps.silhouette_note(strong, PP).endswith("3 clusters: 0.33, 4 clusters: 0.18).")


# --------------------------------------------------------------------------- data of other shapes


def test_offline_channels_and_open_categories_come_from_params_and_data(make_warehouse):
    """Which order channels are in-store is params.data; categories are whatever products carry."""
    products = [*PRODUCTS, dict(product_id="P4", name="猫粮", category="daily", price=30, is_hero=False)]
    items = [*ITEMS, dict(order_id=5, product_id="P4", quantity=1, amount=20)]  # u3's store order: pet
    wh = make_warehouse({"users": USERS, "orders": ORDERS, "products": products, "order_items": items})
    with duckdb.connect(str(wh)) as w:  # a chain's own category (the contract's enum is being opened)
        w.execute("update products set category = 'pet' where product_id = 'P4'")
        w.execute("update fct_order_lines set category = 'pet' where product_id = 'P4'")
    c = connect(wh)
    dp = DataParams(offline_order_channels=["store", "mini_program"])
    f = ps.user_features(c, P, PP, dp).set_index("user_id")
    c.close()
    assert f.loc[2, "online_share"] == 0  # u2's one order is on mini_program, now an in-store channel
    assert (f.loc[2, "n_offline"], f.loc[2, "gmv_offline"]) == (1, 50)
    assert f.loc[1, "online_share"] == pytest.approx(2 / 3)  # u1: store, app, app
    # one share column per category bought in the window, demo order first, then the chain's own
    assert ps.category_columns(f) == ["cat_fresh", "cat_mother_baby", "cat_snacks", "cat_pet"]
    assert f.loc[3, "cat_pet"] == 1 and f.loc[3, "top_category"] == "pet"  # u3's only line
    assert f.loc[1, "cat_pet"] == 0 and f.loc[4, "cat_pet"] == 0  # never bought: 0, not missing


def test_group_coupons_new_user_pack_from_params(make_warehouse):
    coupons = [
        dict(coupon_id=1, user_id=1, kind="new_user_small", issued_at="2026-09-01 00:00:00",
             expires_at="2026-09-30 00:00:00", face_value=5, min_spend=0),
        dict(coupon_id=2, user_id=1, kind="repurchase", issued_at="2026-09-01 00:00:00",
             expires_at="2026-10-15 00:00:00", face_value=5, min_spend=0),
        dict(coupon_id=3, user_id=2, kind="repurchase", issued_at="2026-09-01 00:00:00",
             expires_at="2026-10-15 00:00:00", face_value=5, min_spend=0),
        dict(coupon_id=4, user_id=2, kind="repurchase", issued_at="2026-10-20 00:00:00",
             expires_at="2026-11-15 00:00:00", face_value=5, min_spend=0),  # still open at 10-31
    ]  # fmt: skip
    orders = [_order(1, 1, "2026-10-10 08:00:00", "store", 100, coupon=2), *ORDERS[1:]]  # u1 redeems #2
    wh = make_warehouse({"users": USERS, "orders": orders, "coupons": coupons})
    c = connect(wh)
    groups = pd.DataFrame({"user_id": [1, 2], "dimension": "d", "grp": "a"})
    default = ps.group_coupons(c, groups, P, PP, DP).set_index("kind")
    chain = ps.group_coupons(c, groups, P, PP, DataParams(new_user_coupon_kinds=["repurchase"]))
    c.close()
    # closed by 10-31: #1 (new_user_small), #2 and #3 (repurchase); #4 expires 11-15
    assert default.closed.to_dict() == {"new_user_small": 1, "repurchase": 2}
    assert default.redeemed.to_dict() == {"new_user_small": 0, "repurchase": 1}  # #2 on 10-10
    assert default.is_new_user_pack.to_dict() == {"new_user_small": True, "repurchase": False}
    assert chain.set_index("kind").is_new_user_pack.to_dict() == {"new_user_small": False, "repurchase": True}


def test_needs_sentences_on_degenerate_data(con):
    f = ps.user_features(con, P, PP, DP)
    assert ps.known_attributes(f) == ["age_band", "family_status", "gender", "city"]
    assert ps.needs_attributes(f) == "" and ps.needs_categories(f) == "" and ps.needs_both_channels(f) == ""
    blank = f.assign(age_band="unknown", family_status="unknown", gender="unknown", city="上海")
    assert ps.known_attributes(blank) == []  # one city only: nothing to compare
    assert ps.needs_attributes(blank).startswith("Attribute personas need the buyers' age, gender")
    assert ps.associations(blank, PP).empty  # no measurable link, not a table of NaN
    online = f[f.n_offline == 0]  # u2 and u4 ordered online only
    assert ps.channel_kinds(online) == ["online"]
    assert ps.needs_both_channels(online).endswith("every order in the window was online.")
    # associations leave out the channel behaviour when every buyer prefers the same channel
    assert "channel" not in set(ps.associations(online.assign(age_band=["<25", "60+"]), PP).behaviour)
    assert ps.needs_categories(f.drop(columns=ps.category_columns(f))).startswith("What buyers buy needs")
    assert ps.rfm(con, Period("2025-09"), PP, AP).empty  # as of 2025-09-30: nobody had ordered yet


def test_clustering_skipped_with_too_few_fitted_buyers(con):
    f = ps.user_features(con, P, PP, DP)
    c = ps.cluster_users(f, PP)  # u1 and u4 have 3 orders; 3 clusters x 10 = 30 needed
    assert not c.ok and c.k == 0 and c.assignment.empty and c.n_fitted == 2
    assert c.reason == (
        "Behaviour clusters need at least 30 buyers with 3+ orders in the window (10 per cluster, "
        "3 clusters); this data has 2."
    )


def test_clustering_drops_absent_and_constant_features(english):
    f = _blobs().drop(columns=["cat_mother_baby"])  # a category this chain does not sell
    f["online_share"] = 1.0  # an online-only shop
    pp = PersonaParams(k_min=2, k_max=5, pca_components=3)
    c = ps.cluster_users(f, pp)
    assert c.ok and "online_share" not in c.features and "cat_mother_baby" not in c.features
    assert c.left_out == (
        "Mother & baby (not in this data)",  # the features' business names, never their code names
        "online (the same for every fitted buyer)",
    )
    assert c.note().startswith("Left out of the clustering: Mother & baby (not in this data); online")
    from sklearn.metrics import adjusted_rand_score

    assert c.k == 3 and adjusted_rand_score(f.truth, c.assignment.cluster) == pytest.approx(1.0)
    # a single kind of channel: the cluster names leave the channel word out
    only_online = _profile(online_share=1.0)
    assert ps.cluster_name(only_online, only_online, pp) == "morning fresh buyers"
    # no categories (no order lines): the name has no category words
    no_cats = only_online.drop([f"cat_{c}" for c in ps.CATEGORIES])
    assert ps.cluster_name(no_cats, no_cats, pp) == "morning buyers"


def test_clustering_uses_the_chains_categories_when_params_name_none():
    rename = dict(zip([f"cat_{c}" for c in ps.CATEGORIES], [f"cat_{c}" for c in "abcdef"], strict=True))
    f = _blobs().rename(columns=rename)
    pp = PersonaParams(k_min=2, k_max=5, pca_components=3)
    c = ps.cluster_users(f, pp)
    assert [x for x in c.features if x.startswith("cat_")] == [f"cat_{c}" for c in "abcdef"]
    assert c.left_out == (
        "none of the params' categories is in the data, so the categories present are used",
    )
    assert c.k == 3


def test_clustering_skipped_without_distinct_profiles():
    f = _blobs()
    f[[c for c in f.columns if c not in ("user_id", "n_orders", "truth")]] = 0.5  # 360 identical buyers
    c = ps.cluster_users(f, PersonaParams(k_min=2, k_max=5))
    assert not c.ok and c.reason.startswith("Behaviour clusters need at least two features on which buyers")
    f["aov"] = np.where(f.truth == 0, 10.0, 20.0)  # two distinct profiles, 3 clusters asked for
    f["weekend_share"] = np.where(f.truth == 0, 0.2, 0.4)
    c = ps.cluster_users(f, PersonaParams(k_min=3, k_max=5, pca_components=0))
    assert (
        c.reason
        == "Behaviour clusters need at least 4 different buyer profiles; the 360 fitted buyers have 2."
    )


def test_top_levels_pools_the_tail():
    cities = pd.Series(["a"] * 3 + ["b"] * 2 + ["c"] * 2 + ["d"] + ["unknown"] * 4)
    got = ps.top_levels(cities, n=2)
    # a (3) then b and c tie at 2: alphabetical, b kept; c and d pooled; unknown stays itself
    assert got.value_counts().to_dict() == {"unknown": 4, "a": 3, "others": 3, "b": 2}


def test_playbook_text_without_categories_or_coupons(english):
    row = dict(cluster=1, persona="evening buyers", users=1200, top_category="", second_category="",
               coupon_kind="n/a", coupon_redemption=float("nan"), coupon_sensitivity="n/a", peak_weekday="Fri",
               peak_hour=19, channel="app", online_share=1.0)  # fmt: skip
    book = pd.DataFrame([row])
    assert ps._content(next(book.itertuples())) == "–"
    assert ps.pct_actions(book) == [
        "**evening buyers** (cluster 1, 1,200 buyers): reach them via App on Fri before 19:00."
    ]
    book.loc[0, ["top_category", "coupon_kind", "coupon_redemption"]] = ["pet", "repurchase", 0.25]
    assert ps.pct_actions(book)[0].startswith(
        "**evening buyers** (cluster 1, 1,200 buyers): push pet with the coupon “Repurchase coupon” "
    )
    assert "(25.0% redeemed)" in ps.pct_actions(book)[0]
    assert (
        ps.scenes_sentence(pd.Series({"pet": 1.0}))
        == "All of the window's line GMV is in one category, **pet (100.0%)**."
    )


def test_findings_read_chinese_in_the_default_language():
    """zh (the default): coverage, link and silhouette findings in Chinese with business names, no code name."""
    from userops.export import cjk_share, code_on_page

    i18n.set_language("zh")
    cover = ps.window_coverage(dt.date(2026, 8, 20), P, 12)
    assert (
        cover
        == "订单从 2026-08-20 开始，12 个月的窗口中只有 3 个月的数据：最近购买和购买频次只在这段时间内排名。"
    )
    assoc = pd.DataFrame(
        dict(attribute=["family_status"], behaviour=["top category"], cramers_v=[0.36], p_value=[0.001], n=[40],
             strength=["strong"])
    )  # fmt: skip
    link = ps.association_sentence(assoc, PP)
    assert link == "最强的关联是**家庭状况 × 偏好品类**（强度 0.36，强）。"
    assert ps.feature_label("online_share") == "线上占比" and ps.level_label("with_kids") == "有孩家庭"
    for t in (cover, link):
        assert cjk_share(t) > 0.95 and code_on_page(t) == [], t


def test_window_coverage_and_significance():
    # data from 2026-08-20, report month 2026-10, 12-month window from 2025-11-01: Aug, Sep, Oct
    assert ps.window_coverage(dt.date(2026, 8, 20), P, 12) == (
        "Orders start on 2026-08-20, so the 12-month window holds 3 months of history: recency and "
        "frequency rank buyers within it."
    )
    assert ps.window_coverage(dt.date(2025, 11, 15), P, 12) == ""  # starts in the window's first month
    # V 0.25 (moderate) but p 0.20: too uncertain to name; V 0.05 stays negligible whatever p
    assert ps.strength(0.25, (0.1, 0.2, 0.3), p_value=0.20, alpha=0.05) == "not significant"
    assert ps.strength(0.25, (0.1, 0.2, 0.3), p_value=0.01, alpha=0.05) == "moderate"
    assert ps.strength(0.05, (0.1, 0.2, 0.3), p_value=0.90, alpha=0.05) == "negligible"
    assoc = pd.DataFrame(
        dict(
            attribute=["gender", "city"],
            behaviour=["channel", "time of day"],
            cramers_v=[0.25, 0.05],
            p_value=[0.2, 0.9],
            n=[40, 40],
            strength=["not significant", "negligible"],
        )
    )
    assert ps.association_sentence(assoc, PP) == (
        "No attribute link is both clear and significant (at 95%) among 40 buyers. Links too weak to act "
        "on (strength below 0.10): city × time of day. Not significant on 40 buyers (could be chance): gender × channel."
    )


def test_pct_table_skips_unredeemed_and_new_user_coupons(english):
    prof = pd.DataFrame(
        {"users": [40, 40], "online_share": [0.75, 0.75], "coupon_share": [0.3, 0.3]}, index=["1", "all"]
    )
    names = pd.Series({"1": "evening buyers"})
    cats = pd.DataFrame(
        {"dimension": "cluster", "grp": "1", "category": ["pet", "fresh", "snacks"], "gmv": [50.0, 30.0, 0.0]}
    )  # snacks never bought: not content
    time = pd.DataFrame(
        [("cluster", "1", d, h, 3 if (d, h) == (5, 19) else 0) for d in range(1, 8) for h in range(24)],
        columns=["dimension", "grp", "weekday", "hour", "orders"],
    )  # all 3 orders on Friday 19h
    coupons = pd.DataFrame(
        {
            "dimension": "cluster",
            "grp": "1",
            "kind": ["recall", "other", "new_user_small"],
            "is_new_user_pack": [False, False, True],
            "closed": [40, 40, 50],
            "redeemed": [0, 8, 25],
            "redemption_rate": [0.0, 0.2, 0.5],
        }
    )  # new-user pack (50%) only new users get; recall nobody redeemed; other 8 / 40
    channels = pd.DataFrame({"cluster": [1, 1], "order_channel": ["app", "store"], "orders": [3, 1]})
    t = ps.pct_table(prof, names, cats, time, coupons, channels, PP, RP).iloc[0]
    assert (t.top_category, t.second_category, t.coupon_kind) == ("pet", "fresh", "other")
    assert t.coupon_redemption == pytest.approx(0.2)
    assert t.coupon_sensitivity == "average"  # 30% coupon orders, as all clustered buyers
    # 25% of its orders in store (< recall.offline_share 0.5): the online CRM channel, not the order channel
    assert (t.content, t.time, t.channel, t.order_channel) == (
        "pet + Fresh · other",  # the chain's own category and coupon kind as written, ours by name
        "Fri 19:00",
        "wechat_notice",
        "app",
    )
    assert ps.pct_actions(pd.DataFrame([t]))[0] == (
        "**evening buyers** (cluster 1, 40 buyers): push pet & Fresh with the coupon “other” (20.0% redeemed) "
        "via WeChat notice on Fri before 19:00."
    )
    i18n.set_language("zh")  # the report language: business names, an unknown category as the data has it
    assert ps.pct_actions(pd.DataFrame([t]))[0] == (
        "**evening buyers**（第 1 群，40 名买家）：主推pet和生鲜，配other（核销率 20.0%），通过微信服务通知在周五 19:00 前触达。"
    )


def test_pct_content_and_channel_come_from_each_clusters_own_data():
    # cluster 1: 90% of orders in store, 10% with a coupon; cluster 2: online, 60% with a coupon;
    # all clustered buyers: 30% coupon orders (name_lift 1.25: high >= 37.5%, low <= 24%)
    prof = pd.DataFrame(
        {"users": [30, 30, 60], "online_share": [0.1, 0.9, 0.5], "coupon_share": [0.1, 0.6, 0.3]},
        index=["1", "2", "all"],
    )
    names = pd.Series({"1": "in-store buyers", "2": "online buyers"})
    cats = pd.DataFrame(
        {"dimension": "cluster", "grp": ["1", "1", "2"], "category": ["fresh", "daily", "snacks"], "gmv": [90.0, 10.0, 40.0]}
    )  # fmt: skip
    time = pd.DataFrame(
        [("cluster", g, 1, 9, 2) for g in ("1", "2")],
        columns=["dimension", "grp", "weekday", "hour", "orders"],
    )
    coupons = pd.DataFrame(
        {"dimension": "cluster", "grp": ["1", "2"], "kind": ["repurchase", "recall"], "is_new_user_pack": False,
         "closed": [40, 40], "redeemed": [20, 12], "redemption_rate": [0.5, 0.3]}
    )  # fmt: skip
    channels = pd.DataFrame({"cluster": [1, 2], "order_channel": ["store", "mini_program"], "orders": [9, 9]})
    t = ps.pct_table(prof, names, cats, time, coupons, channels, PP, RP).set_index("cluster")
    assert t.loc[1, "top_category"] == "fresh" and t.loc[2, "top_category"] == "snacks"
    assert t.loc[1, "coupon_sensitivity"] == "low" and t.loc[2, "coupon_sensitivity"] == "high"
    # low coupon use: no coupon pushed even though its repurchase coupons were redeemed (50%)
    assert t.loc[1, "content"] == "Fresh + Daily goods · full price (low coupon use)"
    assert t.loc[2, "content"] == "Snacks · Recall coupon"
    assert (t.loc[1, "channel"], t.loc[2, "channel"]) == ("offline_push", "wechat_notice")  # recall params
