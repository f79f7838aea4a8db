"""Play 3: active-user incentives (促活). SQL in sql/activity/, statistics added here.

Each function takes an open warehouse connection, the report Period and the activity params
(`ActivityParams`) and returns a small DataFrame or dataclass ready to plot or print.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from userops import campaigns, i18n, money
from userops import narrative as nv
from userops.campaigns import ReminderEffect, coupon_reminder_effect
from userops.db import query, query_once
from userops.experiment import assign_arms
from userops.outputs import global_holdout_users
from userops.params import ActivityParams, DataParams
from userops.period import Period
from userops.stats import km_curve


def trend_start(p: Period, ap: ActivityParams) -> Period:
    """First month of the trend window (the report month is the last of `trend_months`)."""
    return p.shift(-(ap.trend_months - 1))


# --------------------------------------------------------------------------- activity


def activity_trend(con, p: Period, ap: ActivityParams) -> pd.DataFrame:
    """Avg DAU, avg WAU, MAU and stickiness per month x definition ('orders', 'events')."""
    return query("activity/active_users_trend", con, from_date=trend_start(p, ap).start, to_date=p.end)


def active_days(con, p: Period) -> pd.DataFrame:
    """The month's active users by number of active days, per definition (zero-filled 1..days)."""
    return query("activity/active_days_distribution", con, from_date=p.start, to_date=p.end)


def activity_segments(con, p: Period, dp: DataParams) -> pd.DataFrame:
    """Order-based MAU, active share and DAU/MAU per acquisition channel, city and online/offline."""
    return query(
        "activity/activity_by_segment",
        con,
        from_date=p.start,
        to_date=p.end,
        offline_channels=list(dp.offline_order_channels),
    )


def bucket_days(dist: pd.DataFrame, edges=(1, 2, 3, 5, 8, 15)) -> pd.DataFrame:
    """Active-day counts grouped into readable buckets ('1', '2', '3-4', '5-7', '8-14', '15+')."""
    labels = []
    for lo, hi in zip(edges, list(edges[1:]) + [None], strict=True):
        labels.append(f"{lo}+" if hi is None else (str(lo) if hi == lo + 1 else f"{lo}-{hi - 1}"))
    bins = list(edges) + [np.inf]
    out = dist.copy()
    out["bucket"] = pd.cut(out["active_days"], bins=bins, right=False, labels=labels)
    return out.groupby(["definition", "bucket"], observed=False, as_index=False)["users"].sum()


# --------------------------------------------------------------------------- repurchase


def repurchase(con, p: Period, ap: ActivityParams, dp: DataParams) -> pd.DataFrame:
    """Repurchase within N days of the month's first order, per month x dimension x segment.

    Adds `is_mature` (every buyer observed for the whole window) and Wilson-free raw rates; the
    latest mature month is the headline (the report month is never mature for N >= 1).
    """
    df = query_once(
        "activity/repurchase_within",
        con,
        from_date=trend_start(p, ap).start,
        to_date=p.end,
        days=ap.repurchase_days,
        as_of=p.as_of,
        offline_channels=list(dp.offline_order_channels),
    )
    df["is_mature"] = (df["eligible"] == df["buyers"]) & (df["buyers"] > 0)
    return df


def latest_mature_month(rep: pd.DataFrame) -> pd.Timestamp | None:
    """The latest month whose 'all' row is mature (None when none is)."""
    m = rep[(rep.dimension == "all") & rep.is_mature]
    return pd.Timestamp(m.month.max()) if len(m) else None


def order_frequency(con, p: Period, ap: ActivityParams, dp: DataParams) -> pd.DataFrame:
    """Buyers by orders in the month, with the tail bucketed at `max_orders_bucket`+ orders.

    Columns: dimension, segment, orders ('1', '2', ..., 'N+'), users, share (of the segment).
    """
    df = _frequency(con, p, dp)
    k = ap.max_orders_bucket
    df["orders"] = np.where(df["n_orders"] >= k, f"{k}+", df["n_orders"].astype(str))
    out = df.groupby(["dimension", "segment", "orders"], as_index=False)["users"].sum()
    out["share"] = out["users"] / out.groupby(["dimension", "segment"])["users"].transform("sum")
    order = {str(i): i for i in range(1, k)} | {f"{k}+": k}
    return out.sort_values(
        ["dimension", "segment", "orders"], key=lambda s: s.map(order) if s.name == "orders" else s
    )


def _frequency(con, p: Period, dp: DataParams) -> pd.DataFrame:
    return query_once(
        "activity/order_frequency",
        con,
        from_date=p.start,
        to_date=p.end,
        offline_channels=list(dp.offline_order_channels),
    )


def order_gaps(con, p: Period, dp: DataParams) -> pd.DataFrame:
    """Mean / median days since the previous order, for the month's repeat orders, per segment."""
    return query_once(
        "activity/order_gaps",
        con,
        from_date=p.start,
        to_date=p.end,
        offline_channels=list(dp.offline_order_channels),
    )


def segment_summary(con, p: Period, ap: ActivityParams, dp: DataParams) -> pd.DataFrame:
    """One row per segment of acquisition channel and online/offline: MAU, DAU/MAU, repurchase, gaps.

    repurchase_rate is for the latest mature month (see `repurchase`); orders_per_buyer is the
    mean of the month's orders per buyer; flag_small marks segments under `min_segment_users`.
    """
    seg = activity_segments(con, p, dp)
    rep = repurchase(con, p, ap, dp)
    mature = latest_mature_month(rep)
    r = (
        rep[rep.month == mature][["dimension", "segment", "eligible", "repurchase_rate"]]
        if mature is not None
        else None
    )
    freq = _frequency(con, p, dp)
    freq["orders"] = freq["n_orders"] * freq["users"]
    opb = freq.groupby(["dimension", "segment"], as_index=False)[["orders", "users"]].sum()
    opb["orders_per_buyer"] = opb["orders"] / opb["users"]
    gaps = order_gaps(con, p, dp)[["dimension", "segment", "mean_days", "median_days"]]
    out = seg[seg.dimension.isin(["all", "acquisition_channel", "online_offline"])]
    out = out.merge(
        opb[["dimension", "segment", "orders_per_buyer"]], how="left", on=["dimension", "segment"]
    )
    out = out.merge(gaps, how="left", on=["dimension", "segment"])
    if r is not None:
        out = out.merge(r, how="left", on=["dimension", "segment"])
    out["flag_small"] = out["mau"] < ap.min_segment_users
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- repurchase coupons


def repurchase_coupons(con, p: Period, ap: ActivityParams, dp: DataParams) -> pd.DataFrame:
    """Repurchase coupons per issue month: issued, redeemed within N days, redeemed in validity."""
    df = query(
        "activity/repurchase_coupons",
        con,
        from_date=trend_start(p, ap).start,
        to_date=p.end,
        days=ap.coupon_redeem_days,
        as_of=p.as_of,
        repurchase_kinds=list(dp.repurchase_coupon_kinds),
    )
    df["rate_within_days"] = df["redeemed_within_days"] / df["eligible_days"].where(df["eligible_days"] > 0)
    df["rate_in_validity"] = df["redeemed_in_validity"] / df["closed"].where(df["closed"] > 0)
    return df


