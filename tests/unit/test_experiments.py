"""Stratified pooling, the user-resampling bootstrap and the global holdout (userops.experiments)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.contingency_tables import StratifiedTable

from userops.experiments import (
    POISSON1_CDF,
    global_holdout_score,
    mh_risk_difference,
    poisson1_blocks,
    pooled_effect,
)
from userops.sql_files import read_sql

# Two campaigns with different holdout shares:
#   A: treated 30 of 100 converted, holdout 10 of 50   (diff 0.30 - 0.20 = 0.10)
#   B: treated  5 of 100 converted, holdout  2 of 100  (diff 0.05 - 0.02 = 0.03)
# Raw pooled counts: 35/200 - 12/150 = 0.175 - 0.08 = 0.095 (Simpson-prone: holdout share differs).
# Mantel-Haenszel: weights w = n1*n0/N: A 100*50/150 = 33.33, B 100*100/200 = 50;
#   numerators (x1*n0 - x0*n1)/N: A (1500 - 1000)/150 = 3.333, B (500 - 200)/200 = 1.5
#   RD = (3.333 + 1.5) / (33.33 + 50) = 4.8333 / 83.333 = 0.058
X1, N1, X0, N0 = [30, 5], [100, 100], [10, 2], [50, 100]


def test_mh_risk_difference_weights_each_campaign_not_raw_counts():
    e = mh_risk_difference(X1, N1, X0, N0)
    assert e.diff == pytest.approx(0.058, abs=1e-12)
    assert e.n_strata == 2 and e.n_treatment == 200 and e.n_holdout == 150
    assert e.ci_low < 0.058 < e.ci_high


def test_sato_variance_is_wald_for_one_stratum():
    # 30/100 vs 10/50: Wald variance 0.3*0.7/100 + 0.2*0.8/50 = 0.0021 + 0.0032 = 0.0053
    e = mh_risk_difference([30], [100], [10], [50])
    half = (e.ci_high - e.ci_low) / 2
    assert e.diff == pytest.approx(0.1)
    assert half == pytest.approx(1.959963984540054 * np.sqrt(0.0053), rel=1e-9)


def test_cmh_p_value_matches_statsmodels_stratified_table():
    tables = np.array(
        [[[30, 70], [10, 40]], [[5, 95], [2, 98]]], dtype=float
    )  # per stratum: rows treated/holdout, cols converted/not
    expected = StratifiedTable(np.moveaxis(tables, 0, -1)).test_null_odds(correction=False).pvalue
    assert mh_risk_difference(X1, N1, X0, N0).p_value == pytest.approx(expected, rel=1e-12)


def test_stratum_with_an_empty_arm_is_left_out():
    e = mh_risk_difference([30, 4], [100, 10], [10, 0], [50, 0])
    assert e.n_strata == 1 and e.diff == pytest.approx(0.1)


def _members(spec):
    """spec: list of (stratum, arm, n_converted, n_not, first_user_id) -> member rows."""
    rows = []
    for stratum, arm, conv, notc, first in spec:
        for i in range(conv + notc):
            rows.append((first + i, stratum, arm, int(i < conv)))
    return pd.DataFrame(rows, columns=["user_id", "stratum", "arm", "outcome"])


def test_shared_holdout_counted_once_and_contaminated_rows_dropped():
    # Holdout users 1000..1049 (10 converted) are the holdout of both A and B: each weighs 1/2
    # in each, so the pooled holdout has 50 users, not 100. User 1 is treated in A and also
    # listed in B's holdout: that holdout row is contaminated and dropped.
    df = pd.concat(
        [
            _members([("A", "treatment", 30, 70, 1), ("B", "treatment", 20, 80, 101)]),
            _members([("A", "holdout", 10, 40, 1000), ("B", "holdout", 10, 40, 1000)]),
            pd.DataFrame([(1, "B", "holdout", 0)], columns=["user_id", "stratum", "arm", "outcome"]),
        ]
    )
    res = pooled_effect(df, draws=300, seed=1, drop_contaminated=True)
    assert res.contaminated_holdout_rows == 1
    assert res.shared_holdout_users == 50
    per = res.per_stratum.set_index("stratum")
    assert per.loc["A", "members_h"] == pytest.approx(25.0) and per.loc["A", "converted_h"] == pytest.approx(
        5.0
    )
    assert res.effect.n_holdout == pytest.approx(50.0)
    # MH with halved holdouts: A 30/100 vs 5/25 (w = 100*25/125 = 20, num = (30*25 - 5*100)/125 = 2)
    #                          B 20/100 vs 5/25 (w = 20, num = (20*25 - 5*100)/125 = 0) -> RD = 2/40 = 0.05
    assert res.effect.diff == pytest.approx(0.05)
    assert res.users == 250


def test_user_bootstrap_is_seeded_and_agrees_with_sato_on_independent_users():
    rng = np.random.default_rng(3)
    parts = []
    uid = 0
    for stratum, n1, n0, p1, p0 in (("A", 3000, 1000, 0.3, 0.2), ("B", 2000, 2000, 0.1, 0.08)):
        for arm, n, p in (("treatment", n1, p1), ("holdout", n0, p0)):
            parts.append(
                pd.DataFrame(
                    {
                        "user_id": np.arange(uid, uid + n),
                        "stratum": stratum,
                        "arm": arm,
                        "outcome": rng.random(n) < p,
                    }
                )
            )
            uid += n
    df = pd.concat(parts)
    a = pooled_effect(df, draws=400, seed=7)
    b = pooled_effect(df, draws=400, seed=7)
    assert (a.effect.ci_low, a.effect.ci_high) == (b.effect.ci_low, b.effect.ci_high)
    per = a.per_stratum
    sato = mh_risk_difference(per.converted_t, per.members_t, per.converted_h, per.members_h)
    assert (a.effect.ci_high - a.effect.ci_low) == pytest.approx(sato.ci_high - sato.ci_low, rel=0.15)
    assert a.effect.ci_low < a.effect.diff < a.effect.ci_high


def test_global_holdout_sql_equals_python_and_is_stable():
    ids = [f"u_{i:05d}" for i in range(400)] + ["oX9f-微信", "12345"]
    con = duckdb.connect()
    con.execute(
        "create table map_user_id as select row_number() over () as user_id, source_id from (select unnest($ids) as source_id)",
        {"ids": ids},
    )
    con.execute("create table users as select user_id from map_user_id")
    sql = read_sql("experiments/global_holdout")
    got = con.execute(sql, {"salt": "chain-2026", "share": 0.1}).df()
    got = got.merge(con.execute("select * from map_user_id").df()).set_index("source_id")
    want = {i: global_holdout_score(i, "chain-2026") for i in ids}
    assert got.score.to_dict() == pytest.approx(want, abs=0)
    assert (got.in_global_holdout == (got.score < 0.1)).all()
    assert 0.05 < got.in_global_holdout.mean() < 0.15
    again = con.execute(sql, {"salt": "chain-2026", "share": 0.1}).df()
    assert again.in_global_holdout.tolist() == got.sort_values("user_id").in_global_holdout.tolist()
    other = con.execute(sql, {"salt": "other-salt", "share": 0.1}).df()
    assert other.in_global_holdout.tolist() != again.in_global_holdout.tolist()


def test_global_effect_reuses_the_one_holdout_definition():
    from userops.sql_files import sql_path

    # global_effect.sql includes global_holdout.sql instead of repeating the hash expression
    assert "sha256" not in sql_path("experiments/global_effect").read_text(encoding="utf-8")
    assert read_sql("experiments/global_effect").count("sha256($salt") == 1


def test_global_holdout_effect_hand_fixture(make_warehouse):
    # salt "t", share 0.5: scores users 1..4 = 0.226, 0.199, 0.155, 0.109 -> global holdout;
    # users 5..8 = 0.88, 0.56, 0.688, 0.895 -> touchable. Every user 1..8 ordered in September
    # (the addressable base); user 9 ordered only in October, so is not in the base.
    from types import SimpleNamespace

    from userops.experiments import global_holdout_effect
    from userops.period import Period
    from userops.testing import order_row

    users = [dict(user_id=i, registered_at="2026-01-01 09:00:00", channel="app") for i in range(1, 10)]
    orders = [order_row(i, i, "2026-09-10 10:00:00", gmv=10) for i in range(1, 9)]
    orders += [
        order_row(105, 5, "2026-10-03 10:00:00", gmv=100, discount=20),  # 2 x P1 at cost 30: margin 40
        order_row(106, 6, "2026-10-04 10:00:00", gmv=50),  # no lines: assumed 50 x 0.25 = 12.5
        order_row(116, 6, "2026-10-20 10:00:00", gmv=20),  # assumed 20 x 0.25 = 5
        order_row(101, 1, "2026-10-05 10:00:00", gmv=40),  # assumed 40 x 0.25 = 10
        order_row(109, 9, "2026-10-06 10:00:00", gmv=500),  # not in the base
    ]
    products = [dict(product_id="P1", name="p", category="fresh", price=60, unit_cost=30, is_hero=False)]
    items = [dict(order_id=105, product_id="P1", quantity=2, amount=120)]
    wh = make_warehouse({"users": users, "orders": orders, "products": products, "order_items": items})
    exp = SimpleNamespace(
        global_holdout_salt="t",
        global_holdout_share=0.5,
        global_window_months=12,
        assumed_margin_rate=0.25,
        ci_level=0.95,
    )
    import duckdb

    con = duckdb.connect(str(wh), read_only=True)
    e = global_holdout_effect(con, Period("2026-10"), exp, min_users=2)
    con.close()
    assert (e.users_touchable, e.users_holdout) == (4, 4)
    # touchable buyers 5, 6 of 4 = 0.5; holdout buyer 1 of 4 = 0.25
    assert (e.buy_rate.touchable, e.buy_rate.holdout) == pytest.approx((0.5, 0.25))
    # orders per user: (1 + 2 + 0 + 0) / 4 = 0.75 vs 1 / 4 = 0.25
    assert e.orders_per_user.diff == pytest.approx(0.5)
    # margin per user: (40 + 17.5) / 4 = 14.375 vs 10 / 4 = 2.5 -> 11.875; x 4 touchable = 47.5
    assert e.margin_per_user.touchable == pytest.approx(14.375)
    assert e.margin_per_user.diff == pytest.approx(11.875)
    assert e.incremental_margin[0] == pytest.approx(47.5)
    assert e.margin_per_user.ci_low < 11.875 < e.margin_per_user.ci_high
    assert e.assumed_margin_orders == 3
    none = global_holdout_effect(duckdb.connect(str(wh), read_only=True), Period("2026-10"), exp, min_users=5)
    assert none.margin_per_user is None and "至少 5 位" in none.reason


def test_target_lists_leave_out_the_global_holdout(make_warehouse, tmp_path):
    # salt "t", share 0.5: users 1..4 are in the global holdout (scores 0.226 .. 0.109), 5..8 not.
    from userops.outputs import Report
    from userops.testing import order_row

    users = [dict(user_id=i, registered_at="2026-01-01 09:00:00", channel="app") for i in range(1, 9)]
    wh = make_warehouse({"users": users, "orders": [order_row(1, 1, "2026-09-10 10:00:00")]})
    con = duckdb.connect(str(wh), read_only=True)
    out = tmp_path / "run"
    rep = Report(play="04_x", month="2026-10", output_dir=out, con=con, global_holdout=("t", 0.5))
    lst = pd.DataFrame({"user_id": [2, 5, 6, 3, 8], "arm": ["treatment"] * 5})
    rep.write_target("recall", lst, ["user_id"])
    rep.write()
    written = pd.read_csv(out / "targets" / "recall.csv")
    assert written.user_id.tolist() == [5, 6, 8]  # 2 and 3 are global holdout
    assert rep.metrics["targets.recall.global_holdout_left_out"]["value"] == 2
    # identical on a second run (stable assignment)
    rep2 = Report(
        play="04_x", month="2026-10", output_dir=tmp_path / "again", con=con, global_holdout=("t", 0.5)
    )
    rep2.write_target("recall", lst, ["user_id"])
    assert (tmp_path / "again" / "targets" / "recall.csv").read_text() == (
        out / "targets" / "recall.csv"
    ).read_text()
    con.close()


def test_each_play_keeps_its_own_provenance(tmp_path):
    import json

    from userops.outputs import Report

    a = Report(play="01_a", month="2026-10", output_dir=tmp_path, provenance={"params_file": "a.yaml"})
    a.add("x", 1, "users", "x")
    a.write()
    b = Report(play="02_b", month="2026-10", output_dir=tmp_path, provenance={"params_file": "b.yaml"})
    b.add("y", 2, "users", "y")
    b.write()
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert doc["plays"]["01_a"]["provenance"]["params_file"] == "a.yaml"  # not relabelled by 02's run
    assert doc["plays"]["02_b"]["provenance"]["params_file"] == "b.yaml"


def test_brief_texts_for_the_global_holdout_and_rows_set_aside():
    from userops import brief as br
    from userops import i18n
    from userops.experiments import GlobalEffect, MeanDiff

    i18n.set_language("en")
    none = GlobalEffect(10, 0, None, None, None, None, 0, "needs at least 30 users in each group")
    assert (
        br.global_effect_text(none)
        == "> The cumulative effect of all CRM touches needs at least 30 users in each group."
    )
    g = GlobalEffect(
        1000,
        50,
        MeanDiff(0.5, 0.4, 0.1, 0.02, 0.18),
        MeanDiff(2.0, 1.8, 0.2, -0.1, 0.5),
        MeanDiff(40.0, 36.5, 3.5, 0.5, 6.5),
        (3500.0, 500.0, 6500.0),
        12,
    )
    text = br.global_effect_text(g)
    # intervals are one unbreakable line in a PDF: no-break spaces and word joiners around the dash
    plain = text.replace("\xa0", " ").replace("\u2060", "")
    assert "+0.20 orders per user (95% CI -0.10–+0.50)" in plain
    assert "¥3,500 of incremental gross margin (95% CI ¥500–¥6,500): a measurable gain" in plain
    assert "12 orders have no cost of goods" in text
    q = pd.DataFrame(
        {
            "table_name": ["users", "orders"],
            "present": [True, True],
            "n_rows": [10, 20],
            "first_at": pd.to_datetime(["2026-01-01", "2026-01-02"]),
            "last_at": pd.to_datetime(["2026-10-30", "2026-10-31"]),
        }
    )
    rejects = pd.DataFrame(
        {"table_name": ["order_items"], "reason": ["<b>unknown product</b>"], "n_rows": [3]}
    )
    t = br.quality_text(q, rejects)
    assert "Orders run from 2026-01-02 to 2026-10-31. Rows loaded: Users 10, Orders 20." in t
    assert "3 Order lines rows (&lt;b&gt;unknown product&lt;/b&gt;)" in t
    assert "No row was set aside" in br.quality_text(q, rejects.iloc[0:0])


def test_contamination_only_when_windows_overlap():
    # User 1 is holdout in campaign B (Oct 1-31) and treated in campaign A: in September (no
    # overlap: the holdout row stays) and again in campaign C on Oct 10 (overlap: dropped).
    rows = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 3, 1, 4, 5],
            "stratum": ["B", "A", "A", "B", "C", "C", "C"],
            "arm": ["holdout", "treatment", "holdout", "treatment", "treatment", "holdout", "holdout"],
            "outcome": [0, 1, 0, 1, 1, 0, 0],
            "window_start": pd.to_datetime(
                [
                    "2026-10-01",
                    "2026-09-01",
                    "2026-09-01",
                    "2026-10-01",
                    "2026-10-10",
                    "2026-10-10",
                    "2026-10-10",
                ]
            ),
        }
    )
    rows["window_end"] = rows.window_start + pd.Timedelta(days=30)
    sept_only = rows[rows.stratum != "C"]
    assert pooled_effect(sept_only, draws=200, seed=1, drop_contaminated=True).contaminated_holdout_rows == 0
    assert pooled_effect(rows, draws=200, seed=1, drop_contaminated=True).contaminated_holdout_rows == 1
    untimed = sept_only.drop(columns=["window_start", "window_end"])
    assert pooled_effect(untimed, draws=200, seed=1, drop_contaminated=True).contaminated_holdout_rows == 1
    # default: intention to treat, every row counts in its own campaign
    assert pooled_effect(rows, draws=200, seed=1).contaminated_holdout_rows == 0


# Eight users, two strata; u1 and u2 sit in both strata (one weight each per draw, shared by their rows).
BOOT_ROWS = pd.DataFrame(
    {
        "user_id": ["u1", "u2", "u3", "u4", "u5", "u1", "u2", "u6", "u7", "u8"],
        "stratum": ["A", "A", "A", "A", "A", "B", "B", "B", "B", "B"],
        "arm": ["treatment", "treatment", "treatment", "holdout", "holdout"] * 2,
        "outcome": [1, 0, 1, 0, 1, 1, 1, 0, 0, 1],
    }
)


def _reference_interval(rows: pd.DataFrame, draws: int, seed: int, level: float = 0.95):
    """The bootstrap written out draw by draw: Poisson(1) per user (sorted ids), MH per draw."""
    users = sorted(rows.user_id.unique())
    weights = next(poisson1_blocks(seed, draws, len(users), draws))  # every draw in one block
    vals = []
    for wrow in weights:
        w = rows.user_id.map(dict(zip(users, wrow, strict=True))).to_numpy(float)
        t, h = (rows.arm == "treatment").to_numpy(), (rows.arm == "holdout").to_numpy()
        cells = [(rows.stratum == s).to_numpy() for s in ("A", "B")]
        y = rows.outcome.to_numpy(float)
        x1, n1 = [(w * y)[c & t].sum() for c in cells], [w[c & t].sum() for c in cells]
        x0, n0 = [(w * y)[c & h].sum() for c in cells], [w[c & h].sum() for c in cells]
        ok = [a > 0 and b > 0 for a, b in zip(n1, n0, strict=True)]
        if any(ok):
            keep = np.array(ok)
            d = mh_risk_difference(*(np.array(v)[keep] for v in (x1, n1, x0, n0))).diff
            vals.append(d)
    vals = np.array(vals)
    vals = vals[np.isfinite(vals)]
    a = (1 - level) / 2
    return np.quantile(vals, a), np.quantile(vals, 1 - a)


def test_user_bootstrap_in_blocks_equals_the_draw_by_draw_bootstrap():
    # holdout_rules off: every row weighs 1, so the reference above is the whole algorithm; an 80%
    # interval (the 95% one of eight users sits on the bounds -0.5 and 1 for many seeds)
    kw = dict(level=0.8, draws=300, holdout_rules=False)
    one = pooled_effect(BOOT_ROWS, seed=11, block_cells=len(BOOT_ROWS), **kw)
    many = pooled_effect(BOOT_ROWS, seed=11, block_cells=7 * len(BOOT_ROWS), **kw)
    whole = pooled_effect(BOOT_ROWS, seed=11, block_cells=10**9, **kw)
    got = {(r.effect.ci_low, r.effect.ci_high) for r in (one, many, whole)}
    assert len(got) == 1  # one draw per block, 7 per block, all at once: the same interval
    ref = _reference_interval(BOOT_ROWS, 300, 11, level=0.8)
    assert (one.effect.ci_low, one.effect.ci_high) == pytest.approx(ref)
    other = pooled_effect(BOOT_ROWS, seed=12, **kw)
    assert (other.effect.ci_low, other.effect.ci_high) != (one.effect.ci_low, one.effect.ci_high)


def test_poisson1_weights_follow_the_poisson_law_whatever_the_block():
    # the table: bucket 0 = [0, 1/65536) lies below P(X = 0) = e^-1 = 0.36788 -> 0; e^-1 * 65536 =
    # 24109.3 falls inside bucket 24109 (the CDF decides there), bucket 24110 lies in [e^-1, 2e^-1) -> 1
    from userops.experiments import _POISSON1_TABLE

    assert (_POISSON1_TABLE[0], _POISSON1_TABLE[24109], _POISSON1_TABLE[24110]) == (0, 255, 1)
    assert (_POISSON1_TABLE == 255).sum() == 8
    assert POISSON1_CDF[0] == pytest.approx(np.exp(-1)) and POISSON1_CDF[2] == pytest.approx(2.5 * np.exp(-1))
    w = np.concatenate(list(poisson1_blocks(5, 2000, 10_001, 7)))  # 7 draws a block
    assert w.shape == (2000, 10_001)
    np.testing.assert_array_equal(w, next(poisson1_blocks(5, 2000, 10_001, 2000)))  # one block
    assert not np.array_equal(w[:1], next(poisson1_blocks(6, 1, 10_001, 1)))
    # 20,002,000 weights: frequencies of 0, 1, 2, 3 within 5 standard errors of the Poisson(1) law
    freq = np.bincount(w.ravel(), minlength=8) / w.size
    pmf = np.exp(-1) / np.array([1, 1, 2, 6])
    assert np.abs(freq[:4] - pmf).max() < 5 * np.sqrt(0.25 / w.size)
    # 8 or more: P = 1 - CDF(7) = 1.02e-5, about 204 weights; only the CDF step of the last bucket
    # [65535, 65536) / 65536 gives them (second stream)
    tail = int((w >= 8).sum())
    assert abs(tail - (1 - POISSON1_CDF[7]) * w.size) < 5 * np.sqrt((1 - POISSON1_CDF[7]) * w.size)


def test_users_with_equal_rows_share_one_poisson_weight_of_their_count():
    from scipy import sparse

    from userops.experiments import _patterns, user_bootstrap_sums

    # rows (user: column value): u0 c0 1; u1 c0 1; u2 c0 1 + c1 2; u3 c0 1 + c1 2; u4 c0 1 + c1 3; u5 c1 2
    # per user: u0 = u1 = (1, 0); u2 = u3 = (1, 2); u4 (1, 3); u5 (0, 2): four patterns
    user = np.array([0, 1, 2, 2, 3, 3, 4, 4, 5])
    col = np.array([0, 0, 0, 1, 0, 1, 0, 1, 1])
    val = np.array([1.0, 1, 1, 2, 1, 2, 1, 3, 2])
    design = sparse.csr_matrix((val, (np.arange(9), col)), shape=(9, 2))
    per_user = sparse.csr_matrix((val, (user, col)), shape=(6, 2))
    pattern, first = _patterns(per_user)
    assert pattern.tolist() == [0, 0, 1, 1, 2, 3] and first.tolist() == [0, 2, 4, 5]
    # 200 users in c0 with 1 (one pattern), 100 in c1 with 1..100 (one each): sums are Poisson(200)
    # in c0 (mean = variance = 200) and, in c1, mean sum(v) = 5050 and variance sum(v^2) = 338,350
    user = np.arange(300)
    col = np.repeat([0, 1], [200, 100])
    val = np.concatenate([np.ones(200), np.arange(1.0, 101)])
    design = sparse.csr_matrix((val, (user, col)), shape=(300, 2))
    sums = np.concatenate(list(user_bootstrap_sums(user, design, 4000, 3, block_cells=101 * 7)))
    again = np.concatenate(list(user_bootstrap_sums(user, design, 4000, 3, block_cells=10**9)))
    np.testing.assert_array_equal(sums, again)  # 7 draws a block or all at once: the same draws
    assert sums.shape == (4000, 2)
    assert sums[:, 0].mean() == pytest.approx(200, abs=5 * np.sqrt(200 / 4000))
    assert sums[:, 0].var() == pytest.approx(200, rel=0.12)  # 5 standard errors of a variance
    assert sums[:, 1].mean() == pytest.approx(5050, abs=5 * np.sqrt(338_350 / 4000))
    assert sums[:, 1].var() == pytest.approx(338_350, rel=0.12)


def test_user_bootstrap_draws_do_not_depend_on_float_noise_in_the_sums():
    from scipy import sparse

    from userops.experiments import user_bootstrap_sums

    # 40 users with margin 0.3 each, 20 with 1.25, in one column; in the "noisy" copy ten of the 0.3
    # are 0.1 + 0.2 = 0.30000000000000004 (what another summation order gives). Unrounded they would
    # be a second pattern of 10 users, so the weights (one Poisson(n) per pattern) and every draw
    # would change; rounded, both copies are patterns {40 x 0.3} and {20 x 1.25}: identical draws.
    val = np.concatenate([np.full(40, 0.3), np.full(20, 1.25)])
    noisy = val.copy()
    noisy[:10] = 0.1 + 0.2
    assert noisy[0] != 0.3
    user = np.arange(60)
    sums = [
        np.concatenate(list(user_bootstrap_sums(user, sparse.csr_matrix(v.reshape(-1, 1)), 500, 11)))
        for v in (val, noisy)
    ]
    np.testing.assert_array_equal(sums[0], sums[1])
    # a draw is 0.3 x Poisson(40) + 1.25 x Poisson(20): mean 12 + 25 = 37
    assert sums[0].mean() == pytest.approx(37, abs=5 * np.sqrt((0.09 * 40 + 1.5625 * 20) / 500))
