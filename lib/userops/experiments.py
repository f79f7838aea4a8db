"""Randomised experiments measured honestly: stratified pooling, user-level intervals, a global holdout.

- :func:`mh_risk_difference`: the Mantel-Haenszel (Cochran-Mantel-Haenszel) risk difference over
  strata (campaigns), with Sato's variance and the CMH test (statsmodels ``StratifiedTable``).
  Adding raw counts across campaigns with different holdout shares is Simpson-prone; weighting
  each campaign's own difference is not.
- :func:`pooled_effect`: the same pooled effect from member rows (user, campaign, arm, outcome),
  with two stated rules: a holdout shared by several campaigns is counted once (a user held out
  of m campaigns weighs 1/m in each), and a holdout row of a user who was treated in another
  pooled campaign is contaminated and dropped (counted). Its interval is a bootstrap that
  resamples *users*, so users who appear in several campaigns are not taken as independent.
  Draws come in blocks of Poisson(1) user weights (:func:`poisson1_blocks`): memory is bounded
  by the block, not the draws.
- :func:`global_holdout_score` / ``sql/experiments/global_holdout.sql``: a stable per-user
  assignment to the global control group, sha256(salt:original id) -> [0, 1): the same on every
  run and every engine (no engine hash).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import norm
from statsmodels.stats.contingency_tables import StratifiedTable

from userops import i18n

HASH_HEX_DIGITS = 13  # 52 bits: exact in a double on every engine
HASH_SCALE = float(16**HASH_HEX_DIGITS)


@dataclass(frozen=True)
class PooledDiff:
    """A stratified treatment-minus-holdout difference of proportions."""

    diff: float
    ci_low: float
    ci_high: float
    p_value: float  # CMH test of no association (no continuity correction)
    n_strata: int
    n_treatment: float
    n_holdout: float
    level: float
    method: str  # how the interval was made

    @property
    def significant(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


def _mh_parts(x1, n1, x0, n0):
    x1, n1, x0, n0 = (np.asarray(v, dtype=float) for v in (x1, n1, x0, n0))
    keep = (n1 > 0) & (n0 > 0)
    x1, n1, x0, n0 = x1[keep], n1[keep], x0[keep], n0[keep]
    big_n = n1 + n0
    w = n1 * n0 / big_n
    rd = np.sum((x1 * n0 - x0 * n1) / big_n) / np.sum(w) if w.size else float("nan")
    return x1, n1, x0, n0, big_n, w, rd


def mh_risk_difference(x1, n1, x0, n0, level: float = 0.95) -> PooledDiff:
    """Mantel-Haenszel risk difference over strata with Sato's (1989) variance.

    Arrays per stratum: treated converters x1 of n1, holdout converters x0 of n0. Strata with
    an empty arm carry no information and are left out. NaN fields when none remains.
    """
    x1, n1, x0, n0, big_n, w, rd = _mh_parts(x1, n1, x0, n0)
    nan = float("nan")
    if not w.size:
        return PooledDiff(nan, nan, nan, nan, 0, 0.0, 0.0, level, "Mantel-Haenszel, Sato variance")
    p = (n1**2 * x0 - n0**2 * x1 + n1 * n0 * (n0 - n1) / 2) / big_n**2
    q = (x1 * (n0 - x0) + x0 * (n1 - x1)) / (2 * big_n)
    var = (rd * p.sum() + q.sum()) / w.sum() ** 2
    z = norm.ppf(1 - (1 - level) / 2)
    se = float(np.sqrt(max(var, 0.0)))
    return PooledDiff(
        float(rd),
        float(rd - z * se),
        float(rd + z * se),
        _cmh_p(x1, n1, x0, n0),
        int(w.size),
        float(n1.sum()),
        float(n0.sum()),
        level,
        "Mantel-Haenszel, Sato variance",
    )


def _cmh_p(x1, n1, x0, n0) -> float:
    """CMH test p-value via statsmodels (NaN when every stratum is degenerate)."""
    tables = np.stack([np.stack([x1, n1 - x1], -1), np.stack([x0, n0 - x0], -1)], 1)  # k x 2 x 2
    tables = np.moveaxis(tables, 0, -1)  # 2 x 2 x k
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(StratifiedTable(tables).test_null_odds(correction=False).pvalue)
    except (ValueError, ZeroDivisionError):
        return float("nan")


#: P(X <= k) of Poisson(1), k = 0..18; P(X > 18) < 2**-53 is folded into k = 18 (the last entry is 1)
POISSON1_CDF = np.array(
    [math.fsum(math.exp(-1) / math.factorial(i) for i in range(k + 1)) for k in range(18)] + [1.0]
)
_BUCKET_BITS = 16


def _poisson1_table() -> np.ndarray:
    """Poisson(1) by 16-bit bucket j of the uniform, [j, j + 1) / 2**16: the value when one k covers
    the whole bucket, else 255 (a bucket that holds a step of the CDF; 8 of the 65,536)."""
    edges = np.arange(2**_BUCKET_BITS + 1) / 2**_BUCKET_BITS
    low = np.searchsorted(POISSON1_CDF, edges[:-1], side="right")  # k at the bucket's first uniform
    high = np.searchsorted(POISSON1_CDF, edges[1:], side="left")  # k just below its end
    return np.where(low == high, low, 255).astype(np.uint8)


_POISSON1_TABLE = _poisson1_table()


def poisson1_blocks(seed: int, draws: int, n: int, block: int) -> Iterator[np.ndarray]:
    """Seeded Poisson(1) bootstrap weights, ``block`` draws x ``n`` units (uint8) at a time.

    Inverse CDF of a uniform: each weight takes 16 random bits (four from one 64-bit draw of the
    seeded PCG64 stream; a draw's row of ``n`` weights starts on a fresh 64-bit word) and reads the
    Poisson(1) value of that 1/65,536 of [0, 1) from a table; in the 8 buckets that hold a step of
    the CDF, a second seeded stream places the uniform inside the bucket (53 more bits) and the
    CDF decides. So P(weight = k) is the Poisson(1) probability to double precision, and the
    weights are the same whatever the block (the streams are consumed draw by draw). About ten
    times faster than ``Generator.poisson``, whose cost was most of a bootstrap at a million users.
    """
    main, fine = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    words = -(-n // 4)
    for start in range(0, draws, block):
        b = min(block, draws - start)
        bits = main.bit_generator.random_raw((b, words)).astype("<u8", copy=False).view("<u2")[:, :n]
        w = np.take(_POISSON1_TABLE, bits)
        rows, cols = np.nonzero(w == 255)
        if rows.size:
            u = (bits[rows, cols] + fine.random(rows.size)) / 2**_BUCKET_BITS
            w[rows, cols] = np.searchsorted(POISSON1_CDF, u, side="right")
        yield w


def _patterns(per_user: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """(pattern of each user, first user of each pattern): users whose rows of ``per_user`` (canonical
    CSR) are equal entry by entry share a pattern. Exact: the t-th stored entry (column, value) of
    every user with more than t entries refines the pattern, one pass per t."""
    nnz = np.diff(per_user.indptr)
    key = nnz.astype(np.int64)
    for t in range(int(nnz.max(initial=0))):
        has = np.flatnonzero(nnz > t)
        pos = per_user.indptr[has] + t
        parts = pd.DataFrame({"k": key[has], "c": per_user.indices[pos], "v": per_user.data[pos]})
        key[has] = (
            parts.groupby(["k", "c", "v"], sort=False, dropna=False).ngroup().to_numpy() + key.max() + 1
        )
    pattern = pd.factorize(key)[0]
    return pattern, np.unique(pattern, return_index=True)[1]


ROUND_DECIMALS = 6  # user sums are counts and money in cents: rounding at 1e-6 only drops float noise


def user_bootstrap_sums(
    user_ix: np.ndarray, design: sparse.spmatrix, draws: int, seed: int, block_cells: int = 4_000_000
) -> Iterator[np.ndarray]:
    """Blocks (draws x columns) of the column sums of ``design`` (rows x columns) under Poisson(1)
    weights per *user* (``user_ix`` of each row, 0..users - 1), shared by all the user's rows.

    The statistic sees a user only through the sum of their rows, so users whose sums are equal
    (the same cells and values: most users without an outcome) form one pattern, and the sum of
    their n weights is drawn as one Poisson(n) weight: the same bootstrap distribution (a sum of
    independent Poisson(1) is Poisson(n)) for a draw per pattern instead of per user. Patterns of
    one user take :func:`poisson1_blocks`, larger ones ``Generator.poisson`` (a third seeded
    stream). A block holds ``block_cells // patterns`` draws (at least one) x patterns; the
    weights, hence the sums, are the same whatever the block. Each user's sums are rounded to
    ``ROUND_DECIMALS`` first, so float noise in the inputs changes neither patterns nor draws.
    """
    n_users = int(user_ix.max()) + 1 if len(user_ix) else 0
    to_user = sparse.csr_matrix(
        (np.ones(len(user_ix)), (user_ix, np.arange(len(user_ix)))), (n_users, len(user_ix))
    )
    per_user = sparse.csr_matrix(to_user @ sparse.csr_matrix(design))
    per_user.sum_duplicates()
    # Money summed in floating point (DuckDB adds in a different order from run to run) differs in
    # its last bits; unrounded, two runs group users differently and so draw different weights.
    per_user.data = np.round(per_user.data, ROUND_DECIMALS)
    per_user.eliminate_zeros()
    per_user.sort_indices()
    pattern, first = _patterns(per_user)
    size = np.bincount(pattern)
    by_pattern = sparse.csr_matrix(per_user[first].T)  # columns x patterns
    single, group = np.flatnonzero(size == 1), np.flatnonzero(size > 1)
    groups = np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[2])
    block = max(1, min(draws, block_cells // max(len(first), 1)))
    for w1 in poisson1_blocks(seed, draws, len(single), block):
        w = np.empty((len(first), len(w1)))
        w[single] = w1.T
        w[group] = groups.poisson(size[group], size=(len(w1), len(group))).T
        yield np.asarray(by_pattern @ w).T


@dataclass(frozen=True)
class PooledEffect:
    """Pooled effect from member rows: estimate, user-bootstrap interval and the rules applied."""

    effect: PooledDiff  # point estimate (weighted MH), bootstrap CI, CMH p-value
    per_stratum: pd.DataFrame  # stratum, members/converted per arm (weighted), rate per arm, diff
    contaminated_holdout_rows: int  # holdout rows dropped: the user was treated in another campaign
    shared_holdout_users: int  # users held out of more than one campaign (each counted once)
    users: int


def pooled_effect(
    rows: pd.DataFrame,
    level: float = 0.95,
    draws: int = 2000,
    seed: int = 0,
    block_cells: int = 4_000_000,
    holdout_rules: bool = True,
    drop_contaminated: bool = False,
) -> PooledEffect:
    """Stratified effect of member rows ``user_id, stratum, arm ('treatment'|'holdout'), outcome (0/1)``.

    The stated rule for users in several campaigns: every member row counts in its own campaign's
    randomised comparison (intention to treat), and the interval resamples *users*, so a user who
    appears in several campaigns is not taken as independent observations. A holdout shared by
    several strata (the same user held out of m campaigns) weighs 1/m in each, so it is counted
    once (``holdout_rules``). Point estimate: Mantel-Haenszel risk difference on the weighted
    counts. Interval: percentile bootstrap resampling users (Poisson(1) weights, seeded), drawn
    a block of draws at a time (:func:`user_bootstrap_sums`).

    ``drop_contaminated`` (off by default) drops the holdout rows of users treated in another
    stratum in an overlapping window (``window_start``/``window_end``; without them, in any other
    stratum). It is off because a later draw usually depends on the outcome (monthly recall
    re-draws users who did not come back): dropping on it keeps only the holdout users who came
    back and biases the lift towards zero. With ``holdout_rules=False`` each row weighs its
    optional ``weight`` column (default 1) and the caller states its own rule.
    """
    rows = rows.reset_index(drop=True)
    contaminated = _contaminated(rows) if drop_contaminated else pd.Series(False, index=rows.index)
    df = rows.loc[~contaminated, ["user_id", "stratum", "arm", "outcome"]].copy()
    hold = df.arm == "holdout"
    m = df[hold].groupby("user_id").stratum.transform("nunique")
    df["w"] = 1.0
    if holdout_rules:
        df.loc[hold, "w"] = 1.0 / m
    elif "weight" in rows.columns:
        df["w"] = rows.loc[df.index, "weight"].astype(float)
    df["user_ix"] = pd.factorize(df.user_id, sort=True)[0]
    df["stratum_ix"], strata = pd.factorize(df.stratum, sort=True)
    per = _per_stratum(df, strata)
    est = mh_risk_difference(per.converted_t, per.members_t, per.converted_h, per.members_h, level)
    lo, hi = _user_bootstrap(df, len(strata), level, draws, seed, block_cells)
    effect = PooledDiff(
        est.diff,
        lo,
        hi,
        est.p_value,
        est.n_strata,
        est.n_treatment,
        est.n_holdout,
        level,
        f"Mantel-Haenszel by stratum; {draws:,}-draw bootstrap resampling users",
    )
    shared = int((df[hold].groupby("user_id").stratum.nunique() > 1).sum())
    return PooledEffect(effect, per, int(contaminated.sum()), shared, int(df.user_ix.nunique()))


def _contaminated(rows: pd.DataFrame) -> pd.Series:
    """Holdout rows whose user was treated in another stratum (in an overlapping window, if known)."""
    hold = rows[rows.arm == "holdout"]
    treat = rows[rows.arm == "treatment"]
    timed = {"window_start", "window_end"} <= set(rows.columns)
    cols = ["user_id", "stratum"] + (["window_start", "window_end"] if timed else [])
    pairs = hold[cols].reset_index().merge(treat[cols], on="user_id", suffixes=("", "_t"))
    pairs = pairs[pairs.stratum != pairs.stratum_t]
    if timed:
        overlap = (pairs.window_start_t < pairs.window_end) & (pairs.window_end_t > pairs.window_start)
        pairs = pairs[overlap]
    return pd.Series(rows.index.isin(pairs["index"].unique()), index=rows.index)


def _per_stratum(df: pd.DataFrame, strata) -> pd.DataFrame:
    g = (
        df.assign(wy=df.w * df.outcome)
        .groupby(["stratum_ix", "arm"])[["w", "wy"]]
        .sum()
        .unstack("arm", fill_value=0.0)
        .reindex(range(len(strata)), fill_value=0.0)
    )
    out = pd.DataFrame({"stratum": list(strata)})
    for arm, s in (("treatment", "t"), ("holdout", "h")):
        n = g[("w", arm)].to_numpy() if ("w", arm) in g else np.zeros(len(strata))
        x = g[("wy", arm)].to_numpy() if ("wy", arm) in g else np.zeros(len(strata))
        out[f"members_{s}"], out[f"converted_{s}"] = n, x
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"rate_{s}"] = np.where(n > 0, x / np.where(n > 0, n, 1), np.nan)
    out["diff"] = out.rate_t - out.rate_h
    return out


def _user_bootstrap(df, n_strata, level, draws, seed, block_cells) -> tuple[float, float]:
    """Percentile interval of the MH risk difference under Poisson(1) user weights.

    Per block of draws (user_bootstrap_sums: one weight per pattern of equal users, memory bounded
    by the block), the weighted members and converted per stratum x arm are one sparse product.
    """
    if len(df) == 0 or draws <= 0:
        return float("nan"), float("nan")
    k = 2 * n_strata
    cell = df.stratum_ix.to_numpy() * 2 + (df.arm == "holdout").to_numpy()
    w, y = df.w.to_numpy(), df.outcome.to_numpy(dtype=float)
    # rows x (members | converted) by stratum x arm
    rows = np.arange(len(df))
    design = sparse.hstack([sparse.csr_matrix((v, (rows, cell)), shape=(len(df), k)) for v in (w, w * y)])
    stats = []
    for sums in user_bootstrap_sums(df.user_ix.to_numpy(), design, draws, seed, block_cells):
        n, x = sums[:, :k], sums[:, k:]
        stats.append(_mh_rows(x[:, 0::2], n[:, 0::2], x[:, 1::2], n[:, 1::2]))
    vals = np.concatenate(stats)
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    return float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a))


def _mh_rows(x1, n1, x0, n0) -> np.ndarray:
    """MH risk difference per row of (draws x strata) matrices; strata with an empty arm drop out."""
    big_n = n1 + n0
    ok = (n1 > 0) & (n0 > 0)
    safe = np.where(ok, big_n, 1.0)
    num = np.where(ok, (x1 * n0 - x0 * n1) / safe, 0.0).sum(axis=1)
    den = np.where(ok, n1 * n0 / safe, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def global_holdout_score(source_id: str, salt: str) -> float:
    """The user's stable draw in [0, 1): the first 52 bits of sha256('<salt>:<original id>').

    ``sql/experiments/global_holdout.sql`` computes the same value in SQL; a user is in the
    global holdout when the score is below the holdout share.
    """
    digest = hashlib.sha256(f"{salt}:{source_id}".encode()).hexdigest()
    return int(digest[:HASH_HEX_DIGITS], 16) / HASH_SCALE


@dataclass(frozen=True)
class MeanDiff:
    """Global holdout minus-touchable difference of a per-user mean, with a Welch interval."""

    touchable: float
    holdout: float
    diff: float  # touchable - holdout: the effect of being touchable
    ci_low: float
    ci_high: float

    @property
    def significant(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


@dataclass(frozen=True)
class GlobalEffect:
    """The cumulative effect of every CRM touch in a month against the global holdout."""

    users_touchable: int
    users_holdout: int
    buy_rate: MeanDiff | None
    orders_per_user: MeanDiff | None
    margin_per_user: MeanDiff | None  # gross margin, currency units
    incremental_margin: tuple[float, float, float] | None  # diff x touchable users: (est, low, high)
    assumed_margin_orders: int  # orders whose margin used the assumed rate
    reason: str = ""  # why there is no estimate (empty when there is one)


def _welch(s1: float, sq1: float, n1: int, s0: float, sq0: float, n0: int, z: float) -> MeanDiff:
    m1, m0 = s1 / n1, s0 / n0
    v1 = max(sq1 / n1 - m1**2, 0.0) * n1 / max(n1 - 1, 1)
    v0 = max(sq0 / n0 - m0**2, 0.0) * n0 / max(n0 - 1, 1)
    se = float(np.sqrt(v1 / n1 + v0 / n0))
    d = m1 - m0
    return MeanDiff(float(m1), float(m0), float(d), float(d - z * se), float(d + z * se))


def global_holdout_effect(con, period, exp, min_users: int = 30) -> GlobalEffect:
    """Touchable vs global-holdout users of the addressable base over the report month.

    ``exp`` is the params ``experiments`` section; ``period`` a :class:`userops.period.Period`.
    """
    from userops.db import query

    df = query(
        "experiments/global_effect",
        con,
        salt=exp.global_holdout_salt,
        share=exp.global_holdout_share,
        from_date=period.start,
        to_date=period.end,
        window_months=exp.global_window_months,
        assumed_margin_rate=exp.assumed_margin_rate,
    ).set_index("arm")
    n1 = int(df.users.get("touchable", 0))
    n0 = int(df.users.get("global_holdout", 0))
    assumed = int(df.assumed_margin_orders.sum()) if len(df) else 0
    if exp.global_holdout_share == 0:
        reason = i18n.t("brief.global_reason_off")
    elif n0 < min_users or n1 < min_users:
        reason = i18n.t("brief.global_reason_small", min=min_users, holdout=f"{n0:,}", touchable=f"{n1:,}")
    else:
        reason = ""
    if reason:
        return GlobalEffect(n1, n0, None, None, None, None, assumed, reason)
    z = float(norm.ppf(1 - (1 - exp.ci_level) / 2))
    t, h = df.loc["touchable"], df.loc["global_holdout"]
    buy = _welch(t.buyers, t.buyers, n1, h.buyers, h.buyers, n0, z)
    orders = _welch(t.orders, t.orders_sq, n1, h.orders, h.orders_sq, n0, z)
    margin = _welch(t.margin, t.margin_sq, n1, h.margin, h.margin_sq, n0, z)
    inc = (margin.diff * n1, margin.ci_low * n1, margin.ci_high * n1)
    return GlobalEffect(n1, n0, buy, orders, margin, inc, assumed)