def reminder_effect(
    con, start: dt.date, end: dt.date, p: Period, ap: ActivityParams, dp: DataParams, exp=None
) -> ReminderEffect | None:
    """The unused-repurchase-coupon reminder (campaign kind 'repurchase_reminder') on redemption.

    Treatment vs randomised holdout within `reminder_window_days` after the reminder, per campaign
    and pooled; None without a campaign holding both arms. See campaigns.coupon_reminder_effect
    (``exp``: params experiments, for the margin basis, fixed cost and the seeded bootstrap).
    """
    eff = coupon_reminder_effect(
        con,
        "repurchase_reminder",
        list(dp.repurchase_coupon_kinds),
        start,
        end,
        p.as_of,
        24 * ap.reminder_window_days,
        ap.ci_level,
        exp=exp,
    )
    # arms spread over campaigns without both in any one would compare campaigns, not a randomised split
    return eff if eff is not None and len(eff.campaigns) else None


# --------------------------------------------------------------------------- incentives


def participation(con, p: Period, ap: ActivityParams) -> pd.DataFrame:
    """Participants per incentive and month over the trend window ('any' = any incentive)."""
    return query(
        "activity/incentive_participation",
        con,
        from_date=trend_start(p, ap).start,
        to_date=p.end,
        incentives=list(ap.incentive_events),
    )


def index_date(p: Period, ap: ActivityParams) -> dt.date:
    """The latest date whose outcome window (`outcome_days`) is fully observed by the month's end."""
    return p.end - dt.timedelta(days=ap.outcome_days)


@dataclass(frozen=True)
class Association:
    """Participants vs look-alike non-participants (stratified): association, not effect."""

    incentive: str
    participants: int
    participants_matched: int  # in strata that also hold non-participants
    nonparticipants: int
    raw_diff_orders: float  # unadjusted difference of mean outcome orders
    diff_orders: float  # stratified (participant-weighted) difference of mean orders
    ci_orders: tuple[float, float]
    diff_gmv: float
    ci_gmv: tuple[float, float]
    mean_orders_participants: float
    mean_orders_matched_controls: float


def _stratified(g: pd.DataFrame, value: str, z: float) -> tuple[float, float, float, float, float, int]:
    """Participant-weighted mean difference over strata holding both groups, with a normal CI.

    g: one row per stratum x participated with users, <value>, <value>_sq. Returns diff, low,
    high, the participants' mean, the reweighted controls' mean and the matched participants.
    """
    nan = float("nan")
    if not {True, False} <= set(g["participated"]):
        return nan, nan, nan, nan, nan, 0
    w = g.pivot_table(
        index=["order_bin", "tenure_bin"],
        columns="participated",
        values=["users", value, f"{value}_sq"],
        aggfunc="sum",
    )
    w = w.dropna()
    n1, n0 = w[("users", True)], w[("users", False)]
    keep = (n1 >= 1) & (n0 >= 2)
    w, n1, n0 = w[keep], n1[keep], n0[keep]
    if n1.sum() == 0:
        return nan, nan, nan, nan, nan, 0
    m1, m0 = w[(value, True)] / n1, w[(value, False)] / n0
    v1 = (w[(f"{value}_sq", True)] / n1 - m1**2).clip(lower=0) * n1 / (n1 - 1).where(n1 > 1, 1)
    v0 = (w[(f"{value}_sq", False)] / n0 - m0**2).clip(lower=0) * n0 / (n0 - 1)
    wt = n1 / n1.sum()
    diff = float((wt * (m1 - m0)).sum())
    se = float(np.sqrt((wt**2 * (v1 / n1 + v0 / n0)).sum()))
    return diff, diff - z * se, diff + z * se, float((wt * m1).sum()), float((wt * m0).sum()), int(n1.sum())


def incentive_association(con, p: Period, ap: ActivityParams) -> pd.DataFrame:
    """Per incentive: next-`outcome_days` orders and GMV of participants vs look-alike non-participants.

    Stratified on prior orders and tenure (sql/activity/incentive_association.sql); the
    difference is weighted by participants per stratum (effect on the participants' kind of
    user, were it causal). Observational: an association, not an effect.
    """
    df = query(
        "activity/incentive_association",
        con,
        index_date=index_date(p, ap),
        prior_days=ap.prior_days,
        participation_days=ap.participation_days,
        outcome_days=ap.outcome_days,
        incentives=list(ap.incentive_events),
        order_bins=list(ap.match_order_bins),
        tenure_bins=list(ap.match_tenure_bins_days),
    )
    df["gmv"] = df["gmv"].astype(float)
    df["gmv_sq"] = df["gmv_sq"].astype(float)
    z = norm.ppf(1 - (1 - ap.ci_level) / 2)
    rows = []
    for inc, g in df.groupby("incentive"):
        part, non = g[g.participated], g[~g.participated]
        n1, n0 = int(part.users.sum()), int(non.users.sum())
        raw = (part.orders.sum() / n1 - non.orders.sum() / n0) if n1 and n0 else float("nan")
        d_o, lo_o, hi_o, m1, m0, matched = _stratified(g, "orders", z)
        d_g, lo_g, hi_g, *_ = _stratified(g, "gmv", z)
        rows.append(
            Association(
                inc, n1, matched, n0, float(raw), d_o, (lo_o, hi_o), d_g, (lo_g, hi_g), m1, m0
            ).__dict__
        )
    out = pd.DataFrame(rows, columns=list(Association.__dataclass_fields__))
    out["ci_orders_low"] = [c[0] for c in out.ci_orders]
    out["ci_orders_high"] = [c[1] for c in out.ci_orders]
    out["ci_gmv_low"] = [c[0] for c in out.ci_gmv]
    out["ci_gmv_high"] = [c[1] for c in out.ci_gmv]
    return out.sort_values("diff_orders", ascending=False).reset_index(drop=True)


# --------------------------------------------------------------------------- points


def points_monthly(con, p: Period, ap: ActivityParams) -> pd.DataFrame:
    """Issued / redeemed / expired points per month and the closing balance with its liability (yuan)."""
    df = query("activity/points_monthly", con, from_date=trend_start(p, ap).start, to_date=p.end)
    df["liability_yuan"] = df["closing_balance"] * ap.points_to_yuan
    return df


def points_by_reason(con, p: Period, ap: ActivityParams) -> pd.DataFrame:
    """Points per ledger reason and month over the trend window."""
    return query("activity/points_by_reason", con, from_date=trend_start(p, ap).start, to_date=p.end)


