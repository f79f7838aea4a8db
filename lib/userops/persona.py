"""Play 5: persona analysis (用户画像). SQL in sql/persona/, statistics and clustering here.

Three layerings of the same buyers (users with an order in the window ending at the report
month's end):

- RFM scores, named segments and the seeds' value tiers (普通 / 潜在 / 重要 / 核心), rules in params;
- attribute personas: age band, gender, city, family status against what users buy, where and when,
  with the strength of each link (Cramér's V on users);
- behaviour clusters: k-means on standardised, whitened per-user features, k by silhouette on a
  seeded sample, each cluster named from its profile; then online vs offline AOV per cluster and
  the PCT (right people, content, time) table.

Functions take an open warehouse connection, the report Period and the persona params, and return
small DataFrames (or dataclasses) ready to plot or print.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from userops import stats
from userops.db import query
from userops.params import PersonaParams, ScoreRule
from userops.period import Period

CATEGORIES = ("fresh", "cooking", "mother_baby", "snacks", "drinks", "daily")
CATEGORY_LABELS = {
    "fresh": "fresh 生鲜",
    "cooking": "cooking 烹饪",
    "mother_baby": "mother & baby 母婴",
    "snacks": "snacks 零食",
    "drinks": "drinks 饮料",
    "daily": "daily 日用",
}
CATEGORY_WORDS = {"mother_baby": "mother-and-baby"}  # how a category reads inside a cluster name
TIMES = ("morning", "midday", "afternoon", "evening", "night")
TIME_HOURS = {
    "morning": "05-10",
    "midday": "11-13",
    "afternoon": "14-17",
    "evening": "18-21",
    "night": "22-04",
}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ATTRIBUTES = ("age_band", "gender", "city", "family_status")
SHARE_FEATURES = ("online_share", "coupon_share", "weekend_share") + tuple(f"tod_{t}" for t in TIMES)
SHARE_FEATURES += tuple(f"cat_{c}" for c in CATEGORIES)
LOG_FEATURES = ("aov", "n_orders")


def window(p: Period, months: int) -> tuple[dt.date, dt.date]:
    """The half-open window of `months` whole months ending with the report month."""
    return p.shift(-(months - 1)).start, p.end


# --------------------------------------------------------------------------- RFM and value tiers


def apply_rules(scores: pd.DataFrame, rules: Sequence[ScoreRule], fallback: str) -> np.ndarray:
    """Name of the first rule whose r/f/m ranges contain the row's scores (vectorised).

    Input: a frame with r_score, f_score, m_score. Output: one name per row; `fallback` where
    no rule matches.
    """
    conditions = [
        scores.r_score.between(*rule.r) & scores.f_score.between(*rule.f) & scores.m_score.between(*rule.m)
        for rule in rules
    ]
    return np.select(conditions, [rule.name for rule in rules], default=fallback)


def rfm(con, p: Period, pp: PersonaParams) -> pd.DataFrame:
    """Per buyer of the RFM window: recency, frequency, monetary, 1..bins scores, segment, tier.

    sql/persona/rfm.sql computes the values and scores; the params' rules name them here.
    """
    start, end = window(p, pp.rfm_window_months)
    df = query("persona/rfm", con, from_date=start, to_date=end, as_of=p.as_of, bins=pp.score_bins)
    df["segment"] = apply_rules(df, pp.segments, pp.rule_fallback)
    df["tier"] = apply_rules(df, pp.tiers, pp.rule_fallback)
    return df


def rule_order(rules: Sequence[ScoreRule], fallback: str) -> list[str]:
    """Rule names in params order, the fallback last (the display order of segments / tiers)."""
    return [r.name for r in rules] + [fallback]


def level_summary(df: pd.DataFrame, by: str, order: Sequence[str]) -> pd.DataFrame:
    """Users, share of buyers, GMV, GMV share and mean R / F / M per segment or tier (all levels)."""
    g = df.groupby(by).agg(
        users=("user_id", "size"),
        gmv=("monetary", "sum"),
        recency_days=("recency_days", "mean"),
        frequency=("frequency", "mean"),
        monetary=("monetary", "mean"),
    )
    g = g.reindex(order).fillna({"users": 0, "gmv": 0})
    g = g[(g.index != order[-1]) | (g.users > 0)]  # the fallback level only when it has users
    g["users"] = g["users"].astype(int)
    g["user_share"] = g["users"] / max(len(df), 1)
    g["gmv_share"] = g["gmv"] / (df["monetary"].sum() or np.nan)
    return g.rename_axis(by).reset_index()


def tier_movement(
    prev: pd.DataFrame, now: pd.DataFrame, order: Sequence[str], none: str = "none"
) -> pd.DataFrame:
    """Users by tier last month (rows) x tier this month (columns); `none` = not a buyer of that window.

    Both frames come from `rfm` (one row per user with `tier`). Users in neither are left out.
    """
    m = prev[["user_id", "tier"]].merge(
        now[["user_id", "tier"]], on="user_id", how="outer", suffixes=("_prev", "")
    )
    m = m.fillna({"tier_prev": none, "tier": none})
    levels = [*order, none]
    t = pd.crosstab(pd.Categorical(m.tier_prev, levels), pd.Categorical(m.tier, levels), dropna=False)
    t.index.name, t.columns.name = "last month", "this month"
    return t


def movement_summary(move: pd.DataFrame, order: Sequence[str], none: str = "none") -> dict[str, int]:
    """Counts of users who moved up / down the tier ladder (order = best first), entered, left, stayed."""
    rank = {t: i for i, t in enumerate(order)}
    up = down = same = 0
    for a in order:  # loops over tiers (a handful), never over users
        for b in order:
            n = int(move.loc[a, b])
            if rank[b] < rank[a]:
                up += n
            elif rank[b] > rank[a]:
                down += n
            else:
                same += n
    return {
        "up": up,
        "down": down,
        "same": same,
        "entered": int(move.loc[none, list(order)].sum()),
        "left": int(move.loc[list(order), none].sum()),
    }


# --------------------------------------------------------------------------- per-user features


def user_features(con, p: Period, pp: PersonaParams) -> pd.DataFrame:
    """Per buyer of the feature window: behaviour and attributes (sql/persona/user_features.sql)."""
    start, end = window(p, pp.feature_window_months)
    return query(
        "persona/user_features",
        con,
        from_date=start,
        to_date=end,
        as_of=p.as_of,
        month_start=p.start,
        age_edges=list(pp.age_edges),
    )


def age_band_order(pp: PersonaParams) -> list[str]:
    """Age band labels in age order, as user_features.sql writes them, then 'unknown'."""
    e = pp.age_edges
    return [f"<{e[0]}"] + [f"{a}-{b - 1}" for a, b in zip(e, e[1:], strict=False)] + [f"{e[-1]}+", "unknown"]


def peak_time(features: pd.DataFrame) -> pd.Series:
    """Each user's time of day with the most orders (ties: the earlier band)."""
    cols = [f"tod_{t}" for t in TIMES]
    return pd.Series(np.array(TIMES)[features[cols].to_numpy().argmax(axis=1)], index=features.index)


