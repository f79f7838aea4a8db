"""Play 5: persona analysis (用户画像). SQL in sql/persona/, statistics and clustering here.

Three layerings of the same buyers (users with an order in the window ending at the report
month's end):

- RFM scores and named segments (rules in params), and the playbook's one value tier (普通 / 潜在 / 重要 / 核心, `activity.user_tiers`);
- attribute personas: age band, gender, city, family status against what users buy, where and when,
  with the strength of each link (Cramér's V on users);
- behaviour clusters: k-means on standardised, whitened per-user features, k by silhouette on a
  seeded sample, each cluster named from its profile; then online vs offline AOV per cluster and
  the PCT (right people, content, time) table.

Functions take an open warehouse connection, the report Period and the persona params (and the
params' data roles: which order channels are in-store, which coupon kinds are the new-user pack),
and return small DataFrames (or dataclasses) ready to plot or print.

Any data shape: categories are the chain's own (cat_<category> columns for the categories
present); where the data cannot support a section, a needs_* function (or Clustering.reason) gives
the one sentence that says what it needs and what the data lacks.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import pairwise_distances, silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from userops import activity, stats
from userops.db import create_temp_table, has_temp_table, logged, query
from userops.params import ActivityParams, DataParams, PersonaParams, RecallParams, ScoreRule
from userops.period import Period

# The demo's categories, in display order; a chain's own categories follow them (alphabetically).
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
ATTRIBUTES = ("age_band", "family_status", "gender", "city")  # display preference order
SHARE_FEATURES = ("online_share", "coupon_share", "weekend_share") + tuple(f"tod_{t}" for t in TIMES)
LOG_FEATURES = ("aov", "n_orders")
TOP_LEVELS = 8  # attribute levels shown by name; the rest are pooled as "others"
SILHOUETTE_MATRIX_MAX = 5000  # silhouette samples up to this size share one distance matrix (200 MB)


def category_label(category: str) -> str:
    """How a category reads in charts and tables: its business name in the report language
    (i18n kind "category", the chain's own names from params); a category the catalog does not
    know is shown as the data has it."""
    from userops import i18n

    return i18n.name("category", category)


def category_columns(features: pd.DataFrame) -> list[str]:
    """The cat_<category> share columns of `features`: demo categories first, then the others."""
    cats = [c[4:] for c in features.columns if c.startswith("cat_")]
    known = [c for c in CATEGORIES if c in cats]
    return [f"cat_{c}" for c in known + sorted(set(cats) - set(known))]


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


def rfm(con, p: Period, pp: PersonaParams, ap: ActivityParams) -> pd.DataFrame:
    """Per buyer of the RFM window: recency, frequency, monetary, 1..bins scores, segment, tier.

    sql/persona/rfm.sql computes the values and scores; the params' rules name the segments. The
    value tier is the playbook's one definition (`activity.user_tiers` at the month's end: rolling
    spend against params activity.tier_thresholds_yuan), 'none' for buyers without spend in it.
    """
    start, end = window(p, pp.rfm_window_months)
    df = query("persona/rfm", con, from_date=start, to_date=end, as_of=p.as_of, bins=pp.score_bins)
    df["segment"] = apply_rules(df, pp.segments, pp.rule_fallback)
    tiers = activity.user_tiers(con, p.end, ap)[["user_id", "tier_name"]]
    df = df.merge(tiers, on="user_id", how="left").rename(columns={"tier_name": "tier"})
    df["tier"] = df["tier"].fillna("none")
    return df


def tier_order(ap: ActivityParams) -> list[str]:
    """Value tiers best first: the thresholds' names from the top, then ordinary."""
    return [*reversed(list(ap.tier_thresholds_yuan)), "ordinary"]


def tier_summary(con, p: Period, ap: ActivityParams) -> pd.DataFrame:
    """Users of each value tier at the month's end (`activity.user_tiers`, the definition play 03
    uses too), best first: users, user_share (of users with spend in the tier window), gmv (their
    window spend), gmv_share and spend per user. Every tier is listed, empty ones with 0 users.
    """
    t = activity.user_tiers(con, p.end, ap)
    t = t[t.tier > 0]
    g = t.groupby("tier_name").agg(users=("user_id", "size"), gmv=("spend", "sum"))
    g = g.reindex(tier_order(ap)).fillna(0)
    g["users"] = g["users"].astype(int)
    g["user_share"] = g.users / max(len(t), 1)
    g["gmv_share"] = g.gmv / (t.spend.sum() or np.nan)
    g["spend_per_user"] = g.gmv / g.users.where(g.users > 0)
    g["label"] = [activity.tier_label(n) for n in g.index]
    return g.rename_axis("tier").reset_index()


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


# --------------------------------------------------------------------------- per-user features


#: the window's order lines per user x category (sql/persona/user_categories.sql), a temp table of
#: the connection that user_features.sql and group_categories.sql read
CATEGORY_TABLE = "persona_user_categories"
_CATEGORY_WINDOW: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # connection -> its window


def user_categories(con, start: dt.date, end: dt.date) -> str:
    """Materialise sql/persona/user_categories.sql for the window [start, end) as the temp table
    persona_user_categories of this connection, once per connection and window (the notebook's
    feature section and its PCT table share it); returns the table's name.

    The window's order lines are then aggregated per user x category once per run: user_features,
    the cat_* shares and every group_categories call read these rows.
    """
    params = dict(from_date=start, to_date=end)
    if _CATEGORY_WINDOW.get(con) != (start, end) or not has_temp_table(con, CATEGORY_TABLE):
        with logged("persona/user_categories", params):
            create_temp_table(con, CATEGORY_TABLE, "persona/user_categories", params)
        _CATEGORY_WINDOW[con] = (start, end)
    return CATEGORY_TABLE