@dataclass(frozen=True)
class PointsSummary:
    """Points position at the month's end (FIFO spending): the full and the expected liability."""

    outstanding: float  # points held at as_of
    liability_yuan: (
        float  # full liability: every outstanding point at face value (outstanding x points_to_yuan)
    )
    expected_points: float  # outstanding points expected to be redeemed (NaN without a redemption curve)
    expected_yuan: float  # expected liability: expected_points x points_to_yuan
    expected_share: float  # expected_points / outstanding
    expiry_months: (
        int | None
    )  # params rule: points of month m expire at the end of month m + N (None = never)
    horizon_days: float  # longest delay the redemption curve observes (redemptions later are not counted)
    redeemed_share: float  # share of all points ever issued that were redeemed
    lag_median_days: float  # points-weighted median days from issue to redemption, redeemed points (FIFO)
    lag_p90_days: float
    curve: (
        pd.DataFrame
    )  # Kaplan-Meier share of points not yet redeemed by days since issue (empty: none redeemed)
    by_issue_month: pd.DataFrame  # issued / redeemed / expired / outstanding / expected per issue month


def expiry_dates(issue: pd.Series, months: int | None) -> pd.Series:
    """First day on which points issued on `issue` are expired: the start of month m + N + 1 (NaT: never)."""
    if months is None:
        return pd.Series(pd.NaT, index=issue.index, dtype="datetime64[ns]")
    return pd.to_datetime(issue).dt.to_period("M").dt.to_timestamp() + pd.DateOffset(months=months + 1)


def expected_redemption(held: pd.DataFrame, curve: pd.DataFrame, expiry_months: int | None) -> pd.Series:
    """Share of each held row's points expected to be redeemed: (S(age) - S(h)) / S(age), S = the
    redemption-delay curve, age = days since issue, h = the last redeemable day (the day before
    expiry, or the curve's last day without an expiry rule; never beyond the curve). 0 once expired."""
    t = curve.index.to_numpy(dtype=float)
    s = curve.survival.to_numpy(dtype=float)

    def surv(days):
        i = np.searchsorted(t, np.asarray(days, dtype=float), side="right") - 1
        return np.where(i >= 0, s[np.clip(i, 0, None)], 1.0)

    age = held.days.to_numpy(dtype=float)
    last = np.full(len(held), t.max())
    if expiry_months is not None:
        exp = expiry_dates(held.issue_date, expiry_months)
        last = np.minimum(last, (exp - pd.to_datetime(held.issue_date)).dt.days.to_numpy(dtype=float) - 1)
    s_age, s_last = surv(age), surv(last)
    share = np.where((last > age) & (s_age > 0), (s_age - s_last) / np.where(s_age > 0, s_age, 1.0), 0.0)
    return pd.Series(share, index=held.index)


def points_summary(con, p: Period, ap: ActivityParams) -> PointsSummary:
    """Outstanding points aged by issue month (FIFO), the full liability and the expected one.

    Expected = each outstanding point x the chance it is still redeemed: from a Kaplan-Meier curve of
    days from issue to redemption over all issue dates (points-weighted; points expired, removed
    otherwise or still held are censored at their days), applied to the point's age and cut at its
    expiry (params activity.points_expiry_months) or at the curve's last observed day.
    """
    fifo = query("activity/points_fifo", con, as_of=p.as_of)
    cols = ["issued", "redeemed", "expired", "other_out", "outstanding"]
    fifo[cols] = fifo[cols].astype(float)
    fifo["issue_month"] = pd.to_datetime(fifo["issue_month"])
    oc = query("activity/points_outcomes", con, as_of=p.as_of)
    oc["points"] = oc.points.astype(float)
    held = oc[oc.outcome == "held"].copy()
    redeemed = oc.outcome == "redeem"
    curve = pd.DataFrame(columns=["survival", "ci_low", "ci_high"])
    exp_pts, horizon = float("nan"), float("nan")
    fifo["expires_on"] = expiry_dates(fifo.issue_month, ap.points_expiry_months)
    fifo["expected"] = np.nan
    if redeemed.any():
        curve = km_curve(oc.days, redeemed, weights=oc.points, label="points")
        horizon = float(curve.index.max())
        held["expected"] = held.points * expected_redemption(held, curve, ap.points_expiry_months)
        exp_pts = float(held.expected.sum())
        by_m = held.groupby(
            pd.to_datetime(held.issue_date).dt.to_period("M").dt.to_timestamp()
        ).expected.sum()
        fifo["expected"] = fifo.issue_month.map(by_m).fillna(0.0)
    lag = query("activity/points_redemption_lag", con, from_date=dt.date(1900, 1, 1), to_date=p.end)
    outstanding = float(fifo.outstanding.sum())
    return PointsSummary(
        outstanding=outstanding,
        liability_yuan=outstanding * ap.points_to_yuan,
        expected_points=exp_pts,
        expected_yuan=exp_pts * ap.points_to_yuan,
        expected_share=exp_pts / outstanding if outstanding else float("nan"),
        expiry_months=ap.points_expiry_months,
        horizon_days=horizon,
        redeemed_share=float(fifo.redeemed.sum() / fifo.issued.sum()) if fifo.issued.sum() else float("nan"),
        lag_median_days=weighted_quantile(lag.lag_days, lag.points, 0.5),
        lag_p90_days=weighted_quantile(lag.lag_days, lag.points, 0.9),
        curve=curve,
        by_issue_month=fifo,
    )


def points_aging_table(ps: PointsSummary, ap: ActivityParams, n: int = 12) -> pd.DataFrame:
    """Outstanding points by issue month for display: the `n` latest issue months holding points,
    older ones pooled as 'earlier'; 'expires' only with an expiry rule, 'expected' only with a curve."""
    by = ps.by_issue_month[ps.by_issue_month.outstanding > 0].sort_values("issue_month")
    cols = ["issued", "redeemed", "expired", "outstanding", "expected"]
    tab = by.assign(month=by.issue_month.dt.strftime("%Y-%m"), expires=by.expires_on.dt.strftime("%Y-%m-%d"))
    if len(tab) > n:
        old = tab.iloc[:-n]
        pooled = {c: old[c].sum() for c in cols} | {
            "month": i18n.t("activity_report.earlier"),
            "expires": "–",
        }
        tab = pd.concat([pd.DataFrame([pooled]), tab.iloc[-n:]], ignore_index=True)
    keep = ["month", "issued", "redeemed", "expired", "outstanding"]
    if ap.points_expiry_months is not None:
        keep.append("expires")
    if np.isfinite(ps.expected_points):
        keep.append("expected")
    return tab[keep].rename(columns={"month": "issue month", "expires": "expires on"}).reset_index(drop=True)


def weighted_quantile(values, weights, q: float) -> float:
    """The smallest value whose cumulative weight share reaches q (NaN without weight)."""
    v = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    if w.sum() <= 0:
        return float("nan")
    o = np.argsort(v, kind="stable")
    cum = np.cumsum(w[o]) / w.sum()
    return float(v[o][np.searchsorted(cum, q - 1e-12)])


# --------------------------------------------------------------------------- value tiers (one definition)