def channel_preference(features: pd.DataFrame) -> pd.Series:
    """'online' when most of a user's orders are online, else 'in-store'."""
    return pd.Series(np.where(features.online_share > 0.5, "online", "in-store"), index=features.index)


# --------------------------------------------------------------------------- groups profiled in SQL


@contextmanager
def registered_groups(con, groups: pd.DataFrame):
    """Register `groups` (user_id, dimension, grp) as the relation persona_groups the group SQL reads."""
    con.register("persona_groups", groups[["user_id", "dimension", "grp"]])
    try:
        yield con
    finally:
        con.unregister("persona_groups")


def long_groups(features: pd.DataFrame, dims: Sequence[str]) -> pd.DataFrame:
    """One row per user and dimension: (user_id, dimension, grp) from columns of `features`."""
    parts = [
        pd.DataFrame({"user_id": features.user_id, "dimension": d, "grp": features[d].astype(str)})
        for d in dims
    ]
    return pd.concat(parts, ignore_index=True)


def group_categories(con, groups: pd.DataFrame, p: Period, pp: PersonaParams) -> pd.DataFrame:
    """Lines and line GMV per dimension x group x category, with each group's GMV and line shares."""
    start, end = window(p, pp.feature_window_months)
    with registered_groups(con, groups):
        df = query("persona/group_categories", con, from_date=start, to_date=end)
    tot = df.groupby(["dimension", "grp"])[["gmv", "lines"]].transform("sum")
    df["gmv_share"] = df["gmv"] / tot["gmv"].where(tot["gmv"] > 0)
    df["line_share"] = df["lines"] / tot["lines"].where(tot["lines"] > 0)
    return df


