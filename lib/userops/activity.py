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

from userops.campaigns import ReminderEffect, coupon_reminder_effect
from userops.db import query
from userops.experiment import assign_arms
from userops.params import ActivityParams
from userops.period import Period
from userops.stats import km_curve

TIER_LABELS_ZH = {"new": "新注册", "none": "无消费", "ordinary": "普通"}
TIER_ZH = {"potential": "潜在", "important": "重要", "core": "核心"}


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


def activity_segments(con, p: Period) -> pd.DataFrame:
    """Order-based MAU, active share and DAU/MAU per acquisition channel, city and online/offline."""
    return query("activity/activity_by_segment", con, from_date=p.start, to_date=p.end)


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


def repurchase(con, p: Period, ap: ActivityParams) -> pd.DataFrame:
    """Repurchase within N days of the month's first order, per month x dimension x segment.

    Adds `is_mature` (every buyer observed for the whole window) and Wilson-free raw rates; the
    latest mature month is the headline (the report month is never mature for N >= 1).
    """
    df = query(
        "activity/repurchase_within",
        con,
        from_date=trend_start(p, ap).start,
        to_date=p.end,
        days=ap.repurchase_days,
        as_of=p.as_of,
    )
    df["is_mature"] = (df["eligible"] == df["buyers"]) & (df["buyers"] > 0)
    return df


def latest_mature_month(rep: pd.DataFrame) -> pd.Timestamp | None:
    """The latest month whose 'all' row is mature (None when none is)."""
    m = rep[(rep.dimension == "all") & rep.is_mature]
    return pd.Timestamp(m.month.max()) if len(m) else None


def order_frequency(con, p: Period, ap: ActivityParams) -> pd.DataFrame:
    """Buyers by orders in the month, with the tail bucketed at `max_orders_bucket`+ orders.

    Columns: dimension, segment, orders ('1', '2', ..., 'N+'), users, share (of the segment).
    """
    df = query("activity/order_frequency", con, from_date=p.start, to_date=p.end)
    k = ap.max_orders_bucket
    df["orders"] = np.where(df["n_orders"] >= k, f"{k}+", df["n_orders"].astype(str))
    out = df.groupby(["dimension", "segment", "orders"], as_index=False)["users"].sum()
    out["share"] = out["users"] / out.groupby(["dimension", "segment"])["users"].transform("sum")
    order = {str(i): i for i in range(1, k)} | {f"{k}+": k}
    return out.sort_values(
        ["dimension", "segment", "orders"], key=lambda s: s.map(order) if s.name == "orders" else s
    )


def order_gaps(con, p: Period) -> pd.DataFrame:
    """Mean / median days since the previous order, for the month's repeat orders, per segment."""
    return query("activity/order_gaps", con, from_date=p.start, to_date=p.end)


def segment_summary(con, p: Period, ap: ActivityParams) -> pd.DataFrame:
    """One row per segment of acquisition channel and online/offline: MAU, DAU/MAU, repurchase, gaps.

    repurchase_rate is for the latest mature month (see `repurchase`); orders_per_buyer is the
    mean of the month's orders per buyer; flag_small marks segments under `min_segment_users`.
    """
    seg = activity_segments(con, p)
    rep = repurchase(con, p, ap)
    mature = latest_mature_month(rep)
    r = (
        rep[rep.month == mature][["dimension", "segment", "eligible", "repurchase_rate"]]
        if mature is not None
        else None
    )
    freq = query("activity/order_frequency", con, from_date=p.start, to_date=p.end)
    freq["orders"] = freq["n_orders"] * freq["users"]
    opb = freq.groupby(["dimension", "segment"], as_index=False)[["orders", "users"]].sum()
    opb["orders_per_buyer"] = opb["orders"] / opb["users"]
    gaps = order_gaps(con, p)[["dimension", "segment", "mean_days", "median_days"]]
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


def repurchase_coupons(con, p: Period, ap: ActivityParams) -> pd.DataFrame:
    """Repurchase coupons per issue month: issued, redeemed within N days, redeemed in validity."""
    df = query(
        "activity/repurchase_coupons",
        con,
        from_date=trend_start(p, ap).start,
        to_date=p.end,
        days=ap.coupon_redeem_days,
        as_of=p.as_of,
    )
    df["rate_within_days"] = df["redeemed_within_days"] / df["eligible_days"].where(df["eligible_days"] > 0)
    df["rate_in_validity"] = df["redeemed_in_validity"] / df["closed"].where(df["closed"] > 0)
    return df