def tier_names(ap: ActivityParams) -> list[str]:
    """Tier labels by index -1..k+1: new, none, ordinary, then the thresholds' names."""
    return ["new", "none", "ordinary", *ap.tier_thresholds_yuan]


def tier_label(name: str) -> str:
    """A value tier's display name in the report language only ('core' -> '核心用户' / 'Core'); "new"
    is the lifecycle stage's name; a tier of the chain's own (params) as written."""
    if i18n.known("tier", name):
        return i18n.name("tier", name)
    return i18n.name("stage", name) if name == "new" else str(name)


def user_tiers(con, at: dt.date, ap: ActivityParams) -> pd.DataFrame:
    """The value tier of every user registered before `at` (sql/activity/value_tiers.sql):
    user_id, spend (GMV in the tier window before `at`), tier (0 none .. k+1 top) and tier_name.

    The one value-tier definition of the playbook: plays 03 and 05 both call it.
    """
    df = query_once(
        "activity/value_tiers",
        con,
        at_date=at,
        window_days=ap.tier_window_days,
        thresholds=[float(v) for v in ap.tier_thresholds_yuan.values()],
    )
    df["tier_name"] = np.asarray(tier_names(ap), dtype=object)[df.tier.to_numpy() + 1]
    return df


def tier_transitions(con, p: Period, ap: ActivityParams) -> pd.DataFrame:
    """Users by tier at the month's start x tier at its end (`user_tiers` at both dates), labelled.

    Population: users registered before the month's end; those registered in the month have start
    tier -1 (new). The full start x end grid is zero-filled (start -1..k+1, end 0..k+1).
    """
    end = user_tiers(con, p.end, ap)[["user_id", "tier"]]
    start = user_tiers(con, p.start, ap)[["user_id", "tier"]]
    m = end.merge(start, on="user_id", how="left", suffixes=("_end", "_start"))
    m["tier_start"] = m.tier_start.fillna(-1).astype(int)
    top = len(ap.tier_thresholds_yuan) + 1
    counts = m.groupby(["tier_start", "tier_end"]).size()
    grid = pd.MultiIndex.from_product(
        [range(-1, top + 1), range(0, top + 1)], names=["tier_start", "tier_end"]
    )
    df = counts.reindex(grid, fill_value=0).rename("users").reset_index()
    df = df.rename(columns={"tier_start": "start_tier", "tier_end": "end_tier"})
    names = tier_names(ap)
    df["start_name"] = [names[i + 1] for i in df.start_tier]
    df["end_name"] = [names[i + 1] for i in df.end_tier]
    return df


def tier_matrix(tr: pd.DataFrame, ap: ActivityParams) -> pd.DataFrame:
    """start tier x end tier grid of users (rows/columns in tier order)."""
    names = tier_names(ap)
    m = tr.pivot(index="start_name", columns="end_name", values="users")
    return m.reindex(
        index=[n for n in names if n in m.index], columns=[n for n in names[1:] if n in m.columns]
    )


@dataclass(frozen=True)
class TierKept:
    top: str  # the highest tier's name
    start: int  # users in the top tier at the month's start
    kept: int  # of those, still in it at the end
    kept_share: float
    end: int  # users in the top tier at the end
    upgraded: int  # existing users who moved up a tier (none excluded)
    downgraded: int  # users who moved down (including to none)


def tiers_kept(tr: pd.DataFrame, ap: ActivityParams) -> TierKept:
    """How many top-tier (core) users were kept, and the moves up and down."""
    top = len(ap.tier_thresholds_yuan) + 1
    start = int(tr[tr.start_tier == top].users.sum())
    kept = int(tr[(tr.start_tier == top) & (tr.end_tier == top)].users.sum())
    old = tr[tr.start_tier >= 0]
    return TierKept(
        top=tier_names(ap)[-1],
        start=start,
        kept=kept,
        kept_share=kept / start if start else float("nan"),
        end=int(tr[tr.end_tier == top].users.sum()),
        upgraded=int(old[old.end_tier > old.start_tier].users.sum()),
        downgraded=int(old[old.end_tier < old.start_tier].users.sum()),
    )


# --------------------------------------------------------------------------- category cycles


def cycle_rows(con, p: Period, ap: ActivityParams) -> pd.DataFrame:
    """Inter-purchase durations per scene (category, milk powder product) for Kaplan-Meier."""
    return query(
        "activity/purchase_cycles",
        con,
        from_date=p.shift(-(ap.cycle_lookback_months - 1)).start,
        as_of=p.as_of,
        horizon=ap.cycle_horizon_days,
        product_pattern=ap.milk_powder_pattern,
    )


def _km_quantile(curve: pd.DataFrame, q: float) -> float:
    """First time the KM share still waiting drops to <= 1 - q (inf when never)."""
    s = curve["survival"]
    hit = s[s <= 1 - q + 1e-12]
    return float(hit.index[0]) if len(hit) else float("inf")


def cycles(con, p: Period, ap: ActivityParams) -> tuple[pd.DataFrame, dict[tuple[str, str], pd.DataFrame]]:
    """Kaplan-Meier days between purchases per scene, censoring purchases without an observed next one.

    Returns (summary, curves). summary: level, scene, scene_name, purchases, repeats (observed),
    median_days (+ its CI from the survival bands), q25_days, q75_days. A milk powder row
    (level 'group', scene 'milk_powder') pools the milk powder products.
    """
    rows = cycle_rows(con, p, ap)
    groups = [((lvl, sc), g) for (lvl, sc), g in rows.groupby(["level", "scene"])]
    mp = rows[rows.level == "product"]
    if len(mp):
        groups.append((("group", "milk_powder"), mp.assign(scene_name="milk_powder")))
    out, curves = [], {}
    for (lvl, sc), g in groups:
        c = km_curve(g["duration_days"], g["observed"], g["n"], label=sc, level=ap.ci_level)
        curves[(lvl, sc)] = c
        lo_ci, hi_ci = c["ci_low"], c["ci_high"]
        out.append(
            dict(
                level=lvl,
                scene=sc,
                scene_name=g["scene_name"].iloc[0],
                purchases=int(g["n"].sum()),
                repeats=int(g.loc[g.observed, "n"].sum()),
                median_days=c.attrs["median"],
                median_low=float(lo_ci[lo_ci <= 0.5].index[0]) if (lo_ci <= 0.5).any() else float("inf"),
                median_high=float(hi_ci[hi_ci <= 0.5].index[0]) if (hi_ci <= 0.5).any() else float("inf"),
                q25_days=_km_quantile(c, 0.25),
                q75_days=_km_quantile(c, 0.75),
            )
        )
    cols = [
        "level",
        "scene",
        "scene_name",
        "purchases",
        "repeats",
        "median_days",
        "median_low",
        "median_high",
    ]
    return pd.DataFrame(out, columns=[*cols, "q25_days", "q75_days"]), curves