def group_time(con, groups: pd.DataFrame, p: Period, pp: PersonaParams) -> pd.DataFrame:
    """Orders per dimension x group x weekday (1 = Mon) x hour (zero-filled 7 x 24 grid)."""
    start, end = window(p, pp.feature_window_months)
    with registered_groups(con, groups):
        return query("persona/group_time", con, from_date=start, to_date=end)


def group_coupons(con, groups: pd.DataFrame, p: Period, pp: PersonaParams) -> pd.DataFrame:
    """Closed and redeemed coupons per dimension x group x coupon kind (coupons issued in the window)."""
    start, end = window(p, pp.feature_window_months)
    with registered_groups(con, groups):
        return query("persona/group_coupons", con, from_date=start, to_date=end, as_of=p.as_of)


def peaks(time: pd.DataFrame) -> pd.DataFrame:
    """Per dimension x group: the peak weekday, the peak hour (ties: earliest) and their order shares."""
    key = ["dimension", "grp"]
    wd = time.groupby([*key, "weekday"], as_index=False).orders.sum()
    hr = time.groupby([*key, "hour"], as_index=False).orders.sum()
    top_wd = (
        wd.sort_values([*key, "orders", "weekday"], ascending=[True, True, False, True]).groupby(key).head(1)
    )
    top_hr = (
        hr.sort_values([*key, "orders", "hour"], ascending=[True, True, False, True]).groupby(key).head(1)
    )
    tot = wd.groupby(key).orders.sum().rename("orders_total")
    out = (
        top_wd.rename(columns={"orders": "weekday_orders"})
        .merge(top_hr.rename(columns={"orders": "hour_orders"}), on=key)
        .merge(tot, on=key)
    )
    out["peak_weekday"] = [WEEKDAYS[d - 1] for d in out.weekday]
    out["peak_hour"] = out["hour"].astype(int)
    out["peak_weekday_share"] = out.weekday_orders / out.orders_total.where(out.orders_total > 0)
    out["peak_hour_share"] = out.hour_orders / out.orders_total.where(out.orders_total > 0)
    return out[[*key, "peak_weekday", "peak_weekday_share", "peak_hour", "peak_hour_share", "orders_total"]]


# --------------------------------------------------------------------------- statistics


def ratio_ci(num: pd.Series, den: pd.Series, level: float = 0.95) -> tuple[float, float, float]:
    """Ratio of sums (e.g. AOV = GMV / orders) with a user-level (cluster-robust) normal interval.

    num / den are per-user totals; the variance is the linearised ratio estimator's, so repeat
    orders of one user are not treated as independent. Returns (ratio, low, high); NaN without data.
    """
    mask = den > 0
    n = int(mask.sum())
    nan = float("nan")
    if n == 0:
        return nan, nan, nan
    x, y = num[mask].astype(float), den[mask].astype(float)
    r = x.sum() / y.sum()
    if n < 2:
        return float(r), nan, nan
    resid = x - r * y
    se = np.sqrt(n / (n - 1) * (resid**2).sum()) / y.sum()
    z = norm.ppf(1 - (1 - level) / 2)
    return float(r), float(r - z * se), float(r + z * se)


