"""Stratified pooling, the user-resampling bootstrap and the global holdout (userops.experiments)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.contingency_tables import StratifiedTable

from userops.experiments import global_holdout_score, mh_risk_difference, pooled_effect
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
    res = pooled_effect(df, draws=300, seed=1)
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
    con.execute("create table users as select unnest($ids) as user_id", {"ids": ids})
    sql = read_sql("experiments/global_holdout")
    got = con.execute(sql, {"salt": "chain-2026", "share": 0.1}).df().set_index("user_id")
    want = {i: global_holdout_score(i, "chain-2026") for i in ids}
    assert got.score.to_dict() == pytest.approx(want, abs=0)
    assert (got.in_global_holdout == (got.score < 0.1)).all()
    assert 0.05 < got.in_global_holdout.mean() < 0.15
    again = con.execute(sql, {"salt": "chain-2026", "share": 0.1}).df().set_index("user_id")
    assert again.equals(got)
    other = con.execute(sql, {"salt": "other-salt", "share": 0.1}).df().set_index("user_id")
    assert not other.in_global_holdout.equals(got.in_global_holdout)