def due_reminders(con, p: Period, ap: ActivityParams, summary: pd.DataFrame, exp=None) -> pd.DataFrame:
    """Users due for a category reminder right after the month, with a seeded randomised holdout.

    Scenes: the `reminder_categories` (category names; 'milk_powder' = each milk powder product
    with its own median cycle). Columns: user_id, category, last_purchase_at, expected_at, arm
    (the CRM file's columns) plus scene, cycle_days, is_own_cycle. A user's arm is the same in
    every category (holdout users get no category reminder at all). With ``exp`` (params
    experiments) the persistent global holdout's users are left out before the draw, so the
    list's counts are those of the file; how many in ``attrs["global_holdout_left_out"]``.
    """
    s = summary[np.isfinite(summary.median_days)]
    cats = s[(s.level == "category") & s.scene.isin(ap.reminder_categories)]
    prods = s[s.level == "product"] if "milk_powder" in ap.reminder_categories else s.iloc[0:0]
    scenes = list(cats.scene) + list(prods.scene)
    labels = list(cats.scene) + ["milk_powder"] * len(prods)
    days = [float(x) for x in list(cats.median_days) + list(prods.median_days)]
    cols = [
        "user_id",
        "category",
        "last_purchase_at",
        "expected_at",
        "arm",
        "scene",
        "cycle_days",
        "is_own_cycle",
    ]
    if not scenes:
        return pd.DataFrame(columns=cols)
    df = query(
        "activity/category_due",
        con,
        from_date=p.shift(-(ap.cycle_lookback_months - 1)).start,
        cutoff=p.cutoff,
        scenes=scenes,
        scene_labels=labels,
        cycle_days=days,
        min_gaps=ap.min_personal_gaps,
        lead_days=ap.reminder_lead_days,
        horizon_days=ap.reminder_horizon_days,
    )
    held = (
        global_holdout_users(con, exp.global_holdout_salt, exp.global_holdout_share, df.user_id)
        if exp is not None
        else set()
    )
    df = df[~df.user_id.isin(held)].reset_index(drop=True)
    df["arm"] = assign_arms(df["user_id"], ap.reminder_holdout_share, ap.reminder_seed) if len(df) else []
    out = df[cols]
    out.attrs["global_holdout_left_out"] = len(held)
    return out


def due_global_note(due: pd.DataFrame) -> str:
    """One sentence on the global-holdout users left out of the category reminder list ("" if none)."""
    k = int(due.attrs.get("global_holdout_left_out", 0))
    if not k:
        return ""
    return i18n.t("activity_report.why.due_global", n=nv.num(k), count=_count(k))


def category_reminder_effect(
    con, start: dt.date, end: dt.date, p: Period, ap: ActivityParams, exp=None
) -> ReminderEffect | None:
    """Past category reminders (campaign kind 'category_reminder') against their randomised holdout:
    ordering within `category_window_days` after the notice, per campaign and pooled by stratum,
    with incremental orders and gross margin, touch cost and ROI on margin. None without a campaign
    holding both arms. See campaigns.category_reminder_effect."""
    return campaigns.category_reminder_effect(
        con, start, end, p.as_of, 24 * ap.category_window_days, ap.ci_level, exp=exp
    )


def category_reminder_reason(con, has_tables: bool, start: dt.date, p: Period, ap: ActivityParams) -> str:
    """Why past category reminders have no measured effect, in one sentence (see campaigns)."""
    return campaigns.category_reminder_absence(
        con, start, p.end, p.as_of, 24 * ap.category_window_days, has_tables
    )


def category_reminder_section(
    con, has_tables: bool, p: Period, ap: ActivityParams, exp=None
) -> tuple[ReminderEffect | None, str | None]:
    """(effect, None) for the category reminders of the `effect_months` ending with the report
    month, or (None, one sentence saying what the data lacks: no effect is presented)."""
    start = p.shift(-(ap.effect_months - 1)).start
    eff = category_reminder_effect(con, start, p.end, p, ap, exp) if has_tables else None
    if eff is not None:
        return eff, None
    why = category_reminder_reason(con, has_tables, start, p, ap)
    return None, why or i18n.t("activity_report.why.category_no_campaign")


def category_reminder_chart(eff: ReminderEffect, p: Period, ap: ActivityParams):
    """Per-campaign lift in ordering (the 12 largest campaigns) and the stratified pooled lift, with CIs."""
    import matplotlib.pyplot as plt

    from userops import charts

    e = eff.effect
    c = eff.campaigns.nlargest(12, "members_treatment").sort_values(["campaign_month", "campaign_id"])
    c["label"] = [  # the campaign's name, with its month when the name lacks it
        n if f"{pd.Timestamp(m):%Y-%m}" in str(n) else f"{pd.Timestamp(m):%Y-%m} {n}"
        for m, n in zip(c.campaign_month, c.campaign_name, strict=True)
    ]
    n = len(eff.campaigns)
    key = "activity_report.effect.pooled_campaigns" + ("_one" if n == 1 else "")
    pooled = {"label": i18n.t(key, n=n), "diff": e.diff}
    pooled |= {"ci_low": e.ci_low, "ci_high": e.ci_high}
    plot = pd.concat([c[["label", "diff", "ci_low", "ci_high"]], pd.DataFrame([pooled])], ignore_index=True)
    fig, ax = plt.subplots(figsize=(8, 0.36 * len(plot) + 1.3))
    charts.bar_with_ci(plot, "label", "diff", "ci_low", "ci_high", ax=ax, fmt="pp")
    charts.percent_axis(ax, "x")
    ax.set_xlabel(i18n.t("activity_report.category.xlabel", days=ap.category_window_days))
    drawn = (
        i18n.t("activity_report.category.drawn", n=len(c), total=len(eff.campaigns))
        if len(c) < len(eff.campaigns)
        else ""
    )
    window = i18n.t("activity_report.window_days", days=ap.category_window_days)
    charts.title(
        ax,
        i18n.t(
            "activity_report.category.chart_title", lift=nv.pp(e.diff), ci=nv.ci(e.ci_low, e.ci_high, nv.pp)
        ),
        i18n.t(
            "activity_report.effect.chart_sub",
            first=i18n.month_short(p.shift(-(ap.effect_months - 1))),
            last=i18n.month_short(p),
            window=window,
        )
        + drawn,
    )
    return fig