def user_features(con, p: Period, pp: PersonaParams, dp: DataParams) -> pd.DataFrame:
    """Per buyer of the feature window: behaviour and attributes (sql/persona/user_features.sql)
    and one cat_<category> line-share column per category bought in the window
    (sql/persona/user_categories.sql, pivoted; 0 where the user bought none of it).

    Online = an order channel not in dp.offline_order_channels.
    """
    start, end = window(p, pp.feature_window_months)
    table = user_categories(con, start, end)
    f = query(
        "persona/user_features",
        con,
        from_date=start,
        to_date=end,
        as_of=p.as_of,
        month_start=p.start,
        age_edges=list(pp.age_edges),
        offline_channels=list(dp.offline_order_channels),
    )
    lines = con.execute(f"select user_id, category, line_share from {table}").df()  # any order
    if len(lines):
        # pivoted into one cat_<category> column per category (alphabetical), 0 where a user has no row
        codes, cats = pd.factorize(lines.category, sort=True)
        rows = pd.Index(f.user_id).get_indexer(lines.user_id)  # f: one row per buyer
        known = rows >= 0
        shares = np.zeros((len(f), len(cats)))
        shares[rows[known], codes[known]] = lines.line_share.to_numpy()[known]
        f = pd.concat([f, pd.DataFrame(shares, index=f.index, columns=[f"cat_{c}" for c in cats])], axis=1)
    return f


# --------------------------------------------------------------------------- what the data allows


def window_coverage(first_order: dt.date, p: Period, months: int) -> str:
    """A sentence when the data starts inside the `months`-month window ending with the report
    month ('' when it covers the whole window): scores then rank buyers on a shorter history."""
    start, _ = window(p, months)
    if first_order.replace(day=1) <= start:  # data from the window's first month on
        return ""
    have = (p.start.year - first_order.year) * 12 + p.start.month - first_order.month + 1
    return T("coverage", first=first_order, months=months, have=have)


def needs_previous(tt: pd.DataFrame, p: Period) -> str:
    """Why tier movement cannot be shown ('' when it can): `activity.tier_transitions` has nobody
    with spend in the tier window before the month's start."""
    if int(tt[tt.start_tier > 0].users.sum()):
        return ""
    return T("needs_previous", start=p.start)


def needs_categories(features: pd.DataFrame) -> str:
    """Why the category sections cannot run ('' when they can): no order lines with a category."""
    return "" if category_columns(features) else T("needs_categories")


def known_attributes(features: pd.DataFrame) -> list[str]:
    """The attributes (of ATTRIBUTES) with at least two known levels among the buyers."""
    return [a for a in ATTRIBUTES if features[a][features[a] != "unknown"].nunique() >= 2]


def needs_attributes(features: pd.DataFrame) -> str:
    """Why attribute personas cannot be shown ('' when they can)."""
    return "" if known_attributes(features) else T("needs_attributes")


def channel_kinds(features: pd.DataFrame) -> list[str]:
    """'online' and / or 'offline': the kinds of order channel the buyers used in the window."""
    return [k for k in ("online", "offline") if features[f"n_{k}"].sum() > 0]


def needs_both_channels(features: pd.DataFrame) -> str:
    """Why online vs in-store comparisons cannot be shown ('' when both kinds have orders)."""
    kinds = channel_kinds(features)
    if len(kinds) == 2:
        return ""
    return T("needs_both_channels", seen=T(f"seen.{kinds[0] if kinds else 'missing'}"))


def top_levels(values: pd.Series, n: int = TOP_LEVELS, others: str = "others") -> pd.Series:
    """Keep the `n` most common values (ties: alphabetical), pool the rest as `others`.

    'unknown' stays itself. Keeps tables and heatmaps of e.g. hundreds of cities readable.
    """
    counts = values[values != "unknown"].value_counts()
    counts = counts.sort_index().sort_values(ascending=False, kind="stable")
    keep = set(counts.index[:n]) | {"unknown"}
    return values.where(values.isin(keep), others)


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
    user_categories(con, *window(p, pp.feature_window_months))  # built once per run and window
    with registered_groups(con, groups):
        df = query("persona/group_categories", con)
    tot = df.groupby(["dimension", "grp"])[["gmv", "lines"]].transform("sum")
    df["gmv_share"] = df["gmv"] / tot["gmv"].where(tot["gmv"] > 0)
    df["line_share"] = df["lines"] / tot["lines"].where(tot["lines"] > 0)
    return df


def group_time(con, groups: pd.DataFrame, p: Period, pp: PersonaParams) -> pd.DataFrame:
    """Orders per dimension x group x weekday (1 = Mon) x hour (zero-filled 7 x 24 grid)."""
    start, end = window(p, pp.feature_window_months)
    with registered_groups(con, groups):
        return query("persona/group_time", con, from_date=start, to_date=end)


def group_coupons(con, groups: pd.DataFrame, p: Period, pp: PersonaParams, dp: DataParams) -> pd.DataFrame:
    """Closed and redeemed coupons per dimension x group x coupon kind (coupons issued in the window);
    is_new_user_pack marks the kinds in dp.new_user_coupon_kinds."""
    start, end = window(p, pp.feature_window_months)
    with registered_groups(con, groups):
        return query(
            "persona/group_coupons",
            con,
            from_date=start,
            to_date=end,
            as_of=p.as_of,
            new_user_kinds=list(dp.new_user_coupon_kinds),
        )


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


def strength(v: float, levels: Sequence[float], p_value: float = 0.0, alpha: float = 1.0) -> str:
    """'negligible' / 'weak' / 'moderate' / 'strong' from Cramér's V and the params' cut points.

    A V above 'negligible' whose chi-square p-value is not below `alpha` reads 'not significant':
    on few users V is large by chance.
    """
    if np.isnan(v):
        return "n/a"
    names = ["negligible", "weak", "moderate", "strong"]
    word = names[int(np.searchsorted(np.asarray(levels), v, side="right"))]
    return word if word == "negligible" or p_value < alpha else "not significant"