def cramers_v(a: pd.Series, b: pd.Series) -> tuple[float, float, int]:
    """Cramér's V of two categorical series (one row per user) and the chi-square test's p-value.

    Returns (V, p, n). V = sqrt(chi2 / (n (min(r, c) - 1))), no bias correction; NaN when a
    variable has a single level.
    """
    t = pd.crosstab(a, b).to_numpy()
    _, p, v = stats.cramers_v(t)
    return v, p, int(t.sum())


def strength(v: float, levels: Sequence[float]) -> str:
    """'negligible' / 'weak' / 'moderate' / 'strong' from Cramér's V and the params' cut points."""
    if np.isnan(v):
        return "n/a"
    names = ["negligible", "weak", "moderate", "strong"]
    return names[int(np.searchsorted(np.asarray(levels), v, side="right"))]


def associations(features: pd.DataFrame, pp: PersonaParams) -> pd.DataFrame:
    """Strength of every attribute x behaviour link, on users (one row each).

    Behaviours: top_category (most GMV), channel (online if most orders online) and peak time of
    day. Columns: attribute, behaviour, cramers_v, p_value, n, strength; strongest first.
    Association, not effect.
    """
    behaviours = {
        "top category": features.top_category.fillna("none"),
        "channel": channel_preference(features),
        "time of day": peak_time(features),
    }
    rows = []
    for attr in ATTRIBUTES:  # 4 attributes x 3 behaviours: a loop over tests, not users
        for name, b in behaviours.items():
            v, p_value, n = cramers_v(features[attr], b)
            rows.append(dict(attribute=attr, behaviour=name, cramers_v=v, p_value=p_value, n=n))
    out = pd.DataFrame(rows)
    out["strength"] = [strength(v, pp.association_levels) for v in out.cramers_v]
    return out.sort_values("cramers_v", ascending=False, ignore_index=True)


# --------------------------------------------------------------------------- group summaries


def group_summary(features: pd.DataFrame, by: str, level: float = 0.95) -> pd.DataFrame:
    """Per level of `by`: users, orders per user, AOV, online share, online / offline AOV with CIs,
    omnichannel share, the report month's online share and the busiest time of day of its orders.

    AOV intervals are user-level (`ratio_ci`). omni_share = users with both online and in-store
    orders in the window; month_online_share = online share of the group's report-month orders.
    """
    f = features.assign(is_omni=(features.n_online > 0) & (features.n_offline > 0))
    g = f.groupby(by)
    out = pd.DataFrame(
        {
            "users": g.size(),
            "orders": g.n_orders.sum(),
            "gmv": g.gmv.sum(),
            "online_orders": g.n_online.sum(),
            "omni_users": g.is_omni.sum(),
            "month_orders": g.n_month_orders.sum(),
            "month_online": g.n_month_online.sum(),
        }
    )
    out["orders_per_user"] = out.orders / out.users
    out["aov"] = out.gmv / out.orders
    out["online_share"] = out.online_orders / out.orders
    out["omni_share"] = out.omni_users / out.users
    out["month_online_share"] = out.month_online / out.month_orders.where(out.month_orders > 0)
    for kind in ("online", "offline"):
        cis = g.apply(lambda d, k=kind: ratio_ci(d[f"gmv_{k}"], d[f"n_{k}"], level), include_groups=False)
        out[f"{kind}_aov"] = [c[0] for c in cis]
        out[f"{kind}_aov_low"] = [c[1] for c in cis]
        out[f"{kind}_aov_high"] = [c[2] for c in cis]
    out["aov_gap"] = out.online_aov - out.offline_aov
    tod = f[[f"tod_{t}" for t in TIMES]].mul(f.n_orders, axis=0).groupby(f[by]).sum()
    out["peak_time"] = np.array(TIMES)[tod.reindex(out.index).to_numpy().argmax(axis=1)]
    return out.rename_axis(by).reset_index()