def record_category_reminder(rep, eff: ReminderEffect, p: Period, ap: ActivityParams) -> None:
    """The category reminders' headline numbers on the play's Report, each with its money basis."""
    from userops import money

    e, period = eff.effect, f"{p.shift(-(ap.effect_months - 1)).month}..{p.month}"
    rows = [
        (
            "category_reminder_lift",
            e.diff,
            "share (difference)",
            f"share who ordered within {ap.category_window_days} days of a category reminder, reminded minus "
            "randomised holdout (campaigns pooled by Mantel-Haenszel)",
            (e.ci_low, e.ci_high),
        ),
        (
            "category_reminder_incremental_orders",
            eff.incremental_orders,
            "orders",
            "extra orders in the window caused by the category reminders (each campaign against its own holdout)",
            eff.incremental_orders_ci,
        ),
        (
            "category_reminder_incremental_margin",
            eff.incremental_margin,
            "yuan",
            f"incremental {eff.margin_basis} in the window caused by the category reminders",
            eff.incremental_margin_ci,
        ),
        (
            "category_reminder_anyway_discount",
            eff.anyway_discount,
            "yuan",
            "discount on orders that would have happened anyway (treated members x holdout buyer rate x mean "
            "discount per treated buyer); inside paid GMV, not a cost",
            None,
        ),
        (
            "category_reminder_touch_cost",
            eff.cost_yuan,
            "yuan",
            "touch cost, treated members x cost per touch (+ fixed cost per campaign)",
            None,
        ),
    ]
    if eff.roi is not None:
        ci = eff.roi_ci if None not in eff.roi_ci else None
        rows.append(("category_reminder_roi_margin", eff.roi, "ratio", money.ROI_DEFINITION, ci))
    for key, value, unit, definition, ci in rows:
        rep.add(key, value, unit, definition, period=period, ci=ci)


# --------------------------------------------------------------------------- what the data allows
# Each function below returns a small result whose `reason` is None when the section can be shown,
# else one plain sentence saying what the section needs and that the data lacks it.


def months_with_orders(tr: pd.DataFrame) -> pd.DataFrame:
    """The 'orders' trend rows (indexed by month) from the first month with an order on.

    Months before the data begins are not drawn: they would be empty bars and "n/a" ratios.
    """
    o = tr[tr.definition == "orders"].set_index("month")
    active = o.index[o.mau > 0]
    return o[o.index >= active.min()] if len(active) else o.iloc[0:0]


def events_reason(tr: pd.DataFrame, has_events: bool, p: Period) -> str | None:
    """Why the event definition of activity cannot be shown (None when it can)."""
    if not has_events:
        return i18n.t("activity_report.why.events_absent", table=i18n.name("table", "events"))
    e = tr[(tr.definition == "events") & (pd.to_datetime(tr.month) == pd.Timestamp(p.start))]
    if e.empty or e.mau.iloc[0] == 0:
        return i18n.t(
            "activity_report.why.events_month", month=i18n.month(p), table=i18n.name("table", "events")
        )
    return None


@dataclass(frozen=True)
class ChannelContrast:
    """The stickiest and least sticky acquisition channels with enough buyers."""

    reason: str | None
    high: pd.Series | None = None
    low: pd.Series | None = None


def channel_contrast(seg: pd.DataFrame, ap: ActivityParams) -> ChannelContrast:
    """Highest and lowest DAU/MAU among channels with at least `min_segment_users` buyers."""
    ch = seg[(seg.dimension == "acquisition_channel") & ~seg.flag_small].sort_values("dau_mau")
    if len(ch) < 2:
        have = (
            i18n.t(
                "activity_report.why.contrast_one",
                channel=i18n.t("activity_report.segment.unknown")
                if ch.segment.iloc[0] == "unknown" and not i18n.known("channel", "unknown")
                else i18n.name("channel", ch.segment.iloc[0]),
            )
            if len(ch) == 1
            else i18n.t(
                "activity_report.why.contrast_none", n=int((seg.dimension == "acquisition_channel").sum())
            )
        )
        return ChannelContrast(i18n.t("activity_report.why.contrast", min=ap.min_segment_users, have=have))
    return ChannelContrast(None, ch.iloc[-1], ch.iloc[0])


@dataclass(frozen=True)
class RepurchaseHeadline:
    """The latest mature month's repurchase row and the mature month before it (if any)."""

    reason: str | None
    month: pd.Timestamp | None = None
    row: pd.Series | None = None
    prev: pd.Series | None = None


def repurchase_headline(rep: pd.DataFrame, p: Period, ap: ActivityParams) -> RepurchaseHeadline:
    """The headline repurchase month, or why there is none (no month observed for the whole window)."""
    allr = rep[rep.dimension == "all"].set_index("month")
    mature = latest_mature_month(rep)
    if mature is None:
        return RepurchaseHeadline(
            i18n.t("activity_report.why.repurchase", days=ap.repurchase_days, as_of=p.as_of)
        )
    row = allr.loc[mature]
    before = allr[allr.is_mature & (allr.index < mature)]
    return RepurchaseHeadline(None, mature, row, before.iloc[-1] if len(before) else None)


@dataclass(frozen=True)
class GapSummary:
    """Days between orders for the month's repeat orders: overall and per online / offline order."""

    reason: str | None
    overall: pd.Series | None = None
    by_channel: pd.DataFrame | None = None


def gap_summary(gaps: pd.DataFrame, p: Period) -> GapSummary:
    """The 'all' row of order_gaps and the online/offline rows, or why there are none."""
    g = gaps[gaps.dimension == "all"]
    if g.empty or g.repeat_orders.iloc[0] == 0:
        return GapSummary(i18n.t("activity_report.why.gaps", month=i18n.month(p)))
    return GapSummary(None, g.iloc[0], gaps[gaps.dimension == "online_offline"].set_index("segment"))


@dataclass(frozen=True)
class CouponHeadline:
    """Repurchase coupons of the report month, the within-N-days rate and the last closed month."""

    reason: str | None
    issued: int = 0
    rate_reason: str | None = None  # why the within-N-days rate is missing (coupons too recent)
    rate_within_days: float | None = None
    closed_month: pd.Timestamp | None = None
    rate_in_validity: float | None = None


def coupon_headline(con, cp: pd.DataFrame, p: Period, ap: ActivityParams, dp: DataParams) -> CouponHeadline:
    """What the repurchase-coupon paragraph can say, from `repurchase_coupons` output."""
    sep = i18n.t("common.list_sep")
    kinds = sep.join(i18n.name("coupon_kind", k) for k in dp.repurchase_coupon_kinds)
    if cp.issued.sum() == 0:
        have = [r[0] for r in con.execute("select distinct kind from coupons order by 1 limit 6").fetchall()]
        span = dict(first=i18n.month(trend_start(p, ap)), last=i18n.month(p), kinds=kinds)
        return CouponHeadline(
            i18n.t(
                "activity_report.why.coupon_kinds",
                have=sep.join(i18n.name("coupon_kind", k) for k in have),
                **span,
            )
            if have
            else i18n.t("activity_report.why.coupon_empty", **span)
        )
    issued = int(cp.issued.iloc[-1])
    obs = cp[cp.eligible_days > 0]
    closed = cp[(cp.closed == cp.issued) & (cp.issued > 0)]
    out = dict(issued=issued)
    if len(closed):
        out |= dict(
            closed_month=pd.Timestamp(closed.month.iloc[-1]),
            rate_in_validity=closed.rate_in_validity.iloc[-1],
        )
    if obs.empty:
        return CouponHeadline(
            None,
            rate_reason=i18n.t("activity_report.why.coupon_rate", days=ap.coupon_redeem_days, as_of=p.as_of),
            **out,
        )
    return CouponHeadline(None, rate_within_days=float(obs.rate_within_days.iloc[-1]), **out)