def associations(features: pd.DataFrame, pp: PersonaParams) -> pd.DataFrame:
    """Strength of every attribute x behaviour link, on users (one row each).

    Behaviours: top_category (most GMV), channel (online if most orders online) and peak time of
    day. Columns: attribute, behaviour, cramers_v, p_value, n, strength; strongest first.
    Only measurable links: attributes of `known_attributes` and behaviours on which buyers differ
    (e.g. no channel link when every order is online); empty when none is. Association, not effect.
    """
    behaviours = {
        "top category": features.top_category.fillna("none"),
        "channel": channel_preference(features),
        "time of day": peak_time(features),
    }
    rows = []
    for attr in known_attributes(features):  # <= 4 attributes x 3 behaviours: tests, not users
        for name, b in behaviours.items():
            v, p_value, n = cramers_v(features[attr], b)
            rows.append(dict(attribute=attr, behaviour=name, cramers_v=v, p_value=p_value, n=n))
    cols = ["attribute", "behaviour", "cramers_v", "p_value", "n"]
    out = pd.DataFrame(rows, columns=cols).dropna(subset=["cramers_v"])
    alpha = 1 - pp.ci_level
    out["strength"] = [
        strength(v, pp.association_levels, p, alpha) for v, p in zip(out.cramers_v, out.p_value, strict=True)
    ]
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
    """Groups (rows) x categories (columns: demo order, then the others) of one dimension of
    `group_categories`."""
    d = cats[cats.dimension == dimension]
    m = d.pivot(index="grp", columns="category", values=value)
    return m[[c for c in CATEGORIES if c in m.columns] + sorted(c for c in m.columns if c not in CATEGORIES)]


# --------------------------------------------------------------------------- behaviour clusters