def category_matrix(cats: pd.DataFrame, dimension: str, value: str = "gmv_share") -> pd.DataFrame:
    """Groups (rows) x categories (columns, contract order) of one dimension of `group_categories`."""
    d = cats[cats.dimension == dimension]
    m = d.pivot(index="grp", columns="category", values=value)
    return m[[c for c in CATEGORIES if c in m.columns] + [c for c in m.columns if c not in CATEGORIES]]


# --------------------------------------------------------------------------- behaviour clusters


def feature_matrix(features: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """The chosen features, transformed: shares -> sqrt (Hellinger), AOV and order counts -> log.

    Shares near 0 and 1 get room (sqrt); money and counts are skewed (log). Standardising follows.
    """
    cols = []
    for n in names:
        x = features[n].astype(float).to_numpy()
        if n in SHARE_FEATURES:
            x = np.sqrt(np.clip(x, 0, 1))
        elif n in LOG_FEATURES:
            x = np.log(np.maximum(x, 1e-6))
        cols.append(x)
    return np.column_stack(cols)


@dataclass(frozen=True)
class Clustering:
    """Behaviour clusters of the buyers of the feature window."""

    assignment: pd.DataFrame  # user_id, cluster (1 = largest), basis ('fitted' | 'nearest')
    silhouette: pd.Series  # silhouette of the seeded sample by k
    k: int
    n_fitted: int  # users with >= min_orders orders, on whom the clusters were fitted
    explained_variance: float  # share of the standardised features' variance the components keep


def cluster_users(features: pd.DataFrame, pp: PersonaParams) -> Clustering:
    """k-means on standardised (and whitened principal-component) features; k by silhouette.

    Users with at least `min_orders` orders are fitted; users with fewer are assigned to the
    nearest centre (basis = 'nearest'). For each k in [k_min, k_max], k-means (seeded, n_init
    restarts) runs on all fitted users and the silhouette is measured on a seeded sample of them;
    the best k wins (ties: the smaller). Clusters are numbered by fitted size, largest first, so
    the assignment is the same for the same data, params and seed.
    """
    fit = (features.n_orders >= pp.min_orders).to_numpy()
    if fit.sum() < pp.k_max * 10:
        raise ValueError(f"only {int(fit.sum())} users have {pp.min_orders}+ orders: too few to cluster")
    x = feature_matrix(features, pp.features)
    scaler = StandardScaler().fit(x[fit])
    z = scaler.transform(x)
    explained = 1.0
    if 0 < pp.pca_components < x.shape[1]:
        pca = PCA(n_components=pp.pca_components, whiten=True, random_state=pp.seed).fit(z[fit])
        explained = float(pca.explained_variance_ratio_.sum())
        z = pca.transform(z)
    zf = z[fit]
    rng = np.random.default_rng(pp.seed)
    sample = np.sort(rng.choice(len(zf), size=min(pp.silhouette_sample, len(zf)), replace=False))
    models, sil = {}, {}
    # one thread: on a small shared machine OpenMP threads contend and run ~10x slower
    with threadpool_limits(limits=1):
        for k in range(pp.k_min, pp.k_max + 1):  # a handful of k values
            km = KMeans(n_clusters=k, n_init=pp.n_init, random_state=pp.seed).fit(zf)
            models[k] = km
            sil[k] = float(silhouette_score(zf[sample], km.labels_[sample]))
    silhouette = pd.Series(sil, name="silhouette").rename_axis("k")
    best = int(silhouette.idxmax())
    km = models[best]
    raw = km.predict(z)
    raw[fit] = km.labels_
    sizes = np.bincount(km.labels_, minlength=best)
    order = np.lexsort((np.arange(best), -sizes))  # largest first, ties by raw label
    relabel = np.empty(best, dtype=int)
    relabel[order] = np.arange(1, best + 1)
    assignment = pd.DataFrame(
        {
            "user_id": features.user_id.to_numpy(),
            "cluster": relabel[raw],
            "basis": np.where(fit, "fitted", "nearest"),
        }
    )
    return Clustering(assignment, silhouette, best, int(fit.sum()), explained)


def cluster_profiles(features: pd.DataFrame, clustering: Clustering) -> pd.DataFrame:
    """Per cluster (and 'all'): users, orders per user, AOV, recency, online / coupon / weekend
    shares, time-of-day shares (of orders) and category shares (of lines), order-weighted.
    """
    f = features.merge(clustering.assignment, on="user_id")
    f["cluster"] = f["cluster"].astype(str)
    every = f.assign(cluster="all")
    both = pd.concat([f, every], ignore_index=True)
    share_cols = ["online_share", "coupon_share", "weekend_share"] + [f"tod_{t}" for t in TIMES]
    cat_cols = [f"cat_{c}" for c in CATEGORIES]
    w = both[share_cols].mul(both.n_orders, axis=0)
    w[cat_cols] = both[cat_cols].mul(both.n_orders, axis=0)  # order-weighted line shares
    w["cluster"] = both.cluster
    sums = w.groupby("cluster").sum()
    g = both.groupby("cluster")
    n_orders = g.n_orders.sum()
    prof = sums.div(n_orders, axis=0)
    prof[cat_cols] = prof[cat_cols].div(prof[cat_cols].sum(axis=1), axis=0)
    prof.insert(0, "users", g.size())
    prof.insert(1, "fitted_users", g.basis.apply(lambda s: int((s == "fitted").sum())))
    prof.insert(2, "orders_per_user", n_orders / g.size())
    prof.insert(3, "aov", g.gmv.sum() / n_orders)
    prof.insert(4, "recency_days", g.recency_days.mean())
    prof.insert(1, "user_share", prof.users / len(f))
    idx = sorted((c for c in prof.index if c != "all"), key=int) + ["all"]
    return prof.loc[idx].rename_axis("cluster")


def _list(words: Sequence[str]) -> str:
    return " & ".join(words)


def cluster_name(row: pd.Series, overall: pd.Series, pp: PersonaParams) -> str:
    """A readable name from a cluster profile compared with all buyers.

    "<channel> <time> <categories> buyers[, big baskets | small baskets][, frequent]":
    channel = online (online share >= online_share_high), in-store (<= online_share_low) or
    omnichannel; time = the cluster's busiest time of day, prefixed "weekend" when its weekend
    share is at least name_lift x the overall; categories = up to two whose line share is at least
    name_lift x the overall (largest share first), else the single largest; baskets when the AOV is
    >= name_lift x (or <= 1 / name_lift x) the overall; frequent when orders per user are >=
    name_lift x the overall.
    """
    if row.online_share >= pp.online_share_high:
        channel = "online"
    elif row.online_share <= pp.online_share_low:
        channel = "in-store"
    else:
        channel = "omnichannel"
    tod = row[[f"tod_{t}" for t in TIMES]].astype(float).to_numpy()
    time = TIMES[int(tod.argmax())]
    if row.weekend_share >= pp.name_lift * overall.weekend_share:
        time = f"weekend {time}"
    share = pd.Series({c: float(row[f"cat_{c}"]) for c in CATEGORIES})
    lift = share / pd.Series({c: float(overall[f"cat_{c}"]) for c in CATEGORIES}).replace(0, np.nan)
    distinct = share[lift >= pp.name_lift].sort_values(ascending=False, kind="stable")
    cats = list(distinct.index[:2]) if len(distinct) else [share.idxmax()]
    name = f"{channel} {time} {_list([CATEGORY_WORDS.get(c, c) for c in cats])} buyers"
    if row.aov >= pp.name_lift * overall.aov:
        name += ", big baskets"
    elif row.aov <= overall.aov / pp.name_lift:
        name += ", small baskets"
    if row.orders_per_user >= pp.name_lift * overall.orders_per_user:
        name += ", frequent"
    return name


def name_clusters(profiles: pd.DataFrame, pp: PersonaParams) -> pd.Series:
    """Names of every cluster of `cluster_profiles` (without 'all'); duplicates get ' (2)', ' (3)'."""
    overall = profiles.loc["all"]
    names = pd.Series(
        {c: cluster_name(profiles.loc[c], overall, pp) for c in profiles.index if c != "all"}, name="name"
    )
    dup = names.groupby(names).cumcount()
    return names.where(dup == 0, names + " (" + (dup + 1).astype(str) + ")")


# --------------------------------------------------------------------------- PCT table


def pct_table(
    profiles: pd.DataFrame,
    names: pd.Series,
    cats: pd.DataFrame,
    time: pd.DataFrame,
    coupons: pd.DataFrame | None,
    channels: pd.DataFrame,
    pp: PersonaParams,
) -> pd.DataFrame:
    """Right people, right content, right time: one row per cluster.

    content = the cluster's two categories with the most line GMV and the coupon kind it redeems
    best (highest redemption of closed coupons among kinds other than the new-user pack, which
    only new users get, with >= min_group_users closed coupons; 'n/a' without coupons); time = peak weekday and hour; channel = the order channel most of its
    orders use (`channels`: cluster x order_channel orders).
    """
    c = cats[cats.dimension == "cluster"].sort_values(
        ["grp", "gmv", "category"], ascending=[True, False, True]
    )
    top = c.groupby("grp").head(2).groupby("grp").category.agg(list)
    pk = peaks(time[time.dimension == "cluster"]).set_index("grp")
    ch = channels.sort_values(["cluster", "orders", "order_channel"], ascending=[True, False, True])
    ch_top = ch.groupby("cluster").head(1).set_index("cluster")
    rows = []
    for cl in names.index:  # one row per cluster
        kind, rate = "n/a", float("nan")
        if coupons is not None and len(coupons):
            k = coupons[
                (coupons.dimension == "cluster")
                & (coupons.grp == cl)
                & (coupons.closed >= pp.min_group_users)
                & ~coupons.is_new_user_pack.astype(bool)
            ]
            if len(k):
                best = k.sort_values(["redemption_rate", "kind"], ascending=[False, True]).iloc[0]
                kind, rate = best.kind, float(best.redemption_rate)
        rows.append(
            dict(
                cluster=int(cl),
                persona=names[cl],
                users=int(profiles.loc[cl, "users"]),
                top_category=top[cl][0],
                second_category=top[cl][1] if len(top[cl]) > 1 else "",
                coupon_kind=kind,
                coupon_redemption=rate,
                peak_weekday=pk.loc[cl, "peak_weekday"],
                peak_hour=int(pk.loc[cl, "peak_hour"]),
                channel=ch_top.loc[int(cl), "order_channel"],
                online_share=float(profiles.loc[cl, "online_share"]),
            )
        )
    return pd.DataFrame(rows)


def cluster_channels(features: pd.DataFrame, clustering: Clustering, con, p: Period, pp: PersonaParams):
    """Orders per cluster x order channel in the feature window (sql/persona/group_channels.sql)."""
    groups = clustering.assignment.assign(dimension="cluster", grp=clustering.assignment.cluster.astype(str))
    start, end = window(p, pp.feature_window_months)
    with registered_groups(con, groups):
        df = query("persona/group_channels", con, from_date=start, to_date=end)
    df = df[df.dimension == "cluster"].rename(columns={"grp": "cluster"})
    df["cluster"] = df["cluster"].astype(int)
    return df[["cluster", "order_channel", "orders"]]


def typical_attributes(features: pd.DataFrame, clustering: Clustering) -> pd.DataFrame:
    """Per cluster: the most common level of each attribute and its share of the cluster's users."""
    f = features.merge(clustering.assignment, on="user_id")
    out = {}
    for attr in ATTRIBUTES:  # four attributes
        t = pd.crosstab(f.cluster, f[attr], normalize="index")
        out[attr] = t.idxmax(axis=1)
        out[f"{attr}_share"] = t.max(axis=1)
    out = pd.DataFrame(out)
    out.index = out.index.astype(str)
    return out.rename_axis("cluster")


def user_personas(clustering: Clustering, names: pd.Series, rfm_users: pd.DataFrame) -> pd.DataFrame:
    """The CRM list: user_id, cluster, persona name, basis, RFM segment and value tier."""
    a = clustering.assignment.copy()
    a["persona"] = a.cluster.astype(str).map(names)
    a = a.merge(rfm_users[["user_id", "segment", "tier"]], on="user_id", how="left")
    return a[["user_id", "cluster", "persona", "basis", "segment", "tier"]]


# --------------------------------------------------------------------------- play-specific charts

PROFILE_COLUMNS = {
    "orders_per_user": ("orders / user", "float1"),
    "aov": ("AOV", "yuan"),
    "online_share": ("online", "pct"),
    "weekend_share": ("weekend", "pct"),
    "coupon_share": ("coupon orders", "pct"),
    **{f"tod_{t}": (f"{t} {TIME_HOURS[t]}", "pct") for t in TIMES},
    **{f"cat_{c}": (CATEGORY_LABELS[c], "pct") for c in CATEGORIES},
}


def profile_heatmap(prof: pd.DataFrame, ax):
    """Profile measures (rows) x clusters (columns): cells show the value, colour its ratio to all buyers.

    Blue = above the all-buyer value, red = below (log2 of the ratio, clipped to +/- 1.5). The
    last column is all buyers.
    """
    import seaborn as sns

    from userops import charts

    cols = list(PROFILE_COLUMNS)
    vals = prof[cols].astype(float)
    ratio = np.log2(vals / prof.loc["all", cols].astype(float).replace(0, np.nan))
    labels = np.empty(vals.shape, dtype=object)
    for j, c in enumerate(cols):  # columns (17 measures), not users
        f = charts.FORMATTERS[PROFILE_COLUMNS[c][1]]
        labels[:, j] = [f(v) for v in vals[c]]
    sns.heatmap(
        ratio.clip(-1.5, 1.5).T,
        ax=ax,
        cmap="RdBu",
        center=0,
        vmin=-1.5,
        vmax=1.5,
        annot=labels.T,
        fmt="",
        cbar=False,
        linewidths=0.5,
        linecolor="white",
        annot_kws={"fontsize": 9},
    )
    ax.set_xticks(
        np.arange(len(prof)) + 0.5, [f"cluster {c}" if c != "all" else "all buyers" for c in prof.index]
    )
    ax.set_yticks(np.arange(len(cols)) + 0.5, [PROFILE_COLUMNS[c][0] for c in cols], rotation=0)
    ax.xaxis.tick_top()
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.tick_params(length=0)
    return ax


def aov_chart(summary: pd.DataFrame, label: str, ax):
    """Online vs in-store AOV per group with their 95% intervals (horizontal paired bars)."""
    from userops import charts

    d = summary.reset_index(drop=True)
    pos = np.arange(len(d))
    h = 0.38
    for off, kind, color, text in (
        (-h / 2, "online", charts.ACCENT, "online"),
        (h / 2, "offline", charts.PALETTE[1], "in-store"),
    ):
        est = d[f"{kind}_aov"].to_numpy(dtype=float)
        err = np.vstack([est - d[f"{kind}_aov_low"], d[f"{kind}_aov_high"] - est])
        ax.barh(pos + off, est, height=h, color=color, xerr=err, capsize=3, label=text, error_kw={"lw": 1})
        for y, v, hi in zip(pos + off, est, d[f"{kind}_aov_high"], strict=True):
            if not np.isnan(v):
                ax.annotate(
                    charts.fmt_yuan(v, 0),
                    (hi, y),
                    xytext=(3, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=8,
                )
    ax.set_yticks(pos, d[label].astype(str))
    ax.invert_yaxis()
    charts.yuan_axis(ax, "x")
    ax.margins(x=0.1)
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower right", fontsize=9)
    return ax