@dataclass(frozen=True)
class ParticipationHeadline:
    reason: str | None
    any_rate: float | None = None
    top: str | None = None
    top_rate: float | None = None
    rates: pd.Series | None = None  # per incentive (without 'any') in the report month


def participation_headline(part: pd.DataFrame, p: Period, ap: ActivityParams) -> ParticipationHeadline:
    """The month's participation rates, or why there are none (no incentive events)."""
    pn = part[pd.to_datetime(part.month) == pd.Timestamp(p.start)].set_index("incentive")
    if pn.empty or pn.active_users.iloc[0] == 0 or part.participants.sum() == 0:
        return ParticipationHeadline(
            i18n.t(
                "activity_report.why.participation",
                names=i18n.t("common.list_sep").join(
                    i18n.name_in_text("incentive", e) for e in ap.incentive_events
                ),
                first=i18n.month(trend_start(p, ap)),
                last=i18n.month(p),
            )
        )
    rates = pn.drop("any").participation_rate
    top = str(rates.idxmax())
    return ParticipationHeadline(None, float(pn.loc["any"].participation_rate), top, float(rates[top]), rates)


@dataclass(frozen=True)
class AssociationView:
    """The incentives whose look-alike comparison can be read, and notes on the rest."""

    rows: pd.DataFrame  # finite difference with a CI of non-zero width
    reason: str | None  # why no incentive can be compared (rows is empty)
    dropped: str | None = None  # the incentives left out and why, in one sentence


def association_shown(assoc: pd.DataFrame, p: Period, ap: ActivityParams) -> AssociationView:
    """Keep the incentives whose comparison computed with some spread (finite difference, CI wider than
    zero); a zero-width CI means every matched user had the same outcome, too few to compare."""
    ci = assoc[["diff_orders", "ci_orders_low", "ci_orders_high"]].astype(float)
    ok = np.isfinite(ci).all(axis=1) & (ci.ci_orders_high > ci.ci_orders_low)
    needs = i18n.t(
        "activity_report.why.assoc_needs", days=ap.outcome_days, prior=ap.prior_days, date=index_date(p, ap)
    )
    if ok.any():
        left = assoc[~ok]
        names = i18n.t("common.list_sep").join(i18n.name_in_text("incentive", i) for i in left.incentive)
        dropped = (
            i18n.t("activity_report.why.assoc_dropped", names=names, count=_count(len(left)), needs=needs)
            if len(left)
            else None
        )
        return AssociationView(assoc[ok].reset_index(drop=True), None, dropped)
    n = int(assoc.participants.iloc[0] + assoc.nonparticipants.iloc[0]) if len(assoc) else 0
    return AssociationView(
        assoc[ok],
        i18n.t("activity_report.why.assoc", needs=needs)
        + (
            i18n.t("activity_report.why.assoc_few", n=nv.num(n))
            if n
            else i18n.t("activity_report.why.assoc_nobody")
        ),
    )


def points_reasons(pm: pd.DataFrame, ps: PointsSummary, p: Period, ap: ActivityParams) -> dict[str, str]:
    """Why parts of the points section are missing: 'chart' (no movement in the trend), 'expected'
    (no redemption to estimate the redemption curve from), 'lag' (no redemption yet)."""
    out = {}
    moved = (pm[["issued", "redeemed", "expired", "other_out"]].to_numpy().sum() > 0) or ps.outstanding > 0
    if not moved:
        out["chart"] = i18n.t(
            "activity_report.why.points_chart",
            first=i18n.month(trend_start(p, ap)),
            last=i18n.month(p),
            table=i18n.name("table", "points_ledger"),
        )
    if not np.isfinite(ps.expected_points):
        out["expected"] = i18n.t("activity_report.why.points_expected")
    if not np.isfinite(ps.lag_median_days):
        out["lag"] = i18n.t("activity_report.why.points_lag")
    return out


def tier_reason(kept: TierKept, ap: ActivityParams) -> str | None:
    """Why the top-tier retention cannot be shown (None when it can)."""
    if kept.start:
        return None
    top_min = list(ap.tier_thresholds_yuan.values())[-1]
    return i18n.t(
        "activity_report.why.tier",
        top=i18n.name("tier", kept.top),
        days=ap.tier_window_days,
        min=nv.yuan(top_min),
    )


def tier_share(mat: pd.DataFrame) -> pd.DataFrame:
    """Row shares of the tier matrix, keeping only start tiers that hold users."""
    n = mat.sum(axis=1)
    return mat[n > 0].div(n[n > 0], axis=0)


# --------------------------------------------------------------------------- cycles: what to show


def _days_text(x: float) -> str:
    return f"{x:.0f}" if np.isfinite(x) else i18n.t("activity_report.not_reached")


def scene_label(level: str, scene, name=None) -> str:
    """The reader's name of a repurchase scene: a category, the milk powder group, or a product as named."""
    if level == "group" or (level == "category" and scene == "milk_powder"):
        return i18n.name("category", "milk_powder")
    if level == "category":
        return i18n.name("category", scene)
    return str(name if name is not None else scene)


def _count(n: int) -> str:
    """'one' / 'many': the grammatical number of an English sentence (both read the same in Chinese)."""
    return "one" if n == 1 else "many"


def cycle_table(cyc: pd.DataFrame, top_n: int = 12) -> pd.DataFrame:
    """The cycle summary for reading: the milk powder group, then the `top_n` categories and products by
    purchases with an 'others' row each; medians as text ('not reached' when the KM curve never gets there)."""
    parts = []
    for lvl in ("group", "category", "product"):
        g = cyc[cyc.level == lvl].sort_values("purchases", ascending=False, kind="stable")
        top = g.head(top_n)
        rows = [
            dict(
                level=r.level,
                scene=scene_label(r.level, r.scene, r.scene_name),
                purchases=r.purchases,
                repeats=r.repeats,
                median=_days_text(r.median_days)
                + (
                    f" ({_days_text(r.median_low)}–{_days_text(r.median_high)})"
                    if np.isfinite(r.median_days)
                    else ""
                ),
                q25=_days_text(r.q25_days),
                q75=_days_text(r.q75_days),
            )
            for r in top.itertuples()
        ]
        rest = g.iloc[top_n:]
        if len(rest):
            rows.append(
                dict(
                    level=lvl,
                    scene=_others(len(rest), "categories" if lvl == "category" else "products"),
                    purchases=int(rest.purchases.sum()),
                    repeats=int(rest.repeats.sum()),
                    median="–",
                    q25="–",
                    q75="–",
                )
            )
        parts += rows
    return pd.DataFrame(parts, columns=["level", "scene", "purchases", "repeats", "median", "q25", "q75"])


def cycle_chart_rows(cyc: pd.DataFrame, top_n: int) -> tuple[pd.DataFrame, str | None]:
    """Categories to draw (finite median, the `top_n` with most purchases, fastest first), or why none."""
    cats = cyc[(cyc.level == "category") & np.isfinite(cyc.median_days)] if len(cyc) else cyc
    if len(cats) == 0:
        return cats, i18n.t("activity_report.why.cycles")
    top = cats.sort_values("purchases", ascending=False, kind="stable").head(top_n)
    return top.sort_values("median_days", kind="stable"), None