def reminder_effect(
    con, start: dt.date, end: dt.date, p: Period, ap: ActivityParams
) -> ReminderEffect | None:
    """The unused-repurchase-coupon reminder (campaign kind 'repurchase_reminder') on redemption.

    Treatment vs randomised holdout within `reminder_window_days` after the reminder, per campaign
    and pooled; None without campaigns. See campaigns.coupon_reminder_effect.
    """
    return coupon_reminder_effect(
        con,
        "repurchase_reminder",
        ["repurchase"],
        start,
        end,
        p.as_of,
        24 * ap.reminder_window_days,
        ap.ci_level,
    )


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
        nan = float("nan")
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
    out = pd.DataFrame(rows)
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
    """Points position at the month's end (FIFO spending)."""

    outstanding: float  # points held at as_of
    liability_yuan: float  # outstanding x points_to_yuan
    breakage: float  # share of points issued >= breakage_months ago expired or unredeemed
    breakage_points: float
    aged_issued: float  # points issued >= breakage_months ago
    redeemed_share: float  # share of all points ever issued that were redeemed
    provision_yuan: float  # liability x (1 - breakage): the redemptions to expect
    lag_median_days: float  # points-weighted median days from issue to redemption
    lag_p90_days: float
    by_issue_month: pd.DataFrame


def points_summary(con, p: Period, ap: ActivityParams) -> PointsSummary:
    """Outstanding points, liability, breakage after `breakage_months`, redemption lag (FIFO)."""
    fifo = query("activity/points_fifo", con, as_of=p.as_of)
    cols = ["issued", "redeemed", "expired", "other_out", "outstanding"]
    fifo[cols] = fifo[cols].astype(float)
    fifo["issue_month"] = pd.to_datetime(fifo["issue_month"])
    last_aged = pd.Timestamp(p.shift(-ap.breakage_months).start)
    aged = fifo[fifo.issue_month <= last_aged]
    aged_issued = float(aged.issued.sum())
    brk_pts = float((aged.expired + aged.outstanding).sum())
    lag = query("activity/points_redemption_lag", con, from_date=dt.date(1900, 1, 1), to_date=p.end)
    outstanding = float(fifo.outstanding.sum())
    breakage = brk_pts / aged_issued if aged_issued else float("nan")
    liability = outstanding * ap.points_to_yuan
    return PointsSummary(
        outstanding=outstanding,
        liability_yuan=liability,
        breakage=breakage,
        breakage_points=brk_pts,
        aged_issued=aged_issued,
        redeemed_share=float(fifo.redeemed.sum() / fifo.issued.sum()) if fifo.issued.sum() else float("nan"),
        provision_yuan=liability * (1 - breakage) if aged_issued else float("nan"),
        lag_median_days=weighted_quantile(lag.lag_days, lag.points, 0.5),
        lag_p90_days=weighted_quantile(lag.lag_days, lag.points, 0.9),
        by_issue_month=fifo,
    )


def weighted_quantile(values, weights, q: float) -> float:
    """The smallest value whose cumulative weight share reaches q (NaN without weight)."""
    v = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    if w.sum() <= 0:
        return float("nan")
    o = np.argsort(v, kind="stable")
    cum = np.cumsum(w[o]) / w.sum()
    return float(v[o][np.searchsorted(cum, q - 1e-12)])


# --------------------------------------------------------------------------- tiers


def tier_names(ap: ActivityParams) -> list[str]:
    """Tier labels by index -1..k+1: new, none, ordinary, then the thresholds' names."""
    return ["new", "none", "ordinary", *ap.tier_thresholds_yuan]


def tier_transitions(con, p: Period, ap: ActivityParams) -> pd.DataFrame:
    """Users by tier at the month's start x tier at its end (rolling spend tiers), labelled."""
    df = query(
        "activity/tier_transitions",
        con,
        start_date=p.start,
        end_date=p.end,
        window_days=ap.tier_window_days,
        thresholds=[float(v) for v in ap.tier_thresholds_yuan.values()],
    )
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
        groups.append((("group", "milk_powder"), mp.assign(scene_name="奶粉 milk powder")))
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
    return pd.DataFrame(out), curves


def due_reminders(con, p: Period, ap: ActivityParams, summary: pd.DataFrame) -> pd.DataFrame:
    """Users due for a category reminder right after the month, with a seeded randomised holdout.

    Scenes: the `reminder_categories` (category names; 'milk_powder' = each milk powder product
    with its own median cycle). Columns: user_id, category, last_purchase_at, expected_at, arm
    (the CRM file's columns) plus scene, cycle_days, is_own_cycle. A user's arm is the same in
    every category (holdout users get no category reminder at all).
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
    df["arm"] = assign_arms(df["user_id"], ap.reminder_holdout_share, ap.reminder_seed) if len(df) else []
    return df[cols]