def feature_matrix(features: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """The chosen features, transformed: shares -> sqrt (Hellinger), AOV and order counts -> log.

    Shares (incl. every cat_<category>) near 0 and 1 get room (sqrt); money and counts are skewed
    (log). Standardising follows.
    """
    cols = []
    for n in names:
        x = features[n].astype(float).to_numpy()
        if n in SHARE_FEATURES or n.startswith("cat_"):
            x = np.sqrt(np.clip(x, 0, 1))
        elif n in LOG_FEATURES:
            x = np.log(np.maximum(x, 1e-6))
        cols.append(x)
    return np.column_stack(cols) if cols else np.empty((len(features), 0))


def cluster_features(
    features: pd.DataFrame, pp: PersonaParams, fit: np.ndarray
) -> tuple[list[str], list[str]]:
    """The params' features usable on this data, and a note for each one left out.

    Categories are the chain's own: a cat_<category> the data lacks is left out; when the params
    name categories but none is in the data, the categories present are used instead. A feature
    the same for every fitted user (e.g. online_share when every order is online) is left out.
    """
    wanted, notes = list(pp.features), []
    present_cats = category_columns(features)
    named = [f for f in wanted if f.startswith("cat_")]
    if named and present_cats and not set(named) & set(present_cats):
        wanted = [f for f in wanted if not f.startswith("cat_")] + present_cats
        notes.append(T("left_out_categories"))
    absent = [f for f in wanted if f not in features.columns]
    if absent:
        notes.append(T("left_out_absent", features=_feature_list(absent)))
    usable = [f for f in wanted if f in features.columns]
    x = feature_matrix(features[fit], usable)
    constant = [f for f, col in zip(usable, x.T, strict=True) if len(col) == 0 or np.ptp(col) < 1e-9]
    if constant:
        notes.append(T("left_out_constant", features=_feature_list(constant)))
    return [f for f in usable if f not in constant], notes


@dataclass(frozen=True)
class Clustering:
    """Behaviour clusters of the buyers of the feature window, or the reason there are none."""

    assignment: pd.DataFrame  # user_id, cluster (1 = largest) of the clustered buyers (>= min_orders orders)
    silhouette: pd.Series  # silhouette of the seeded sample by k
    k: int  # 0 when skipped
    n_fitted: int  # users with >= min_orders orders, on whom the clusters were fitted
    n_too_new: int  # buyers with fewer orders: not clustered, the "too new to profile" group
    explained_variance: float  # share of the standardised features' variance the components keep
    features: tuple[str, ...] = ()  # the features clustered on
    left_out: tuple[str, ...] = ()  # params features left out, each with its reason
    reason: str = ""  # why there are no clusters ('' when there are)

    @property
    def ok(self) -> bool:
        return not self.reason

    def note(self) -> str:
        """One sentence on the features left out ('' when none was)."""
        return T("left_out", items="; ".join(self.left_out)) if self.left_out else ""


def _skipped(reason: str, n_fitted: int, n_too_new: int, left_out: Sequence[str] = ()) -> Clustering:
    empty = pd.DataFrame({"user_id": [], "cluster": pd.Series([], dtype=int)})
    sil = pd.Series([], name="silhouette", dtype=float).rename_axis("k")
    return Clustering(empty, sil, 0, n_fitted, n_too_new, float("nan"), (), tuple(left_out), reason)


def cluster_users(features: pd.DataFrame, pp: PersonaParams) -> Clustering:
    """k-means on standardised (and whitened principal-component) features; k by silhouette.

    Only users with at least `min_orders` orders are clustered; users with fewer are not assigned
    (too new to profile: a few orders say little about a habit; `n_too_new` counts them). For each k in [k_min, k_max] with at least 10 fitted users
    per cluster, k-means (seeded, n_init restarts) runs on all fitted users and the silhouette is
    measured on a seeded sample of them; the best k wins (ties: the smaller). Clusters are
    numbered by fitted size, largest first, so the assignment is the same for the same data,
    params and seed. Skipped (k = 0, `reason` set) with fewer than 10 x k_min fitted users, fewer
    than two usable features or fewer than k_min distinct fitted profiles.
    """
    fit = (features.n_orders >= pp.min_orders).to_numpy()
    n_fit = int(fit.sum())
    n_new = len(fit) - n_fit
    if n_fit < pp.k_min * 10:
        return _skipped(
            T("cluster_reason.few", need=pp.k_min * 10, min=pp.min_orders, k=pp.k_min, n=n_fit),
            n_fit,
            n_new,
        )
    names, left_out = cluster_features(features, pp, fit)
    if len(names) < 2:
        return _skipped(
            T("cluster_reason.features", n=len(names)),
            n_fit,
            n_new,
            left_out,
        )
    x = feature_matrix(features, names)
    z = StandardScaler().fit(x[fit]).transform(x)
    explained = 1.0
    if 0 < pp.pca_components < x.shape[1]:
        pca = PCA(n_components=pp.pca_components, whiten=True, random_state=pp.seed).fit(z[fit])
        explained = float(pca.explained_variance_ratio_.sum())
        z = pca.transform(z)
    zf = z[fit]
    k_hi = min(pp.k_max, n_fit // 10, len(np.unique(zf.round(9), axis=0)) - 1)
    if k_hi < pp.k_min:
        return _skipped(
            T(
                "cluster_reason.profiles",
                need=pp.k_min + 1,
                n=n_fit,
                have=len(np.unique(zf.round(9), axis=0)),
            ),
            n_fit,
            n_new,
            left_out,
        )
    rng = np.random.default_rng(pp.seed)
    sample = np.sort(rng.choice(len(zf), size=min(pp.silhouette_sample, len(zf)), replace=False))
    models, sil = {}, {}
    # one thread: on a small shared machine OpenMP threads contend and run ~10x slower
    with threadpool_limits(limits=1):
        # the sample's distances once for every k (the same numbers silhouette_score computes from
        # the points in one chunk), unless the matrix would be large
        dist = pairwise_distances(zf[sample]) if len(sample) <= SILHOUETTE_MATRIX_MAX else None
        for k in range(pp.k_min, k_hi + 1):  # a handful of k values
            km = KMeans(n_clusters=k, n_init=pp.n_init, random_state=pp.seed).fit(zf)
            models[k] = km
            labels = km.labels_[sample]
            ok = 1 < len(np.unique(labels)) < len(sample)
            if not ok:
                sil[k] = float("nan")
            elif dist is not None:
                sil[k] = float(silhouette_score(dist, labels, metric="precomputed"))
            else:
                sil[k] = float(silhouette_score(zf[sample], labels))
    silhouette = pd.Series(sil, name="silhouette").rename_axis("k")
    if silhouette.isna().all():
        return _skipped(
            T("cluster_reason.spread"),
            n_fit,
            n_new,
            left_out,
        )
    best = int(silhouette.idxmax())
    km = models[best]
    sizes = np.bincount(km.labels_, minlength=best)
    order = np.lexsort((np.arange(best), -sizes))  # largest first, ties by raw label
    relabel = np.empty(best, dtype=int)
    relabel[order] = np.arange(1, best + 1)
    assignment = pd.DataFrame({"user_id": features.user_id.to_numpy()[fit], "cluster": relabel[km.labels_]})
    return Clustering(assignment, silhouette, best, n_fit, n_new, explained, tuple(names), tuple(left_out))


def silhouette_note(clustering: Clustering, pp: PersonaParams) -> str:
    """The chosen k's silhouette against the others tried, and a warning when it is weak (< silhouette_weak)."""
    from userops import i18n

    sil = clustering.silhouette.dropna()
    best = float(sil[clustering.k])
    tried = i18n.t("common.list_sep").join(T("silhouette_item", k=k, v=f"{v:.2f}") for k, v in sil.items())
    text = T("silhouette", k=clustering.k, best=f"{best:.2f}", tried=tried)
    if best < pp.silhouette_weak:
        text += T("silhouette_weak", weak=f"{pp.silhouette_weak:.2f}")
    return text


def cluster_profiles(features: pd.DataFrame, clustering: Clustering) -> pd.DataFrame:
    """Per cluster (and 'all'): users, orders per user, AOV, recency, online / coupon / weekend
    shares, time-of-day shares (of orders) and category shares (of lines), order-weighted.
    """
    f = features.merge(clustering.assignment, on="user_id")
    f["cluster"] = f["cluster"].astype(str)
    every = f.assign(cluster="all")
    both = pd.concat([f, every], ignore_index=True)
    share_cols = ["online_share", "coupon_share", "weekend_share"] + [f"tod_{t}" for t in TIMES]
    cat_cols = category_columns(features)
    w = both[share_cols + cat_cols].mul(both.n_orders, axis=0)  # order-weighted (line shares too)
    w["cluster"] = both.cluster
    sums = w.groupby("cluster").sum()
    g = both.groupby("cluster")
    n_orders = g.n_orders.sum()
    prof = sums.div(n_orders, axis=0)
    if cat_cols:
        lines = prof[cat_cols].sum(axis=1)
        prof[cat_cols] = prof[cat_cols].div(lines.where(lines > 0), axis=0).fillna(0.0)
    prof.insert(0, "users", g.size())
    prof.insert(2, "orders_per_user", n_orders / g.size())
    prof.insert(3, "aov", g.gmv.sum() / n_orders)
    prof.insert(4, "recency_days", g.recency_days.mean())
    prof.insert(1, "user_share", prof.users / len(f))
    idx = sorted((c for c in prof.index if c != "all"), key=int) + ["all"]
    return prof.loc[idx].rename_axis("cluster")


def _list(words: Sequence[str]) -> str:
    from userops import i18n

    return i18n.t("persona.category_sep").join(words)


def cluster_name(row: pd.Series, overall: pd.Series, pp: PersonaParams) -> str:
    """A readable name from a cluster profile compared with all buyers.

    "<channel> <time> <categories> buyers[, big baskets | small baskets][, frequent]":
    channel = online (online share >= online_share_high), in-store (<= online_share_low) or
    omnichannel, left out when all buyers order through one kind of channel only; time = the
    cluster's busiest time of day, prefixed "weekend" when its weekend share is at least
    name_lift x the overall; categories (the cat_* entries of the profile, none without them) = up
    to two whose line share is at least name_lift x the overall (largest share first), else the
    single largest; baskets when the AOV is >= name_lift x (or <= 1 / name_lift x) the overall;
    frequent when orders per user are >= name_lift x the overall.
    """
    from userops import i18n

    words = []
    if 0 < overall.online_share < 1:
        if row.online_share >= pp.online_share_high:
            words.append(i18n.t("persona.online"))
        elif row.online_share <= pp.online_share_low:
            words.append(i18n.t("persona.in_store"))
        else:
            words.append(i18n.t("persona.omnichannel"))
    tod = row[[f"tod_{t}" for t in TIMES]].astype(float).to_numpy()
    time = i18n.t(f"persona.time.{TIMES[int(tod.argmax())]}")
    if row.weekend_share >= pp.name_lift * overall.weekend_share:
        time = i18n.t("persona.weekend", time=time)
    words.append(time)
    cat_cols = [c for c in row.index if str(c).startswith("cat_")]
    if cat_cols:
        share = pd.Series({c[4:]: float(row[c]) for c in cat_cols})
        base = pd.Series({c[4:]: float(overall[c]) for c in cat_cols})
        lift = share / base.replace(0, np.nan)
        distinct = share[lift >= pp.name_lift].sort_values(ascending=False, kind="stable")
        cats = list(distinct.index[:2]) if len(distinct) else [share.idxmax()]
        en = i18n.language() == "en"
        words.append(_list([CATEGORY_WORDS.get(c, c) if en else category_label(c) for c in cats]))
    name = i18n.t("persona.buyers", words=i18n.t("persona.word_sep").join(words))
    if row.aov >= pp.name_lift * overall.aov:
        name += i18n.t("persona.big")
    elif row.aov <= overall.aov / pp.name_lift:
        name += i18n.t("persona.small")
    if row.orders_per_user >= pp.name_lift * overall.orders_per_user:
        name += i18n.t("persona.frequent")
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
    rp: RecallParams,
) -> pd.DataFrame:
    """Right people, right content, right time: one row per cluster, each from its own data.

    content = the cluster's two categories with the most line GMV ('' without order lines), its
    coupon sensitivity (share of its orders with a coupon against all clustered buyers': high at
    >= name_lift x, low at <= 1 / name_lift x, 'n/a' when nobody used a coupon) and, unless that is
    low, the coupon kind it redeems best (highest redemption, above 0, of closed coupons among kinds
    other than the new-user pack, which only new users get, with >= min_group_users closed coupons;
    'n/a' without such coupons); time = peak weekday and hour; channel = a channel the CRM sends
    on (the recall params: channel_store_active when at least recall.offline_share of its orders
    are in store, else channel_online); order_channel = the order channel most of its orders use.
    """
    c = cats[(cats.dimension == "cluster") & (cats.gmv > 0)].sort_values(
        ["grp", "gmv", "category"], ascending=[True, False, True]
    )
    top = c.groupby("grp").head(2).groupby("grp").category.agg(list)
    pk = peaks(time[time.dimension == "cluster"]).set_index("grp")
    ch = channels.sort_values(["cluster", "orders", "order_channel"], ascending=[True, False, True])
    ch_top = ch.groupby("cluster").head(1).set_index("cluster")
    base = float(profiles.loc["all", "coupon_share"])
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
            k = k[k.redemption_rate > 0]  # a kind nobody redeemed is no content to push
            if len(k) and sensitivity(float(profiles.loc[cl, "coupon_share"]), base, pp) != "low":
                best = k.sort_values(["redemption_rate", "kind"], ascending=[False, True]).iloc[0]
                kind, rate = best.kind, float(best.redemption_rate)
        cl_cats = top.get(cl, [])
        rows.append(
            dict(
                cluster=int(cl),
                persona=names[cl],
                users=int(profiles.loc[cl, "users"]),
                top_category=cl_cats[0] if cl_cats else "",
                second_category=cl_cats[1] if len(cl_cats) > 1 else "",
                coupon_share=float(profiles.loc[cl, "coupon_share"]),
                coupon_sensitivity=sensitivity(float(profiles.loc[cl, "coupon_share"]), base, pp),
                coupon_kind=kind,
                coupon_redemption=rate,
                peak_weekday=pk.loc[cl, "peak_weekday"],
                peak_hour=int(pk.loc[cl, "peak_hour"]),
                channel=(
                    rp.channel_store_active
                    if 1 - float(profiles.loc[cl, "online_share"]) >= rp.offline_share
                    else rp.channel_online
                ),
                order_channel=ch_top.loc[int(cl), "order_channel"],
                online_share=float(profiles.loc[cl, "online_share"]),
            )
        )
    out = pd.DataFrame(rows)
    out["content"] = [_content(r) for r in out.itertuples()]
    out["time"] = out.peak_weekday + " " + out.peak_hour.astype(str).str.zfill(2) + ":00"
    return out


def sensitivity(share: float, overall: float, pp: PersonaParams) -> str:
    """Coupon sensitivity of a group: 'high' / 'average' / 'low' coupon-order share against all
    clustered buyers' (name_lift either way), 'n/a' when no buyer used a coupon."""
    if not overall > 0:
        return "n/a"
    if share >= pp.name_lift * overall:
        return "high"
    return "low" if share <= overall / pp.name_lift else "average"


def _content(row) -> str:
    """'fresh + cooking · coupon repurchase' from a pct_table row (parts the data lacks left out);
    a cluster with low coupon use gets 'full price' instead of a coupon (report language)."""
    from userops import i18n

    parts = " + ".join(category_label(c) for c in (row.top_category, row.second_category) if c)
    if row.coupon_sensitivity == "low":
        coupon = T("pct.full_price")
    else:
        kind = i18n.name("coupon_kind", row.coupon_kind)
        coupon = T("pct.coupon", kind=kind) if row.coupon_kind != "n/a" else ""
    return " · ".join(p for p in (parts, coupon) if p) or "–"


def pct_actions(playbook: pd.DataFrame) -> list[str]:
    """One action per cluster of `pct_table`: what to push (categories, coupon), where and when.

    Only the parts the data supports: no categories without order lines, no coupon without a
    redemption rate.
    """
    from userops import i18n
    from userops import narrative as nv

    out = []
    for row in playbook.itertuples():  # one per cluster
        cats = [category_label(c) for c in (row.top_category, row.second_category) if c]
        what = i18n.t("persona.push", categories=_list(cats)) if cats else i18n.t("persona.reach")
        if row.coupon_sensitivity == "low":
            what += i18n.t("persona.full_price")
        elif row.coupon_kind != "n/a" and not np.isnan(row.coupon_redemption):
            kind = i18n.name("coupon_kind", row.coupon_kind)
            what += i18n.t("persona.with_coupon", kind=kind, rate=nv.pct(row.coupon_redemption))
        kind = "campaign_channel" if i18n.known("campaign_channel", row.channel) else "order_channel"
        out.append(
            i18n.t(
                "persona.action",
                persona=row.persona,
                cluster=row.cluster,
                users=f"{row.users:,}",
                what=what,
                channel=i18n.name_in_text(kind, row.channel),
                weekday=i18n.t(f"persona.weekday.{row.peak_weekday}"),
                hour=row.peak_hour,
            )
        )
    return out


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
    """Per cluster: the most common level of each known attribute (`known_attributes`) and its
    share of the cluster's users."""
    f = features.merge(clustering.assignment, on="user_id")
    out = {}
    for attr in known_attributes(features):  # at most four attributes
        t = pd.crosstab(f.cluster, f[attr], normalize="index")
        out[attr] = t.idxmax(axis=1)
        out[f"{attr}_share"] = t.max(axis=1)
    out = pd.DataFrame(out, index=sorted(f.cluster.unique()))
    out.index = out.index.astype(str)
    return out.rename_axis("cluster")


def cluster_table(prof: pd.DataFrame, names: pd.Series, typical: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The clusters with their size, orders, AOV and the most common level of the first two known
    attributes, ready for charts.table_html: (frame, formats). Attributes the data lacks have no
    columns."""
    tab = prof.drop("all").join(typical, how="left")
    tab["name"] = names
    tab["cluster"] = tab.index
    keys = {"cluster": "cluster", "name": "name", "users": "users", "user_share": "share",
            "orders_per_user": "orders", "aov": "aov"}  # fmt: skip
    cols = {c: T(f"cluster_table.{k}") for c, k in keys.items()}
    formats = {
        cols["users"]: "int",
        cols["user_share"]: "pct",
        cols["orders_per_user"]: "float1",
        cols["aov"]: "yuan",
    }
    for attr in [a for a in ATTRIBUTES if a in typical.columns][:2]:  # two keep the table readable
        shares = [_share1(x) for x in tab[f"{attr}_share"]]
        tab[attr] = [
            T("cluster_table.of_users", level=level_label(v), share=sh)
            for v, sh in zip(tab[attr], shares, strict=True)
        ]
        cols[attr] = T("cluster_table.typical", attribute=attribute_label(attr))
    return tab[list(cols)].rename(columns=cols), formats


def user_personas(
    clustering: Clustering,
    names: pd.Series,
    features: pd.DataFrame,
    rfm_users: pd.DataFrame,
    pp: PersonaParams,
) -> pd.DataFrame:
    """The CRM list, every buyer of the feature window: user_id, cluster, persona name, RFM segment
    and value tier. Buyers with fewer than min_orders orders are not clustered: cluster 0, persona
    = too_new_label."""
    a = features[["user_id"]].merge(clustering.assignment, on="user_id", how="left")
    a["cluster"] = a.cluster.fillna(0).astype(int)
    a["persona"] = a.cluster.astype(str).map(names).fillna(pp.too_new_label)
    a = a.merge(rfm_users[["user_id", "segment", "tier"]], on="user_id", how="left")
    return a[["user_id", "cluster", "persona", "segment", "tier"]]


# --------------------------------------------------------------------------- play-specific charts

PROFILE_COLUMNS = {
    "orders_per_user": ("orders / user", "float1"),
    "aov": ("AOV", "yuan"),
    "online_share": ("online", "pct"),
    "weekend_share": ("weekend", "pct"),
    "coupon_share": ("coupon orders", "pct"),
    **{f"tod_{t}": (f"{t} {TIME_HOURS[t]}", "pct") for t in TIMES},
}


def profile_columns(prof: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """The measures of `cluster_profiles` shown in the heatmap (label, format): the profile measures and
    every category, without measures the same for every cluster (e.g. online when all orders are)."""
    base = {
        "orders_per_user": (T("cluster_chart.orders"), "float1"),
        "aov": (T("cluster_chart.aov"), "yuan"),
        "online_share": (T("cluster_chart.online"), "pct"),
        "weekend_share": (T("cluster_chart.weekend"), "pct"),
        "coupon_share": (T("cluster_chart.coupon"), "pct"),
        **{f"tod_{t}": (T(f"time.{t}", hours=TIME_HOURS[t]), "pct") for t in TIMES},
    }
    cols = {**base, **{c: (category_label(c[4:]), "pct") for c in category_columns(prof)}}
    vals = prof[list(cols)].astype(float)
    varies = (vals.max() - vals.min()) > 1e-9
    return {c: v for c, v in cols.items() if varies[c]}


def profile_heatmap(prof: pd.DataFrame, ax):
    """Profile measures (rows) x clusters (columns): cells show the value, colour its ratio to all buyers.

    Blue = above the all-buyer value, red = below (log2 of the ratio, clipped to +/- 1.5). The
    last column is all buyers. Measures equal in every cluster are left out.
    """
    import seaborn as sns

    from userops import charts

    shown = profile_columns(prof)
    cols = list(shown)
    vals = prof[cols].astype(float)
    rel = vals / prof.loc["all", cols].astype(float).replace(0, np.nan)
    ratio = np.log2(rel.clip(lower=2**-1.5))  # a cluster at 0 is as red as the scale goes
    labels = np.empty(vals.shape, dtype=object)
    for j, c in enumerate(cols):  # columns (about 17 measures), not users
        f = charts.FORMATTERS[shown[c][1]]
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
        np.arange(len(prof)) + 0.5,
        [T("cluster_chart.cluster", c=c) if c != "all" else T("cluster_chart.all") for c in prof.index],
    )
    ax.set_yticks(np.arange(len(cols)) + 0.5, [shown[c][0] for c in cols], rotation=0)
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
        (-h / 2, "online", charts.ACCENT, T("aov_chart.online")),
        (h / 2, "offline", charts.PALETTE[1], T("aov_chart.offline")),
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


# --------------------------------------------------------------------------- attribute personas


def scenes_sentence(scenes: pd.Series) -> str:
    """The finding on what buyers buy: categories by share of line GMV, largest first."""
    from userops import i18n

    parts = [
        T("scenes.item", category=i18n.name_in_text("category", c), share=_share1(v))
        for c, v in scenes.items()
    ]
    if len(parts) == 1:
        return T("scenes.one", category=parts[0])
    lead = T("scenes.lead", first=parts[0], second=parts[1])
    rest = i18n.t("common.list_sep").join(
        T("scenes.rest_item", category=i18n.name_in_text("category", c), share=_share1(v))
        for c, v in scenes.iloc[2:].items()
    )
    return lead + (T("scenes.rest", rest=rest) if rest else T("scenes.end"))


def level_order(features: pd.DataFrame, attr: str, pp: PersonaParams) -> list[str]:
    """Levels of `attr` in display order: age bands by age, other attributes by users (most
    first, 'others' and 'unknown' last)."""
    counts = features[attr].value_counts()
    if attr == "age_band":
        return [a for a in age_band_order(pp) if a in counts.index]
    named = counts.drop(["others", "unknown"], errors="ignore").sort_index()
    named = named.sort_values(ascending=False, kind="stable")
    return list(named.index) + [x for x in ("others", "unknown") if x in counts.index]


@dataclass(frozen=True)
class LargestLevel:
    """The largest known level of an attribute and what it buys most."""

    attribute: str
    level: str
    share: float  # of all buyers
    category: str
    category_share: float  # of the level's line GMV

    @property
    def sentence(self) -> str:
        return T(
            "largest",
            level=level_label(self.level),
            attribute=attribute_label(self.attribute),
            share=_share1(self.share),
            category=category_label(self.category),
            category_share=_share1(self.category_share),
        )


def largest_level(features: pd.DataFrame, attr: str, cats: pd.DataFrame) -> LargestLevel:
    """The most common known level of `attr` (ties: alphabetical) and its top category by GMV."""
    counts = features[attr][~features[attr].isin(["unknown", "others"])].value_counts()
    counts = counts.sort_index().sort_values(ascending=False, kind="stable")
    level = counts.index[0]
    row = category_matrix(cats, attr).loc[level].fillna(0.0)
    top = row.idxmax()
    return LargestLevel(attr, level, float(counts.iloc[0] / len(features)), top, float(row[top]))


def attribute_heatmap(
    cats: pd.DataFrame, features: pd.DataFrame, attr: str, assoc: pd.DataFrame, pp: PersonaParams, ax
):
    """Levels of `attr` (rows, with their users) x categories: each level's share of line GMV.

    The title gives Cramér's V of the attribute with the top category when it is measurable.
    """
    from userops import charts

    order = level_order(features, attr, pp)
    m = category_matrix(cats, attr).reindex(order).rename(columns=category_label)
    n = features[attr].value_counts()
    m.index = [T("heatmap.row", level=level_label(i), n=f"{n[i]:,}") for i in m.index]
    charts.heatmap_masked(m, None, ax=ax, fmt="pct", cmap="Blues")
    ax.set_xticklabels(ax.get_xticklabels(), rotation=35, ha="right")
    who = attribute_label(attr)
    ax.set_ylabel(who)
    ax.set_xlabel("")
    link = assoc[(assoc.attribute == attr) & (assoc.behaviour == "top category")]
    title = T("heatmap.by", attribute=who)
    if len(link):
        v, strength = f"{link.cramers_v.iloc[0]:.2f}", word("strength", link.strength.iloc[0])
        title = T("heatmap.by_v", attribute=who, v=v, strength=strength)
    ax.set_title(title, fontsize=10, loc="left")
    return ax


def needs_behaviour_spread() -> str:
    """Why no attribute link can be measured although attributes are known."""
    return T("needs_behaviour_spread")


def attribute_summary(features: pd.DataFrame, by: str, pp: PersonaParams) -> tuple[pd.DataFrame, dict]:
    """Per level of `by` (display order): users, orders per user, AOV, online share, online and
    in-store AOV (only the kinds of channel the data has) and peak time; (frame, formats) ready for
    charts.table_html (headers and values in the report language)."""
    s = group_summary(features, by, pp.ci_level).set_index(by).reindex(level_order(features, by, pp))
    cols = {by: attribute_label(by), "users": T("summary_table.users"), "orders_per_user": T("summary_table.orders"),
            "aov": T("summary_table.aov")}  # fmt: skip
    formats = {cols["users"]: "int", cols["orders_per_user"]: "float1", cols["aov"]: "yuan"}
    kinds = channel_kinds(features)
    if len(kinds) == 2:
        cols["online_share"] = T("summary_table.online_share")
        formats[cols["online_share"]] = "pct"
        for kind in ("online", "offline"):
            cols[f"{kind}_aov"] = T(f"summary_table.{kind}_aov")
            formats[cols[f"{kind}_aov"]] = "yuan"
    cols["peak_time"] = T("summary_table.peak")
    out = s.reset_index()
    out[by] = out[by].map(level_label)
    out["peak_time"] = [T(f"time.{t}", hours=TIME_HOURS[t]) if t in TIME_HOURS else t for t in out.peak_time]
    return out[list(cols)].rename(columns=cols), formats


# --------------------------------------------------------------------------- findings


def needs_clusters(what: str) -> str:
    """The sentence of a section built on behaviour clusters when there are none."""
    return T("needs_clusters", what=what)


def channel_findings(csum: pd.DataFrame, p: Period) -> str:
    """The finding under the online vs in-store AOV chart, from `group_summary` by cluster (with
    `name`): clusters whose online and in-store intervals are apart, the cluster that uses both
    channels most, and the cluster whose report-month online share moved most."""
    from userops import i18n
    from userops import narrative as nv

    sep = csum[(csum.online_aov_low > csum.offline_aov_high) | (csum.offline_aov_low > csum.online_aov_high)]
    msg = T("channel.apart", n=len(sep), k=len(csum))
    if len(sep):
        items = i18n.t("common.list_sep").join(
            T("channel.apart_item", c=r.cluster, online=nv.yuan(r.online_aov), offline=nv.yuan(r.offline_aov))
            for r in sep.itertuples()
        )
        msg += T("channel.apart_list", items=items)
    omni = csum.sort_values("omni_share").iloc[-1]
    msg += T("channel.omni", share=nv.pct(omni.omni_share), c=omni.cluster, name=omni["name"])
    shift = csum.assign(d=csum.month_online_share - csum.online_share).dropna(subset=["d"])
    if len(shift):
        mover = shift.assign(ad=shift.d.abs()).sort_values("ad").iloc[-1]
        msg += T(
            "channel.shift",
            c=mover.cluster,
            month_share=nv.pct(mover.month_online_share),
            month=i18n.month_short(p),
            share=nv.pct(mover.online_share),
            diff=nv.pp(mover.d),
        )
    return msg


def association_sentence(assoc: pd.DataFrame, pp: PersonaParams) -> str:
    """The finding under the attribute-link table of `associations`: the strongest significant link
    and the links too weak (or too uncertain) to act on."""
    from userops import i18n

    real = assoc[~assoc.strength.isin(["negligible", "not significant"])]
    n = f"{int(assoc.n.max()):,}"
    sep = i18n.t("common.list_sep")
    if len(real):
        top = real.iloc[0]
        msg = T(
            "assoc.top", link=_link(top), v=f"{top.cramers_v:.2f}", strength=word("strength", top.strength)
        )
    else:
        msg = T("assoc.none", level=f"{pp.ci_level:.0%}", n=n)
    weak = assoc[assoc.strength == "negligible"]
    if len(weak):
        msg += T(
            "assoc.weak",
            v=f"{pp.association_levels[0]:.2f}",
            links=sep.join(_link(r) for r in weak.itertuples()),
        )
    unsure = assoc[assoc.strength == "not significant"]
    if len(unsure):
        msg += T("assoc.unsure", n=n, links=sep.join(_link(r) for r in unsure.itertuples()))
    return msg.strip()


def T(key: str, **fields) -> str:
    """A text of play 05 in the report language (lib/userops/i18n/<lang>/persona.yaml)."""
    from userops import i18n

    return i18n.t(f"persona_report.{key}", **fields)


def attribute_label(attr: str) -> str:
    """An attribute's display name ('age band' / '年龄段'); a column the catalog does not know as written."""
    from userops import i18n

    try:
        return T(f"attribute.{attr}")
    except i18n.MissingTranslation:
        return attr


def level_label(value) -> str:
    """An attribute level as the reader knows it ('F' -> 'female' / '女'); cities and bands as written."""
    from userops import i18n

    text = str(value)
    try:
        return T(f"level.{text}")
    except i18n.MissingTranslation:
        return text


def word(group: str, value) -> str:
    """A catalog word of `group` (behaviour, strength, sensitivity) for a code value; unknown as written."""
    from userops import i18n

    try:
        return T(f"{group}.{value}")
    except i18n.MissingTranslation:
        return str(value)


def _share1(x: float) -> str:
    from userops import narrative as nv

    return nv.pct(x)


def sensitivity_label(value: str) -> str:
    """A coupon sensitivity ('high' / 'average' / 'low' / 'n/a') in the report language."""
    return word("sensitivity", value)


def _link(r) -> str:
    return T("assoc.link", attribute=attribute_label(r.attribute), behaviour=word("behaviour", r.behaviour))


def feature_label(feature: str) -> str:
    """A clustering feature as the reader knows it ('online_share' -> 'online'); the chain's own as written."""
    if feature.startswith("cat_"):
        return category_label(feature[4:])
    if feature.startswith("tod_") and feature[4:] in TIME_HOURS:
        return T(f"time.{feature[4:]}", hours=TIME_HOURS[feature[4:]])
    known = {"orders_per_user": "orders", "n_orders": "orders", "aov": "aov", "online_share": "online",
             "weekend_share": "weekend", "coupon_share": "coupon"}  # fmt: skip
    return T(f"cluster_chart.{known[feature]}") if feature in known else feature


def _feature_list(features) -> str:
    from userops import i18n

    return i18n.t("common.list_sep").join(feature_label(f) for f in features)