def reminder_scene_check(cyc: pd.DataFrame, ap: ActivityParams) -> str | None:
    """Which of the params' reminder categories the data cannot remind on, in one sentence (None: all can)."""
    finite = cyc[np.isfinite(cyc.median_days)] if len(cyc) else cyc
    have = set(cyc[cyc.level == "category"].scene) if len(cyc) else set()
    cyc_ok = set(finite[finite.level == "category"].scene) if len(finite) else set()
    if len(cyc) and (cyc.level == "group").any():
        have.add("milk_powder")
    if len(finite) and ((finite.level == "group") & (finite.scene == "milk_powder")).any():
        cyc_ok.add("milk_powder")
    absent = [c for c in ap.reminder_categories if c not in have]
    no_cycle = [c for c in ap.reminder_categories if c in have and c not in cyc_ok]
    sep = i18n.t("common.list_sep")
    parts = []
    if absent:
        names = sep.join(scene_label("category", c) for c in absent)
        parts.append(i18n.t("activity_report.why.scene_absent", names=names, count=_count(len(absent))))
    if no_cycle:
        names = sep.join(scene_label("category", c) for c in no_cycle)
        parts.append(i18n.t("activity_report.why.scene_no_cycle", names=names, count=_count(len(no_cycle))))
    if not parts:
        return None
    n_out = len(absent) + len(no_cycle)
    end = "none" if n_out == len(ap.reminder_categories) else _count(n_out)
    return i18n.t(
        "activity_report.why.scenes",
        parts=i18n.t("activity_report.why.and").join(parts),
        end=i18n.t(f"activity_report.why.scenes_{end}"),
    )


def due_reason(due: pd.DataFrame, p: Period, ap: ActivityParams) -> str | None:
    """Why the category reminder list is empty (None when it has users)."""
    if len(due):
        return None
    lo, hi = ap.reminder_lead_days, ap.reminder_lead_days + ap.reminder_horizon_days
    return i18n.t("activity_report.why.due", lo=lo, hi=hi, as_of=p.as_of)


def since_data(df: pd.DataFrame, has_data: pd.Series) -> pd.DataFrame:
    """Rows of a month-spine frame from the first month where `has_data` holds.

    Trend windows reach back `trend_months`; months before the data begins are not drawn.
    """
    months = pd.to_datetime(df.month)
    first = months[has_data].min()
    return df[months >= first] if has_data.any() else df.iloc[0:0]


def _others(n: int, noun: str) -> str:
    """'others (4 reasons)' / '其他（4 类原因）' ('noun': channels, reasons, categories, products)."""
    return i18n.t("activity_report.others", n=n, noun=i18n.t(f"activity_report.noun.{noun}"))


def top_with_others(
    df: pd.DataFrame, label: str, by: str, n: int, noun: str, sum_cols: list[str]
) -> pd.DataFrame:
    """The `n` rows with the largest `by`, then one 'others (k <noun>)' row summing `sum_cols` (k >= 2).

    Other columns of the 'others' row are left empty (shown as '–'). Keeps long tables readable.
    """
    ranked = df.sort_values(by, ascending=False, kind="stable")
    rest = ranked.iloc[n:]
    if len(rest) < 2:  # an 'others' row for a single row hides it for nothing
        return ranked.reset_index(drop=True)
    others = {label: _others(len(rest), noun)} | {c: rest[c].sum() for c in sum_cols}
    return pd.concat([ranked.iloc[:n], pd.DataFrame([others])], ignore_index=True)


def segment_table(seg: pd.DataFrame, n: int = 12) -> pd.DataFrame:
    """segment_summary for reading: acquisition channels beyond the `n` largest by MAU become one
    'others' row (MAU, registered and their shares recomputed; averages left empty)."""
    ch = seg[seg.dimension == "acquisition_channel"]
    top = top_with_others(
        ch, "segment", "mau", n, "channels", ["registered", "mau", "active_user_days", "n_days"]
    )
    if len(top) < len(ch):
        o = top.index[-1]
        top.loc[o, "dimension"] = "acquisition_channel"
        top.loc[o, "n_days"] = ch.n_days.iloc[0]
        top.loc[o, "active_share"] = top.loc[o, "mau"] / top.loc[o, "registered"]
        mau = top.loc[o, "mau"]
        top.loc[o, "dau_mau"] = (
            top.loc[o, "active_user_days"] / (top.loc[o, "n_days"] * mau) if mau else np.nan
        )
    return pd.concat([top, seg[seg.dimension != "acquisition_channel"]], ignore_index=True)


def reason_table(br: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """Points per reason (rows) and month (columns 'YYYY-MM'): the `n` reasons moving most points, then
    'others' (their sum)."""
    tab = br.pivot(index="reason", columns="month", values="points")
    tab.columns = [pd.Timestamp(c).strftime("%Y-%m") for c in tab.columns]
    months = list(tab.columns)
    tab = tab.reset_index().assign(_moved=tab.abs().sum(axis=1).to_numpy())
    keep = tab.sort_values("_moved", ascending=False, kind="stable").head(n).reason
    top = top_with_others(tab, "reason", "_moved", n, "reasons", months)
    # the n largest keep the ledger's reason order; 'others' stays last
    head = tab[tab.reason.isin(keep)]
    out = pd.concat([head, top.iloc[len(keep) :]], ignore_index=True)
    return out.drop(columns="_moved")


def reminder_action(eff: ReminderEffect) -> str:
    """The repurchase reminder's action: ``money.verdict`` on its lift and its ROI-on-margin interval."""
    e = eff.effect
    kw = {"lift": nv.pp(e.diff), "ci": nv.ci(e.ci_low, e.ci_high, nv.pp)}
    v = money.verdict(bool(e.significant and e.diff > 0), eff.roi, eff.roi_ci)
    if v == money.TEST:
        return i18n.t("activity.reminder_test", **kw)
    kw |= {"basis": nv.margin_basis(eff.margin_basis), "margin": nv.yuan(eff.incremental_margin)}
    kw |= {"cost": nv.yuan(eff.cost_yuan, 2)}
    if v == money.RETHINK:
        return i18n.t("activity.reminder_rethink", roi=f"{eff.roi:,.1f}", **kw)
    roi = ""
    if eff.roi is not None:
        roi = i18n.t("retention.roi", roi=f"{eff.roi:,.1f}")
        if all(x is not None and np.isfinite(x) for x in eff.roi_ci):
            roi += i18n.t("retention.roi_ci", ci=nv.ci(*eff.roi_ci, lambda x: f"{x:,.1f}"))
    key = "activity.reminder_keep" if v == money.KEEP else "activity.reminder_measure"
    return i18n.t(key, orders=nv.num(eff.incremental_orders), roi=roi, **kw)
